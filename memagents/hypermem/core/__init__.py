"""The storage-free core of the hypergraph memory: value objects, the memory, its diffs,
prompt rendering, serialization and picture.

Modules, bottom up: ``model`` (value objects), ``serialize``, ``diff``, ``render``,
``picture``, ``incidence`` (the networkx bipartite index), ``view`` (state and queries),
``hypergraph`` (the operations). Importing them loads nothing heavy: networkx loads when the
first memory is made, tiktoken when the first budgeted text is rendered.

Example:
    >>> from memagents.hypermem.core import HypergraphMemory
    >>> m = HypergraphMemory()
    >>> m.insert("Ada founded Velm.", ["Ada", "Velm"]).added[0].id
    'mp-0001'
"""

from __future__ import annotations

from memagents.hypermem.core.diff import MemoryDiff, Rejection
from memagents.hypermem.core.hypergraph import HypergraphMemory
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
from memagents.hypermem.core.render import render_points
from memagents.hypermem.core.serialize import (
    FORMAT,
    VERSION,
    read_snapshot,
    snapshot_from_dict,
    snapshot_to_dict,
    write_snapshot,
)
from memagents.hypermem.core.view import HypergraphView

__all__ = [
    "FORMAT",
    "VERSION",
    "BipartiteIndex",
    "Entity",
    "HypergraphMemory",
    "HypergraphView",
    "MemoryDiff",
    "MemoryPoint",
    "MemorySnapshot",
    "Rejection",
    "entity_key",
    "memory_html",
    "point_id",
    "point_number",
    "read_snapshot",
    "render_points",
    "snapshot_from_dict",
    "snapshot_to_dict",
    "write_snapshot",
]
