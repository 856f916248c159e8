"""Insight store (CORE): interfaces. The LangGraph BaseStore adapter (conformance suite and
``create_react_agent(..., store=insights.as_store())``), the shared node / retriever / tools,
the self-improving workflow end to end through the real openai client on the loopback server
(a simulated model), the LangGraph Server graph, the CLI and the learning-curve plot."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.tools import tool
from langgraph.config import get_store
from langgraph.prebuilt import create_react_agent
from langgraph.store.base import BaseStore

from memagents.cli import main
from memagents.errors import ConfigError, InputError
from memagents.insights import InsightStore, build_insight_solver
from memagents.insights.plot import curve_svg, write_curve
from memagents.insights.research.simulation import SimulatedModel
from memagents.insights.research.tasks import split_tasks
from memagents.testing import FakeEmbeddings, OpenAIServer, ScriptedChatModel, ToolCall
from memagents.testing.store_conformance import StoreConformanceTests

ROOT = Path(__file__).resolve().parent.parent
TRAIN, HELD = split_tasks(seed=3, train_per_family=1, eval_per_family=1)


class TestInsightStoreConformance(StoreConformanceTests):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[BaseStore]:
        with InsightStore.open(tmp_path, embeddings="hash") as insights, \
                insights.as_store() as store:
            yield store


def test_create_react_agent_reads_insights_from_the_store(tmp_path: Path) -> None:
    @tool
    def recall_insights(problem: str) -> str:
        """Insights that helped on problems like this one."""
        hits = get_store().search(("insights",), query=problem, limit=2)
        return "\n".join(h.value["text"] for h in hits)

    model = ScriptedChatModel(rules=[
        (lambda messages: messages[-1].type == "tool", "26 posts"),
        ("fence", [ToolCall("recall_insights", {"problem": "posts along a fence"})]),
    ])
    with InsightStore.open(tmp_path, embeddings="hash") as insights:
        store = insights.as_store()
        store.put(("insights",), "fence", {"text": "Posts along a fence: gaps plus one."})
        store.put(("insights",), "bus", {"text": "Round the number of buses up."})
        agent = create_react_agent(model, tools=[recall_insights], store=store)
        out = agent.invoke({"messages": [("user", "How many posts on a 75 m fence?")]})
        tool_reply = next(m for m in out["messages"] if m.type == "tool")
        assert tool_reply.content.splitlines()[0] == "Posts along a fence: gaps plus one."
        assert out["messages"][-1].content == "26 posts"
        # the store mirrors items into the memory's namespace: insights like any other
        assert insights.stats(namespace='store:["insights"]')["insights"]["active"] == 2
        store.close()


def test_shared_adapters_node_retriever_tools(tmp_path: Path) -> None:
    with InsightStore.open(tmp_path, embeddings="hash") as insights:
        insights.add(["Round the number of buses up.", "Count both ends of a fence."])
        docs = insights.as_retriever(k=1).invoke("How many buses for 41 pupils?")
        assert [d.page_content for d in docs] == ["Round the number of buses up."]
        assert set(docs[0].metadata["memagents"]) >= {"utility", "uses", "similarity"}
        out = insights.node(k=2).invoke({"question": "fence posts"})
        assert len(out["documents"]) == 2
        search, save = insights.as_tools()
        assert "Count both ends" in search.invoke({"query": "fence"})
        save.invoke({"text": "Convert units first."})
        assert len(insights.insights()) == 3
        found = asyncio.run(insights.asearch("units", k=1))
        assert found[0].text == "Convert units first."


@pytest.mark.integration
def test_self_improving_workflow_end_to_end_on_the_loopback_server(
        tmp_path: Path, openai_server: OpenAIServer) -> None:
    sim = SimulatedModel(TRAIN + HELD, seed=1)
    openai_server.default_reply = sim
    llm = openai_server.chat_model(temperature=0)
    with InsightStore.open(tmp_path, llm=llm, embeddings="hash", baseline_samples=3) as store:
        report = store.train(30, problems=[t.problem() for t in TRAIN])
        assert report.used == 30 and report.rollouts["baseline"] == 18
        graph = build_insight_solver(llm, store)
        assert {"inject", "solve", "record", "learn"} <= set(graph.get_graph().nodes)
        before = store.stats()["rollouts"].get("online", 0)
        outs = [graph.invoke({"question": t.text, "expected": t.answer}) for t in HELD[:6]]
        for out, task in zip(outs, HELD, strict=False):
            assert out["reward"] == float(out["answer"] == task.answer)
            assert out["messages"][-1].content == out["answer"]
            assert out["insight_ids"] == [i["id"] for i in out["insights"]]
            if out["reward"] < 1.0:  # a failure was reflected on
                assert "learned" in out
        assert store.stats()["rollouts"]["online"] == before + 6
        # through the real client: every request carries the solve prompt or a reflection
        bodies = openai_server.chat_requests
        assert all(b["response_format"] == {"type": "json_object"} for b in bodies)
        assert sim.calls["solve"] + sim.calls["reflect"] == len(bodies)
        # answered without an expected answer: not recorded, and said so
        out = graph.invoke({"messages": [("user", HELD[0].text)]})
        assert "rollout_id" not in out and any("not recorded" in n for n in out["notes"])
        out = asyncio.run(graph.ainvoke({"question": HELD[1].text, "reward": 1.0}))
        assert out["reward"] == 1.0


def load_graphs() -> Any:
    path = ROOT / "integrations" / "langgraph" / "graphs.py"
    spec = importlib.util.spec_from_file_location(f"lg_graphs_{uuid.uuid4().hex}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.integration
def test_langgraph_server_graph(tmp_path: Path, openai_server: OpenAIServer,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    config = json.loads((ROOT / "integrations" / "langgraph" / "langgraph.json").read_text())
    assert config["graphs"]["insight_solver"]["path"] == "./graphs.py:make_insight_solver"
    module = load_graphs()
    with pytest.raises(ConfigError, match="MEMAGENTS_LLM"):
        module.insight_solver_graph({})
    for key, value in openai_server.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MEMAGENTS_LLM", "openai:gpt-4o-mini")
    monkeypatch.setenv("MEMAGENTS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MEMAGENTS_EMBEDDINGS", "hash")
    openai_server.default_reply = SimulatedModel(TRAIN + HELD, seed=2)
    try:
        graph = asyncio.run(module.make_insight_solver({"configurable": {}}))
        assert graph.checkpointer is None and graph.store is None
        assert module.insight_solver_graph({"configurable": {}}) is graph
        assert module.insight_solver_graph({"configurable": {"learn": "false"}}) is not graph
        out = graph.invoke({"question": TRAIN[0].text, "expected": TRAIN[0].answer})
        assert out["reward"] in (0.0, 1.0) and out["rollout_id"] == "o:1"
        assert (tmp_path / "home" / "insights" / "insights.db").is_file()
    finally:
        module.reset()


def _problems_file(path: Path) -> Path:
    rows = [{**t.problem().to_dict(), "split": "train"} for t in TRAIN]
    rows += [{**t.problem().to_dict(), "split": "eval"} for t in HELD]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.integration
def test_cli_train_eval_list_show_prune(tmp_path: Path, openai_server: OpenAIServer,
                                        monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    for key, value in openai_server.env().items():
        monkeypatch.setenv(key, value)
    openai_server.default_reply = SimulatedModel(TRAIN + HELD, seed=4)
    problems = _problems_file(tmp_path / "problems.jsonl")
    store = str(tmp_path / "store")
    common = ["--store", store, "--embeddings", "hash"]
    llm = ["--llm", "openai:gpt-4o-mini"]
    assert main(["insights", "train", "--problems", str(problems), "--rollouts", "30",
                 "--baseline-samples", "2", "--eval", str(problems), "--eval-every", "15",
                 "--plot", str(tmp_path / "curve.svg"), *common, *llm, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["used"] == 30 and report["rollouts"]["baseline"] == 12
    assert report["curve"]["core"][0][0] == 0
    assert report["curve"]["none"][-1][0] == 30
    ET.parse(tmp_path / "curve.svg")
    # a second run continues to a larger budget, with a PNG curve and rich tables
    assert main(["insights", "train", "--problems", str(problems), "--rollouts", "35",
                 "--baseline-samples", "2", "--plot", str(tmp_path / "curve.png"), *common,
                 *llm]) == 0
    out = capsys.readouterr().out
    assert "35 / 35" in out and (tmp_path / "curve.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["insights", "eval", "--problems", str(problems), "--mode", "core", "--mode",
                 "none", *common, *llm, "--json"]) == 0
    evals = json.loads(capsys.readouterr().out)
    assert [e["mode"] for e in evals] == ["core", "none"] and evals[0]["n"] == len(HELD)
    assert evals[1]["insight_tokens"] == 0 and len(evals[0]["ci95"]) == 2
    assert main(["insights", "list", "--all", *common, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    if listed:
        assert main(["insights", "show", listed[0]["id"], *common]) == 0
        assert listed[0]["text"] in capsys.readouterr().out
    assert main(["insights", "prune", "--dry-run", "--min-uses", "1", *common, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["dry_run"] is True
    # errors: one line naming what to fix
    assert main(["insights", "show", "ins-nope", *common]) == 1
    assert "no insight 'ins-nope'" in capsys.readouterr().err
    assert main(["insights", "list", "--store", str(tmp_path / "none")]) == 1
    assert "holds no insight store" in capsys.readouterr().err
    monkeypatch.delenv("OPENAI_BASE_URL")
    assert main(["insights", "train", "--problems", str(problems), *common]) == 1
    assert "no chat model configured" in capsys.readouterr().err
    (tmp_path / "bad.jsonl").write_text("{not json}\n")
    assert main(["insights", "train", "--problems", str(tmp_path / "bad.jsonl"), *common,
                 *llm]) == 1
    assert "is not JSON Lines" in capsys.readouterr().err
    assert main(["insights", "list", *common, "--embeddings", "hash:64"]) == 1
    assert "--embeddings" in capsys.readouterr().err


@pytest.mark.integration
def test_example_insight_solver_on_the_loopback_server(tmp_path: Path,
                                                       openai_server: OpenAIServer) -> None:
    spec = importlib.util.spec_from_file_location("insight_example",
                                                  ROOT / "examples" / "insight_solver.py")
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    train, held = split_tasks(seed=0, train_per_family=2, eval_per_family=2)
    openai_server.default_reply = SimulatedModel(train + held, seed=5)
    lines: list[str] = []
    out = example.run(openai_server.chat_model(), tmp_path / "store", rollouts=40,
                      per_family=1, plot=tmp_path / "curve.svg", echo=lines.append,
                      baseline_samples=2)
    assert out["train"]["used"] == 40 and out["workflow"] in (0.0, 1.0)
    assert 0.0 <= out["without"] <= 1.0 and any("held-out accuracy" in x for x in lines)
    ET.parse(tmp_path / "curve.svg")


def test_learning_curve_plot(tmp_path: Path, no_matplotlib: None) -> None:
    series = {"CORE": [(100, 0.3, 0.2, 0.4), (350, 0.7, 0.6, 0.8)],
              "no insights": [(100, 0.25, None, None), (350, 0.25, None, None)]}
    root = ET.fromstring(curve_svg(series))
    assert root.find("{http://www.w3.org/2000/svg}polygon") is not None  # the CI band
    assert write_curve(tmp_path / "c.svg", series).read_text().startswith("<svg")
    with pytest.raises(ConfigError, match="matplotlib"):
        write_curve(tmp_path / "c.png", series)
    with pytest.raises(InputError, match=".svg or .png"):
        write_curve(tmp_path / "c.gif", series)
    with pytest.raises(InputError, match="outside"):
        curve_svg({"x": [(1, 1.5, None, None)]})


def test_store_lock_and_namespaces(tmp_path: Path) -> None:
    from memagents.errors import StoreLockedError

    with InsightStore.open(tmp_path, embeddings=FakeEmbeddings()) as store:
        with pytest.raises(StoreLockedError):
            InsightStore.open(tmp_path, embeddings=FakeEmbeddings())
        store.add(["Round up."], namespace="buses")
        assert store.insights() == [] and len(store.insights(namespace="buses")) == 1
        assert store.search("buses", namespace="buses").ids == [
            store.insights(namespace="buses")[0].id]
        with pytest.raises(Exception, match="namespace"):
            store.search("x", namespace=" ")
