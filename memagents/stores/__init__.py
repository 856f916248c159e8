"""Embedded persistence for memagents: SQLite, vector indexes and the memory-folder lock.

* :class:`Database` / :class:`Migration`: SQLite in WAL mode, one transaction per batch.
* :class:`VectorIndex` with :class:`NumpyVectorIndex` and :class:`ChromaVectorIndex`, chosen by
  :func:`open_vector_index` from the settings (``vector_backend``, ``chroma_url``).
* :class:`FolderLock`: one writing process per memory folder.

``chromadb`` is imported only when a :class:`ChromaVectorIndex` is created.
"""

from __future__ import annotations

from memagents.stores.chroma import ChromaVectorIndex, parse_chroma_url
from memagents.stores.factory import open_vector_index
from memagents.stores.lock import FolderLock
from memagents.stores.numpy_index import NumpyVectorIndex
from memagents.stores.sqlite import Database, Migration
from memagents.stores.vectors import VectorIndex, check_index_name

__all__ = [
    "ChromaVectorIndex",
    "Database",
    "FolderLock",
    "Migration",
    "NumpyVectorIndex",
    "VectorIndex",
    "check_index_name",
    "open_vector_index",
    "parse_chroma_url",
]
