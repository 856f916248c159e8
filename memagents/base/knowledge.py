"""The knowledge-index protocol: what a capability may ask of another's entity graph.

Capabilities never import each other. When one builds on another's index (hypergraph working
memory retrieves entities, relations and passages from graph memory's knowledge graph), the
*interface* lives here and the user (or a workflow in the interface layer) hands the object
over: ``HypergraphMemory(index=graph_memory)``. :class:`~memagents.graphmem.GraphMemory`
implements it; any object with these methods does.

Names are the index's entity keys (graph memory: its normalised phrases). Scores are cosine
similarities to the query (higher is better). Every method takes an optional ``namespace``.

Example:
    >>> hit = RelationHit(subject="ada korvin", predicate="born in", object="velm", score=0.7)
    >>> hit.text, hit.entities
    ('ada korvin born in velm', ('ada korvin', 'velm'))
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from memagents.base.results import SearchHits

__all__ = ["EntityHit", "KnowledgeIndex", "RelationHit"]


@dataclass(frozen=True, kw_only=True, slots=True)
class EntityHit:
    """An entity of a knowledge index.

    Attributes:
        name: The entity's key in the index.
        score: Similarity to the query (``None`` outside a search).
        description: What the index knows about it (may be empty).
        entity_type: Its type, when the index has one.
        sources: Ids of the passages that mention it.
    """

    name: str
    score: float | None = None
    description: str = ""
    entity_type: str | None = None
    sources: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class RelationHit:
    """A relation (fact) of a knowledge index: ``subject predicate object``.

    Attributes:
        score: Similarity to the query (``None`` outside a search).
        sources: Ids of the passages it was extracted from.
    """

    subject: str
    predicate: str
    object: str
    score: float | None = None
    sources: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """The relation as one line of text."""
        return f"{self.subject} {self.predicate} {self.object}"

    @property
    def entities(self) -> tuple[str, str]:
        """Its two entities."""
        return (self.subject, self.object)


@runtime_checkable
class KnowledgeIndex(Protocol):
    """What a capability may ask of an entity graph with passages (see the module docstring)."""

    def search_entities(
        self,
        query: str,
        k: int = 5,
        *,
        namespace: str | None = None,
        within: Collection[str] | None = None,
        exclude: Collection[str] | None = None,
    ) -> list[EntityHit]:
        """The ``k`` entities most similar to ``query``, best first; only names in ``within``
        when given, never names in ``exclude``."""
        ...

    def get_entities(
        self, names: Sequence[str], *, namespace: str | None = None
    ) -> list[EntityHit]:
        """The known entities among ``names``, in the order asked (unknown names skipped)."""
        ...

    def entity_neighbours(
        self, names: Collection[str], *, hops: int = 1, namespace: str | None = None
    ) -> list[str]:
        """Entities within ``hops`` relation steps of ``names`` (``names`` excluded), sorted."""
        ...

    def search_relations(
        self,
        query: str,
        k: int = 5,
        *,
        namespace: str | None = None,
        entities: Collection[str] | None = None,
    ) -> list[RelationHit]:
        """The ``k`` relations most similar to ``query``, best first; only relations touching
        ``entities`` when given."""
        ...

    def search_passages(
        self,
        query: str,
        k: int = 5,
        *,
        namespace: str | None = None,
        within: Collection[str] | None = None,
    ) -> SearchHits:
        """The ``k`` passages most similar to ``query`` (dense ranking), best first; only ids
        in ``within`` when given. Hits carry the passage text."""
        ...
