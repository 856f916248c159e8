"""Result objects of graph-memory operations."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from langchain_core.documents import Document

from memagents.graphmem.search import Explanation

__all__ = ["AddResult", "DeleteResult", "MemoryHit", "SearchHits"]


@dataclass(frozen=True, slots=True)
class MemoryHit:
    """A stored passage, with its scores when it comes from a search.

    Attributes:
        id: Passage id.
        text: Passage text.
        metadata: What the user stored with it.
        namespace: Where it lives.
        score: What the ranking used (see :class:`~memagents.graphmem.search.Hit`).
        dense_score: Cosine similarity with the query.
        ppr_score: Personalized PageRank probability.
        rank: 1-based rank in the results.
        triples: The passage's (subject, predicate, object) triples (filled by ``get``).
    """

    id: str
    text: str
    metadata: dict[str, Any]
    namespace: str
    score: float | None = None
    dense_score: float | None = None
    ppr_score: float | None = None
    rank: int | None = None
    triples: tuple[tuple[str, str, str], ...] = ()

    def to_document(self) -> Document:
        """As a langchain ``Document`` (scores under ``metadata["memagents"]``)."""
        meta = dict(self.metadata)
        meta["memagents"] = {
            "namespace": self.namespace,
            "score": self.score,
            "dense_score": self.dense_score,
            "ppr_score": self.ppr_score,
            "rank": self.rank,
        }
        return Document(page_content=self.text, metadata=meta, id=self.id)


class SearchHits(list[MemoryHit]):
    """Hits, best first, plus ``explanation`` (linked facts, seeds) and ``notes``."""

    def __init__(
        self,
        hits: list[MemoryHit] | None = None,
        *,
        explanation: Explanation | None = None,
        notes: list[str] | None = None,
    ) -> None:
        super().__init__(hits or [])
        self.explanation = explanation
        self.notes = notes or []

    @property
    def ids(self) -> list[str]:
        return [h.id for h in self]

    def to_documents(self) -> list[Document]:
        return [h.to_document() for h in self]


@dataclass(slots=True)
class AddResult:
    """What an ``add`` did.

    Attributes:
        namespace: Target namespace.
        ids: Ids of the given passages, in input order.
        added: New passages now in the graph.
        updated: Existing ids whose content changed, now re-indexed.
        unchanged: Already stored with the same content: no LLM or embedding call.
        resumed: Passages left pending or failed by an earlier call, indexed now.
        failed: Passage id -> error, for extractions that failed after retries (including
            replies that never matched the schema, or held strings that cannot be stored).
            They stay stored with status ``failed`` and are retried by the next ``add``; they
            never block the other passages.
        pending: Passages that still wait for extraction (e.g. no chat model configured).
        empty: Passages indexed with no triples because the extractor found none (a valid
            but empty reply); they are found by their text only. Listed in ``notes`` too.
        dropped_triples: Malformed triples removed (wrong arity, empty parts, duplicates).
        llm_calls: LLM requests this call made (retries included).
        embedding_calls: Embedding requests this call made.
        notes: Things worth knowing that are not failures (e.g. passages without triples).
    """

    namespace: str
    ids: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    pending: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)
    dropped_triples: int = 0
    llm_calls: int = 0
    embedding_calls: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every passage given is indexed."""
        return not self.failed and not self.pending


@dataclass(frozen=True, slots=True)
class DeleteResult:
    """What a ``delete`` did: ``deleted`` ids and ``unknown`` ids (not stored, ignored)."""

    deleted: list[str]
    unknown: list[str]
