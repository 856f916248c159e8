"""A memory as a JSON-compatible dict or a file: versioned, ids preserved, round-trip exact.

The format (``FORMAT``, version ``VERSION``)::

    {"format": "memagents.hypermem", "version": 1, "step": 2, "next_number": 4,
     "entities": [{"name": "Rome", "description": "", "ref": "phrase:rome",
                   "entity_type": "", "sources": []}, ...],
     "points":   [{"id": "mp-0003", "description": "...", "entities": ["rome", "italy"],
                   "sources": ["p1"], "created_step": 2, "updated_step": 2, "version": 1,
                   "merged_from": ["mp-0001", "mp-0002"]}, ...],
     "retired":  [<points merged away, same shape>],
     "merged_into": {"mp-0001": "mp-0003", "mp-0002": "mp-0003"}}

Reading checks every field and every invariant (ids well formed and unique, each point's
entities present, each retired point merged into a point that exists, the id counter above
every id, steps consistent) and refuses the first problem with an
:class:`~memagents.errors.InputError` that names where it is (``points[2].entities[0]``).
Unknown keys are refused too, so a typo never silently drops data.

Example:
    >>> from memagents.hypermem.core.model import Entity, MemoryPoint, MemorySnapshot
    >>> snap = MemorySnapshot(entities=(Entity(name="Rome"),), points=(MemoryPoint(
    ...     id="mp-0001", description="Rome is old.", entities=("rome",)),), next_number=2)
    >>> snapshot_from_dict(snapshot_to_dict(snap)) == snap
    True
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from memagents.errors import InputError
from memagents.hypermem.core.model import (
    Entity,
    MemoryPoint,
    MemorySnapshot,
    check_text,
    entity_key,
    point_number,
)

__all__ = [
    "FORMAT",
    "VERSION",
    "entity_from_dict",
    "entity_to_dict",
    "point_from_dict",
    "point_to_dict",
    "read_snapshot",
    "snapshot_from_dict",
    "snapshot_to_dict",
    "write_snapshot",
]

FORMAT = "memagents.hypermem"
"""Value of the ``format`` key of a serialized memory."""
VERSION = 1
"""Version of the format this module writes (and the newest it reads)."""

_TOP = ("format", "version", "step", "next_number", "entities", "points", "retired",
        "merged_into")
_ENTITY = ("name", "description", "ref", "entity_type", "sources")
_POINT = ("id", "description", "entities", "sources", "created_step", "updated_step",
          "version", "merged_from")


def entity_to_dict(entity: Entity) -> dict[str, Any]:
    """An entity as a JSON-compatible dict (every field written)."""
    return {"name": entity.name, "description": entity.description, "ref": entity.ref,
            "entity_type": entity.entity_type, "sources": list(entity.sources)}


def point_to_dict(point: MemoryPoint) -> dict[str, Any]:
    """A memory point as a JSON-compatible dict (every field written)."""
    return {"id": point.id, "description": point.description, "entities": list(point.entities),
            "sources": list(point.sources), "created_step": point.created_step,
            "updated_step": point.updated_step, "version": point.version,
            "merged_from": list(point.merged_from)}


def snapshot_to_dict(snapshot: MemorySnapshot) -> dict[str, Any]:
    """A whole memory as a JSON-compatible dict (see the module docstring for the format)."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "step": snapshot.step,
        "next_number": snapshot.next_number,
        "entities": [entity_to_dict(e) for e in snapshot.entities],
        "points": [point_to_dict(p) for p in snapshot.points],
        "retired": [point_to_dict(p) for p in snapshot.retired],
        "merged_into": dict(snapshot.merged_into),
    }


def _fail(where: str, problem: str) -> InputError:
    return InputError(f"not a valid hypergraph memory: {where}: {problem}.")


def _obj(value: Any, where: str, keys: tuple[str, ...], required: tuple[str, ...]) -> dict:
    if not isinstance(value, dict):
        raise _fail(where, f"expected an object, got {type(value).__name__}")
    unknown = sorted(str(k) for k in value if k not in keys)
    if unknown:
        raise _fail(where, f"unknown key(s) {unknown}; expected some of {list(keys)}")
    missing = [k for k in required if k not in value]
    if missing:
        raise _fail(where, f"missing key(s) {missing}")
    return value


def _str(value: Any, where: str, *, blank: bool = True) -> str:
    try:
        text = check_text(value, where)
    except InputError as exc:
        raise _fail(where, str(exc).rstrip(".")) from None
    if not blank and not text.strip():
        raise _fail(where, "must not be blank")
    return text


def _int(value: Any, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(where, f"expected an integer, got {value!r:.60}")
    if value < minimum:
        raise _fail(where, f"must be at least {minimum}, got {value}")
    return value


def _strs(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _fail(where, f"expected a list of strings, got {type(value).__name__}")
    return tuple(_str(v, f"{where}[{i}]") for i, v in enumerate(value))


def _pid(value: Any, where: str) -> str:
    if not isinstance(value, str) or point_number(value) is None:
        raise _fail(where, f"{value!r:.60} is not a point id (mp- and at least four digits)")
    return value


def entity_from_dict(data: Any, where: str = "entity") -> Entity:
    """An entity from :func:`entity_to_dict`'s output; :class:`InputError` names a bad field."""
    d = _obj(data, where, _ENTITY, ("name",))
    name = _str(d["name"], f"{where}.name", blank=False)
    ref = d.get("ref")
    return Entity(
        name=name,
        description=_str(d.get("description", ""), f"{where}.description"),
        ref=None if ref is None else _str(ref, f"{where}.ref", blank=False),
        entity_type=_str(d.get("entity_type", ""), f"{where}.entity_type"),
        sources=_strs(d.get("sources", []), f"{where}.sources"),
    )


def point_from_dict(data: Any, where: str = "point") -> MemoryPoint:
    """A memory point from :func:`point_to_dict`'s output; :class:`InputError` names a bad
    field (entity keys must be in :func:`~memagents.hypermem.core.model.entity_key` form)."""
    d = _obj(data, where, _POINT, ("id", "description", "entities"))
    entities = _strs(d["entities"], f"{where}.entities")
    if not entities:
        raise _fail(f"{where}.entities", "a point links at least one entity")
    for i, key in enumerate(entities):
        if not key.strip() or entity_key(key) != key:
            raise _fail(f"{where}.entities[{i}]", f"{key!r} is not an entity key "
                        f"(normalized: {entity_key(key) if key.strip() else ''!r})")
    if len(set(entities)) != len(entities):
        raise _fail(f"{where}.entities", "an entity is listed twice")
    created = _int(d.get("created_step", 0), f"{where}.created_step", 0)
    updated = _int(d.get("updated_step", created), f"{where}.updated_step", created)
    merged_from = tuple(_pid(v, f"{where}.merged_from[{i}]")
                        for i, v in enumerate(_strs(d.get("merged_from", []), f"{where}.merged_from")))
    return MemoryPoint(
        id=_pid(d["id"], f"{where}.id"),
        description=_str(d["description"], f"{where}.description", blank=False),
        entities=entities,
        sources=_strs(d.get("sources", []), f"{where}.sources"),
        created_step=created,
        updated_step=updated,
        version=_int(d.get("version", 1), f"{where}.version", 1),
        merged_from=merged_from,
    )


def snapshot_from_dict(data: Any) -> MemorySnapshot:
    """A memory from :func:`snapshot_to_dict`'s output, every invariant checked.

    Raises:
        InputError: the first problem found, with where it is.
    """
    d = _obj(data, "top level", _TOP, ("format", "version", "entities", "points"))
    if d["format"] != FORMAT:
        raise _fail("format", f"expected {FORMAT!r}, got {d['format']!r:.60}")
    version = _int(d["version"], "version", 1)
    if version > VERSION:
        raise _fail("version", f"version {version} is newer than this memagents reads "
                    f"({VERSION}): upgrade memagents")
    if not isinstance(d["entities"], list):
        raise _fail("entities", "expected a list")
    entities = tuple(entity_from_dict(e, f"entities[{i}]") for i, e in enumerate(d["entities"]))
    keys: dict[str, int] = {}
    for i, e in enumerate(entities):
        if e.key in keys:
            raise _fail(f"entities[{i}].name", f"{e.name!r} is the same entity as "
                        f"entities[{keys[e.key]}] (key {e.key!r})")
        keys[e.key] = i
    points = _points(d["points"], "points", keys)
    retired = _points(d.get("retired", []), "retired", keys)
    seen: dict[str, str] = {}
    for group, items in (("points", points), ("retired", retired)):
        for i, p in enumerate(items):
            if p.id in seen:
                raise _fail(f"{group}[{i}].id", f"{p.id} is also {seen[p.id]}")
            seen[p.id] = f"{group}[{i}]"
    merged_into = _merged_into(d.get("merged_into", {}), points, retired, seen)
    top = max((point_number(pid) or 0 for pid in seen), default=0)
    next_number = _int(d.get("next_number", top + 1), "next_number", top + 1)
    last = max((p.updated_step for p in points + retired), default=0)
    step = _int(d.get("step", last), "step", last)
    return MemorySnapshot(entities=entities, points=points, retired=retired,
                          merged_into=merged_into, next_number=next_number, step=step)


def _points(value: Any, where: str, keys: dict[str, int]) -> tuple[MemoryPoint, ...]:
    if not isinstance(value, list):
        raise _fail(where, "expected a list")
    out = []
    for i, item in enumerate(value):
        p = point_from_dict(item, f"{where}[{i}]")
        for j, key in enumerate(p.entities):
            if key not in keys:
                raise _fail(f"{where}[{i}].entities[{j}]", f"{key!r} is not an entity of this "
                            "memory (add it to 'entities')")
        out.append(p)
    return tuple(sorted(out, key=lambda p: point_number(p.id) or 0))


def _merged_into(value: Any, points: tuple[MemoryPoint, ...], retired: tuple[MemoryPoint, ...],
                 seen: dict[str, str]) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        raise _fail("merged_into", "expected an object mapping retired ids to their successors")
    pairs = {_pid(k, f"merged_into key {k!r}"): _pid(v, f"merged_into[{k!r}]")
             for k, v in value.items()}
    retired_ids = {p.id for p in retired}
    for old, new in pairs.items():
        if old not in retired_ids:
            raise _fail(f"merged_into[{old!r}]", f"{old} is not a retired point")
        if new not in seen:
            raise _fail(f"merged_into[{old!r}]", f"{new} is not a point of this memory")
        if (point_number(new) or 0) <= (point_number(old) or 0):
            raise _fail(f"merged_into[{old!r}]", f"a point is merged into a newer id, not {new}")
    missing = sorted(retired_ids - set(pairs))
    if missing:
        raise _fail("merged_into", f"retired point(s) {missing} are not mapped to a successor")
    return tuple(sorted(pairs.items(), key=lambda kv: point_number(kv[0]) or 0))


def write_snapshot(snapshot: MemorySnapshot, path: str | os.PathLike[str]) -> Path:
    """Write a memory as a UTF-8 JSON file, atomically (a temporary file, then a rename)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(snapshot_to_dict(snapshot), ensure_ascii=False, indent=1)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def read_snapshot(path: str | os.PathLike[str]) -> MemorySnapshot:
    """Read a memory written by :func:`write_snapshot`.

    Raises:
        InputError: the file is missing, not UTF-8 JSON, or not a valid memory.
    """
    src = Path(path)
    try:
        text = src.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"no hypergraph memory file at {str(src)!r}.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read hypergraph memory file {str(src)!r}: {exc}.") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{str(src)!r} is not JSON: {exc}.") from None
    return snapshot_from_dict(data)
