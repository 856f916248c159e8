"""Vector indexes: one interface, an in-process numpy backend and a Chroma backend.

Every :class:`VectorIndex` stores L2-normalised ``float32`` vectors under string ids with an
optional flat metadata dict, and answers cosine-similarity queries. The base class validates all
input (raising :class:`~memagents.errors.InputError` naming the problem) and makes results
deterministic across backends: scores are rounded to 6 decimals and ordered by descending score,
ties broken by ascending id. :meth:`VectorIndex.ids` and :meth:`VectorIndex.matrix` list ids in
ascending order.

Backends: :class:`~memagents.stores.numpy_index.NumpyVectorIndex` (exact brute force, persisted atomically to one ``.npz``
file) and :class:`~memagents.stores.chroma.ChromaVectorIndex` (embedded ``PersistentClient`` or
a Chroma server). :func:`~memagents.stores.factory.open_vector_index` picks one from :class:`~memagents.config.Settings`.
"""

from __future__ import annotations

import math
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from types import TracebackType

import numpy as np
from typing_extensions import Self

from memagents.errors import ConfigError, InputError, StorageError

__all__ = ["VectorIndex", "check_index_name", "matches_where"]

MetaValue = str | int | float | bool
Metadata = dict[str, MetaValue]
VectorsLike = np.ndarray | Sequence[Sequence[float]]

SCORE_DECIMALS = 6
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]$")
_SURROGATE = re.compile("[\ud800-\udfff]")


class VectorIndex(ABC):
    """A cosine-similarity index of unit vectors with string ids and flat metadata.

    Subclasses implement the ``_``-prefixed primitives; the public methods validate input,
    serialise access with a re-entrant lock (safe from threads and ``asyncio.to_thread``) and
    order results deterministically.

    Example:
        >>> from memagents.stores.numpy_index import NumpyVectorIndex
        >>> index = NumpyVectorIndex()
        >>> index.add(["a", "b"], [[1.0, 0.0], [0.0, 1.0]], [{"kind": "x"}, {"kind": "y"}])
        >>> index.query([1.0, 0.2], k=2)
        [('a', 0.980581), ('b', 0.196116)]
        >>> index.query([1.0, 0.2], k=2, where={"kind": "y"})
        [('b', 0.196116)]
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._closed = False

    # -- public API -------------------------------------------------------------------------

    @property
    @abstractmethod
    def dim(self) -> int | None:
        """Vector dimension, or ``None`` while nothing was ever added."""

    def add(
        self,
        ids: Sequence[str],
        vectors: VectorsLike,
        metadatas: Sequence[Mapping[str, MetaValue] | None] | None = None,
    ) -> None:
        """Insert or overwrite vectors (and replace their metadata).

        Raises:
            InputError: Ids are empty, non-string or repeated; vectors are not a 2-D finite,
                non-zero array with one row per id and the index's dimension; metadata is not a
                flat dict of ``str``/``int``/``float``/``bool`` values.
        """
        id_list = _check_ids(ids, unique=True)
        metas = _check_metadatas(metadatas, len(id_list))
        if not id_list:
            if vectors is not None and len(vectors) != 0:
                raise InputError("vectors were given without ids; pass one id per vector.")
            return
        with self._lock:
            self._check_open()
            unit = _unit_rows(vectors, id_list, self.dim)
            self._upsert(id_list, unit, metas)

    def delete(self, ids: Sequence[str]) -> int:
        """Delete vectors by id; unknown ids are ignored. Returns how many were deleted."""
        id_list = list(dict.fromkeys(_check_ids(ids, unique=False)))
        if not id_list:
            return 0
        with self._lock:
            self._check_open()
            return self._delete(id_list)

    def get(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored unit vectors of the given ids (unknown ids are left out)."""
        id_list = list(dict.fromkeys(_check_ids(ids, unique=False)))
        with self._lock:
            self._check_open()
            return self._get(id_list) if id_list else {}

    def query(
        self,
        vector: Sequence[float] | np.ndarray,
        k: int,
        *,
        where: Mapping[str, MetaValue] | None = None,
    ) -> list[tuple[str, float]]:
        """The ``k`` most cosine-similar ids as ``(id, score)``, best first, ties by id.

        Args:
            vector: The query vector (any non-zero length; it is normalised).
            k: How many results at most (``>= 1``).
            where: Exact-match filter on metadata keys (all must match).
        """
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise InputError(f"k must be a positive integer, got {k!r}.")
        flt = _check_where(where)
        with self._lock:
            self._check_open()
            if self.dim is None:
                return []
            q = _unit_query(vector, self.dim)
            hits = [(i, round(s, SCORE_DECIMALS)) for i, s in self._query(q, int(k), flt)]
        hits.sort(key=lambda hit: (-hit[1], hit[0]))
        return hits[: int(k)]

    def count(self) -> int:
        """Number of stored vectors."""
        with self._lock:
            self._check_open()
            return self._count()

    def ids(self) -> list[str]:
        """All ids, ascending."""
        with self._lock:
            self._check_open()
            return sorted(self._list_ids())

    def matrix(self, ids: Sequence[str] | None = None) -> tuple[list[str], np.ndarray]:
        """Vectors as one ``float32`` matrix for brute-force scoring.

        Args:
            ids: Rows to return, in this order (unknown ids are left out); ``None`` for all
                rows in ascending id order.

        Returns:
            The ids of the rows, and an ``(n, dim)`` matrix of unit vectors.
        """
        wanted = None if ids is None else list(dict.fromkeys(_check_ids(ids, unique=False)))
        with self._lock:
            self._check_open()
            found, mat = self._matrix(wanted)
            dim = self.dim or 0
        mat = np.asarray(mat, dtype=np.float32).reshape(len(found), dim)
        if wanted is None:
            order = sorted(range(len(found)), key=found.__getitem__)
        else:
            rank = {i: n for n, i in enumerate(wanted)}
            order = sorted(range(len(found)), key=lambda n: rank[found[n]])
        return [found[n] for n in order], mat[order]

    def flush(self) -> None:
        """Make every write durable (a no-op for backends that write through)."""

    def close(self) -> None:
        """Flush and release resources (idempotent); later calls raise :class:`StorageError`."""
        with self._lock:
            if not self._closed:
                try:
                    self.flush()
                    self._close()
                finally:
                    self._closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __len__(self) -> int:
        return self.count()

    # -- backend primitives -----------------------------------------------------------------

    @abstractmethod
    def _upsert(self, ids: list[str], unit: np.ndarray, metas: list[Metadata | None]) -> None:
        """Store unit rows; metadata replaces any previous metadata of the id."""

    @abstractmethod
    def _delete(self, ids: list[str]) -> int: ...

    @abstractmethod
    def _get(self, ids: list[str]) -> dict[str, np.ndarray]: ...

    @abstractmethod
    def _query(self, q: np.ndarray, k: int, where: Metadata | None) -> list[tuple[str, float]]:
        """Candidates ``(id, cosine)`` including every id tied with the k-th; any order."""

    @abstractmethod
    def _count(self) -> int: ...

    @abstractmethod
    def _list_ids(self) -> list[str]: ...

    @abstractmethod
    def _matrix(self, ids: list[str] | None) -> tuple[list[str], np.ndarray]: ...

    def _close(self) -> None:
        """Release backend resources."""

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError(f"{type(self).__name__} is closed; open the index again.")


def check_index_name(name: str) -> str:
    """Validate an index/collection name: 3-512 of ``[A-Za-z0-9._-]``, alphanumeric ends."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ConfigError(
            f"invalid vector index name {name!r}: use 3 to 512 letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit (e.g. 'passages')."
        )
    return name


# -- validation -------------------------------------------------------------------------------


def _check_ids(ids: Sequence[str], *, unique: bool) -> list[str]:
    if isinstance(ids, (str, bytes)) or not isinstance(ids, (Sequence, np.ndarray)):
        raise InputError(f"ids must be a list of strings, got {type(ids).__name__}.")
    out = list(ids)
    for i in out:
        if not isinstance(i, str) or not i:
            raise InputError(f"every id must be a non-empty string, got {i!r}.")
        _check_text(i, f"id {i!r}")
    if unique and len(set(out)) != len(out):
        seen: set[str] = set()
        dup = next(i for i in out if i in seen or seen.add(i))  # type: ignore[func-returns-value]
        raise InputError(f"id {dup!r} appears more than once in one call; pass each id once.")
    return out


def _unit_rows(vectors: VectorsLike, ids: list[str], dim: int | None) -> np.ndarray:
    try:
        arr = np.asarray(vectors, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"vectors must be a 2-D array of numbers, one row per id ({exc})."
        ) from None
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise InputError(f"vectors must be a 2-D array (one row per id), got shape {arr.shape}.")
    if arr.shape[0] != len(ids):
        raise InputError(f"got {len(ids)} ids but {arr.shape[0]} vectors; pass one vector per id.")
    if dim is not None and arr.shape[1] != dim:
        raise InputError(
            f"vectors have dimension {arr.shape[1]} but this index holds dimension {dim}; embed "
            "with the model the index was built with, or re-index into a new index."
        )
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        raise InputError(f"the vector of id {ids[int(np.argmax(bad))]!r} contains NaN or infinity.")
    norms = np.linalg.norm(arr, axis=1)
    if (norms == 0).any():
        raise InputError(
            f"the vector of id {ids[int(np.argmin(norms))]!r} is all zeros; cosine similarity "
            "needs a non-zero vector."
        )
    unit: np.ndarray = (arr / norms[:, None]).astype(np.float32)
    return unit


def _unit_query(vector: Sequence[float] | np.ndarray, dim: int) -> np.ndarray:
    try:
        q = np.asarray(vector, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"the query vector must be a 1-D array of numbers ({exc}).") from None
    if q.ndim == 2 and q.shape[0] == 1:
        q = q[0]
    if q.ndim != 1 or q.shape[0] != dim:
        raise InputError(f"the query vector must have shape ({dim},), got {q.shape}.")
    if not np.isfinite(q).all() or not np.any(q):
        raise InputError("the query vector must be finite and non-zero.")
    return (q / np.linalg.norm(q)).astype(np.float32)


def _check_value(key: object, value: object, what: str) -> None:
    if not isinstance(key, str) or not key or key.startswith(("$", "#")):
        raise InputError(
            f"{what} keys must be non-empty strings not starting with '$' or '#', got {key!r}."
        )
    ok = isinstance(value, (str, bool, int)) or (isinstance(value, float) and math.isfinite(value))
    if not ok:
        raise InputError(
            f"{what} value of {key!r} must be a str, int, finite float or bool, got {value!r}."
        )
    _check_text(key, f"{what} key {key!r}")
    if isinstance(value, str):
        _check_text(value, f"{what} value of {key!r}")


def _check_text(text: str, what: str) -> None:
    """Refuse a lone UTF-16 surrogate: no store (SQLite, Chroma, JSON files) can hold one."""
    found = _SURROGATE.search(text)
    if found is not None:
        raise InputError(
            f"{what[:120]} contains {found.group()!r}, a lone UTF-16 surrogate (half of a "
            "character, e.g. a broken emoji) that cannot be stored as UTF-8; remove it."
        )


def _check_metadatas(
    metadatas: Sequence[Mapping[str, MetaValue] | None] | None, n: int
) -> list[Metadata | None]:
    if metadatas is None:
        return [None] * n
    if isinstance(metadatas, Mapping) or len(metadatas) != n:
        raise InputError(f"pass one metadata dict (or None) per id: {n} ids.")
    out: list[Metadata | None] = []
    for meta in metadatas:
        if meta is None or (isinstance(meta, Mapping) and not meta):
            out.append(None)
            continue
        if not isinstance(meta, Mapping):
            raise InputError(f"metadata must be a dict or None, got {type(meta).__name__}.")
        for key, value in meta.items():
            _check_value(key, value, "metadata")
        out.append(dict(meta))
    return out


def _check_where(where: Mapping[str, MetaValue] | None) -> Metadata | None:
    if where is None:
        return None
    if not isinstance(where, Mapping):
        raise InputError(f"where must be a dict of exact-match metadata values, got {where!r}.")
    for key, value in where.items():
        _check_value(key, value, "where")
    return dict(where) or None


def _same(a: object, b: object) -> bool:
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def matches_where(meta: Metadata | None, where: Metadata) -> bool:
    return meta is not None and all(k in meta and _same(meta[k], v) for k, v in where.items())
