"""The memory's incidence structure: a bipartite ``networkx.Graph`` of entities and points.

A hypergraph is encoded as a bipartite graph: one node per entity (``("entity", key)``,
``bipartite=0``), one per live memory point (``("point", id)``, ``bipartite=1``), and an edge
when the point links the entity. Two points are neighbours when they share an entity (two
steps apart in this graph), two entities when they share a point.

**Why networkx, with this encoding.** It is already a dependency, well maintained, cheap to
edit one edge at a time (dicts of dicts, which is what a hand-written index would be), and
gives the loop's queries (k-hop neighbourhoods, connected clusters) and the picture's
deterministic layout for free. It is imported when the first index is made, so
``import memagents.hypermem`` loads nothing heavy. ``hypernetx`` 2.4 (PNNL; it installs here)
was weighed and left out: it requires pandas, scikit-learn, scipy, matplotlib, igraph, requests
and more, keeps incidences in pandas frames (slow for this loop's one-edge-at-a-time edits on
memories of tens of points), and would still need our own layer for stable ids, versions and
provenance. The authors' ``hypergraph-db`` 0.1.2 has none of those either.

Example:
    >>> index = BipartiteIndex()
    >>> index.set_point("mp-0001", ["ada", "velm"])
    >>> index.set_point("mp-0002", ["velm", "orlen"])
    >>> sorted(index.points_of("velm")), index.distances("mp-0001", hops=1)
    (['mp-0001', 'mp-0002'], {'mp-0002': 1})
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["BipartiteIndex"]

_E, _P = "entity", "point"


class BipartiteIndex:
    """Which live points link which entities, as a bipartite graph.

    Example:
        >>> index = BipartiteIndex()
        >>> index.set_point("mp-0001", ["rome", "italy"])
        >>> index.remove_point("mp-0001")
        >>> index.points_of("rome"), sorted(index.entity_keys())
        (set(), ['italy', 'rome'])
    """

    def __init__(self) -> None:
        import networkx as nx

        self._g: nx.Graph = nx.Graph()

    def add_entity(self, key: str) -> None:
        """Add an entity vertex (no-op if present)."""
        self._g.add_node((_E, key), bipartite=0)

    def set_point(self, pid: str, keys: Iterable[str]) -> None:
        """Make point ``pid`` link exactly ``keys`` (adding missing entity vertices)."""
        node = (_P, pid)
        if node in self._g:
            self._g.remove_node(node)
        self._g.add_node(node, bipartite=1)
        for key in keys:
            self.add_entity(key)
            self._g.add_edge(node, (_E, key))

    def remove_point(self, pid: str) -> None:
        """Remove point ``pid`` (its entities stay)."""
        if (_P, pid) in self._g:
            self._g.remove_node((_P, pid))

    def points_of(self, key: str) -> set[str]:
        """Ids of the points linking entity ``key``."""
        node = (_E, key)
        return {n[1] for n in self._g[node]} if node in self._g else set()

    def entities_of(self, pid: str) -> set[str]:
        """Keys of the entities point ``pid`` links."""
        node = (_P, pid)
        return {n[1] for n in self._g[node]} if node in self._g else set()

    def point_ids(self) -> set[str]:
        """Ids of every point in the index."""
        return {n[1] for n in self._g if n[0] == _P}

    def entity_keys(self) -> set[str]:
        """Keys of every entity in the index."""
        return {n[1] for n in self._g if n[0] == _E}

    def distances(self, pid: str, *, hops: int) -> dict[str, int]:
        """Points within ``hops`` shared-entity steps of ``pid`` (itself excluded), with
        their distance in such steps."""
        import networkx as nx

        reach = nx.single_source_shortest_path_length(self._g, (_P, pid), cutoff=2 * hops)
        return {n[1]: d // 2 for n, d in reach.items() if n[0] == _P and n[1] != pid}

    def clusters(self) -> list[set[str]]:
        """Sets of point ids connected through shared entities (points only)."""
        import networkx as nx

        comps = ({n[1] for n in comp if n[0] == _P} for comp in nx.connected_components(self._g))
        return [c for c in comps if c]
