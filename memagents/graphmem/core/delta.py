"""Value types of the graph: node keys, weighted edges and the change record of an update.

:class:`GraphDelta` is what a persistence layer needs to mirror the graph in a database:
apply ``removed_nodes``, ``added_nodes``, ``removed_edges`` and ``changed_edges`` (upserts)
after every :meth:`~memagents.graphmem.core.graph.GraphIndex.add` or
:meth:`~memagents.graphmem.core.graph.GraphIndex.remove`.

Example:
    >>> from memagents.graphmem.core.delta import Edge, GraphDelta
    >>> e = Edge(u=("passage", "p1"), v=("phrase", "rome"), weight=1.0, kind="passage")
    >>> GraphDelta(changed_edges=(e,)).is_empty, GraphDelta().is_empty
    (False, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from memagents.graphmem.core.normalize import Triple

__all__ = ["PASSAGE", "PHRASE", "Edge", "GraphDelta", "NodeKey", "PassageInput"]

PASSAGE = "passage"
PHRASE = "phrase"
NodeKey = tuple[str, str]
"""``("passage", passage_id)`` or ``("phrase", normalised_phrase)``."""
PassageInput = tuple[str, str, Sequence[Any]]
"""``(passage_id, text, triples)``; ``text`` is what dense retrieval embeds."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Edge:
    """An undirected edge with its effective weight; ``u < v``.

    ``kind`` is ``"passage"``, ``"fact"``, ``"synonym"`` or ``"fact+synonym"``.
    """

    u: NodeKey
    v: NodeKey
    weight: float
    kind: str


@dataclass(frozen=True, kw_only=True, slots=True)
class GraphDelta:
    """What one :meth:`GraphIndex.add` or :meth:`GraphIndex.remove` changed.

    ``changed_edges`` holds new and re-weighted edges with their new weight;
    ``removed_edges`` the node pairs whose edge disappeared. ``replaced_passages`` were
    re-added with different content (upsert); ``unchanged_passages`` were re-added with the
    same content and ignored; ``unknown_passages`` were asked to be removed but absent.
    """

    added_passages: tuple[str, ...] = ()
    replaced_passages: tuple[str, ...] = ()
    unchanged_passages: tuple[str, ...] = ()
    removed_passages: tuple[str, ...] = ()
    unknown_passages: tuple[str, ...] = ()
    added_nodes: tuple[NodeKey, ...] = ()
    removed_nodes: tuple[NodeKey, ...] = ()
    added_facts: tuple[Triple, ...] = ()
    removed_facts: tuple[Triple, ...] = ()
    changed_edges: tuple[Edge, ...] = ()
    removed_edges: tuple[tuple[NodeKey, NodeKey], ...] = ()
    dropped_triples: int = 0

    @property
    def is_empty(self) -> bool:
        """True when the graph did not change."""
        return not (
            self.added_nodes
            or self.removed_nodes
            or self.changed_edges
            or self.removed_edges
            or self.added_facts
            or self.removed_facts
            or self.added_passages
            or self.removed_passages
            or self.replaced_passages
        )
