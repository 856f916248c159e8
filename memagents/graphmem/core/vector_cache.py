"""A per-string vector cache backed by one growing float32 matrix.

The graph index embeds every string (passage text, phrase, fact text) at most once and keeps
the vector here. Rows are L2-normalised on the way in, so a cosine is a dot product. The cache
is thread-safe, and embeds outside its lock: the write path fills it on a background thread
while the next passages are extracted, and readers are never held up by a model call.

Example:
    >>> import numpy as np
    >>> from memagents.graphmem.core.vector_cache import VectorCache
    >>> cache = VectorCache()
    >>> calls = []
    >>> def embed(texts):
    ...     calls.append(list(texts))
    ...     return np.array([[3.0, 4.0] if t == "a" else [1.0, 0.0] for t in texts], np.float32)
    >>> cache.ensure(["a", "b", "a"], embed)
    2
    >>> cache.ensure(["a"], embed), calls
    (0, [['a', 'b']])
    >>> cache.matrix(["a"]).tolist()
    [[0.6000000238418579, 0.800000011920929]]
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np

from memagents.errors import EmbeddingError, MemagentsError

__all__ = ["EmbedFn", "VectorCache"]

EmbedFn = Callable[[list[str]], np.ndarray]
"""Embeds a list of strings into an ``(n, dim)`` array of (ideally L2-normalised) rows."""


class VectorCache:
    """Vectors keyed by string, stored as rows of one float32 matrix.

    Freed rows (see :meth:`discard`) are reused. The dimension is fixed by the first batch.
    """

    __slots__ = ("_dim", "_free", "_lock", "_mat", "_rows")

    def __init__(self) -> None:
        self._rows: dict[str, int] = {}
        self._mat = np.zeros((0, 0), dtype=np.float32)
        self._free: list[int] = []
        self._dim: int | None = None
        self._lock = threading.Lock()

    @property
    def dim(self) -> int | None:
        """Vector dimension, or ``None`` before the first vector."""
        return self._dim

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, text: object) -> bool:
        return text in self._rows

    def __iter__(self) -> Iterator[str]:
        """The cached strings (a snapshot: safe to discard while iterating)."""
        with self._lock:
            return iter(list(self._rows))

    def missing(self, texts: Iterable[str]) -> list[str]:
        """The distinct strings of ``texts`` not cached yet, in first-seen order."""
        with self._lock:
            return list(dict.fromkeys(t for t in texts if t not in self._rows))

    def ensure(self, texts: Iterable[str], embed: EmbedFn) -> int:
        """Embed, in one call, the strings of ``texts`` not cached yet; return how many.

        The call runs outside the cache's lock; a string another thread cached meanwhile
        keeps its first vector.

        Raises:
            EmbeddingError: ``embed`` failed or returned a wrongly shaped or non-finite array.
        """
        missing = self.missing(texts)
        if not missing:
            return 0
        try:
            raw = embed(missing)
        except MemagentsError:
            raise
        except Exception as exc:  # the embedder is user code: wrap whatever it raised
            raise EmbeddingError(f"embedding {len(missing)} strings failed: {exc!r}") from exc
        vecs = np.asarray(raw, dtype=np.float32)
        if vecs.ndim != 2 or vecs.shape[0] != len(missing) or vecs.shape[1] == 0:
            raise EmbeddingError(
                f"embed returned shape {vecs.shape} for {len(missing)} strings; it must return "
                "one non-empty row per string."
            )
        if not np.isfinite(vecs).all():
            raise EmbeddingError("embed returned NaN or infinite values.")
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        vecs = np.divide(vecs, norms, out=np.zeros_like(vecs), where=norms > 0)
        with self._lock:
            if self._dim is not None and vecs.shape[1] != self._dim:
                raise EmbeddingError(
                    f"embed returned {vecs.shape[1]}-d vectors but the index holds "
                    f"{self._dim}-d ones; use the same embedding model for the whole index."
                )
            new = [i for i, t in enumerate(missing) if t not in self._rows]
            if len(new) < len(missing):
                missing, vecs = [missing[i] for i in new], vecs[new]
            self._put(missing, vecs)
        return len(new)

    def _put(self, texts: Sequence[str], vecs: np.ndarray) -> None:
        if self._dim is None:
            self._dim = int(vecs.shape[1])
            self._mat = np.zeros((0, self._dim), dtype=np.float32)
        need = len(texts) - len(self._free)
        used = len(self._rows) + len(self._free)
        if need > 0 and used + need > self._mat.shape[0]:
            cap = max(used + need, 2 * self._mat.shape[0], 64)
            grown = np.zeros((cap, self._dim), dtype=np.float32)
            grown[:used] = self._mat[:used]
            self._mat = grown
        for text, vec in zip(texts, vecs):
            row = self._free.pop() if self._free else len(self._rows) + len(self._free)
            self._mat[row] = vec
            self._rows[text] = row

    def rows(self, texts: Iterable[str]) -> np.ndarray:
        """Row numbers of cached strings (``KeyError`` for an unknown one)."""
        with self._lock:
            return np.fromiter((self._rows[t] for t in texts), dtype=np.int64)

    def matrix(self, texts: Sequence[str]) -> np.ndarray:
        """A new ``(len(texts), dim)`` float32 array of the cached vectors, in that order."""
        if not texts:
            return np.zeros((0, self._dim or 0), dtype=np.float32)
        with self._lock:
            rows = np.fromiter((self._rows[t] for t in texts), dtype=np.int64)
            out: np.ndarray = self._mat[rows]
        return out

    @property
    def storage(self) -> np.ndarray:
        """The backing matrix (rows addressed by :meth:`rows`); read-only use."""
        return self._mat

    def discard(self, texts: Iterable[str]) -> int:
        """Forget the vectors of ``texts`` (unknown ones are ignored); return how many."""
        n = 0
        with self._lock:
            for text in texts:
                row = self._rows.pop(text, None)
                if row is not None:
                    self._free.append(row)
                    n += 1
        return n
