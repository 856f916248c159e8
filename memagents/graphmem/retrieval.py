"""The read path of :class:`~memagents.graphmem.GraphMemory`: query to ranked hits.

One search: plan (namespace, preset, filter; the graph snapshot is built under the memory's
lock), embed the query (no lock), link it to candidate facts, let the recognition filter choose
among them (a model call, no lock), rank from the kept facts with one PageRank, then read the
hit passages. It works on the memory's :class:`~memagents.graphmem.state.MemoryState`, never on
the facade; the async twin runs the model calls on their async APIs and every graph and
database step in a worker thread.

Several searches can share their PageRank (:mod:`memagents.graphmem.batching`): consecutive
search operations of one ``GraphMemory.batch`` call are ranked together
(:func:`run_search_ops`), and async searches arriving within the memory's batching window meet
in its :class:`~memagents.graphmem.batching.WindowBatcher`; either way each search gets the
hits it gets alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from memagents.base.ops import Op, SearchOp
from memagents.base.results import Note
from memagents.errors import ConfigError, InputError
from memagents.graphmem.batching import RankRequest, WindowBatcher, rank_many
from memagents.graphmem.core.config import Preset, get_preset
from memagents.graphmem.core.search import GraphSearcher, LinkedFact, Linking, SearchResult
from memagents.graphmem.ingest import check_string
from memagents.graphmem.recognition import LLMFactFilter
from memagents.graphmem.results import MemoryHit, SearchHits
from memagents.graphmem.state import MemoryState
from memagents.models import aembed_texts, embed_texts

__all__ = [
    "arun_search",
    "arun_search_ops",
    "check_query",
    "group_searches",
    "rank_requests",
    "run_search",
    "run_search_ops",
]


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
    state: MemoryState,
    query: str,
    k: int,
    namespace: str,
    preset: str | Preset | None,
    use_filter: bool | None,
) -> _Plan:
    query = check_query(query, k, state.settings.max_input_chars)
    the_preset = state.preset if preset is None else get_preset(preset)
    if the_preset.graph != state.preset.graph:
        raise ConfigError(
            f"preset {the_preset.name!r} needs a graph built with other settings than this "
            f"memory's ({state.preset.name!r}); open the memory with preset="
            f"{the_preset.name!r} in another folder."
        )
    notes: list[str] = []
    want_filter = state.use_filter if use_filter is None else use_filter
    if want_filter is None:
        want_filter = state.has_llm
    fact_filter = None
    if want_filter and not state.has_llm:
        notes.append("recognition filter skipped: no chat model configured (set llm=)")
    elif want_filter:
        fact_filter = LLMFactFilter(state.llm)
    elif not state.has_llm:  # expected without a model: logged at INFO, not on every search
        notes.append(Note.info("recognition filter skipped: no chat model configured"))
    with state.mutex:
        index = state.index(namespace)
        if len(index) == 0:
            notes.append(f"namespace {namespace!r} holds no indexed passages")
            return _Plan(query, k, namespace, None, None, notes)
        index.matrices()  # build the search snapshot while holding the lock
        searcher = GraphSearcher(index, the_preset)
    return _Plan(query, k, namespace, searcher, fact_filter, notes)


def _query_vectors(vecs: Any) -> tuple[np.ndarray, np.ndarray]:
    """The (fact, passage) query vectors from the rows embedded for ``query_texts``."""
    return np.asarray(vecs[0]), np.asarray(vecs[-1])


def _link(state: MemoryState, plan: _Plan, qv: tuple[np.ndarray, np.ndarray]) -> Linking:
    """Question to candidate facts (no PageRank); the lock is held for these milliseconds
    only, never across a model call."""
    assert plan.searcher is not None
    with state.mutex:
        return plan.searcher.link(plan.query, query_vectors=qv)


def _rank(
    state: MemoryState, plan: _Plan, linking: Linking, kept: Sequence[LinkedFact] | None
) -> SearchResult:
    """Kept facts to ranked passages: the search's one PageRank. ``kept`` is the
    recognition filter's answer (``None``: no filter ran)."""
    assert plan.searcher is not None
    with state.mutex:
        return plan.searcher.rank(linking, plan.k, kept=kept)


def _hits(state: MemoryState, plan: _Plan, result: SearchResult) -> SearchHits:
    if plan.fact_filter is not None and plan.fact_filter.last_error:
        plan.notes.append(
            f"recognition filter failed, facts kept unfiltered: {plan.fact_filter.last_error}"
        )
    rows = {
        p.id: p
        for p in state.db.passages(plan.namespace, ids=[h.passage_id for h in result.hits])
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


def _prepare(
    state: MemoryState,
    query: str,
    k: int,
    namespace: str,
    preset: str | Preset | None,
    use_filter: bool | None,
) -> tuple[_Plan, RankRequest | None]:
    """Everything of a search before its PageRank (``None``: nothing to rank)."""
    plan = _plan(state, query, k, namespace, preset, use_filter)
    if plan.searcher is None:
        return plan, None
    texts = plan.searcher.query_texts([plan.query])
    qv = _query_vectors(embed_texts(state.embeddings, texts, usage=state.usage))
    linking = _link(state, plan, qv)
    kept = None
    if plan.fact_filter is not None:
        kept = plan.fact_filter(plan.query, linking.candidates)
    return plan, RankRequest(plan.searcher, linking, plan.k, kept)


def run_search(
    state: MemoryState,
    query: str,
    k: int,
    namespace: str,
    preset: str | Preset | None,
    use_filter: bool | None,
) -> SearchHits:
    """Search one namespace; see :meth:`GraphMemory.search`."""
    plan, request = _prepare(state, query, k, namespace, preset, use_filter)
    if request is None:
        return SearchHits([], notes=plan.notes)
    return _hits(state, plan, _rank(state, plan, request.linking, request.kept))


def rank_requests(state: MemoryState, requests: list[RankRequest]) -> list[Any]:
    """Rank searches together under the memory's lock (one batched PageRank per graph);
    a failing search's exception stands in its place."""
    with state.mutex:
        return rank_many(requests, return_exceptions=True)


def group_searches(ops: Sequence[Op]) -> Iterator[list[Op]]:
    """The operations in order, consecutive searches in one list, any other alone."""
    run: list[Op] = []
    for op in ops:
        if isinstance(op, SearchOp):
            run.append(op)
            continue
        if run:
            yield run
            run = []
        yield [op]
    if run:
        yield run


def _search_args(state: MemoryState, op: SearchOp) -> tuple[Any, ...]:
    namespace = state.resolve(op.namespace)
    check_string(op.query, "the search query")
    return (op.query, op.k, namespace, op.options.get("preset"), op.options.get("use_filter"))


def run_search_ops(state: MemoryState, ops: Sequence[SearchOp]) -> list[SearchHits]:
    """Consecutive search operations of ``GraphMemory.batch``, ranked together; each gets
    the hits :func:`run_search` gives it. Raises the first failure, in operation order."""
    prepared: list[Any] = []
    for op in ops:
        try:
            prepared.append(_prepare(state, *_search_args(state, op)))
        except Exception as exc:  # noqa: BLE001 - raised below, in operation order
            prepared.append(exc)
    todo = [p for p in prepared if not isinstance(p, Exception) and p[1] is not None]
    ranked = iter(rank_requests(state, [request for _, request in todo]))
    out: list[SearchHits] = []
    for item in prepared:
        if isinstance(item, Exception):
            raise item
        plan, request = item
        if request is None:
            out.append(SearchHits([], notes=plan.notes))
            continue
        result = next(ranked)
        if isinstance(result, Exception):
            raise result
        out.append(_hits(state, plan, result))
    return out


async def arun_search(
    state: MemoryState,
    query: str,
    k: int,
    namespace: str,
    preset: str | Preset | None,
    use_filter: bool | None,
    batcher: WindowBatcher[RankRequest, SearchResult] | None = None,
) -> SearchHits:
    """Async twin of :func:`run_search`: the query embedding and the recognition filter use
    the models' async APIs; only the millisecond graph steps run in a worker thread. With a
    ``batcher`` whose window is open (``window_ms > 0``) the PageRank is shared with the
    searches arriving together (same hits)."""
    plan = await asyncio.to_thread(_plan, state, query, k, namespace, preset, use_filter)
    if plan.searcher is None:
        return SearchHits([], notes=plan.notes)
    texts = plan.searcher.query_texts([plan.query])
    qv = _query_vectors(await aembed_texts(state.embeddings, texts, usage=state.usage))
    linking = await asyncio.to_thread(_link, state, plan, qv)
    kept = None
    if plan.fact_filter is not None:
        kept = await plan.fact_filter.acall(plan.query, linking.candidates)
    if batcher is not None and batcher.window_ms > 0:
        result = await batcher.submit(RankRequest(plan.searcher, linking, plan.k, kept))
    else:
        result = await asyncio.to_thread(_rank, state, plan, linking, kept)
    return await asyncio.to_thread(_hits, state, plan, result)


async def arun_search_ops(
    state: MemoryState,
    ops: Sequence[SearchOp],
    batcher: WindowBatcher[RankRequest, SearchResult] | None = None,
) -> list[SearchHits]:
    """Consecutive search operations of ``GraphMemory.abatch``, run concurrently (so their
    PageRanks meet in ``batcher``'s window). Raises the first failure, in operation order."""

    async def one(op: SearchOp) -> SearchHits:
        args = _search_args(state, op)
        return await arun_search(state, *args, batcher=batcher)

    results = await asyncio.gather(*(one(op) for op in ops), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return list(results)  # type: ignore[arg-type]
