"""HGMem's working memory: a hypergraph of entities and memory points, edited by small diffs.

:class:`HypergraphMemory` holds entities (vertices) and memory points (hyperedges) and offers
the operations HGMem's loop applies to them (``../shared/docs/methods/hgmem.md`` §6):
:meth:`~HypergraphMemory.insert`, :meth:`~HypergraphMemory.update`,
:meth:`~HypergraphMemory.merge` and :meth:`~HypergraphMemory.attach`, each returning a
:class:`~memagents.hypermem.core.diff.MemoryDiff`, plus the queries the loop needs (points of
an entity, a point's neighbourhood, the entities of a set of points, a budgeted prompt text).
It touches no store and no index: the loop persists it (:meth:`~HypergraphMemory.to_dict`,
:meth:`~HypergraphMemory.save`) or keeps it in LangGraph state.

**Library.** The incidence structure is a ``networkx.Graph`` with a bipartite encoding: one
node per entity (``("entity", key)``, ``bipartite=0``) and one per live point (``("point",
id)``, ``bipartite=1``), an edge when the point links the entity. networkx is already a
dependency, well maintained, cheap to edit one edge at a time (dicts of dicts), and gives the
loop's queries (k-hop neighbourhoods, connected clusters) and the picture's deterministic
layout for free. It is imported when the first memory is made, so ``import memagents.hypermem``
loads nothing heavy. `hypernetx` 2.4 (PNNL) was weighed and left out: it requires pandas,
scikit-learn, scipy, matplotlib, igraph, requests and more at install time, keeps incidences
in pandas frames (slow for the one-edge-at-a-time edits of this loop, on memories of tens of
points), and would still need our own layer for stable ids, versions and provenance. The
authors' `hypergraph-db` 0.1.2 is a small single-maintainer package with none of those either.

**Better than the authors' code.** Point ids are stable (``mp-0007``) and never renumbered or
reused; a merged id is remembered as *merged into* its successor, so a stale reference from
the LLM is refused with a reason that names the point to use instead. Bad requests (unknown or
merged ids, blank descriptions, no entities, duplicates) are refused one by one and reported in
the diff and the ``memagents`` log, never raised, so one bad reply cannot restart the whole
query (the code retries the full query up to five times). Entities absent from every index are
kept in this memory only (the code writes them into the shared graph). Each point keeps its
provenance: source passages, created/updated step, version, merged-from ids.

Example:
    >>> memory = HypergraphMemory()
    >>> d1 = memory.insert("Ada founded Velm Press in Orlen.", ["Ada", "Velm Press", "Orlen"],
    ...                    sources=["p1"])
    >>> d2 = memory.insert("Velm Press printed the Orlen Atlas.", ["Velm Press", "Orlen Atlas"])
    >>> memory.step = 1
    >>> d3 = memory.merge(["mp-0001", "mp-0002"], "Ada's Velm Press (Orlen) printed the Atlas.")
    >>> [p.id for p in memory.points], d3.removed, memory.resolve("mp-0001")
    (['mp-0003'], ('mp-0001', 'mp-0002'), 'mp-0003')
    >>> print(memory.merge(["mp-0001", "mp-0003"], "again").rejected[0].reason)
    mp-0001 was merged into mp-0003 at step 1: use mp-0003
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memagents.errors import InputError
from memagents.hypermem.core.diff import MemoryDiff, Rejection
from memagents.hypermem.core.model import (
    Entity,
    MemoryPoint,
    MemorySnapshot,
    check_text,
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

__all__ = ["HypergraphMemory"]

logger = logging.getLogger(__name__)
_E, _P = "entity", "point"


def _names(entities: object, what: str) -> list[object]:
    """A single name or entity is one item; anything else must be an iterable of them."""
    if isinstance(entities, (str, Entity)):
        return [entities]
    if not isinstance(entities, Iterable):
        raise InputError(f"{what} must be entity names or Entity objects, got {entities!r:.80}.")
    return list(entities)


def _ids(ids: object, what: str) -> list[str]:
    items = [ids] if isinstance(ids, str) else ids
    if not isinstance(items, Iterable):
        raise InputError(f"{what} must be point ids, got {ids!r:.80}.")
    out = list(items)
    for pid in out:
        if not isinstance(pid, str):
            raise InputError(f"{what} must be strings like 'mp-0001', got {pid!r:.80}.")
    return list(dict.fromkeys(out))


def _sources(sources: object) -> tuple[str, ...]:
    items = [sources] if isinstance(sources, str) else sources
    if not isinstance(items, Iterable):
        raise InputError(f"sources must be passage ids, got {sources!r:.80}.")
    return tuple(dict.fromkeys(check_text(s, "a source id") for s in items))


class HypergraphMemory:
    """Entities (vertices) and memory points (hyperedges) with stable ids, edited by diffs.

    Args:
        step: The loop step operations are stamped with (see :attr:`step`).

    Example:
        >>> m = HypergraphMemory()
        >>> print(m.insert("Rome is the capital of Italy.", ["Rome", "Italy"]).summary())
        step 0:
        + mp-0001 [rome, italy] Rome is the capital of Italy.
        + entity 'Rome' (absent)
        + entity 'Italy' (absent)
        >>> [p.id for p in m.points_of("ROME")], m.entity("italy").name
        (['mp-0001'], 'Italy')
    """

    def __init__(self, *, step: int = 0) -> None:
        import networkx as nx

        self._graph: nx.Graph = nx.Graph()
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
        ids = {n[1] for n in self._graph[(_E, e.key)]}
        return tuple(p for pid, p in self._points.items() if pid in ids)

    def neighbours(self, pid: str, *, hops: int = 1) -> tuple[MemoryPoint, ...]:
        """Live points within ``hops`` shared-entity steps of ``pid`` (itself excluded).

        Nearest first; at equal distance, points sharing more entities with ``pid`` first,
        then by id. A merged ``pid`` is followed to its live successor.

        Raises:
            InputError: ``pid`` is unknown, or ``hops`` is not a positive integer.
        """
        import networkx as nx

        if isinstance(hops, bool) or not isinstance(hops, int) or hops < 1:
            raise InputError(f"hops must be a positive integer, got {hops!r}.")
        origin = self.point(self.resolve(pid) or pid)
        dist = nx.single_source_shortest_path_length(self._graph, (_P, origin.id),
                                                     cutoff=2 * hops)
        own = set(origin.entities)
        found = [(d, -len(own.intersection(self._points[n[1]].entities)),
                  point_number(n[1]) or 0, n[1])
                 for n, d in dist.items() if n[0] == _P and n[1] != origin.id]
        return tuple(self._points[pid_] for *_, pid_ in sorted(found))

    def entities_of(self, pids: str | Iterable[str]) -> tuple[Entity, ...]:
        """Entities linked by any of the given points, in first-mention order.

        Merged ids are followed to their live successor; unknown ids are skipped (and logged).
        """
        out: dict[str, Entity] = {}
        for pid in _ids(pids, "pids"):
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
        import networkx as nx

        groups = []
        for comp in nx.connected_components(self._graph):
            ids = sorted((n[1] for n in comp if n[0] == _P), key=lambda i: point_number(i) or 0)
            if ids:
                groups.append(tuple(ids))
        return tuple(sorted(groups, key=lambda g: (-len(g), point_number(g[0]) or 0)))

    # ------------------------------------------------------------- operations

    def _reject(self, op: str, ids: Sequence[str], reason: str) -> MemoryDiff:
        rejection = Rejection(op=op, ids=tuple(ids), reason=reason)
        logger.warning("hypermem: %s", rejection)
        return MemoryDiff(step=self._step, rejected=(rejection,))

    def _link(self, point: MemoryPoint) -> None:
        node = (_P, point.id)
        if node in self._graph:
            self._graph.remove_node(node)
        self._graph.add_node(node, bipartite=1)
        self._graph.add_edges_from((node, (_E, k)) for k in point.entities)

    def _put_entity(self, entity: Entity) -> None:
        self._entities[entity.key] = entity
        self._graph.add_node((_E, entity.key), bipartite=0)

    def _resolve_entities(self, op: str, ids: Sequence[str], items: list[object],
                          ) -> tuple[list[str], MemoryDiff] | MemoryDiff:
        """Entity keys for ``items``, creating bare entities for new names; or a rejection."""
        if not items:
            return self._reject(op, ids, "a memory point must link at least one entity")
        names: list[tuple[str, Entity | None]] = []
        for i, item in enumerate(items):
            name = item.name if isinstance(item, Entity) else item
            if not isinstance(name, str):
                raise InputError(f"entity {i} must be a name or an Entity, got {item!r:.80}.")
            if not name.strip():
                return self._reject(op, ids, f"entity {i + 1} of {len(items)} has a blank name")
            names.append((entity_key(check_text(name, "an entity name")),
                          item if isinstance(item, Entity) else None))
        diff = MemoryDiff(step=self._step)
        keys: list[str] = []
        for (key, ent), item in zip(names, items):
            if ent is not None:
                diff = diff.combine(self.attach(ent))
            elif key not in self._entities:
                new = Entity(name=" ".join(str(item).split()))
                self._put_entity(new)
                diff = diff.combine(MemoryDiff(step=self._step, entities_added=(new,)))
            keys.append(key)
        return list(dict.fromkeys(keys)), diff

    def _duplicate(self, description: str, keys: Sequence[str], skip: str = "") -> str | None:
        text, group = " ".join(description.split()).casefold(), set(keys)
        for p in self._points.values():
            if p.id != skip and set(p.entities) == group and \
                    " ".join(p.description.split()).casefold() == text:
                return p.id
        return None

    def insert(self, description: str, entities: Iterable[str | Entity] | str | Entity, *,
               sources: Iterable[str] | str = ()) -> MemoryDiff:
        """Add a memory point linking ``entities`` (new names become bare, memory-only
        entities; :class:`Entity` objects are attached first).

        Refused (in the diff, not raised): a blank description, no entities, a blank entity
        name, or a live point with the same entities and description.

        Raises:
            InputError: an argument has the wrong type.
        """
        description = check_text(description, "description")
        items = _names(entities, "entities")
        srcs = _sources(sources)
        if not description.strip():
            return self._reject("insert", (), "the description is blank")
        resolved = self._resolve_entities("insert", (), items)
        if isinstance(resolved, MemoryDiff):
            return resolved
        keys, diff = resolved
        dup = self._duplicate(description, keys)
        if dup is not None:
            return diff.combine(self._reject("insert", (), f"the same point exists as {dup}"))
        point = MemoryPoint(id=point_id(self._next), description=description,
                            entities=tuple(keys), sources=srcs, created_step=self._step,
                            updated_step=self._step)
        self._next += 1
        self._points[point.id] = point
        self._link(point)
        logger.debug("hypermem: inserted %s", point.id)
        return diff.combine(MemoryDiff(step=self._step, added=(point,)))

    def update(self, pid: str, *, description: str | None = None,
               entities: Iterable[str | Entity] | str | Entity | None = None,
               sources: Iterable[str] | str = ()) -> MemoryDiff:
        """Rewrite a live point: new description and/or entity set; ``sources`` are added to
        its provenance. The id stays; the version goes up by one and ``updated_step`` becomes
        the current step. Nothing to change gives an empty diff.

        Refused (in the diff, not raised): an unknown or merged ``pid`` (the reason names the
        live successor), a blank description, an empty entity list.

        Raises:
            InputError: an argument has the wrong type.
        """
        if not isinstance(pid, str):
            raise InputError(f"pid must be a point id string, got {pid!r:.80}.")
        if description is not None:
            description = check_text(description, "description")
        srcs = _sources(sources)
        reason = self.why_unavailable(pid)
        if reason is not None:
            return self._reject("update", (pid,), reason)
        old = self._points[pid]
        if description is not None and not description.strip():
            return self._reject("update", (pid,), "the new description is blank")
        diff = MemoryDiff(step=self._step)
        keys = list(old.entities)
        if entities is not None:
            resolved = self._resolve_entities("update", (pid,), _names(entities, "entities"))
            if isinstance(resolved, MemoryDiff):
                return resolved
            keys, diff = resolved
        new_description = old.description if description is None else description
        dup = self._duplicate(new_description, keys, skip=pid)
        if dup is not None:
            return diff.combine(self._reject("update", (pid,), f"the same point exists as {dup}"))
        new_sources = tuple(dict.fromkeys(old.sources + srcs))
        if (new_description, tuple(keys), new_sources) == (old.description, old.entities,
                                                           old.sources):
            return diff
        point = MemoryPoint(id=pid, description=new_description, entities=tuple(keys),
                            sources=new_sources, created_step=old.created_step,
                            updated_step=self._step, version=old.version + 1,
                            merged_from=old.merged_from)
        self._points[pid] = point
        self._link(point)
        return diff.combine(MemoryDiff(step=self._step, updated=(point,)))

    def merge(self, pids: Iterable[str], description: str, *, partial: bool = False,
              sources: Iterable[str] | str = ()) -> MemoryDiff:
        """Merge live points into one new point with a new id (HGMem's merge).

        The new point links the union of their entities (first-mention order), carries the
        union of their sources (plus ``sources``) and lists them in ``merged_from``; they are
        retired and recorded as merged into it, so any later reference to them is refused with
        a reason naming the successor.

        Args:
            pids: Ids of the points to merge (duplicates ignored).
            description: The merged point's description.
            partial: If some ids are unknown or already merged, merge the others anyway (when
                at least two remain) and report the rest as refused. By default the whole merge
                is refused, since its description was written for all of them.
            sources: Extra source passage ids.

        Returns:
            The diff: the new point in ``added``, the merged ids in ``removed``, refusals in
            ``rejected``. Refused: unknown or merged ids, fewer than two live points, a blank
            description.

        Raises:
            InputError: an argument has the wrong type.
        """
        ids = _ids(pids, "pids")
        description = check_text(description, "description")
        srcs = _sources(sources)
        problems = {pid: self.why_unavailable(pid) for pid in ids}
        bad = [pid for pid in ids if problems[pid] is not None]
        good = [pid for pid in ids if problems[pid] is None]
        diff = MemoryDiff(step=self._step)
        if bad:
            reasons = "; ".join(str(problems[pid]) for pid in bad)
            if not partial:
                return self._reject("merge", ids, reasons)
            diff = self._reject("merge", bad, reasons)
        if len(good) < 2:
            return diff.combine(self._reject(
                "merge", ids, f"a merge needs at least two live points, got {len(good)}"))
        if not description.strip():
            return diff.combine(self._reject("merge", ids, "the description is blank"))
        olds = [self._points[pid] for pid in good]
        point = MemoryPoint(
            id=point_id(self._next), description=description,
            entities=tuple(dict.fromkeys(k for p in olds for k in p.entities)),
            sources=tuple(dict.fromkeys([s for p in olds for s in p.sources] + list(srcs))),
            created_step=self._step, updated_step=self._step, merged_from=tuple(good))
        self._next += 1
        for p in olds:
            del self._points[p.id]
            self._graph.remove_node((_P, p.id))
            self._retired[p.id] = p
            self._merged_into[p.id] = point.id
        self._points[point.id] = point
        self._link(point)
        logger.debug("hypermem: merged %s into %s", ", ".join(good), point.id)
        return diff.combine(MemoryDiff(step=self._step, added=(point,), removed=tuple(good)))

    def merge_groups(self, groups: Iterable[tuple[Iterable[str], str]], *,
                     partial: bool = False) -> MemoryDiff:
        """Apply several merges in order (one LLM merge reply); one combined diff.

        A point named by two groups is merged by the first; the second is refused (the point
        is then already merged).
        """
        out = MemoryDiff(step=self._step)
        for pids, description in groups:
            out = out.combine(self.merge(pids, description, partial=partial))
        return out

    def attach(self, entity: Entity | str, *, description: str | None = None,
               ref: str | None = None, entity_type: str | None = None,
               sources: Iterable[str] | str = ()) -> MemoryDiff:
        """Add an entity vertex, or complete an existing one.

        An entity from an external index comes with its ``ref`` (and the index's description);
        one absent from every index is kept in this memory only (``ref=None``). On an existing
        entity, a non-empty description or type replaces the old one, a ``ref`` fills a missing
        link, and sources are added. Fields given on an :class:`Entity` count as given.

        Refused (in the diff, not raised): a blank name; a ``ref`` different from the one the
        entity already has.

        Raises:
            InputError: an argument has the wrong type.
        """
        if isinstance(entity, Entity):
            name = entity.name
            description = entity.description or description
            ref = entity.ref if entity.ref is not None else ref
            entity_type = entity.entity_type or entity_type
            sources = tuple(entity.sources) + _sources(sources)
        else:
            name = check_text(entity, "an entity name")
        for value, what in ((description, "description"), (ref, "ref"),
                            (entity_type, "entity_type")):
            if value is not None:
                check_text(value, what)
        srcs = _sources(sources)
        if not name.strip():
            return self._reject("attach", (name,), "the entity name is blank")
        key = entity_key(name)
        old = self._entities.get(key)
        if old is None:
            new = Entity(name=" ".join(name.split()), description=description or "",
                         ref=ref or None, entity_type=entity_type or "", sources=srcs)
            self._put_entity(new)
            return MemoryDiff(step=self._step, entities_added=(new,))
        if ref and old.ref is not None and ref != old.ref:
            return self._reject("attach", (old.name,),
                                f"{old.name!r} is already linked to {old.ref!r}, not {ref!r}")
        new = Entity(name=old.name, description=description or old.description,
                     ref=old.ref if old.ref is not None else (ref or None),
                     entity_type=entity_type or old.entity_type,
                     sources=tuple(dict.fromkeys(old.sources + srcs)))
        if new == old:
            return MemoryDiff(step=self._step)
        self._entities[key] = new
        return MemoryDiff(step=self._step, entities_updated=(new,))

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
                self.resolve(pid) for pid in _ids(pids, "pids")) if live is not None)
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
    def from_snapshot(cls, snapshot: MemorySnapshot) -> HypergraphMemory:
        """A memory holding ``snapshot`` (checked like :meth:`from_dict`)."""
        snap = snapshot_from_dict(snapshot_to_dict(snapshot))
        memory = cls(step=snap.step)
        for e in snap.entities:
            memory._put_entity(e)
        for p in snap.points:
            memory._points[p.id] = p
            memory._link(p)
        memory._retired = {p.id: p for p in snap.retired}
        memory._merged_into = dict(snap.merged_into)
        memory._next = snap.next_number
        return memory

    def copy(self) -> HypergraphMemory:
        """An independent copy."""
        return type(self).from_snapshot(self.snapshot())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict (format in :mod:`memagents.hypermem.core.serialize`)."""
        return snapshot_to_dict(self.snapshot())

    @classmethod
    def from_dict(cls, data: Any) -> HypergraphMemory:
        """A memory from :meth:`to_dict`'s output.

        Raises:
            InputError: ``data`` is malformed (the message says where).
        """
        return cls.from_snapshot(snapshot_from_dict(data))

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the memory to a JSON file (atomically); returns its path."""
        return write_snapshot(self.snapshot(), path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> HypergraphMemory:
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
        live_nodes = {n[1] for n in self._graph if n[0] == _P}
        if live_nodes != set(self._points):
            problems.append(f"graph points {sorted(live_nodes)} != live {sorted(self._points)}")
        for p in self._points.values():
            linked = {n[1] for n in self._graph[(_P, p.id)]}
            if linked != set(p.entities):
                problems.append(f"{p.id}: graph links {sorted(linked)}, point {p.entities}")
        if set(self._merged_into) & set(self._points):
            problems.append("a merged id is live again")
        return problems
