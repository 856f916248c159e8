"""Value objects of the hypergraph memory: entities (vertices), memory points (hyperedges).

HGMem's working memory is a hypergraph: each vertex is an entity, each hyperedge a *memory
point* tying several entities to a description of a higher-order relation. Everything here is
a frozen, keyword-only dataclass; :class:`~memagents.hypermem.core.hypergraph.HypergraphMemory`
holds them and is the only thing that changes.

Where the authors' code is weak, this module does better:

* **Stable point ids.** The code shows points to the LLM by their list index and renumbers
  every index after a merge, so "Point (3)" means something else at every step. Here a point
  id (``"mp-0007"``) is allocated from a counter that only grows: it is never renumbered,
  never reused, and a merged id stays known (as merged into its successor).
* **Provenance and versions.** Each point records the passages it came from, the step that
  created it and the step that last changed it, a version counter and, for merged points, the
  ids it was merged from; the code keeps only the description.
* **Entity identity.** Entities are keyed by :func:`entity_key` (Unicode NFKC, case-folded,
  whitespace collapsed), so "Rome", " rome " and "ROME" are one vertex, while the display name
  keeps the first spelling seen. A link to an external index is an explicit ``ref``, never a
  guess from the name.

Example:
    >>> point = MemoryPoint(id=point_id(7), description="Ada founded Velm Press.",
    ...                     entities=("ada", "velm press"))
    >>> point.id, point_number(point.id), point.version
    ('mp-0007', 7, 1)
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from memagents.errors import InputError

__all__ = [
    "POINT_PREFIX",
    "Entity",
    "MemoryPoint",
    "MemorySnapshot",
    "entity_key",
    "point_id",
    "point_number",
]

POINT_PREFIX = "mp-"
"""Prefix of every memory point id (``mp-0001``, ``mp-0002``...)."""

_POINT_ID = re.compile(r"mp-(\d{4,})")
_SPACES = re.compile(r"\s+")
_SURROGATE = re.compile("[\ud800-\udfff]")


def point_id(number: int) -> str:
    """The id of the ``number``-th memory point: ``mp-`` and at least four digits.

    >>> point_id(7), point_id(12345)
    ('mp-0007', 'mp-12345')
    """
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise InputError(f"a point number must be a positive integer, got {number!r}.")
    return f"{POINT_PREFIX}{number:04d}"


def point_number(pid: str) -> int | None:
    """The number of a well-formed point id, or ``None`` when ``pid`` is not one.

    Ids sort by this number (``mp-10000`` after ``mp-9999``).

    >>> point_number("mp-0042"), point_number("Point (3)"), point_number("mp-0000")
    (42, None, None)
    """
    match = _POINT_ID.fullmatch(pid) if isinstance(pid, str) else None
    if match is None or int(match.group(1)) < 1:
        return None
    if point_id(int(match.group(1))) != pid:  # "mp-00042": not the canonical spelling
        return None
    return int(match.group(1))


def entity_key(name: object) -> str:
    """The identity of an entity name: NFKC, case-folded, whitespace collapsed and stripped.

    Raises:
        InputError: ``name`` is not a string or is blank.

    >>> entity_key("  Velm\\u00a0 PRESS "), entity_key("Straße")
    ('velm press', 'strasse')
    """
    text = check_text(name, "an entity name")
    key = _SPACES.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()
    if not key:
        raise InputError(f"an entity name must not be blank, got {name!r}.")
    return key


def check_text(value: object, what: str) -> str:
    """``value`` if it is a string UTF-8 can store, else :class:`InputError` naming ``what``."""
    if not isinstance(value, str):
        raise InputError(f"{what} must be a string, got {type(value).__name__}: {value!r:.80}.")
    bad = _SURROGATE.search(value)
    if bad is not None:
        raise InputError(
            f"{what} holds {bad.group()!r} (a lone UTF-16 surrogate) at position {bad.start()}, "
            "which cannot be stored as UTF-8: fix the text's decoding."
        )
    return value


@dataclass(frozen=True, kw_only=True, slots=True)
class Entity:
    """A vertex of the memory: an entity, linked to an external index or held in memory only.

    Attributes:
        name: Display name (the first spelling seen); its :func:`entity_key` is the identity.
        description: What is known about it ("" for a bare vertex not yet described).
        ref: Id of this entity in an external index (graph memory's phrase node, say), or
            ``None`` for an *attached* entity absent from every index, kept in this memory only
            (HGMem's code writes such entities back into the shared graph; this memory never
            touches an index, so concurrent questions stay independent).
        entity_type: Optional type ("person", "organization"...), "" when unknown.
        sources: Passage ids the entity was read from.

    Example:
        >>> rome = Entity(name="Rome", ref="phrase:rome")
        >>> rome.key, rome.indexed, Entity(name="Velm").status
        ('rome', True, 'absent')
    """

    name: str
    description: str = ""
    ref: str | None = None
    entity_type: str = ""
    sources: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The entity's identity (see :func:`entity_key`)."""
        return entity_key(self.name)

    @property
    def indexed(self) -> bool:
        """Whether the entity is linked to an external index."""
        return self.ref is not None

    @property
    def status(self) -> str:
        """``"indexed"`` (has a ``ref``), ``"attached"`` (memory only, described) or
        ``"absent"`` (memory only, no description yet: a candidate for a repair prompt)."""
        if self.ref is not None:
            return "indexed"
        return "attached" if self.description else "absent"


@dataclass(frozen=True, kw_only=True, slots=True)
class MemoryPoint:
    """A hyperedge of the memory: a description tying a set of entities together.

    Attributes:
        id: Stable id (``mp-0007``): never renumbered, never reused.
        description: The relation the point records.
        entities: Keys (:func:`entity_key`) of the entities it links, in first-mention order.
        sources: Passage ids the point was written from (accumulated over updates and merges).
        created_step: Loop step that created the point.
        updated_step: Loop step that last changed it (``created_step`` until updated).
        version: 1 when created, plus one per update.
        merged_from: Ids of the points merged into this one, or ``()`` for an inserted point.

    Example:
        >>> p = MemoryPoint(id="mp-0003", description="Rome is in Italy.",
        ...                 entities=("rome", "italy"), merged_from=("mp-0001", "mp-0002"))
        >>> p.merged, len(p.entities)
        (True, 2)
    """

    id: str
    description: str
    entities: tuple[str, ...]
    sources: tuple[str, ...] = ()
    created_step: int = 0
    updated_step: int = 0
    version: int = 1
    merged_from: tuple[str, ...] = ()

    @property
    def merged(self) -> bool:
        """Whether the point was made by merging other points."""
        return bool(self.merged_from)


@dataclass(frozen=True, kw_only=True, slots=True)
class MemorySnapshot:
    """Everything a memory holds, as plain values: what serialization reads and writes.

    Attributes:
        entities: Every vertex, in the order it was added.
        points: Live points, in id order.
        retired: Points merged away, in id order: their last version, kept for provenance.
        merged_into: ``(old id, new id)`` pairs, one per retired point.
        next_number: Number of the next point id; always above every id ever allocated.
        step: The memory's current loop step.

    Example:
        >>> snap = MemorySnapshot(entities=(Entity(name="Rome"),), next_number=1)
        >>> snap.live_ids, snap.next_number
        ((), 1)
    """

    entities: tuple[Entity, ...] = ()
    points: tuple[MemoryPoint, ...] = ()
    retired: tuple[MemoryPoint, ...] = ()
    merged_into: tuple[tuple[str, str], ...] = ()
    next_number: int = 1
    step: int = 0

    @property
    def live_ids(self) -> tuple[str, ...]:
        """Ids of the live points."""
        return tuple(p.id for p in self.points)
