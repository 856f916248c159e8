"""Result objects of graph-memory operations: the contract's types plus the graph's fields.

:class:`MemoryHit` adds the dense and PPR scores and the triples to the contract's
:class:`~memagents.base.Hit`; :class:`AddResult` adds the extraction's bookkeeping. Search
results are the contract's :class:`~memagents.base.SearchHits` (their ``explanation`` is a
:class:`~memagents.graphmem.core.search.Explanation`), deletes its
:class:`~memagents.base.DeleteResult`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from memagents.base.results import AddResult as BaseAddResult
from memagents.base.results import DeleteResult, Hit, SearchHits

__all__ = ["AddResult", "DeleteResult", "MemoryHit", "SearchHits"]


@dataclass(frozen=True, kw_only=True, slots=True)
class MemoryHit(Hit):
    """A stored passage, with its scores when it comes from a search.

    Attributes:
        score: What the ranking used: the PPR probability for graph hits, the cosine for
            dense-only hits (see :class:`~memagents.graphmem.core.search.Hit`).
        dense_score: Cosine similarity with the query.
        ppr_score: Personalized PageRank probability.
        triples: The passage's (subject, predicate, object) triples (filled by ``get``).
        used_graph: The search ranked with PPR over linked facts (else dense-only).
    """

    dense_score: float | None = None
    ppr_score: float | None = None
    triples: tuple[tuple[str, str, str], ...] = ()
    used_graph: bool = False

    def stable_score(self) -> float | None:
        """The PPR probability for graph hits, the raw cosine for dense-only hits (a search
        ranks dense-only hits by the cosine min-max rescaled per query, which gives the best
        hit 1.0 whatever the query: useless as a threshold)."""
        return self.score if self.used_graph else self.dense_score

    def merge_key(self) -> tuple[float, ...]:
        """The stable score, ties broken by the dense cosine (one scale for every graph)."""
        return (float(self.stable_score() or 0.0), float(self.dense_score or 0.0))

    def scores(self) -> dict[str, Any]:
        return {**Hit.scores(self), "dense_score": self.dense_score, "ppr_score": self.ppr_score}


@dataclass(slots=True)
class AddResult(BaseAddResult):
    """What an ``add`` did (see :class:`~memagents.base.AddResult`), plus:

    Attributes:
        empty: Passages indexed with no triples because the extractor found none (a valid
            but empty reply); they are found by their text only. Listed in ``notes`` too.
        dropped_triples: Malformed triples removed (wrong arity, empty parts, duplicates).

    ``failed`` covers extractions that failed after retries (including replies that never
    matched the schema, or held strings that cannot be stored). Failed passages stay stored
    with status ``failed``, are retried by the next ``add`` and never block other passages.
    """

    empty: list[str] = field(default_factory=list)
    dropped_triples: int = 0
