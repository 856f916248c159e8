"""integrations/langgraph/langgraph.json: valid for langgraph-cli, and every graph it names loads.

The file is checked with langgraph-cli's own code: ``validate_config_file`` (what ``langgraph
validate``/``dev``/``up`` run), its unknown-key check, its ``Config`` TypedDict schema, and
``config_to_docker`` (which resolves each graph path inside the declared dependencies, as a
deployment build does). Graphs are then loaded the way LangGraph Server does: the file is
imported by path, the attribute read from the module's namespace, factories called with a
``RunnableConfig`` (one parameter) or nothing. Models are scripted on the loopback server.
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import json
import types
import typing
import uuid
from pathlib import Path
from typing import Any

import pytest
from langgraph.graph import StateGraph
from langgraph.pregel import Pregel
from langgraph.store.memory import InMemoryStore

from memagents.browsecomp.candidate import Candidate
from memagents.browsecomp.research.oracle import WorldOracle
from memagents.errors import ConfigError, InputError
from memagents.sample import SampleWorld
from memagents.testing import OpenAIServer

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "integrations" / "langgraph" / "langgraph.json"
EXPECTED = {"adaptive_rag": {"gate", "retrieve", "answer"}, "memory_agent": {"agent", "tools"},
            "hypergraph_rag": {"start", "retrieve", "evolve", "merge", "plan", "subqueries",
                               "answer"},
            "browse_agent": {"start", "think", "act", "answer"},
            "insight_solver": {"inject", "solve", "record", "learn"},
            "browse_synthesis": {"seed"}}
WEB_SEARCH_ENV = ("MEMAGENTS_SEARXNG_URL", "MEMAGENTS_BRAVE_API_KEY", "BRAVE_SEARCH_API_KEY",
                  "MEMAGENTS_TAVILY_API_KEY", "TAVILY_API_KEY")


@pytest.fixture(scope="module")
def cli_config() -> Any:
    return pytest.importorskip(
        "langgraph_cli.config",
        reason="langgraph-cli is not installed: `pip install langgraph-cli` to validate "
        "integrations/langgraph/langgraph.json with its own validator",
    )


def raw() -> dict[str, Any]:
    return json.loads(CONFIG.read_text())


def graph_specs() -> dict[str, str]:
    return {name: spec["path"] if isinstance(spec, dict) else spec
            for name, spec in raw()["graphs"].items()}


def load_module(path: Path) -> Any:
    """Import a graph file by path under a fresh name, as LangGraph Server does."""
    spec = importlib.util.spec_from_file_location(f"lg_graphs_{uuid.uuid4().hex}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_graph(module: Any, attr: str, config: dict[str, Any]) -> Any:
    """Resolve one graph value as LangGraph Server does: a compiled graph, a StateGraph, or a
    factory taking nothing or one RunnableConfig, sync or async (awaited on an event loop)."""
    value = module.__dict__[attr]  # the server reads the module dict, not getattr
    if callable(value) and not isinstance(value, Pregel):
        params = inspect.signature(value).parameters
        assert len(params) <= 1, f"{attr}: factories take nothing or one RunnableConfig"
        value = value(config) if params else value()
        if inspect.iscoroutine(value):
            value = asyncio.run(_awaited(value))
    if isinstance(value, StateGraph):
        value = value.compile()
    return value


async def _awaited(coro: Any) -> Any:
    return await coro


def test_validated_by_langgraph_cli(cli_config: Any) -> None:
    config = cli_config.validate_config_file(CONFIG)
    assert cli_config.get_unknown_keys(raw()) == []
    assert set(config["graphs"]) == set(EXPECTED)
    assert config["python_version"] == "3.11"


def conforms(value: Any, hint: Any, where: str = "langgraph.json") -> None:
    """Check ``value`` against a type of ``langgraph_cli.schemas`` (TypedDicts, unions,
    literals, lists, dicts, scalars). pydantic cannot do it here: the CLI declares
    ``typing.TypedDict``s, which pydantic refuses before Python 3.12."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return
    if typing.is_typeddict(hint):
        assert isinstance(value, dict), f"{where}: expected an object"
        fields = typing.get_type_hints(hint)
        unknown = set(value) - set(fields)
        assert not unknown, f"{where}: keys {sorted(unknown)} are not in {hint.__name__}"
        missing = set(hint.__required_keys__) - set(value)
        assert not missing, f"{where}: {hint.__name__} requires {sorted(missing)}"
        for key, item in value.items():
            conforms(item, fields[key], f"{where}.{key}")
    elif origin in (typing.Union, types.UnionType):
        failures = []
        for option in args:
            try:
                conforms(value, option, where)
                return
            except AssertionError as exc:
                failures.append(str(exc))
        raise AssertionError(f"{where}: matches no option of {hint}: {failures}")
    elif origin is typing.Literal:
        assert value in args, f"{where}: {value!r} not in {args}"
    elif origin is list:
        assert isinstance(value, list), f"{where}: expected a list"
        for i, item in enumerate(value):
            conforms(item, args[0] if args else Any, f"{where}[{i}]")
    elif origin is dict:
        assert isinstance(value, dict), f"{where}: expected an object"
        for key, item in value.items():
            conforms(key, args[0] if args else Any, f"{where} key")
            conforms(item, args[1] if args else Any, f"{where}.{key}")
    elif hint is type(None):
        assert value is None, f"{where}: expected null"
    elif isinstance(hint, type):
        ok = isinstance(value, hint) and not (hint is int and isinstance(value, bool))
        assert ok, f"{where}: expected {hint.__name__}, got {type(value).__name__}"
    else:
        raise AssertionError(f"{where}: unsupported schema type {hint!r} (extend conforms())")


def test_matches_the_cli_config_schema(cli_config: Any) -> None:
    from langgraph_cli.schemas import Config

    conforms(raw(), Config)
    with pytest.raises(AssertionError, match="expected a list"):
        conforms({**raw(), "dependencies": "../.."}, Config)
    with pytest.raises(AssertionError, match="matches no option"):
        conforms({**raw(), "graphs": {"g": {"path": 3}}}, Config)


def test_dependencies_hold_the_package_and_every_graph_file(cli_config: Any) -> None:
    config = cli_config.validate_config_file(CONFIG)
    deps = [(CONFIG.parent / d).resolve() for d in config["dependencies"]]
    assert deps == [ROOT], "the repository root (with pyproject.toml) is the one dependency"
    assert 'name = "memagents"' in (ROOT / "pyproject.toml").read_text()
    dockerfile, contexts = cli_config.config_to_docker(
        CONFIG, config, base_image=cli_config.default_base_image(config))
    line = next(x for x in dockerfile.splitlines() if x.startswith("ENV LANGSERVE_GRAPHS="))
    served = json.loads(line.split("=", 1)[1].strip("'"))
    assert set(served) == set(EXPECTED)
    for spec in served.values():
        in_container = spec["path"].rsplit(":", 1)[0]
        prefix = f"/deps/{ROOT.name}/"
        assert in_container.startswith(prefix), in_container
        assert (ROOT / in_container.removeprefix(prefix)).is_file()
    assert Path(contexts[ROOT.name]) == ROOT


def test_graph_file_imports_without_settings_and_explains() -> None:
    for spec in graph_specs().values():
        path, attr = spec.rsplit(":", 1)
        module = load_module(CONFIG.parent / path)
        with pytest.raises(ConfigError, match="MEMAGENTS_LLM"):
            load_graph(module, attr, {"configurable": {}})


@pytest.mark.integration
def test_every_graph_loads_and_runs_on_the_loopback_server(
    tmp_path: Path, openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in openai_server.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MEMAGENTS_LLM", "openai:gpt-4o-mini")
    monkeypatch.setenv("MEMAGENTS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MEMAGENTS_EMBEDDINGS", "hash")
    for name in WEB_SEARCH_ENV:  # browse_agent: the offline sample web
        monkeypatch.delenv(name, raising=False)
    openai_server.add_rule("If you need help", "Velmora")
    openai_server.default_reply = "Hello from the agent."
    modules: dict[Path, Any] = {}
    graphs = {}
    try:
        for name, spec in graph_specs().items():
            path, attr = spec.rsplit(":", 1)
            file = (CONFIG.parent / path).resolve()
            module = modules.setdefault(file, load_module(file))
            graph = load_graph(module, attr, {"configurable": {"thread_id": "t"}})
            assert isinstance(graph, Pregel), f"{name} is not a compiled graph"
            assert graph.checkpointer is None and graph.store is None, (
                f"{name}: LangGraph Server supplies persistence; none may be built in")
            assert EXPECTED[name] <= set(graph.get_graph().nodes), name
            assert graph.get_graph().draw_mermaid()
            again = load_graph(module, attr, {"configurable": {}})
            assert again is graph, f"{name}: per-request factory calls reuse the compiled graph"
            graphs[name] = graph

        out = graphs["adaptive_rag"].invoke({"question": "Where is Hollin Bay?"})
        assert (out["answer"], out["answer_source"]) == ("Velmora", "parametric")
        agent = graphs["memory_agent"].copy(update={"store": InMemoryStore()})
        reply = agent.invoke({"messages": [("user", "hi")]}, {"configurable": {"user_id": "u"}})
        assert reply["messages"][-1].content == "Hello from the agent."

        rag_file = (CONFIG.parent / graph_specs()["adaptive_rag"].rsplit(":", 1)[0]).resolve()
        policy_graph = load_graph(modules[rag_file], "make_adaptive_rag",
                                  {"configurable": {"gate_policy": "never"}})
        assert policy_graph is not graphs["adaptive_rag"]
        openai_server.add_rule("Reply with the answer only", "Quillmere")
        out = policy_graph.invoke({"question": "Where is Hollin Bay?"})
        assert (out["decision"]["policy"], out["answer"]) == ("never", "Quillmere")

        # hypergraph_rag reads the same GraphMemory as its knowledge index
        hyper_file = (CONFIG.parent / graph_specs()["hypergraph_rag"].rsplit(":", 1)[0]).resolve()
        memory = modules[hyper_file]._memory(tmp_path / "home", "hash")
        memory.add_triples([("Ada Korvin founded Velm Press in Orlen.",
                             [["Ada Korvin", "founded", "Velm Press"]])], ids=["p1"])
        openai_server.add_rule("You maintain the working memory", {"inserts": [
            {"entities": ["Ada Korvin", "Velm Press"], "sources": ["p1"],
             "description": "Ada Korvin founded Velm Press."}]})
        openai_server.add_rule("You plan the research",
                               {"judgement": "sufficient", "concerns": [], "single_fact": True})
        openai_server.add_rule("You answer a question from",
                               {"answer": "Ada Korvin", "explanation": "mp-0001", "known": True})
        before = len(openai_server.chat_requests)
        diffs = []
        for update in graphs["hypergraph_rag"].stream({"question": "Who founded Velm Press?"},
                                                      stream_mode="updates"):
            diffs += [(node, change["diff"]["step"]) for node, change in update.items()
                      if change and change.get("diff")]
        assert diffs == [("evolve", 1)]
        out = graphs["hypergraph_rag"].invoke({"question": "Who founded Velm Press?"})
        assert (out["answer"], out["stop_reason"]) == ("Ada Korvin", "sufficient")
        assert [d.id for d in out["documents"]] == ["p1"]
        assert len(openai_server.chat_requests) - before == 6, "evolve, plan, answer twice"
        merging = load_graph(modules[hyper_file], "make_hypergraph_rag",
                             {"configurable": {"merge": "never"}})
        assert merging is not graphs["hypergraph_rag"]

        # browse_agent on the offline sample web (no search backend configured), sync and
        # async (a fetcher per event loop)
        band = "https://wiki.firdoria.test/wiki/the-baelven-orchards.html"
        openai_server.add_rule("You are a careful web research agent", lambda body: (
            {"action": "fetch", "url": band} if "[1] fetch" not in json.dumps(body) else
            {"action": "answer", "exact_answer": "Nolvennor", "confidence": 90,
             "explanation": "formed in Nolvennor", "citations": [band]}))
        question = {"question": "Where was The Baelven Orchards formed?"}
        out = graphs["browse_agent"].invoke(question)
        assert (out["answer"], out["citations"], out["tool_calls"]) == ("Nolvennor", [band], 1)
        assert "formed in Nolvennor" in out["steps"][0]["text"]
        out = asyncio.run(graphs["browse_agent"].ainvoke(question))
        assert (out["answer"], out["citations"]) == ("Nolvennor", [band])
        browse_file = (CONFIG.parent / graph_specs()["browse_agent"].rsplit(":", 1)[0]).resolve()
        budget = load_graph(modules[browse_file], "make_browse_agent",
                            {"configurable": {"max_tool_calls": 3}})
        assert budget is not graphs["browse_agent"]
    finally:
        for module in modules.values():
            module.reset()


@pytest.mark.integration
def test_browse_synthesis_synthesizes_and_verifies_on_the_offline_web(
    openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The served synthesis graph on the offline sample web (snapshot 1), its model the
    sample-world oracle (a simulation) through the real openai client: seeds fan out, two are
    accepted and one rejected; a candidate handed back in ``verify`` passes every check again;
    the anchor comes from configurable, else MEMAGENTS_SYNTHESIS_ANCHOR, else 90 days before
    the offline web's date."""
    for key, value in openai_server.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MEMAGENTS_LLM", "openai:gpt-4o-mini")
    monkeypatch.delenv("MEMAGENTS_SYNTHESIS_ANCHOR", raising=False)
    for name in WEB_SEARCH_ENV:
        monkeypatch.delenv(name, raising=False)
    WorldOracle(SampleWorld.generate(0, snapshot=1)).install(openai_server, model="gpt-4o-mini")
    module = load_module((CONFIG.parent / graph_specs()["browse_synthesis"].rsplit(":", 1)[0])
                         .resolve())
    try:
        graph = load_graph(module, "make_browse_synthesis",
                           {"configurable": {"anchor": "2026-07-01"}})
        assert graph.checkpointer is None
        out = asyncio.run(graph.ainvoke({"seeds": ["The Kilvivo Sessions", "Zalvel",
                                                   "Mount Hyrren"]}, {"max_concurrency": 3}))
        status = {c["seed"]: c["status"] for c in out["candidates"]}
        assert status == {"The Kilvivo Sessions": "accepted", "Zalvel": "accepted",
                          "Mount Hyrren": "rejected"}
        assert (out["stats"]["seeds"], out["stats"]["accepted"]) == (3, 2)
        assert out["stats"]["llm_calls"] > 0
        accepted = next(Candidate.from_dict(c) for c in out["candidates"]
                        if c["status"] == "accepted")
        assert accepted.anchor == "2026-07-01" and all(h.evidence for h in accepted.hops)
        fresh = Candidate.from_dict({**accepted.to_dict(), "checks": [], "status": "pending"})
        again = asyncio.run(graph.ainvoke({"verify": [fresh.to_dict()]}))
        [checked] = again["candidates"]
        assert checked["status"] == "accepted"
        assert checked["checks"][0]["name"] == "quotes"

        assert module._synthesis_anchor({}, "2026-10-01") == "2026-07-03"
        monkeypatch.setenv("MEMAGENTS_SYNTHESIS_ANCHOR", "2026-08-01")
        assert module._synthesis_anchor({}, "2026-10-01") == "2026-08-01"
        assert module._synthesis_anchor({"anchor": "2026-05-01"}, None) == "2026-05-01"
        other = load_graph(module, "make_browse_synthesis", {"configurable": {}})
        assert other is not graph
        with pytest.raises(InputError, match="--anchor"):
            module._synthesis_anchor({"anchor": "soon"}, None)
    finally:
        module.reset()
