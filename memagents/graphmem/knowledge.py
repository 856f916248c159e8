"""Graph memory as a :class:`~memagents.base.KnowledgeIndex`: its knowledge graph's entities,
relations and passages, for another capability to retrieve from.

The mapping (what :class:`~memagents.graphmem.GraphMemory`'s methods of the same names
return):

* **entities** are the phrase nodes; ``name`` is the normalised phrase, ``sources`` the ids of
  the indexed passages whose facts mention it (sorted), ``description`` up to
  :data:`~memagents.graphmem.core.knowledge.DESCRIPTION_FACTS` of its facts as text
  (``"ada korvin born in velm; ada korvin founded quillmere press"``, the facts found in the
  most passages first; a phrase node always has at least one fact), and
  ``entity_type`` is ``None`` (extraction assigns no types);
* **relations** are the distinct normalised facts with the passages they were extracted from;
* **neighbours** follow fact edges only by default: each hop is a relation that
  ``search_relations(entities=...)`` can return. Synonymy edges (phrases whose vectors are
  near, such as ``"ada korvin"`` and ``"ada korvin s"``) are guesses, not relations; pass
  ``synonyms=True`` to follow them too;
* input names are normalised like phrases (``"Ada Korvin"`` finds ``"ada korvin"``); a single
  string is one name; unknown names are skipped;
* searches rank by the cosine of the query embedding with the phrase, fact or passage vectors
  (ties by name or id). The query is embedded through the memory's embedding cache, behind the
  preset's fact or passage query instruction for relations and passages (plain for entities;
  both presets use none). An empty namespace answers ``[]`` with no model call.

Everything is read-only and per namespace (default: the memory's). The graph's
:class:`~memagents.graphmem.core.knowledge.KnowledgeView` is taken under the memory's lock
(built on the first read after a change, a few tens of milliseconds on MuSiQue's 1,900
passages); the query is embedded and scored without the lock.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import numpy as np

from memagents.base.knowledge import EntityHit, RelationHit
from memagents.errors import InputError
from memagents.graphmem.core.knowledge import KnowledgeView
from memagents.graphmem.results import MemoryHit, SearchHits
from memagents.graphmem.retrieval import check_query
from memagents.graphmem.state import MemoryState

__all__ = [
    "entity_neighbours",
    "get_entities",
    "search_entities",
    "search_passages",
    "search_relations",
]


def _names(value: Any, what: str) -> list[str] | None:
    """``None``, or the names of ``value`` as a list (a single string is one name)."""
    if value is None:
        return None
    return _required(value, what)


def _required(value: Any, what: str) -> list[str]:
    """The names of ``value`` as a list (a single string is one name)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, (bytes, dict)) or not isinstance(value, Collection):
        raise InputError(f"{what} must be a list of names, got {type(value).__name__}.")
    names = list(value)
    for name in names:
        if not isinstance(name, str):
            raise InputError(f"{what} must hold strings, got {type(name).__name__}.")
    return names


def _query_vector(state: MemoryState, text: str) -> np.ndarray:
    """The query's vector, through the memory's embedding cache (no lock held)."""
    return np.asarray(state.embed([text])[0], dtype=np.float32)


def _entity(view: KnowledgeView, row: int, score: float | None) -> EntityHit:
    return EntityHit(
        name=view.phrases[row],
        score=score,
        description=view.description(row),
        sources=view.entity_sources(row),
    )


def search_entities(
    state: MemoryState,
    query: str,
    k: int = 5,
    *,
    namespace: str | None = None,
    within: Collection[str] | None = None,
    exclude: Collection[str] | None = None,
) -> list[EntityHit]:
    """The ``k`` entities most similar to ``query``, best first (see the module docstring)."""
    ns = state.resolve(namespace)
    query = check_query(query, k, state.settings.max_input_chars)
    wanted, unwanted = _names(within, "within"), _names(exclude, "exclude") or []
    view = state.view(ns)
    rows = None if wanted is None else view.rows(wanted)
    if not view.phrases or rows == []:
        return []
    qv = _query_vector(state, query)
    ranked = view.search_entities(qv, k, within=rows, exclude=view.rows(unwanted))
    return [_entity(view, row, score) for row, score in ranked]


def get_entities(
    state: MemoryState, names: Sequence[str], *, namespace: str | None = None
) -> list[EntityHit]:
    """The known entities among ``names``, in the order asked, each once (``score`` None)."""
    ns = state.resolve(namespace)
    asked = _required(names, "names")
    view = state.view(ns)
    return [_entity(view, row, None) for row in view.rows(asked)]


def entity_neighbours(
    state: MemoryState,
    names: Collection[str],
    *,
    hops: int = 1,
    namespace: str | None = None,
    synonyms: bool = False,
) -> list[str]:
    """Entities within ``hops`` fact edges (and synonymy edges when ``synonyms``) of
    ``names``, ``names`` excluded, sorted."""
    ns = state.resolve(namespace)
    if isinstance(hops, bool) or not isinstance(hops, int) or hops < 1:
        raise InputError(f"hops must be a positive integer, got {hops!r}.")
    asked = _required(names, "names")
    view = state.view(ns)
    rows = view.rows(asked)
    if not rows:
        return []
    return [view.phrases[i] for i in view.neighbours(rows, hops, synonyms=bool(synonyms))]


def search_relations(
    state: MemoryState,
    query: str,
    k: int = 5,
    *,
    namespace: str | None = None,
    entities: Collection[str] | None = None,
) -> list[RelationHit]:
    """The ``k`` facts most similar to ``query``, best first; only facts whose subject or
    object is among ``entities`` when given."""
    ns = state.resolve(namespace)
    query = check_query(query, k, state.settings.max_input_chars)
    touching = _names(entities, "entities")
    view = state.view(ns)
    rows = None if touching is None else view.rows(touching)
    if not view.facts or rows == []:
        return []
    instruction = state.preset.search.fact_query_instruction or ""
    qv = _query_vector(state, instruction + query)
    out = []
    for row, score in view.search_facts(qv, k, entities=rows):
        s, p, o = view.facts[row]
        out.append(RelationHit(subject=s, predicate=p, object=o, score=score,
                               sources=view.fact_sources(row)))
    return out


def search_passages(
    state: MemoryState,
    query: str,
    k: int = 5,
    *,
    namespace: str | None = None,
    within: Collection[str] | None = None,
) -> SearchHits:
    """The ``k`` indexed passages most similar to ``query`` (dense ranking, no PageRank),
    best first, as :class:`~memagents.graphmem.MemoryHit` with ``score = dense_score`` = the
    cosine; only ids in ``within`` when given."""
    ns = state.resolve(namespace)
    query = check_query(query, k, state.settings.max_input_chars)
    wanted = _names(within, "within")
    view = state.view(ns)
    if not view.passages:
        return SearchHits([], notes=[f"namespace {ns!r} holds no indexed passages"])
    rows = None if wanted is None else view.passage_rows(wanted)
    if rows == []:
        return SearchHits([])
    instruction = state.preset.search.passage_query_instruction or ""
    ranked = view.search_passages(_query_vector(state, instruction + query), k, within=rows)
    ids = [view.passages[row] for row, _ in ranked]
    stored = {p.id: p for p in state.db.passages(ns, ids=ids)}
    hits = []
    for pid, (_, score) in zip(ids, ranked):
        passage = stored.get(pid)
        if passage is None:  # deleted since the view was taken
            continue
        hits.append(MemoryHit(id=pid, text=passage.text, metadata=passage.metadata,
                              namespace=ns, score=score, dense_score=score,
                              rank=len(hits) + 1))
    return SearchHits(hits)
