"""Hypergraph working memory (HGMem): multi-step RAG whose memory steers the next sub-queries.

This package holds, so far, the storage-free core (:mod:`memagents.hypermem.core`): entities
and memory points with stable ids, the insert / update / merge / attach operations and their
diffs, a budgeted prompt rendering, serialization and a picture. Spec:
``../shared/docs/methods/hgmem.md``. Importing it loads nothing heavy.

Example:
    >>> from memagents.hypermem import HypergraphMemory
    >>> m = HypergraphMemory()
    >>> _ = m.insert("Rome is in Italy.", ["Rome", "Italy"])
    >>> m.render(max_tokens=50)
    '[mp-0001] (Rome; Italy) Rome is in Italy.'
"""

from __future__ import annotations

from memagents.hypermem.core import (
    Entity,
    HypergraphMemory,
    MemoryDiff,
    MemoryPoint,
    MemorySnapshot,
    Rejection,
)

__all__ = [
    "Entity",
    "HypergraphMemory",
    "MemoryDiff",
    "MemoryPoint",
    "MemorySnapshot",
    "Rejection",
]
