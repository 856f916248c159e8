"""The read path of :class:`~memagents.graphmem.memory.GraphMemory`: query to ranked hits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from memagents.errors import InputError
from memagents.graphmem._results import MemoryHit, SearchHits
from memagents.graphmem.config import Preset, get_preset
from memagents.graphmem.recognition import LLMFactFilter
from memagents.graphmem.search import GraphSearcher
from memagents.models import embed_texts

if TYPE_CHECKING:
    from memagents.graphmem.memory import GraphMemory

__all__ = ["check_query", "run_search"]


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


def run_search(
    memory: GraphMemory,
    query: str,
    k: int,
    namespace: str,
    preset: str | Preset | None,
    use_filter: bool | None,
) -> SearchHits:
    """Search one namespace; see :meth:`GraphMemory.search`."""
    query = check_query(query, k, memory.settings.max_input_chars)
    the_preset = memory.preset if preset is None else get_preset(preset)
    if the_preset.graph != memory.preset.graph:
        from memagents.errors import ConfigError

        raise ConfigError(
            f"preset {the_preset.name!r} needs a graph built with other settings than this "
            f"memory's ({memory.preset.name!r}); open the memory with preset="
            f"{the_preset.name!r} in another folder."
        )
    notes: list[str] = []
    with memory._mutex:
        index = memory.index(namespace)
        if len(index) == 0:
            notes.append(f"namespace {namespace!r} holds no indexed passages")
            return SearchHits([], notes=notes)
        searcher = GraphSearcher(index, the_preset)
        want_filter = memory.use_filter if use_filter is None else use_filter
        fact_filter = None
        if want_filter is None:
            want_filter = memory.has_llm
        if want_filter and not memory.has_llm:
            notes.append("recognition filter skipped: no chat model configured (set llm=)")
        elif want_filter:
            fact_filter = LLMFactFilter(memory.llm)
        elif not memory.has_llm:
            notes.append("recognition filter skipped: no chat model configured")
        qv = _encode(memory, searcher, query)
        result = searcher.search(query, k, fact_filter=fact_filter, query_vectors=qv)
        if fact_filter is not None and fact_filter.last_error:
            notes.append(f"recognition filter failed, facts kept unfiltered: "
                         f"{fact_filter.last_error}")
        rows = {p.id: p for p in memory.store.passages(
            namespace, ids=[h.passage_id for h in result.hits])}
    hits = [
        MemoryHit(
            id=h.passage_id,
            text=rows[h.passage_id].text,
            metadata=rows[h.passage_id].metadata,
            namespace=namespace,
            score=float(h.score),
            dense_score=float(h.dense_score),
            ppr_score=float(h.ppr_score),
            rank=h.rank,
        )
        for h in result.hits
        if h.passage_id in rows
    ]
    return SearchHits(hits, explanation=result.explanation, notes=notes)


def _encode(memory: GraphMemory, searcher: GraphSearcher, query: str) -> tuple[Any, Any]:
    """Query vectors, encoded once per distinct instruction (never cached: queries vary)."""
    cfg = searcher.config
    fact_text = (cfg.fact_query_instruction or "") + query
    passage_text = (cfg.passage_query_instruction or "") + query
    texts = [fact_text] if fact_text == passage_text else [fact_text, passage_text]
    vecs = embed_texts(memory.embeddings, texts, usage=memory.usage)
    return np.asarray(vecs[0]), np.asarray(vecs[-1])
