"""HGMem's working memory: a hypergraph of entities and memory points, edited by small diffs.

:class:`HypergraphMemory` holds entities (vertices) and memory points (hyperedges) and offers
the operations HGMem's loop applies to them (``../shared/docs/methods/hgmem.md`` §6):
:meth:`~HypergraphMemory.insert`, :meth:`~HypergraphMemory.update`,
:meth:`~HypergraphMemory.merge` and :meth:`~HypergraphMemory.attach`, each returning a
:class:`~memagents.hypermem.core.diff.MemoryDiff`, plus the queries the loop needs (points of
an entity, a point's neighbourhood, the entities of a set of points, a budgeted prompt text).
It touches no store and no index: the loop persists it (:meth:`~HypergraphMemory.to_dict`,
:meth:`~HypergraphMemory.save`) or keeps it in LangGraph state.

**Library.** The incidence structure is a ``networkx`` bipartite graph
(:class:`~memagents.hypermem.core.incidence.BipartiteIndex`; why networkx and not hypernetx is
said there); the records (entities, points, merges) live in plain dicts beside it.

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
from collections.abc import Iterable, Sequence

from memagents.errors import InputError
from memagents.hypermem.core.diff import MemoryDiff, Rejection
from memagents.hypermem.core.model import (
    Entity,
    MemoryPoint,
    check_text,
    entity_key,
    point_id,
)
from memagents.hypermem.core.view import HypergraphView, point_ids

__all__ = ["HypergraphMemory"]

logger = logging.getLogger(__name__)


def _names(entities: object, what: str) -> list[object]:
    """A single name or entity is one item; anything else must be an iterable of them."""
    if isinstance(entities, (str, Entity)):
        return [entities]
    if not isinstance(entities, Iterable):
        raise InputError(f"{what} must be entity names or Entity objects, got {entities!r:.80}.")
    return list(entities)


def _sources(sources: object) -> tuple[str, ...]:
    items = [sources] if isinstance(sources, str) else sources
    if not isinstance(items, Iterable):
        raise InputError(f"sources must be passage ids, got {sources!r:.80}.")
    return tuple(dict.fromkeys(check_text(s, "a source id") for s in items))


class HypergraphMemory(HypergraphView):
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

    # ------------------------------------------------------------- operations

    def _reject(self, op: str, ids: Sequence[str], reason: str) -> MemoryDiff:
        rejection = Rejection(op=op, ids=tuple(ids), reason=reason)
        logger.warning("hypermem: %s", rejection)
        return MemoryDiff(step=self._step, rejected=(rejection,))

    def _entity_keys(self, op: str, ids: Sequence[str], items: list[object],
                     ) -> list[str] | MemoryDiff:
        """Distinct entity keys of ``items`` (nothing created yet), or a rejection."""
        if not items:
            return self._reject(op, ids, "a memory point must link at least one entity")
        keys: list[str] = []
        for i, item in enumerate(items):
            name = item.name if isinstance(item, Entity) else item
            if not isinstance(name, str):
                raise InputError(f"entity {i} must be a name or an Entity, got {item!r:.80}.")
            if not name.strip():
                return self._reject(op, ids, f"entity {i + 1} of {len(items)} has a blank name")
            keys.append(entity_key(check_text(name, "an entity name")))
        return list(dict.fromkeys(keys))

    def _ensure_entities(self, items: list[object]) -> MemoryDiff:
        """Attach :class:`Entity` items; create bare entities for new plain names."""
        diff = MemoryDiff(step=self._step)
        for item in items:
            if isinstance(item, Entity):
                diff = diff.combine(self.attach(item))
            elif entity_key(item) not in self._entities:
                new = Entity(name=" ".join(str(item).split()))
                self._put_entity(new)
                diff = diff.combine(MemoryDiff(step=self._step, entities_added=(new,)))
        return diff

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
        keys = self._entity_keys("insert", (), items)
        if isinstance(keys, MemoryDiff):
            return keys
        dup = self._duplicate(description, keys)
        if dup is not None:
            return self._reject("insert", (), f"the same point exists as {dup}")
        diff = self._ensure_entities(items)
        point = MemoryPoint(id=point_id(self._next), description=description,
                            entities=tuple(keys), sources=srcs, created_step=self._step,
                            updated_step=self._step)
        self._next += 1
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
        items = [] if entities is None else _names(entities, "entities")
        keys = list(old.entities) if entities is None else self._entity_keys("update", (pid,),
                                                                             items)
        if isinstance(keys, MemoryDiff):
            return keys
        new_description = old.description if description is None else description
        dup = self._duplicate(new_description, keys, skip=pid)
        if dup is not None:
            return self._reject("update", (pid,), f"the same point exists as {dup}")
        diff = self._ensure_entities(items)
        new_sources = tuple(dict.fromkeys(old.sources + srcs))
        if (new_description, tuple(keys), new_sources) == (old.description, old.entities,
                                                           old.sources):
            return diff
        point = MemoryPoint(id=pid, description=new_description, entities=tuple(keys),
                            sources=new_sources, created_step=old.created_step,
                            updated_step=self._step, version=old.version + 1,
                            merged_from=old.merged_from)
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
        ids = point_ids(pids, "pids")
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
            self._index.remove_point(p.id)
            self._retired[p.id] = p
            self._merged_into[p.id] = point.id
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

