"""Exact, incremental synonymy edges between phrase nodes.

A phrase ``a`` with at least ``synonymy_min_alnum`` letters and digits gets a directed synonymy
weight ``cos(a, b)`` towards each of its nearest phrases ``b != a`` with
``cos(a, b) >= synonymy_threshold``, at most ``synonymy_max_neighbors`` of them, nearest first
and ties broken by phrase text. This is the official HippoRAG 2 rule
(``add_synonymy_edges``) made deterministic.

The lists are kept exactly equal to a from-scratch computation under inserts and deletes:

* a new phrase is compared with every phrase (one blocked float32 GEMM, upper triangle only
  when many phrases arrive together);
* an existing phrase's list can only gain a new phrase that passes the threshold, so it is
  merged and truncated (the top ``cap`` of a superset is the top ``cap`` of the old top
  ``cap`` plus the newcomers);
* when a phrase is deleted, lists that contained it drop it; a list that was full (and may
  have been truncated) is recomputed against all phrases.

Cosines are screened in float32 with a safety margin, then recomputed in float64 from the
float32 vectors with a fixed summation order, so ``cos(a, b) == cos(b, a)`` bit for bit and the
result does not depend on batch shapes or insertion order.

Example:
    >>> import numpy as np
    >>> from memagents.graphmem.core.config import GraphConfig
    >>> from memagents.graphmem.core.synonymy import SynonymIndex
    >>> from memagents.graphmem.core.vector_cache import VectorCache
    >>> cache = VectorCache()
    >>> vecs = {"paris": [1, 0], "paris city": [0.9, 0.1], "rome": [0, 1]}
    >>> _ = cache.ensure(vecs, lambda t: np.array([vecs[s] for s in t], np.float32))
    >>> syn = SynonymIndex(GraphConfig())
    >>> syn.update(sorted(vecs), added=set(vecs), removed=set(), vectors=cache)
    >>> [(b, round(c, 3)) for b, c in syn.neighbors("paris")]
    [('paris city', 0.994)]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np

from memagents.graphmem.core.config import GraphConfig
from memagents.graphmem.core.normalize import alnum_count
from memagents.graphmem.core.vector_cache import VectorCache

__all__ = ["SynonymIndex"]

_MARGIN = 1e-4  # float32 screening slack; the worst-case GEMM error at d=384 is ~2e-5
_BLOCK_ELEMS = 1 << 24  # at most 16M similarities (64 MB) per GEMM block

Touch = Callable[[str, str], None]


class SynonymIndex:
    """Directed synonymy lists of phrases, maintained exactly under insert and delete."""

    __slots__ = ("_cap", "_incoming", "_min_alnum", "_out", "_threshold", "_weights")

    def __init__(self, config: GraphConfig) -> None:
        self._threshold = float(config.synonymy_threshold)
        self._cap = int(config.synonymy_max_neighbors)
        self._min_alnum = int(config.synonymy_min_alnum)
        self._out: dict[str, list[tuple[str, float]]] = {}
        self._incoming: dict[str, set[str]] = {}
        self._weights: dict[tuple[str, str], float] = {}

    def neighbors(self, phrase: str) -> list[tuple[str, float]]:
        """The synonyms of ``phrase`` with their cosines, nearest first."""
        return list(self._out.get(phrase, ()))

    def weight(self, a: str, b: str) -> float | None:
        """The directed synonymy weight ``a -> b``, or ``None``."""
        return self._weights.get((a, b))

    @property
    def directed(self) -> dict[tuple[str, str], float]:
        """All directed synonymy weights ``{(a, b): cos}`` (do not mutate)."""
        return self._weights

    def _eligible(self, phrase: str) -> bool:
        return self._cap > 0 and alnum_count(phrase) >= self._min_alnum

    def _set(self, a: str, new: list[tuple[str, float]], touch: Touch | None) -> None:
        old = self._out.get(a, [])
        if old == new:
            return
        old_map, new_map = dict(old), dict(new)
        for b, c in old:
            if new_map.get(b) != c:
                if touch is not None:
                    touch(a, b)
                if b not in new_map:
                    self._weights.pop((a, b), None)
                    self._incoming.get(b, set()).discard(a)
        for b, c in new:
            if old_map.get(b) != c:
                if touch is not None and b not in old_map:
                    touch(a, b)
                self._weights[(a, b)] = c
                self._incoming.setdefault(b, set()).add(a)
        if new:
            self._out[a] = new
        else:
            self._out.pop(a, None)

    def update(
        self,
        phrases: Sequence[str],
        *,
        added: set[str],
        removed: set[str],
        vectors: VectorCache,
        touch: Touch | None = None,
    ) -> None:
        """Bring the lists up to date after phrases were added and removed.

        Args:
            phrases: Every phrase currently in the graph (after the change).
            added: Phrases that are new in ``phrases``.
            removed: Phrases that left the graph.
            vectors: Cache holding a vector for every phrase of ``phrases``.
            touch: Called as ``touch(a, b)`` before the directed weight ``a -> b`` changes.
        """
        recompute: set[str] = set()
        for b in sorted(removed):
            self._set(b, [], touch)
            for a in sorted(self._incoming.pop(b, set())):
                if a in removed:
                    continue
                lst = self._out.get(a, [])
                if len(lst) >= self._cap:
                    recompute.add(a)
                self._set(a, [(x, c) for x, c in lst if x != b], touch)
        queries = sorted((added | recompute) - removed)
        if not queries or self._cap == 0:
            return
        pairs = self._pairs(queries, phrases, vectors)
        qset = set(queries)
        found: dict[str, list[tuple[str, float]]] = {}
        for a, b, c in pairs:
            found.setdefault(a, []).append((b, c))
            found.setdefault(b, []).append((a, c))
        for a in queries:
            if self._eligible(a):
                self._set(a, self._top(found.get(a, [])), touch)
        for a in sorted(found.keys() - qset):
            if not self._eligible(a):
                continue
            merged = dict(self._out.get(a, []))
            merged.update(found[a])
            self._set(a, self._top(merged.items()), touch)

    def _top(self, cands: Iterable[tuple[str, float]]) -> list[tuple[str, float]]:
        return sorted(cands, key=lambda bc: (-bc[1], bc[0]))[: self._cap]

    def _pairs(
        self, queries: list[str], phrases: Sequence[str], vectors: VectorCache
    ) -> list[tuple[str, str, float]]:
        """Unordered pairs ``(a, b, cos)`` with ``a`` in ``queries`` and ``cos >= threshold``."""
        qset = set(queries)
        order = queries + [p for p in phrases if p not in qset]
        mat = vectors.matrix(order)
        nq, n = len(queries), len(order)
        screen = np.float32(self._threshold - _MARGIN)
        qb = max(1, min(nq, 1024))
        rows_i: list[np.ndarray] = []
        rows_j: list[np.ndarray] = []
        for i0 in range(0, nq, qb):
            i1 = min(nq, i0 + qb)
            kb = max(qb, _BLOCK_ELEMS // (i1 - i0))
            for k0 in range(i0, n, kb):  # keys before i0 were paired when they were queries
                k1 = min(n, k0 + kb)
                sims = mat[i0:i1] @ mat[k0:k1].T
                ii, jj = np.nonzero(sims >= screen)
                ii, jj = ii + i0, jj + k0
                keep = jj > ii
                rows_i.append(ii[keep])
                rows_j.append(jj[keep])
        if not rows_i:
            return []
        ii = np.concatenate(rows_i)
        jj = np.concatenate(rows_j)
        if ii.size == 0:
            return []
        exact = _exact_cos(mat, ii, jj)
        ok = exact >= self._threshold
        return [
            (order[i], order[j], float(c))
            for i, j, c in zip(ii[ok].tolist(), jj[ok].tolist(), exact[ok].tolist())
        ]


def _exact_cos(mat: np.ndarray, ii: np.ndarray, jj: np.ndarray) -> np.ndarray:
    """Float64 dot products of row pairs, with a summation order fixed by the data alone."""
    out = np.empty(ii.size, dtype=np.float64)
    step = 8192
    for s in range(0, ii.size, step):
        a = mat[ii[s : s + step]].astype(np.float64)
        b = mat[jj[s : s + step]].astype(np.float64)
        out[s : s + step] = np.add.reduce(a * b, axis=1)
    return out
