"""Result types shared by every memagents memory.

Capabilities return these (or subclasses that add method-specific fields, such as graph
memory's PPR scores and triples), so the shared adapters turn any capability's results into
LangChain ``Document``s, tool text and LangGraph ``SearchItem``s the same way.

Example:
    >>> hits = SearchHits([Hit(id="m1", text="Ada was born in Velm.", namespace="default",
    ...                        score=0.8, rank=1)], notes=["filter skipped"])
    >>> hits.ids, hits.notes
    (['m1'], ['filter skipped'])
    >>> doc = hits.to_documents()[0]
    >>> doc.id, doc.metadata["memagents"]["score"]
    ('m1', 0.8)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langchain_core.documents import Document

__all__ = ["AddResult", "DeleteResult", "Hit", "Note", "SearchHits"]


class Note(str):
    """A note of a result: a string, plus the level it is logged at when a node surfaces it.

    A plain ``str`` note is logged at WARNING; :meth:`info` marks one that only states an
    expected configuration (logged at INFO, so it does not flood the log on every call).

    >>> note = Note.info("recognition filter skipped: no chat model configured")
    >>> note == "recognition filter skipped: no chat model configured", note.level
    (True, 20)
    """

    level: int = logging.WARNING

    @classmethod
    def info(cls, text: str) -> Note:
        note = cls(text)
        note.level = logging.INFO
        return note


@dataclass(frozen=True, kw_only=True, slots=True)
class Hit:
    """A stored item, with its score when it comes from a search.

    Attributes:
        id: Item id.
        text: Item text.
        metadata: What the user stored with it.
        namespace: Where it lives.
        score: What the ranking used; its meaning is documented by each capability.
        rank: 1-based rank in the results (``None`` outside a search).
    """

    id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    namespace: str = "default"
    score: float | None = None
    rank: int | None = None

    def stable_score(self) -> float | None:
        """A score with one meaning across queries (a threshold users set keeps working);
        the LangGraph store adapter reports it as ``SearchItem.score``. Default: ``score``."""
        return self.score

    def merge_key(self) -> tuple[float, ...]:
        """How hits of separate searches (several namespaces) compare, best first: the
        stable score, then what breaks its ties. Only called when ``stable_score`` is set."""
        return (float(self.stable_score() or 0.0),)

    def scores(self) -> dict[str, Any]:
        """What goes under ``Document.metadata["memagents"]`` (subclasses add their scores)."""
        return {"namespace": self.namespace, "score": self.score, "rank": self.rank}

    def to_document(self) -> Document:
        """As a langchain ``Document`` (id on the document, scores under
        ``metadata["memagents"]``)."""
        from langchain_core.documents import Document

        meta = dict(self.metadata)
        meta["memagents"] = self.scores()
        return Document(page_content=self.text, metadata=meta, id=self.id)


class SearchHits(list):  # list[Hit]
    """Hits, best first, plus ``explanation`` (capability-specific) and ``notes``.

    ``notes`` say what the caller should know about this result (a skipped step, an empty
    namespace); the shared nodes surface them, never swallow them.
    """

    def __init__(
        self,
        hits: list[Any] | None = None,
        *,
        explanation: Any = None,
        notes: list[str] | None = None,
    ) -> None:
        super().__init__(hits or [])
        self.explanation = explanation
        self.notes: list[str] = list(notes or [])

    @property
    def ids(self) -> list[str]:
        """Ids of the hits, best first."""
        return [h.id for h in self]

    def to_documents(self) -> list[Document]:
        """The hits as langchain ``Document``s, best first."""
        return [h.to_document() for h in self]


@dataclass(slots=True)
class AddResult:
    """What an ``add`` did.

    Attributes:
        namespace: Target namespace.
        ids: Ids of the given items, in input order.
        added: New items now indexed.
        updated: Existing ids whose content changed, now re-indexed.
        unchanged: Already stored with the same content: no model call.
        resumed: Items left pending or failed by an earlier call, indexed now.
        failed: Item id -> error. Failed items stay stored and are retried by the next add.
        pending: Items that still wait for a model (e.g. none is configured).
        notes: What the caller should know (e.g. an extraction that found nothing).
        llm_calls: LLM requests this call made (retries included), counted for this call
            alone even when other calls run concurrently.
        embedding_calls: Embedding requests this call made, counted the same way.
    """

    namespace: str
    ids: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    pending: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    llm_calls: int = 0
    embedding_calls: int = 0

    @property
    def ok(self) -> bool:
        """True when every item given is indexed."""
        return not self.failed and not self.pending


@dataclass(frozen=True, slots=True)
class DeleteResult:
    """What a ``delete`` did: ``deleted`` ids and ``unknown`` ids (not stored, ignored)."""

    deleted: list[str]
    unknown: list[str]
