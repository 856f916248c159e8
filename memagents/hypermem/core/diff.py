"""What one memory operation (or one loop step) changed: :class:`MemoryDiff`.

Every operation of :class:`~memagents.hypermem.core.hypergraph.HypergraphMemory` returns a
diff; a workflow combines the diffs of a step (:meth:`MemoryDiff.combine`) and streams it, so a
user can watch the memory evolve (``stream_mode="updates"``). A diff also carries the requests
that were refused, each with its reason (:class:`Rejection`): a merge naming an unknown or an
already-merged point is refused and reported, never raised, so one bad LLM reply cannot kill
the loop.

A diff is *applicable*: replaying ``added``, then ``updated``, then ``removed`` on the points
before it gives the points after it (:meth:`MemoryDiff.apply_to`). A point created and merged
away within one combined diff therefore appears in both ``added`` and ``removed``, so a viewer
still sees that it briefly existed.

Example:
    >>> from memagents.hypermem.core.model import MemoryPoint
    >>> p = MemoryPoint(id="mp-0001", description="Ada founded Velm.", entities=("ada", "velm"))
    >>> d = MemoryDiff(step=1, added=(p,)).combine(MemoryDiff(
    ...     step=1, rejected=(Rejection(op="merge", ids=("mp-0009",), reason="unknown"),)))
    >>> [q.id for q in d.added], d.ok, d.summary().splitlines()[1]
    (['mp-0001'], False, '+ mp-0001 [ada, velm] Ada founded Velm.')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from memagents.hypermem.core.model import Entity, MemoryPoint
from memagents.hypermem.core.serialize import (
    entity_from_dict,
    entity_to_dict,
    point_from_dict,
    point_to_dict,
)

__all__ = ["MemoryDiff", "Rejection"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Rejection:
    """A refused request: which operation, on which ids, and why.

    Attributes:
        op: ``"insert"``, ``"update"``, ``"merge"`` or ``"attach"``.
        ids: Point ids (or, for ``attach``, entity names) the request named.
        reason: Why it was refused, in words an LLM re-prompt or a log reader can act on.

    Example:
        >>> str(Rejection(op="merge", ids=("mp-0001", "mp-0002"), reason="mp-0002 is unknown"))
        'merge mp-0001, mp-0002 refused: mp-0002 is unknown'
    """

    op: str
    ids: tuple[str, ...] = ()
    reason: str

    def __str__(self) -> str:
        target = f" {', '.join(self.ids)}" if self.ids else ""
        return f"{self.op}{target} refused: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict."""
        return {"op": self.op, "ids": list(self.ids), "reason": self.reason}


@dataclass(frozen=True, kw_only=True, slots=True)
class MemoryDiff:
    """The change one operation, or several combined, made to a memory.

    Attributes:
        step: Loop step of the (last) operation.
        added: Points created (inserted, or made by a merge), latest version.
        updated: Points that existed before and were changed, latest version.
        removed: Ids of points merged away.
        entities_added: Entities created, latest version.
        entities_updated: Entities that existed before and were changed, latest version.
        rejected: Requests refused, with reasons.

    Example:
        >>> from memagents.hypermem.core.model import Entity
        >>> d = MemoryDiff(step=2, entities_added=(Entity(name="Rome"),))
        >>> d.is_empty, d.ok, d.to_dict()["entities_added"][0]["name"]
        (False, True, 'Rome')
    """

    step: int = 0
    added: tuple[MemoryPoint, ...] = ()
    updated: tuple[MemoryPoint, ...] = ()
    removed: tuple[str, ...] = ()
    entities_added: tuple[Entity, ...] = ()
    entities_updated: tuple[Entity, ...] = ()
    rejected: tuple[Rejection, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether nothing was refused."""
        return not self.rejected

    @property
    def is_empty(self) -> bool:
        """Whether nothing changed (rejections are not changes)."""
        return not (self.added or self.updated or self.removed or self.entities_added
                    or self.entities_updated)

    @property
    def merged_into(self) -> tuple[tuple[str, str], ...]:
        """``(old id, new id)`` for each point merged away by a merge in this diff."""
        gone = set(self.removed)
        return tuple((old, p.id) for p in self.added for old in p.merged_from if old in gone)

    def combine(self, other: MemoryDiff) -> MemoryDiff:
        """This diff followed by ``other``, as one applicable diff.

        A point added here and changed there stays in ``added`` with its latest version; a
        point changed in both is listed once, with its latest version; rejections are kept in
        order.
        """
        added = {p.id: p for p in self.added}
        updated = {p.id: p for p in self.updated}
        for p in other.added:
            added[p.id] = p
        for p in other.updated:
            if p.id in added:
                added[p.id] = p
            else:
                updated[p.id] = p
        ents_added = {e.key: e for e in self.entities_added}
        ents_updated = {e.key: e for e in self.entities_updated}
        for e in other.entities_added:
            ents_added[e.key] = e
        for e in other.entities_updated:
            (ents_added if e.key in ents_added else ents_updated)[e.key] = e
        return MemoryDiff(
            step=max(self.step, other.step),
            added=tuple(added.values()),
            updated=tuple(updated.values()),
            removed=tuple(dict.fromkeys(self.removed + other.removed)),
            entities_added=tuple(ents_added.values()),
            entities_updated=tuple(ents_updated.values()),
            rejected=self.rejected + other.rejected,
        )

    @classmethod
    def merge_all(cls, diffs: list[MemoryDiff] | tuple[MemoryDiff, ...]) -> MemoryDiff:
        """All ``diffs`` combined in order (an empty diff for none)."""
        out = cls()
        for d in diffs:
            out = out.combine(d)
        return out

    def apply_to(self, points: Mapping[str, MemoryPoint]) -> dict[str, MemoryPoint]:
        """The points after this diff, given the points before it (by id)."""
        out = dict(points)
        for p in self.added + self.updated:
            out[p.id] = p
        for pid in self.removed:
            out.pop(pid, None)
        return out

    def summary(self) -> str:
        """Readable lines: ``+`` added, ``~`` updated, ``-`` merged away, ``!`` refused."""
        into = dict(self.merged_into)
        lines = [f"step {self.step}:"]
        lines += [f"+ {_line(p)}" for p in self.added]
        lines += [f"~ {_line(p)} (v{p.version})" for p in self.updated]
        lines += [f"- {pid}" + (f" (merged into {into[pid]})" if pid in into else "")
                  for pid in self.removed]
        lines += [f"+ entity {e.name!r} ({e.status})" for e in self.entities_added]
        lines += [f"~ entity {e.name!r} ({e.status})" for e in self.entities_updated]
        lines += [f"! {r}" for r in self.rejected]
        if len(lines) == 1:
            lines.append("(no change)")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict (what a workflow streams as the step's memory diff)."""
        return {
            "step": self.step,
            "added": [point_to_dict(p) for p in self.added],
            "updated": [point_to_dict(p) for p in self.updated],
            "removed": list(self.removed),
            "entities_added": [entity_to_dict(e) for e in self.entities_added],
            "entities_updated": [entity_to_dict(e) for e in self.entities_updated],
            "rejected": [r.to_dict() for r in self.rejected],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MemoryDiff:
        """The diff of :meth:`to_dict` (what a streamed update carries) back as a diff.

        >>> d = MemoryDiff(step=1, removed=("mp-0001",))
        >>> MemoryDiff.from_dict(d.to_dict()) == d
        True
        """
        return cls(
            step=int(data.get("step") or 0),
            added=tuple(point_from_dict(p) for p in data.get("added") or ()),
            updated=tuple(point_from_dict(p) for p in data.get("updated") or ()),
            removed=tuple(data.get("removed") or ()),
            entities_added=tuple(entity_from_dict(e) for e in data.get("entities_added") or ()),
            entities_updated=tuple(entity_from_dict(e)
                                   for e in data.get("entities_updated") or ()),
            rejected=tuple(Rejection(op=r["op"], ids=tuple(r.get("ids") or ()),
                                     reason=r["reason"]) for r in data.get("rejected") or ()),
        )


def _line(p: MemoryPoint, limit: int = 160) -> str:
    text = " ".join(p.description.split())
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return f"{p.id} [{', '.join(p.entities)}] {text}"
