"""The read side of the hypergraph memory: state, lookups, queries, rendering and export.

:class:`HypergraphView` holds the records (entities, live and retired points, merges, the id
counter, the step) and their :class:`~memagents.hypermem.core.incidence.BipartiteIndex`, and
answers every question the loop asks; :class:`~memagents.hypermem.core.hypergraph.
HypergraphMemory` adds the operations that change them. Lookups never raise for a stale id
they can explain: :meth:`HypergraphView.why_unavailable` says whether an id was merged (and
into which live point) or never existed.

Example:
    >>> from memagents.hypermem.core.model import Entity, MemoryPoint, MemorySnapshot
    >>> view = HypergraphView.from_snapshot(MemorySnapshot(
    ...     entities=(Entity(name="Rome"), Entity(name="Italy")),
    ...     points=(MemoryPoint(id="mp-0001", description="Rome is in Italy.",
    ...                         entities=("rome", "italy")),), next_number=2))
    >>> [p.id for p in view.points_of("rome")], view.why_unavailable("mp-0002")
    (['mp-0001'], 'mp-0002 is not a point of this memory (live points: mp-0001)')
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memagents.errors import InputError
from memagents.hypermem.core.incidence import BipartiteIndex
from memagents.hypermem.core.model import (
    Entity,
    MemoryPoint,
    MemorySnapshot,
    entity_key,
    point_id,
    point_number,
)
from memagents.hypermem.core.picture import memory_html
from memagents.hypermem.core.render import Counter, render_points
from memagents.hypermem.core.serialize import (
    read_snapshot,
    snapshot_from_dict,
    snapshot_to_dict,
    write_snapshot,
)

if TYPE_CHECKING:
    import networkx as nx
    from typing_extensions import Self

__all__ = ["HypergraphView", "point_ids"]

logger = logging.getLogger(__name__)


def point_ids(ids: object, what: str) -> list[str]:
    """Point ids from one id or an iterable of them, duplicates dropped, order kept.

    Raises:
        InputError: an id is not a string (``what`` names the argument).

    >>> point_ids("mp-0001", "pids"), point_ids(["mp-0002", "mp-0001", "mp-0002"], "pids")
    (['mp-0001'], ['mp-0002', 'mp-0001'])
    """
    items = [ids] if isinstance(ids, str) else ids
    if not isinstance(items, Iterable):
        raise InputError(f"{what} must be point ids, got {ids!r:.80}.")
    out = list(items)
    for pid in out:
        if not isinstance(pid, str):
            raise InputError(f"{what} must be strings like 'mp-0001', got {pid!r:.80}.")
    return list(dict.fromkeys(out))


class HypergraphView:
    """A hypergraph memory's state and every read-only query on it.

    :class:`~memagents.hypermem.core.hypergraph.HypergraphMemory` is the class to use; this
    base holds what it reads. Build one from a snapshot to query a memory you must not change.

    Args:
        step: The loop step (see :attr:`step`).

    Example:
        >>> view = HypergraphView(step=2)
        >>> len(view), view.step, view.next_id, view.render()
        (0, 2, 'mp-0001', '(the memory is empty)')
    """

    def __init__(self, *, step: int = 0) -> None:
        self._index = BipartiteIndex()
        self._entities: dict[str, Entity] = {}
        self._points: dict[str, MemoryPoint] = {}
        self._retired: dict[str, MemoryPoint] = {}
        self._merged_into: dict[str, str] = {}
        self._next = 1
        self._step = 0
        self.step = step

    # ------------------------------------------------------------------ state

    @property
    def step(self) -> int:
        """The loop step new and changed points are stamped with; it never goes back."""
        return self._step

    @step.setter
    def step(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < self._step:
            raise InputError(f"step must be an integer >= the current step {self._step}, "
                             f"got {value!r}.")
        self._step = value

    def advance(self) -> int:
        """Start the next loop step; returns its number."""
        self._step += 1
        return self._step

    @property
    def points(self) -> tuple[MemoryPoint, ...]:
        """Live points in id order."""
        return tuple(self._points.values())

    @property
    def retired(self) -> tuple[MemoryPoint, ...]:
        """Points merged away (their last version), in id order."""
        return tuple(sorted(self._retired.values(), key=lambda p: point_number(p.id) or 0))

    @property
    def entities(self) -> tuple[Entity, ...]:
        """Every entity, in the order it was added (including ones no live point links)."""
        return tuple(self._entities.values())

    @property
    def next_id(self) -> str:
        """The id the next inserted or merged point will get."""
        return point_id(self._next)

    def __len__(self) -> int:
        return len(self._points)

    def __contains__(self, pid: object) -> bool:
        return pid in self._points

    def __repr__(self) -> str:
        return (f"HypergraphMemory(points={len(self._points)}, entities={len(self._entities)}, "
                f"retired={len(self._retired)}, step={self._step})")

    # ---------------------------------------------------------------- lookups

    def why_unavailable(self, pid: str) -> str | None:
        """Why ``pid`` is not a live point (merged into which, or unknown); ``None`` if live."""
        if pid in self._points:
            return None
        if pid in self._merged_into:
            into, live = self._merged_into[pid], self.resolve(pid)
            via = f" (now part of {live})" if live and live != into else ""
            hint = f"use {live}" if live else "it no longer exists"
            return f"{pid} was merged into {into} at step {self._retired_step(pid)}{via}: {hint}"
        if point_number(pid) is None:
            return f"{pid!r:.60} is not a point id (ids look like {point_id(1)})"
        live_ids = list(self._points)
        shown = ", ".join(live_ids[:12]) + (", ..." if len(live_ids) > 12 else "")
        return f"{pid} is not a point of this memory (live points: {shown or 'none'})"

    def _retired_step(self, pid: str) -> int:
        successor = self._merged_into[pid]
        p = self._points.get(successor) or self._retired.get(successor)
        return p.created_step if p else self._step

    def resolve(self, pid: str) -> str | None:
        """The live point ``pid`` is now part of (itself if live, following merges), or None."""
        seen = set()
        while pid in self._merged_into and pid not in seen:
            seen.add(pid)
            pid = self._merged_into[pid]
        return pid if pid in self._points else None

    def get(self, pid: str) -> MemoryPoint | None:
        """The live point ``pid``, or ``None``."""
        return self._points.get(pid)

    def point(self, pid: str) -> MemoryPoint:
        """The live point ``pid``.

        Raises:
            InputError: it is unknown or was merged (the message says into which point).
        """
        reason = self.why_unavailable(pid)
        if reason is not None:
            raise InputError(reason + ".")
        return self._points[pid]

    def entity(self, name: str) -> Entity | None:
        """The entity named ``name`` (any spelling with the same :func:`entity_key`), or None."""
        try:
            return self._entities.get(entity_key(name))
        except InputError:
            return None

    def points_of(self, name: str) -> tuple[MemoryPoint, ...]:
        """Live points linking the entity ``name``, in id order (``()`` if unknown)."""
        e = self.entity(name)
        if e is None:
            return ()
        ids = self._index.points_of(e.key)
        return tuple(p for pid, p in self._points.items() if pid in ids)

    def neighbours(self, pid: str, *, hops: int = 1) -> tuple[MemoryPoint, ...]:
        """Live points within ``hops`` shared-entity steps of ``pid`` (itself excluded).

        Nearest first; at equal distance, points sharing more entities with ``pid`` first,
        then by id. A merged ``pid`` is followed to its live successor.

        Raises:
            InputError: ``pid`` is unknown, or ``hops`` is not a positive integer.
        """
        if isinstance(hops, bool) or not isinstance(hops, int) or hops < 1:
            raise InputError(f"hops must be a positive integer, got {hops!r}.")
        origin = self.point(self.resolve(pid) or pid)
        own = set(origin.entities)
        found = sorted((d, -len(own.intersection(self._points[q].entities)),
                        point_number(q) or 0, q)
                       for q, d in self._index.distances(origin.id, hops=hops).items())
        return tuple(self._points[q] for *_, q in found)

    def entities_of(self, pids: str | Iterable[str]) -> tuple[Entity, ...]:
        """Entities linked by any of the given points, in first-mention order.

        Merged ids are followed to their live successor; unknown ids are skipped (and logged).
        """
        out: dict[str, Entity] = {}
        for pid in point_ids(pids, "pids"):
            live = self.resolve(pid)
            if live is None:
                logger.warning("hypermem: entities_of skips %s", self.why_unavailable(pid))
                continue
            for key in self._points[live].entities:
                out.setdefault(key, self._entities[key])
        return tuple(out.values())

    def entity_neighbours(self, name: str) -> tuple[Entity, ...]:
        """Entities sharing a live point with ``name`` (the paper's memory neighbourhood
        N_M(v)), in first-mention order."""
        out: dict[str, Entity] = {}
        e = self.entity(name)
        for p in self.points_of(name):
            for key in p.entities:
                if e is not None and key != e.key:
                    out.setdefault(key, self._entities[key])
        return tuple(out.values())

    def absent_entities(self) -> tuple[Entity, ...]:
        """Entities with no index link and no description (for a repair prompt)."""
        return tuple(e for e in self._entities.values() if e.status == "absent")

    def clusters(self) -> tuple[tuple[str, ...], ...]:
        """Groups of live point ids connected through shared entities (merge candidates),
        largest first, each in id order; points standing alone are groups of one."""
        groups = [tuple(sorted(c, key=lambda i: point_number(i) or 0))
                  for c in self._index.clusters()]
        return tuple(sorted(groups, key=lambda g: (-len(g), point_number(g[0]) or 0)))

    def _link(self, point: MemoryPoint) -> None:
        self._points[point.id] = point
        self._index.set_point(point.id, point.entities)

    def _put_entity(self, entity: Entity) -> None:
        self._entities[entity.key] = entity
        self._index.add_entity(entity.key)

    # ------------------------------------------------------- rendering, export

    def render(self, *, max_tokens: int | None = None, tokenizer: Counter | str | None = None,
               pids: Iterable[str] | None = None, entity_descriptions: bool = False,
               max_description_chars: int = 0) -> str:
        """The live points (or ``pids``) as prompt text within ``max_tokens``.

        See :func:`~memagents.hypermem.core.render.render_points`: newest points are kept
        when the budget is short, and a last line says how many were left out.
        """
        chosen = self.points if pids is None else tuple(
            self._points[live] for live in dict.fromkeys(
                self.resolve(pid) for pid in point_ids(pids, "pids")) if live is not None)
        return render_points(chosen, self._entities, max_tokens=max_tokens, tokenizer=tokenizer,
                             entity_descriptions=entity_descriptions,
                             max_description_chars=max_description_chars)

    def snapshot(self) -> MemorySnapshot:
        """Everything the memory holds, as frozen values."""
        return MemorySnapshot(
            entities=self.entities, points=self.points, retired=self.retired,
            merged_into=tuple(sorted(self._merged_into.items(),
                                     key=lambda kv: point_number(kv[0]) or 0)),
            next_number=self._next, step=self._step)

    @classmethod
    def from_snapshot(cls, snapshot: MemorySnapshot) -> Self:
        """A memory holding ``snapshot`` (checked like :meth:`from_dict`)."""
        snap = snapshot_from_dict(snapshot_to_dict(snapshot))
        memory = cls(step=snap.step)
        for e in snap.entities:
            memory._put_entity(e)
        for p in snap.points:
            memory._link(p)
        memory._retired = {p.id: p for p in snap.retired}
        memory._merged_into = dict(snap.merged_into)
        memory._next = snap.next_number
        return memory

    def copy(self) -> Self:
        """An independent copy."""
        return type(self).from_snapshot(self.snapshot())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict (format in :mod:`memagents.hypermem.core.serialize`)."""
        return snapshot_to_dict(self.snapshot())

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        """A memory from :meth:`to_dict`'s output.

        Raises:
            InputError: ``data`` is malformed (the message says where).
        """
        return cls.from_snapshot(snapshot_from_dict(data))

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the memory to a JSON file (atomically); returns its path."""
        return write_snapshot(self.snapshot(), path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Self:
        """Read a memory written by :meth:`save`.

        Raises:
            InputError: the file is missing, unreadable or malformed.
        """
        return cls.from_snapshot(read_snapshot(path))

    def to_networkx(self) -> nx.Graph:
        """A copy of the bipartite incidence graph with string ids (``entity:KEY``,
        ``point:ID``) and GraphML-safe attributes (``kind``, ``label``, ``description``,
        ``bipartite``)."""
        import networkx as nx

        g = nx.Graph()
        for e in self._entities.values():
            g.add_node(f"entity:{e.key}", kind="entity", bipartite=0, label=e.name,
                       description=e.description, status=e.status, ref=e.ref or "")
        for p in self._points.values():
            g.add_node(f"point:{p.id}", kind="point", bipartite=1, label=p.id,
                       description=p.description, version=p.version)
            g.add_edges_from((f"point:{p.id}", f"entity:{k}") for k in p.entities)
        return g

    def to_html(self, title: str = "memagents hypergraph memory") -> str:
        """A self-contained HTML picture (see :mod:`memagents.hypermem.core.picture`)."""
        return memory_html(self.snapshot(), title)

    def write_html(self, path: str | os.PathLike[str],
                   title: str = "memagents hypergraph memory") -> Path:
        """Write :meth:`to_html` to ``path``; returns the path."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(self.to_html(title), encoding="utf-8")
        return out

    def check(self) -> list[str]:
        """Invariant violations (empty when consistent): used by tests and after loading."""
        problems: list[str] = []
        try:
            snapshot_from_dict(self.to_dict())
        except InputError as exc:
            problems.append(str(exc))
        live_nodes = self._index.point_ids()
        if live_nodes != set(self._points):
            problems.append(f"graph points {sorted(live_nodes)} != live {sorted(self._points)}")
        if self._index.entity_keys() != set(self._entities):
            problems.append("graph entities differ from the entity records")
        for p in self._points.values():
            linked = self._index.entities_of(p.id)
            if linked != set(p.entities):
                problems.append(f"{p.id}: graph links {sorted(linked)}, point {p.entities}")
        if set(self._merged_into) & set(self._points):
            problems.append("a merged id is live again")
        return problems

