"""LangGraph Server serves integrations/langgraph/langgraph.json: `langgraph dev` starts on a
loopback port, lists every assistant and runs the graphs, models scripted on the loopback
OpenAI-compatible server. Skipped without ``langgraph-api`` (``pip install -e '.[server]'``;
``make test`` installs it).

``langgraph dev`` resolves the config's graph paths and ``.env`` against its working directory
and keeps its state in ``./.langgraph_api``; ``make serve`` therefore runs it in the config's
folder. The test reproduces that layout in a temporary folder (the config copied verbatim, the
graph files linked), so no server state lands in the repository.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from memagents.testing import OpenAIServer

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "integrations" / "langgraph" / "langgraph.json"
STARTUP_SECONDS = 60.0
RUN_SECONDS = 60.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate the server's whole process group (it was started in a new session)."""
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
        if sig == signal.SIGTERM:  # sweep anything it left in its group
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return


def _layout(workdir: Path) -> Path:
    """The config folder's layout in ``workdir``: the config as is, its graph files linked."""
    config = json.loads(CONFIG.read_text())
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(CONFIG, workdir / CONFIG.name)
    for spec in config["graphs"].values():
        rel = (spec["path"] if isinstance(spec, dict) else spec).rsplit(":", 1)[0]
        assert not Path(rel).is_absolute(), "graph paths stay relative to the config's folder"
        target = workdir / rel
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to((CONFIG.parent / rel).resolve())
    return workdir / CONFIG.name


@contextmanager
def langgraph_dev(workdir: Path, env: dict[str, str]) -> Iterator[httpx.Client]:
    """Run ``langgraph dev`` in ``workdir`` on a free loopback port until /ok answers."""
    config = _layout(workdir)
    port = _free_port()
    log_path = workdir / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "langgraph_cli", "dev", "--config", str(config),
             "--host", "127.0.0.1", "--port", str(port), "--no-browser", "--no-reload"],
            cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10.0,
                              trust_env=False) as client:
                deadline = time.monotonic() + STARTUP_SECONDS
                while True:
                    if proc.poll() is not None:
                        pytest.fail(f"langgraph dev exited ({proc.returncode}):\n"
                                    + log_path.read_text(errors="replace")[-4000:])
                    try:
                        if client.get("/ok", timeout=2.0).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if time.monotonic() > deadline:
                        pytest.fail(f"langgraph dev did not answer /ok in {STARTUP_SECONDS:.0f}"
                                    " s:\n" + log_path.read_text(errors="replace")[-4000:])
                    time.sleep(0.25)
                yield client
        finally:
            _stop(proc)


def _server_env(tmp_path: Path, openai_server: OpenAIServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.upper().startswith(("LANGSMITH_", "LANGCHAIN_"))}
    for name in ("MEMAGENTS_SEARXNG_URL", "MEMAGENTS_BRAVE_API_KEY", "BRAVE_SEARCH_API_KEY",
                 "MEMAGENTS_TAVILY_API_KEY", "TAVILY_API_KEY"):  # browse_agent: offline web
        env.pop(name, None)
    env.update(openai_server.env())
    env.update({
        "MEMAGENTS_LLM": "openai:gpt-4o-mini",
        "MEMAGENTS_HOME": str(tmp_path / "home"),
        "MEMAGENTS_EMBEDDINGS": "hash",
        "LANGGRAPH_NO_VERSION_CHECK": "true",
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
        "LANGSMITH_TRACING": "false",
        "LANGCHAIN_TRACING_V2": "false",
        "HF_HUB_OFFLINE": "1",
        "ANONYMIZED_TELEMETRY": "False",
        "PYTHONUNBUFFERED": "1",
    })
    return env


@pytest.mark.integration
@pytest.mark.timeout(240)
def test_langgraph_dev_serves_and_runs_the_graphs(
    tmp_path: Path, openai_server: OpenAIServer
) -> None:
    if importlib.util.find_spec("langgraph_api") is None:
        pytest.skip("langgraph-api is not installed: `pip install -e '.[server]'` (or `make "
                    "server`) installs LangGraph Server; `make test` does")
    openai_server.add_rule("If you need help", "Velmora")
    band = "https://wiki.firdoria.test/wiki/the-baelven-orchards.html"
    openai_server.add_rule("You are a careful web research agent", lambda body: (
        {"action": "fetch", "url": band} if "[1] fetch" not in json.dumps(body) else
        {"action": "answer", "exact_answer": "Nolvennor", "confidence": 90,
         "explanation": "formed in Nolvennor", "citations": [band]}))
    openai_server.default_reply = "Hello from the agent."
    workdir = tmp_path / "integrations" / "langgraph"
    config = json.loads(CONFIG.read_text())

    with langgraph_dev(workdir, _server_env(tmp_path, openai_server)) as client:
        found = client.post("/assistants/search", json={"limit": 20})
        assert found.status_code == 200, found.text
        assistants = {a["graph_id"]: a for a in found.json()}
        assert set(assistants) == set(config["graphs"])
        for graph_id, spec in config["graphs"].items():
            assert assistants[graph_id]["description"] == spec["description"]

        run = client.post("/runs/wait", timeout=RUN_SECONDS, json={
            "assistant_id": assistants["adaptive_rag"]["assistant_id"],
            "input": {"question": "Where is Hollin Bay?"},
        })
        assert run.status_code == 200, run.text
        out = run.json()
        assert (out.get("answer"), out.get("answer_source")) == ("Velmora", "parametric"), out

        run = client.post("/runs/wait", timeout=RUN_SECONDS, json={
            "assistant_id": "memory_agent",
            "input": {"messages": [{"role": "user", "content": "hi"}]},
            "config": {"configurable": {"user_id": "u"}},
        })
        assert run.status_code == 200, run.text
        assert run.json()["messages"][-1]["content"] == "Hello from the agent."

        run = client.post("/runs/wait", timeout=RUN_SECONDS, json={
            "assistant_id": "hypergraph_rag",
            "input": {"question": "Who founded Velm Press?"},
        })
        assert run.status_code == 200, run.text
        out = run.json()  # an empty memory: nothing retrieved, answered without a model call
        assert (out.get("stop_reason"), out.get("known")) == ("no_evidence", False), out
        assert "do not know" in out["answer"]

        run = client.post("/runs/wait", timeout=RUN_SECONDS, json={
            "assistant_id": "browse_agent",  # the offline sample web, on the server's loop
            "input": {"question": "Where was The Baelven Orchards formed?"},
        })
        assert run.status_code == 200, run.text
        out = run.json()
        assert (out.get("answer"), out.get("citations")) == ("Nolvennor", [band]), out
        assert "formed in Nolvennor" in out["steps"][0]["text"]

        run = client.post("/runs/wait", timeout=RUN_SECONDS, json={
            "assistant_id": "browse_synthesis",  # offline web; the model's replies unusable
            "input": {"seeds": ["The Kilvivo Sessions"]},
        })
        assert run.status_code == 200, run.text
        out = run.json()
        assert "candidates" in out, out
        [candidate] = out["candidates"]
        assert (candidate["seed"], candidate["status"]) == ("The Kilvivo Sessions", "rejected")
        assert out["stats"]["seeds"] == 1 and out["stats"].get("accepted", 0) == 0, out

    assert len(openai_server.chat_requests) >= 2, "the graphs called the scripted model"
    assert (workdir / ".langgraph_api").is_dir(), "server state stays in the temporary folder"


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_serve_runs_from_the_config_folder_and_make_test_installs_the_server(
    tmp_path: Path,
) -> None:
    def dry(target: str) -> str:
        return subprocess.run(
            ["make", "-n", "-B", target, f"VENV={tmp_path / 'venv'}"],
            cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
        ).stdout

    serve = dry("serve")
    folder = CONFIG.parent.relative_to(ROOT).as_posix()
    assert f"cd {folder} && " in serve and "bin/langgraph dev --no-browser" in serve
    assert re.search(r"'\.\[dev,[a-z,]*server\]'", serve)
    test = dry("test")
    server = re.search(r"'\.\[dev,[a-z,]*server\]'", test)
    assert server and re.search(r"'\.\[dev,[a-z,]*local\]'", test)
    assert server.start() < test.index("-m pytest")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make serve" in readme and "'.[server]'" in readme
