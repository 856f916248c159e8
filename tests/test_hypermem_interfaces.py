"""The hypergraph memory's interfaces: the package's lazy exports, the ``memagents hypermem``
command line over a graph memory (loopback OpenAI server), the LangGraph Server entry and the
example agent."""

from __future__ import annotations

import importlib
import importlib.util
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import memagents.cli as top
from memagents import hypermem
from memagents.errors import InputError
from memagents.testing import OpenAIServer

# ------------------------------------------------------------------------- exports


def test_exports_are_sorted_resolvable_and_lazy() -> None:
    assert hypermem.__all__ == sorted(hypermem.__all__)
    for name in hypermem.__all__:
        value = getattr(hypermem, name)
        module = importlib.import_module(hypermem._WHERE[name])
        assert value is getattr(module, name), name
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = hypermem.Nope  # type: ignore[attr-defined]
    assert set(hypermem.__all__) <= set(dir(hypermem))
    code = ("import json, sys, memagents.hypermem as h; before = sorted(m for m in ('networkx', "
            "'langgraph', 'langchain_core', 'tiktoken') if m in sys.modules); "
            "h.build_hypergraph_rag; print(json.dumps([before, 'langgraph' in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert json.loads(out.stdout) == [[], True], "cheap import; a name loads its module"


# ------------------------------------------------------------------------- a graph memory

PASSAGES = [
    ("p1", "Ada Korvin founded Velm Press in Orlen in 1901.",
     [["Ada Korvin", "founded", "Velm Press"], ["Velm Press", "located in", "Orlen"]]),
    ("p2", "Velm Press printed the Orlen Atlas in 1920.",
     [["Velm Press", "printed", "Orlen Atlas"]]),
    ("p3", "The Orlen Atlas was edited by Bram Tully.",
     [["Bram Tully", "edited", "Orlen Atlas"]]),
    ("p4", "Bram Tully was born in Harrow.", [["Bram Tully", "born in", "Harrow"]]),
    ("p5", "Tea grows in the hills of Quill.", [["Tea", "grows in", "Quill"]]),
]
QUESTION = "Who edited the atlas printed by the press that Ada Korvin founded?"
INSERT_ADA = {"inserts": [{"entities": ["Ada Korvin", "Velm Press"], "sources": ["p1"],
                           "description": "Ada Korvin founded Velm Press in 1901."}]}
INSERT_ATLAS = {"inserts": [{"entities": ["Velm Press", "Orlen Atlas", "Bram Tully"],
                             "description": "Velm Press printed the Orlen Atlas, which Bram "
                                            "Tully edited."}]}
DIG = {"judgement": "dig_deeper", "single_fact": True, "concerns": [
    {"text": "What did the press print?", "points": ["mp-0001"],
     "subquery": "What did Velm Press print, and who edited it?"}]}
SUFFICIENT = {"judgement": "sufficient", "concerns": [], "single_fact": True}
ANSWER = {"answer": "Bram Tully", "explanation": "mp-0001 and mp-0002.", "known": True}
KINDS = {"evolve": "You maintain the working memory", "merge": "You organise the working memory",
         "plan": "You plan the research", "answer": "You answer a question from"}


def build_memory(folder: Path) -> Path:
    """A small graph memory: user-given triples, hash embeddings, no model."""
    from memagents.graphmem import GraphMemory

    with GraphMemory.open(folder, embeddings="hash") as memory:
        memory.add_triples([(text, triples) for _, text, triples in PASSAGES],
                           ids=[pid for pid, _, _ in PASSAGES])
    return folder


class Replies:
    """Scripted replies per prompt kind for the loopback server (the last one repeats)."""

    def __init__(self, **replies: list[Any]) -> None:
        self.replies = {k: list(v) for k, v in replies.items()}
        self.kinds: list[str] = []

    def __call__(self, body: dict[str, Any]) -> str:
        text = "\n".join(str(m.get("content") or "") for m in body["messages"])
        kind = next(k for k, marker in KINDS.items() if marker in text)
        self.kinds.append(kind)
        queue = self.replies[kind]
        return json.dumps(queue.pop(0) if len(queue) > 1 else queue[0])


def two_step_script() -> Replies:
    return Replies(evolve=[INSERT_ADA, INSERT_ATLAS], plan=[DIG, SUFFICIENT],
                   merge=[{"merges": []}], answer=[ANSWER])


@pytest.fixture
def memory_dir(tmp_path: Path) -> Path:
    return build_memory(tmp_path / "memory")


@pytest.fixture
def loopback(monkeypatch: pytest.MonkeyPatch, openai_server: OpenAIServer) -> OpenAIServer:
    """OPENAI_BASE_URL / OPENAI_API_KEY pointing at the loopback server, no retries."""
    for name, value in {**openai_server.env(), "MEMAGENTS_MAX_RETRIES": "0",
                        "MEMAGENTS_BACKOFF_BASE": "0"}.items():
        monkeypatch.setenv(name, value)
    return openai_server


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """``memagents.cli.main(["hypermem", *args])``: exit code, stdout, stderr."""

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = top.main(["hypermem", *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


LLM = ("--llm", "openai:gpt-4o-mini", "--embeddings", "hash")

# ------------------------------------------------------------------------- CLI


@pytest.mark.integration
def test_ask_shows_the_memory_evolving_and_writes_its_picture(
    memory_dir: Path, loopback: OpenAIServer, cli: Any, tmp_path: Path
) -> None:
    script = two_step_script()
    loopback.add_rule(lambda body: True, script)
    picture = tmp_path / "out" / "memory.html"
    code, out, err = cli("ask", QUESTION, "--memory", str(memory_dir), *LLM, "--show",
                         "--html", str(picture))
    assert code == 0, err
    assert script.kinds == ["evolve", "plan", "evolve", "plan", "answer"]
    assert len(loopback.chat_requests) == 5
    lines = out.splitlines()
    assert lines.index("── step 1: retrieved 5 passage(s), 5 entit(ies)") < lines.index(
        "[evolve] memory step 1:")
    assert any(line.startswith("  + mp-0001 [ada korvin, velm press]") for line in lines)
    assert "[plan] dig_deeper: 1 concern(s)" in lines
    assert "  - What did Velm Press print, and who edited it? (local: mp-0001)" in lines
    assert "[evolve] memory step 2:" in lines
    assert any(line.startswith("  + mp-0002 [velm press, orlen atlas, bram tully]")
               for line in lines)
    assert "answer: Bram Tully" in lines
    assert "  (known; 2 step(s), stopped: sufficient; 5 LLM call(s); 2 memory point(s))" in lines
    assert f"memory picture: {picture}" in lines
    page = picture.read_text(encoding="utf-8")
    assert "<svg" in page and "mp-0002" in page


@pytest.mark.integration
def test_ask_json_is_the_full_result(memory_dir: Path, loopback: OpenAIServer, cli: Any) -> None:
    script = two_step_script()
    loopback.add_rule(lambda body: True, script)
    code, out, err = cli("ask", QUESTION, "--memory", str(memory_dir), *LLM, "--json",
                         "--show", "--merge", "always")
    assert code == 0, err
    data = json.loads(out)  # --show went to stderr: stdout is one JSON document
    assert "[evolve] memory step 1:" in err
    assert (data["answer"], data["known"], data["steps"], data["stop_reason"]) == (
        "Bram Tully", True, 2, "sufficient")
    assert script.kinds == ["evolve", "plan", "evolve", "merge", "plan", "answer"], \
        "--merge always merges at step 2 even for a single-fact question"
    assert data["usage"]["llm_calls"] == 6 <= 2 + 3 * data["steps"]
    assert [p["id"] for p in data["memory"]["points"]] == ["mp-0001", "mp-0002"]
    assert [(d["node"], d["step"]) for d in data["diffs"]] == [
        ("evolve", 1), ("evolve", 2), ("merge", 2)]
    assert data["subqueries"] == [QUESTION, "What did Velm Press print, and who edited it?"]
    assert {"p1", "p2"} <= {p["id"] for p in data["evidence"]}


@pytest.mark.integration
def test_ask_steps_limits_the_rounds(memory_dir: Path, loopback: OpenAIServer,
                                     cli: Any) -> None:
    script = two_step_script()
    loopback.add_rule(lambda body: True, script)
    code, out, err = cli("ask", QUESTION, "--memory", str(memory_dir), *LLM, "--steps", "1",
                         "--json")
    assert code == 0, err
    assert script.kinds == ["evolve", "answer"], "one round: no planning call"
    assert json.loads(out)["stop_reason"] == "max_steps"


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert "Traceback" not in err
    return lines[0]


def test_ask_errors_name_the_flag(memory_dir: Path, tmp_path: Path, cli: Any,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = cli("ask", QUESTION, "--memory", str(memory_dir), "--embeddings", "hash")
    assert code == 1
    line = _one_line(err)
    assert "--llm" in line and "MEMAGENTS_LLM" in line
    monkeypatch.setenv("MEMAGENTS_LLM", "openai:gpt-4o-mini")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-unused")
    code, _, err = cli("ask", QUESTION, "--memory", str(tmp_path / "typo"))
    assert code == 1 and "--memory" in _one_line(err) and "no graph memory" in err
    assert not (tmp_path / "typo").exists()
    code, _, err = cli("ask", QUESTION, "--memory", str(memory_dir), "--embeddings",
                       "hash:dim=64")
    assert code == 1 and "--embeddings" in _one_line(err) and "malformed" in err
    code, _, err = cli("ask", QUESTION, "--memory", str(memory_dir), "--embeddings", "hash:64")
    assert code == 1 and "built with embeddings" in _one_line(err)
    assert "--memory" in err and "the same --embeddings" in err
    code, _, err = cli("ask", QUESTION, "--memory", str(memory_dir), "--merge", "sometimes")
    assert code == 2 and "sometimes" in err, "a usage error"


@pytest.mark.integration
def test_html_to_an_unwritable_path_names_the_flag(
    memory_dir: Path, loopback: OpenAIServer, cli: Any, tmp_path: Path
) -> None:
    loopback.add_rule(lambda body: True, two_step_script())
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    code, _, err = cli("ask", QUESTION, "--memory", str(memory_dir), *LLM, "--html",
                       str(blocker / "memory.html"))
    assert code == 1 and "--html" in _one_line(err)


def test_the_sub_app_takes_its_index_opener_from_the_context(memory_dir: Path) -> None:
    from typer.testing import CliRunner

    from memagents.hypermem.cli import OPEN_INDEX, hypermem_app

    args = ["ask", QUESTION, "--memory", str(memory_dir), "--llm", "openai:gpt-4o-mini"]
    alone = CliRunner().invoke(hypermem_app, args)
    assert alone.exit_code == 1 and "nothing can open --memory" in str(alone.exception)
    opened: list[Any] = []

    @contextmanager
    def opener(folder: Path, **kw: Any) -> Iterator[Any]:
        opened.append((folder, kw))
        raise InputError("stop here")
        yield  # pragma: no cover

    wired = CliRunner().invoke(hypermem_app, [*args, "-n", "team"], obj={OPEN_INDEX: opener})
    assert "stop here" in str(wired.exception)
    assert opened == [(memory_dir, {"namespace": "team", "embeddings": None})]


# ------------------------------------------------------------------------- async, streaming


class OffTheLoop:
    """A KnowledgeIndex proxy failing any call made on a running event loop's thread (what
    LangGraph Server's blocking-call check refuses)."""

    def __init__(self, index: Any) -> None:
        self.index = index
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        import asyncio

        method = getattr(self.index, name)

        def call(*args: Any, **kw: Any) -> Any:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                self.calls += 1
                return method(*args, **kw)
            raise AssertionError(f"{name} called on the event loop")

        return call


def test_aask_streams_updates_and_reads_the_index_off_the_event_loop(memory_dir: Path) -> None:
    import asyncio

    from memagents.graphmem import GraphMemory
    from memagents.hypermem import HypergraphAgent, MemoryDiff
    from memagents.testing import ScriptedChatModel

    script = two_step_script()
    model = ScriptedChatModel(rules=[(lambda _m: True, lambda messages: script(
        {"messages": [{"content": m.content} for m in messages]}))])
    with GraphMemory.open(memory_dir, embeddings="hash") as memory:
        index = OffTheLoop(memory)
        agent = HypergraphAgent(index=index, llm=model)  # type: ignore[arg-type]
        seen: list[tuple[str, int]] = []

        def on_update(node: str, update: dict[str, Any]) -> None:
            if update.get("diff"):
                seen.append((node, MemoryDiff.from_dict(update["diff"]).step))

        result = asyncio.run(agent.aask(QUESTION, on_update=on_update))
    assert result.answer == "Bram Tully" and result.steps == 2 and index.calls > 0
    assert seen == [("evolve", 1), ("evolve", 2)]
    assert json.loads(json.dumps(result.to_dict()))["memory"] == result.memory.to_dict()


# ------------------------------------------------------------------------- the example

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "hypergraph_agent.py"


def _load_example() -> Any:
    spec = importlib.util.spec_from_file_location("hypergraph_agent_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.integration
def test_example_answers_a_two_hop_question_over_the_sample_world(
    tmp_path: Path, loopback: OpenAIServer, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from memagents.sample import SampleWorld

    example = _load_example()
    world = SampleWorld.generate(0)
    question = example.pick_question(world)
    assert question.hops == 2
    first, second = question.chain
    start, bridge = world.entity(first.subject_id).name, world.entity(first.object).name
    country = world.entity(second.object).name
    script = Replies(
        evolve=[{"inserts": [{"entities": [start, bridge], "description":
                              f"{start} was formed in {bridge}."}]},
                {"inserts": [{"entities": [bridge, country], "description":
                              f"{bridge} is in {country}."}]}],
        plan=[{"judgement": "dig_deeper", "single_fact": True, "concerns": [
            {"text": f"Which country is {bridge} in?", "points": ["mp-0001"],
             "subquery": f"In which country is {bridge} located?"}]},
              {"judgement": "sufficient", "concerns": [], "single_fact": True}],
        answer=[{"answer": question.answer, "explanation": "mp-0001, mp-0002", "known": True}])
    loopback.add_rule(lambda body: True, script)
    monkeypatch.setenv("MEMAGENTS_EMBEDDINGS", "hash")
    html = tmp_path / "memory.html"
    code = example.main(["--llm", "openai:gpt-4o-mini", "--folder", str(tmp_path / "m"),
                         "--html", str(html)])
    out = capsys.readouterr().out
    assert code == 0
    assert script.kinds == ["evolve", "plan", "evolve", "plan", "answer"]
    assert f"question: {question.question}" in out
    assert "[evolve] memory step 1:" in out and "[evolve] memory step 2:" in out
    assert f"  - In which country is {bridge} located? (local: mp-0001)" in out
    assert f"answer: {question.answer}  (2 step(s), stopped: sufficient, 5 LLM call(s))" in out
    assert "mp-0002" in html.read_text(encoding="utf-8")
    prompts = [m["content"] for r in loopback.chat_requests for m in r["messages"]]
    assert any(world.passage(question.gold_passage_ids[0]).text.split(".")[0] in p
               for p in prompts), "the first gold passage was retrieved into the evolve prompt"


def test_example_main_without_model_explains(capsys: pytest.CaptureFixture[str]) -> None:
    assert _load_example().main(["--folder", "unused"]) == 2
    assert "MEMAGENTS_LLM" in capsys.readouterr().out
