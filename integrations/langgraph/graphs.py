"""Graphs served by LangGraph Server and Studio (referenced from ``langgraph.json``).

Every entry is an async *graph factory* (``async def make_graph(config: RunnableConfig)``),
which LangGraph Server calls with each request's config. They build in a worker thread: the
server runs factories on its event loop and, under ``langgraph dev``, fails any blocking call
there (opening the memory folder and its SQLite database are blocking). Importing this module
touches no setting and no model, so the server starts even when no LLM is configured yet
(building a graph then raises a :class:`~memagents.errors.ConfigError` naming the variables to
set). The sync builders :func:`adaptive_rag_graph`, :func:`memory_agent_graph`,
:func:`hypergraph_rag_graph`, :func:`browse_agent_graph` and :func:`browse_synthesis_graph`
are the same without the thread.

* ``adaptive_rag``: the retrieve-or-recall workflow
  (:func:`memagents.gate.workflow.build_adaptive_rag`) over the GraphMemory in ``MEMAGENTS_HOME``;
  the gate policy is ``config["configurable"]["gate_policy"]``, else ``MEMAGENTS_GATE_POLICY``,
  else ``adapt-llm``. Per-run ``k`` and ``namespace`` go in the run's context (a ``user_id``
  alone never selects a namespace: see :mod:`memagents.base`). Retrieved passages come back
  in ``documents``, notes in ``notes``.
* ``memory_agent``: the cross-thread memory agent
  (:func:`memagents.graphmem.workflow.build_memory_agent`) on the platform's store.
* ``hypergraph_rag``: the HGMem loop (:func:`memagents.hypermem.workflow.build_hypergraph_rag`)
  reading the GraphMemory in ``MEMAGENTS_HOME`` as its knowledge index (the interface layer
  wires the two capabilities). Input ``{"question": ...}``; per-run ``max_steps``,
  ``keep_memory`` and ``namespace`` go in the run's context; the merge policy is
  ``config["configurable"]["merge"]`` (``auto``, ``always`` or ``never``; default ``auto``).
  Stream with ``stream_mode="updates"`` to watch each step's memory diff (``"diff"``); the
  answer, the memory and the evidence (``documents``) are in the final state. With the
  platform's checkpointer, ``keep_memory`` lets a thread's follow-up start from its memory.
* ``insight_solver``: the self-improving solver of the insight store
  (:func:`memagents.insights.workflow.build_insight_solver`) over the
  :class:`~memagents.insights.InsightStore` in ``MEMAGENTS_HOME/insights``. Input
  ``{"question": ..., "expected": ...}``: the insights that helped on similar problems are
  injected, the answer is verified against ``expected`` and credited to them, and a failure
  is reflected on (``config["configurable"]["learn"] = False`` only records). Per-run
  ``namespace`` in ``configurable`` or the context.
* ``browse_agent``: the browse agent (:func:`memagents.web.browse.build_browse_agent`): input
  ``{"question": ...}`` (or a human message), answer with citations of fetched pages in
  ``answer`` / ``citations`` / ``response`` (BrowseComp's format), every action in ``steps``.
  Search is ``open_search()`` over the hosted backends configured (``MEMAGENTS_SEARXNG_URL``,
  ``MEMAGENTS_BRAVE_API_KEY``, ``MEMAGENTS_TAVILY_API_KEY``) with a fetcher from the
  ``MEMAGENTS_WEB_*`` settings; with none configured, the sample world's offline web (started
  once per process on loopback, stopped at exit) and its local index. The tool budget is
  ``config["configurable"]["max_tool_calls"]`` (default 20).
* ``browse_synthesis``: browse benchmark synthesis, the three agents as one workflow
  (:func:`memagents.browsecomp.pipeline.build_synthesis`): input ``{"seeds": [...]}`` (seed
  entities, fanned out with ``Send``; ``config["max_concurrency"]`` bounds them) or
  ``{"verify": [...]}`` (ready candidates as dicts: every check, no synthesis); out come
  ``candidates`` (accepted and rejected, each with its checks) and ``stats`` (per-stage
  counters); its nodes are async (``await graph.ainvoke(...)``, as the server runs it). The
  web is the browse agent's (hosted search backends and a fetcher from the
  settings, else the sample world's offline web, at snapshot 1 here: it has fresh pages; on it
  popularity is the world's table, else search hit counts). The time anchor is
  ``config["configurable"]["anchor"]`` (``YYYY-MM-DD`` or ``-90d``), else
  ``MEMAGENTS_SYNTHESIS_ANCHOR``, else 90 days before today (on the offline web: before its
  snapshot's date, the offline web's "today"); ``configurable["hops"]`` (default 3).

Settings come from the environment (``MEMAGENTS_LLM``, ``OPENAI_API_KEY``, ``OPENAI_BASE_URL``,
``MEMAGENTS_HOME``, ``MEMAGENTS_EMBEDDINGS``; see ``memagents config``). Compiled graphs and the
opened memory are cached per setting, so the per-request factory calls are cheap.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import sys
import threading
import types
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig

__all__ = [
    "GATE_POLICY_ENV",
    "SYNTHESIS_ANCHOR_ENV",
    "adaptive_rag_graph",
    "browse_agent_graph",
    "browse_synthesis_graph",
    "hypergraph_rag_graph",
    "insight_solver_graph",
    "make_adaptive_rag",
    "make_browse_agent",
    "make_browse_synthesis",
    "make_hypergraph_rag",
    "make_insight_solver",
    "make_memory_agent",
    "memory_agent_graph",
    "reset",
]

#: Environment variable naming the default gate policy of ``adaptive_rag``.
GATE_POLICY_ENV = "MEMAGENTS_GATE_POLICY"
#: Environment variable naming the default time anchor of ``browse_synthesis``.
SYNTHESIS_ANCHOR_ENV = "MEMAGENTS_SYNTHESIS_ANCHOR"
#: Snapshot of the offline sample web ``browse_synthesis`` reads (later pages: fresh facts).
SYNTHESIS_SNAPSHOT = 1



def _process_state() -> Any:
    """The caches, shared by every copy of this file in the process. LangGraph Server executes
    the file once per graph it names, and a memory folder's lock admits one opener per
    process: ``adaptive_rag`` and ``hypergraph_rag`` must share the opened GraphMemory."""
    name = "_memagents_langgraph_graphs_state"
    fresh = types.ModuleType(name)
    fresh.lock = threading.Lock()  # type: ignore[attr-defined]
    fresh.graphs = {}  # type: ignore[attr-defined]
    fresh.memories = {}  # type: ignore[attr-defined]
    fresh.webs = {}  # type: ignore[attr-defined]
    return sys.modules.setdefault(name, fresh)


_state = _process_state()
_lock: threading.Lock = _state.lock
_graphs: dict[tuple[Any, ...], Any] = _state.graphs
_memories: dict[tuple[str, str], Any] = _state.memories
_webs: dict[tuple[Any, ...], Any] = _state.__dict__.setdefault("webs", {})


def _llm_key(settings: Any) -> tuple[Any, ...]:
    from memagents.errors import ConfigError
    from memagents.models import chat_model_configured

    if not chat_model_configured(settings):
        raise ConfigError(
            "the memagents graphs need a chat model: set MEMAGENTS_LLM (e.g. "
            "openai:gpt-4o-mini) and OPENAI_API_KEY (or OPENAI_BASE_URL for an "
            "OpenAI-compatible server) in the environment or in integrations/langgraph/.env."
        )
    return (settings.llm, settings.openai_base_url)


def _memory(home: Path, embeddings: str) -> Any:
    """The GraphMemory in ``home``, opened once per process (it holds the folder lock)."""
    from memagents.graphmem import GraphMemory

    key = (str(Path(home).resolve()), embeddings)
    if key not in _memories:
        memory = GraphMemory.open(home, embeddings=embeddings)
        _memories[key] = memory
        atexit.register(memory.close)
    return _memories[key]


def adaptive_rag_graph(config: RunnableConfig | None = None) -> Any:
    """The adaptive-RAG workflow over the GraphMemory in ``MEMAGENTS_HOME`` (cached)."""
    from memagents.config import get_settings
    from memagents.gate.workflow import build_adaptive_rag

    settings = get_settings()
    configurable = (config or {}).get("configurable") or {}
    policy = str(configurable.get("gate_policy") or os.environ.get(GATE_POLICY_ENV)
                 or "adapt-llm")
    key = ("adaptive_rag", *_llm_key(settings), policy, str(settings.home), settings.embeddings)
    with _lock:
        if key not in _graphs:
            memory = _memory(settings.home, settings.embeddings)
            _graphs[key] = build_adaptive_rag(settings.llm, memory, gate=policy,
                                              name="adaptive_rag")
        return _graphs[key]


def memory_agent_graph(config: RunnableConfig | None = None) -> Any:
    """The memory agent (cached); LangGraph Server injects its own store (``store=None``)."""
    from memagents.config import get_settings
    from memagents.graphmem.workflow import build_memory_agent

    settings = get_settings()
    key = ("memory_agent", *_llm_key(settings))
    with _lock:
        if key not in _graphs:
            _graphs[key] = build_memory_agent(settings.llm, store=None)
        return _graphs[key]


def hypergraph_rag_graph(config: RunnableConfig | None = None) -> Any:
    """The HGMem loop over the GraphMemory in ``MEMAGENTS_HOME`` (cached per settings and
    merge policy); LangGraph Server supplies the checkpointer."""
    from memagents.config import get_settings
    from memagents.hypermem.workflow import build_hypergraph_rag

    settings = get_settings()
    configurable = (config or {}).get("configurable") or {}
    merge = str(configurable.get("merge") or "auto")
    key = ("hypergraph_rag", *_llm_key(settings), merge, str(settings.home),
           settings.embeddings)
    with _lock:
        if key not in _graphs:
            memory = _memory(settings.home, settings.embeddings)
            _graphs[key] = build_hypergraph_rag(settings.llm, memory, merge=merge,
                                                name="hypergraph_rag")
        return _graphs[key]


def _web(settings: Any, *, snapshot: int = 0) -> tuple[tuple[Any, ...], Any, Any]:
    """(key, search, fetcher) of the browse agent: the configured hosted search backends and a
    fetcher from the settings, else the sample world's offline web at ``snapshot`` (started
    once per process and snapshot, kept alive, stopped at exit)."""
    from contextlib import ExitStack

    from memagents.web.fetch import FetcherPool, FetchSettings
    from memagents.web.search import configured_backends, open_search

    hosted = configured_backends(settings)
    if hosted:
        key: tuple[Any, ...] = ("hosted", *hosted, settings.searxng_url, settings.web_allow_hosts,
                                settings.web_resolve, settings.web_user_agent,
                                str(settings.web_cache_dir))
        if key not in _webs:
            fetchers = FetcherPool(FetchSettings.from_settings(settings))
            _webs[key] = (open_search(settings=settings), fetchers, fetchers.close)
            atexit.register(fetchers.close)
    else:
        key = ("offline",) if not snapshot else ("offline", snapshot)
        if key not in _webs:
            from memagents.web.offline import fetch_settings_for, offline_web

            stack = ExitStack()
            web = stack.enter_context(offline_web(snapshot=snapshot))
            fetchers = FetcherPool(fetch_settings_for(web.server))
            stack.callback(fetchers.close)
            _webs[key] = (web.search, fetchers, stack.close)
            atexit.register(stack.close)
    search, fetcher, _close = _webs[key]
    return key, search, fetcher


def browse_agent_graph(config: RunnableConfig | None = None) -> Any:
    """The browse agent over the configured web, else the offline sample web (cached per
    settings and tool budget)."""
    from memagents.config import get_settings
    from memagents.web.browse import BrowseSettings, build_browse_agent

    settings = get_settings()
    configurable = (config or {}).get("configurable") or {}
    calls = int(configurable.get("max_tool_calls") or 20)
    llm_key = _llm_key(settings)
    with _lock:
        web_key, search, fetcher = _web(settings)
        key = ("browse_agent", *llm_key, calls, *web_key)
        if key not in _graphs:
            _graphs[key] = build_browse_agent(
                settings.llm, search, fetcher, settings=BrowseSettings(max_tool_calls=calls),
                name="browse_agent")
        return _graphs[key]


def _synthesis_anchor(configurable: dict[str, Any], offline_date: str | None) -> str:
    """``configurable["anchor"]``, else ``MEMAGENTS_SYNTHESIS_ANCHOR``, else 90 days before
    today (before ``offline_date`` on the offline web)."""
    from datetime import date, datetime, timedelta, timezone

    from memagents.browsecomp.schedule import resolve_anchor

    now = datetime.now(timezone.utc)
    given = configurable.get("anchor") or os.environ.get(SYNTHESIS_ANCHOR_ENV)
    if given:
        return resolve_anchor(str(given), now)
    today = date.fromisoformat(offline_date) if offline_date else now.date()
    return (today - timedelta(days=90)).isoformat()


def browse_synthesis_graph(config: RunnableConfig | None = None) -> Any:
    """Browse benchmark synthesis over the configured web, else the offline sample web at
    :data:`SYNTHESIS_SNAPSHOT` (cached per settings, anchor and hops); LangGraph Server
    supplies the checkpointer."""
    from memagents.browsecomp.checks import SearchHitPopularity, TablePopularity
    from memagents.browsecomp.pipeline import build_synthesis
    from memagents.browsecomp.synthesis import SynthesisSettings
    from memagents.config import get_settings

    settings = get_settings()
    configurable = (config or {}).get("configurable") or {}
    hops = int(configurable.get("hops") or 3)
    llm_key = _llm_key(settings)
    with _lock:
        web_key, search, fetcher = _web(settings, snapshot=SYNTHESIS_SNAPSHOT)
        world = None
        if web_key[0] == "offline":
            world_key = ("sample_world", SYNTHESIS_SNAPSHOT)
            if world_key not in _graphs:
                from memagents.sample import SampleWorld

                _graphs[world_key] = SampleWorld.generate(0, snapshot=SYNTHESIS_SNAPSHOT)
            world = _graphs[world_key]
        anchor = _synthesis_anchor(configurable, world.date if world is not None else None)
        key = ("browse_synthesis", *llm_key, anchor, hops, *web_key)
        if key not in _graphs:
            popularity = (TablePopularity({e.name: e.popularity for e in world.entities})
                          if world is not None else SearchHitPopularity(search))
            _graphs[key] = build_synthesis(
                settings.llm, search, fetcher, settings=SynthesisSettings(anchor=anchor,
                                                                          hops=hops),
                popularity=popularity, name="browse_synthesis")
        return _graphs[key]


def _insight_store(home: Path, embeddings: str, llm: str) -> Any:
    """The InsightStore in ``home/insights``, opened once per process (it holds the folder
    lock)."""
    from memagents.insights import InsightStore

    folder = Path(home) / "insights"
    key = (str(folder.resolve()), embeddings)
    if key not in _memories:
        store = InsightStore.open(folder, llm=llm, embeddings=embeddings)
        _memories[key] = store
        atexit.register(store.close)
    return _memories[key]


def insight_solver_graph(config: RunnableConfig | None = None) -> Any:
    """The insight store's self-improving solver over ``MEMAGENTS_HOME/insights`` (cached
    per settings and ``learn``); LangGraph Server supplies the checkpointer."""
    from memagents.config import get_settings
    from memagents.insights import build_insight_solver

    settings = get_settings()
    configurable = (config or {}).get("configurable") or {}
    learn = str(configurable.get("learn", True)).lower() not in ("false", "0", "no")
    key = ("insight_solver", *_llm_key(settings), learn, str(settings.home),
           settings.embeddings)
    with _lock:
        if key not in _graphs:
            store = _insight_store(settings.home, settings.embeddings, str(settings.llm))
            _graphs[key] = build_insight_solver(settings.llm, store, learn=learn,
                                                name="insight_solver")
        return _graphs[key]


async def make_adaptive_rag(config: RunnableConfig) -> Any:
    """Graph factory of ``adaptive_rag`` (LangGraph Server); see :func:`adaptive_rag_graph`."""
    return await asyncio.to_thread(adaptive_rag_graph, config)


async def make_memory_agent(config: RunnableConfig) -> Any:
    """Graph factory of ``memory_agent`` (LangGraph Server); see :func:`memory_agent_graph`."""
    return await asyncio.to_thread(memory_agent_graph, config)


async def make_hypergraph_rag(config: RunnableConfig) -> Any:
    """Graph factory of ``hypergraph_rag`` (LangGraph Server); see
    :func:`hypergraph_rag_graph`."""
    return await asyncio.to_thread(hypergraph_rag_graph, config)


async def make_browse_agent(config: RunnableConfig) -> Any:
    """Graph factory of ``browse_agent`` (LangGraph Server); see :func:`browse_agent_graph`."""
    return await asyncio.to_thread(browse_agent_graph, config)


async def make_browse_synthesis(config: RunnableConfig) -> Any:
    """Graph factory of ``browse_synthesis`` (LangGraph Server); see
    :func:`browse_synthesis_graph`."""
    return await asyncio.to_thread(browse_synthesis_graph, config)


async def make_insight_solver(config: RunnableConfig) -> Any:
    """Graph factory of ``insight_solver`` (LangGraph Server); see
    :func:`insight_solver_graph`."""
    return await asyncio.to_thread(insight_solver_graph, config)


def reset() -> None:
    """Forget the cached graphs, close the opened memories and stop the offline web (tests,
    settings changes)."""
    with _lock:
        _graphs.clear()
        for memory in _memories.values():
            memory.close()
        _memories.clear()
        for _search, _fetcher, close in _webs.values():
            close()
        _webs.clear()
