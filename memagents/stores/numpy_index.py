"""The in-process numpy vector index: exact brute-force cosine search, saved atomically.

Example:
    >>> from memagents.stores.numpy_index import NumpyVectorIndex
    >>> index = NumpyVectorIndex()
    >>> index.add(["a", "b"], [[1.0, 0.0], [0.0, 1.0]])
    >>> index.query([1.0, 0.1], 1)
    [('a', 0.995037)]
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from memagents.errors import ConfigError, StorageError
from memagents.stores.vectors import SCORE_DECIMALS, Metadata, VectorIndex, matches_where

__all__ = ["NumpyVectorIndex"]


class NumpyVectorIndex(VectorIndex):
    """Exact in-process index: a ``float32`` matrix scored by brute force.

    With a ``path`` the index is saved to one ``.npz`` file (vectors, ids and JSON metadata
    together) by writing a temporary file and ``os.replace``-ing it, so a crash leaves either the
    old or the new file, never a torn one. With ``autosave`` (default) every write is saved at
    once; if saving fails the index reverts to the saved state and raises
    :class:`StorageError`. With ``autosave=False`` call :meth:`flush` (or :meth:`close`).

    Args:
        path: The ``.npz`` file; loaded if it exists. ``None`` keeps the index in memory.
        dim: Expected dimension (checked against the file and the first ``add``).
        autosave: Save after every ``add``/``delete``.

    Example:
        >>> import os, tempfile
        >>> from memagents.stores.numpy_index import NumpyVectorIndex
        >>> path = os.path.join(tempfile.mkdtemp(), "passages.npz")
        >>> with NumpyVectorIndex(path) as index:
        ...     index.add(["p1", "p2"], [[3.0, 4.0], [0.0, 2.0]])
        >>> reopened = NumpyVectorIndex(path)
        >>> reopened.get(["p1"])["p1"].tolist(), reopened.count()
        ([0.6000000238418579, 0.800000011920929], 2)
    """

    _dim: int | None
    _mat: np.ndarray
    _ids: list[str]
    _pos: dict[str, int]
    _meta: list[Metadata | None]

    def __init__(
        self, path: str | Path | None = None, *, dim: int | None = None, autosave: bool = True
    ) -> None:
        super().__init__()
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim < 1):
            raise ConfigError(f"dim must be a positive integer or None, got {dim!r}.")
        self._path = None if path is None else Path(path)
        self._autosave = autosave
        self._dirty = False
        self._reset(dim)
        if self._path is not None and self._path.exists():
            self._load()
            if dim is not None and self._dim is not None and self._dim != dim:
                raise ConfigError(
                    f"the vector index {self._path} holds {self._dim}-dimensional vectors, not "
                    f"{dim}; it was built with another embedding model: use a new index file."
                )

    @property
    def dim(self) -> int | None:
        """Vector dimension, or ``None`` while nothing was ever added."""
        return self._dim

    @property
    def path(self) -> Path | None:
        """The ``.npz`` file, or ``None`` for an in-memory index."""
        return self._path

    def flush(self) -> None:
        """Save pending writes (only needed with ``autosave=False``)."""
        with self._lock:
            if self._dirty and self._path is not None and not self._closed:
                self._save()

    # -- primitives -------------------------------------------------------------------------

    def _upsert(self, ids: list[str], unit: np.ndarray, metas: list[Metadata | None]) -> None:
        if self._dim is None:
            self._dim = int(unit.shape[1])
            self._mat = np.zeros((0, self._dim), dtype=np.float32)
        rows = np.array([self._pos.get(i, -1) for i in ids], dtype=np.int64)
        old = rows >= 0
        if old.any():
            self._mat[rows[old]] = unit[old]
            kept = [m for m, o in zip(metas, old.tolist(), strict=True) if o]
            for r, meta in zip(rows[old].tolist(), kept, strict=True):
                self._meta[r] = meta
        new = np.flatnonzero(~old)
        if new.size:
            n = len(self._ids)
            if n + new.size > self._mat.shape[0]:
                grown = np.zeros(
                    (max(2 * self._mat.shape[0], n + new.size, 16), self._dim), np.float32
                )
                grown[:n] = self._mat[:n]
                self._mat = grown
            self._mat[n : n + new.size] = unit[new]
            for offset, j in enumerate(new.tolist()):
                self._pos[ids[j]] = n + offset
                self._ids.append(ids[j])
                self._meta.append(metas[j])
        self._written()

    def _delete(self, ids: list[str]) -> int:
        gone = {self._pos[i] for i in ids if i in self._pos}
        if not gone:
            return 0
        keep = [r for r in range(len(self._ids)) if r not in gone]
        self._mat = self._mat[keep]
        self._ids = [self._ids[r] for r in keep]
        self._meta = [self._meta[r] for r in keep]
        self._pos = {i: r for r, i in enumerate(self._ids)}
        self._written()
        return len(gone)

    def _get(self, ids: list[str]) -> dict[str, np.ndarray]:
        return {i: self._mat[self._pos[i]].copy() for i in ids if i in self._pos}

    def _query(self, q: np.ndarray, k: int, where: Metadata | None) -> list[tuple[str, float]]:
        n = len(self._ids)
        if where is None:
            rows = np.arange(n)
            scores = self._mat[:n] @ q
        else:
            rows = np.array([r for r, m in enumerate(self._meta) if matches_where(m, where)], np.int64)
            scores = self._mat[rows] @ q if rows.size else np.zeros(0, np.float32)
        scores = np.round(scores.astype(np.float64), SCORE_DECIMALS)
        if k < scores.size:  # keep the top k plus everything tied with the k-th score
            kth = scores[np.argpartition(-scores, k - 1)[:k]].min()
            picked = np.flatnonzero(scores >= kth)
        else:
            picked = np.arange(scores.size)
        return [(self._ids[int(rows[p])], float(scores[p])) for p in picked]

    def _count(self) -> int:
        return len(self._ids)

    def _list_ids(self) -> list[str]:
        return list(self._ids)

    def _matrix(self, ids: list[str] | None) -> tuple[list[str], np.ndarray]:
        if ids is None:
            return list(self._ids), self._mat[: len(self._ids)].copy()
        found = [i for i in ids if i in self._pos]
        return found, self._mat[[self._pos[i] for i in found]]

    # -- persistence ------------------------------------------------------------------------

    def _reset(self, dim: int | None) -> None:
        self._dim = dim
        self._mat = np.zeros((0, dim or 0), dtype=np.float32)
        self._ids = []
        self._pos = {}
        self._meta = []

    def _written(self) -> None:
        self._dirty = True
        if self._autosave and self._path is not None:
            try:
                self._save()
            except StorageError:
                self._reset(None)  # revert to the last saved state
                if self._path.exists():
                    self._load()
                self._dirty = False
                raise

    def _save(self) -> None:
        assert self._path is not None
        n = len(self._ids)
        header = {"format": 1, "dim": self._dim, "metadatas": self._meta}
        tmp = None
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(
                dir=self._path.parent, prefix=f".{self._path.name}.", suffix=".tmp"
            )
            with os.fdopen(fd, "wb") as fh:
                np.savez(
                    fh,
                    vectors=self._mat[:n],
                    ids=np.array(self._ids, dtype=str),
                    header=np.array(json.dumps(header)),
                )
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self._path)
        except OSError as exc:
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)
            raise StorageError(
                f"cannot save the vector index {self._path} ({exc}); check free disk space and "
                "permissions. The index was left as it was before this write."
            ) from exc
        self._dirty = False

    def _load(self) -> None:
        assert self._path is not None
        try:
            with np.load(self._path, allow_pickle=False) as data:
                header = json.loads(str(data["header"]))
                mat = np.asarray(data["vectors"], dtype=np.float32)
                ids = [str(i) for i in data["ids"].tolist()]
            metas = header["metadatas"]
            dim = header["dim"]
            if len(ids) != mat.shape[0] or len(metas) != len(ids) or (dim and mat.shape[1] != dim):
                raise ValueError("ids, vectors and metadata disagree in length")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StorageError(
                f"the vector index {self._path} is unreadable ({exc}); restore it from a backup, "
                "or delete it and re-index the memory."
            ) from exc
        self._dim = int(dim) if dim else None
        self._mat = mat.reshape(len(ids), self._dim or 0)
        self._ids, self._meta = ids, metas
        self._pos = {i: r for r, i in enumerate(ids)}


