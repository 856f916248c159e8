"""The read path of :class:`~memagents.graphmem.memory.GraphMemory`: query to ranked hits."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from memagents.errors import ConfigError, InputError
from memagents.graphmem._results import MemoryHit, SearchHits
from memagents.graphmem.config import Preset, get_preset
from memagents.graphmem.recognition import LLMFactFilter
from memagents.graphmem.search import GraphSearcher, SearchResult
from memagents.models import aembed_texts, embed_texts

if TYPE_CHECKING:
    from memagents.graphmem.memory import GraphMemory

__all__ = ["arun_search", "check_query", "run_search"]


def check_query(query: Any, k: Any, max_chars: int) -> str:
    """Validate a search query and ``k``; return the stripped query."""
    if not isinstance(query, str) or not query.strip():
        raise InputError("the search query must be a non-empty string.")
    if len(query) > max_chars:
        raise InputError(
            f"the search query has {len(query)} characters, over max_input_chars={max_chars}; "
            "shorten it (a question or a few sentences works best)."
        )
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InputError(f"k must be a positive integer, got {k!r}.")
    return query.strip()


@dataclass
class _Plan:
    query: str
    k: int
    namespace: str
    searcher: GraphSearcher | None
    fact_filter: LLMFactFilter | None
    notes: list[str]


def _plan(
    memory: GraphMemory,
    query: str,
    k: int,
    namespace: str,
    preset: str | Preset | None,
    use_filter: bool | None,
) -> _Plan:
    query = check_query(query, k, memory.settings.max_input_chars)
    the_preset = memory.preset if preset is None else get_preset(preset)
    if the_preset.graph != memory.preset.graph:
        raise ConfigError(
            f"preset {the_preset.name!r} needs a graph built with other settings than this "
            f"memory's ({memory.preset.name!r}); open the memory with preset="
            f"{the_preset.name!r} in another folder."
        )
    notes: list[str] = []
    want_filter = memory.use_filter if use_filter is None else use_filter
    if want_filter is None:
        want_filter = memory.has_llm
    fact_filter = None
    if want_filter and not memory.has_llm:
        notes.append("recognition filter skipped: no chat model configured (set llm=)")
    elif want_filter:
        fact_filter = LLMFactFilter(memory.llm)
    elif not memory.has_llm:
        notes.append("recognition filter skipped: no chat model configured")
    with memory._mutex:
        index = memory.index(namespace)
        if len(index) == 0:
            notes.append(f"namespace {namespace!r} holds no indexed passages")
            return _Plan(query, k, namespace, None, None, notes)
        index.matrices()  # build the search snapshot while holding the lock
        searcher = GraphSearcher(index, the_preset)
    return _Plan(query, k, namespace, searcher, fact_filter, notes)


def _rank(memory: GraphMemory, plan: _Plan, qv: Any, kept: list[Any] | None) -> SearchResult:
    """One graph search; the lock is held only for these milliseconds, never across a model
    call. ``kept`` replays the recognition filter's answer."""
    assert plan.searcher is not None
    fact_filter = None if kept is None else (lambda question, candidates: kept)
    with memory._mutex:
        return plan.searcher.search(plan.query, plan.k, fact_filter=fact_filter, query_vectors=qv)


def _hits(memory: GraphMemory, plan: _Plan, result: SearchResult) -> SearchHits:
    if plan.fact_filter is not None and plan.fact_filter.last_error:
        plan.notes.append(
            f"recognition filter failed, facts kept unfiltered: {plan.fact_filter.last_error}"
        )
    rows = {
        p.id: p
        for p in memory.store.passages(plan.namespace, ids=[h.passage_id for h in result.hits])
    }
    hits = [
        MemoryHit(
            id=h.passage_id,
            text=rows[h.passage_id].text,
            metadata=rows[h.passage_id].metadata,
            namespace=plan.namespace,
            score=float(h.score),
            dense_score=float(h.dense_score),
            ppr_score=float(h.ppr_score),
            rank=h.rank,
            used_graph=result.explanation.used_graph,
        )
        for h in result.hits
        if h.passage_id in rows
    ]
    explanation = result.explanation
    if plan.fact_filter is not None:
        explanation = replace(explanation, filter_ran=True)
    return SearchHits(hits, explanation=explanation, notes=plan.notes)


def run_search(
    memory: GraphMemory,
    query: str,
    k: int,
    namespace: str,
    preset: str | Preset | None,
    use_filter: bool | None,
) -> SearchHits:
    """Search one namespace; see :meth:`GraphMemory.search`."""
    plan = _plan(memory, query, k, namespace, preset, use_filter)
    if plan.searcher is None:
        return SearchHits([], notes=plan.notes)
    texts = _query_texts(plan)
    vecs = embed_texts(memory.embeddings, texts, usage=memory.usage)
    qv = (np.asarray(vecs[0]), np.asarray(vecs[-1]))
    result = _rank(memory, plan, qv, None)
    if plan.fact_filter is not None:
        candidates = list(result.explanation.candidate_facts)
        result = _rank(memory, plan, qv, plan.fact_filter(plan.query, candidates))
    return _hits(memory, plan, result)


async def arun_search(
    memory: GraphMemory,
    query: str,
    k: int,
    namespace: str,
    preset: str | Preset | None,
    use_filter: bool | None,
) -> SearchHits:
    """Async twin of :func:`run_search`: the query embedding and the recognition filter use
    the models' async APIs; only the millisecond graph steps run in a worker thread."""
    plan = await asyncio.to_thread(_plan, memory, query, k, namespace, preset, use_filter)
    if plan.searcher is None:
        return SearchHits([], notes=plan.notes)
    vecs = await aembed_texts(memory.embeddings, _query_texts(plan), usage=memory.usage)
    qv = (np.asarray(vecs[0]), np.asarray(vecs[-1]))
    result = await asyncio.to_thread(_rank, memory, plan, qv, None)
    if plan.fact_filter is not None:
        candidates = list(result.explanation.candidate_facts)
        kept = await plan.fact_filter.acall(plan.query, candidates)
        result = await asyncio.to_thread(_rank, memory, plan, qv, kept)
    return await asyncio.to_thread(_hits, memory, plan, result)


def _query_texts(plan: _Plan) -> list[str]:
    """Query strings, one per distinct instruction (never cached: queries vary)."""
    assert plan.searcher is not None
    cfg = plan.searcher.config
    fact_text = (cfg.fact_query_instruction or "") + plan.query
    passage_text = (cfg.passage_query_instruction or "") + plan.query
    return [fact_text] if fact_text == passage_text else [fact_text, passage_text]
