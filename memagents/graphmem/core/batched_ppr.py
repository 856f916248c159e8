"""Personalized PageRank for many reset vectors at once: one sparse pass per step serves all.

A server answering many users runs many searches at once. Each search's PageRank is a few
sparse matrix-vector products over the same graph; :func:`solve_block` does them for a block
of ``b`` reset vectors together (multi-right-hand-side PPR): the iterates are ``(n, b)``
row-major blocks, each step computes ``d M @ block`` in one pass over the matrix (scipy's
``csr_matvecs``: every stored edge reads the ``b`` entries of its source row, which sit side by
side in memory), and the vector updates of the solver's method (Chebyshev or power, as
:class:`~memagents.graphmem.core.config.PPRConfig` says) run on the block, row chunk by row
chunk right after the chunk's product, so the chunk is still in cache.

Same results, bit for bit. The rows are split between threads exactly as the single-vector
solver splits them, the product adds each row's terms in the same order with the same float
operations (``csr_matvec`` and ``csr_matvecs`` share their arithmetic), the Chebyshev
coefficients depend only on the step number, and every column is cleaned, cast, stopped and
normalised exactly as :meth:`PPRSolver.solve
<memagents.graphmem.core.ppr.PPRSolver.solve>` does it. Only the stopping test sums in
another order; whenever a column's residual lies within ``1e-7`` (relative) of the tolerance
it is summed again the single solver's way, so every column stops at the same step as alone.
Rankings are therefore identical, ties included (they are broken by the callers' explicit
rules on identical numbers).

Per-column convergence: after each checked step the columns that met the tolerance are taken
out (their result is final) and the block is compacted to the columns still running, so a
converged column costs nothing more.

Example:
    >>> import numpy as np
    >>> from scipy import sparse
    >>> from memagents.graphmem.core.batched_ppr import solve_block
    >>> from memagents.graphmem.core.ppr import PPRSolver
    >>> path = sparse.csr_array(np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=float))
    >>> solver = PPRSolver(path)
    >>> resets = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]])
    >>> probs, iterations = solve_block(solver, resets)
    >>> probs.round(4).T.tolist()
    [[0.5833, 0.3333, 0.0833], [0.0833, 0.3333, 0.5833]]
    >>> bool((probs[:, 0] == solver.run(resets[:, 0])).all())
    True
"""

from __future__ import annotations

import itertools
import os
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import sparse

from memagents.errors import InputError
from memagents.graphmem.core.ppr import _THREAD_MIN_NNZ, _pool, clean_reset

if TYPE_CHECKING:
    from memagents.graphmem.core.ppr import PPRSolver

try:  # Y += A @ X for a row-major block, without allocation
    from scipy.sparse._sparsetools import csr_matvecs as _csr_matvecs
except ImportError:  # pragma: no cover - private scipy module moved
    _csr_matvecs = None

__all__ = ["CACHE_BYTES", "MAX_COLUMNS", "block_width", "solve_block"]

MAX_COLUMNS = 32
"""Columns solved in one block; larger batches run as several blocks. Beyond ~32 columns a
block row outgrows a few cache lines and the gain per column stops growing, while the four
``(n, b)`` float32 iterates keep growing (512 MB at 1M nodes and 32 columns)."""

CACHE_BYTES = 8 << 20
"""Block iterates beyond this size (four ``(n, b)`` arrays) spill from the last-level cache,
and then a block step costs more per column than single-vector steps whose vectors stay
cached (measured on this 2-core, 32 MB-L3 machine: 1M nodes, 32 columns: 1.6x slower per
query; 50k nodes, 8-16 columns: 1.3x faster). Larger graphs are solved column by column."""

_CHUNK_ELEMENTS = 1 << 16  # rows per chunk x columns: 256 KB per float32 array stays in cache
_EXACT_BAND = 1e-7  # re-sum a residual the single solver's way when this close to tol

_CHUNKS: weakref.WeakKeyDictionary[Any, dict[tuple[int, int], list[list[_Chunk]]]] = (
    weakref.WeakKeyDictionary()
)


class _Chunk:
    """Rows ``lo:hi`` of ``d * M`` with their own row pointers."""

    __slots__ = ("data", "hi", "indices", "indptr", "lo")

    def __init__(self, lo: int, hi: int, indptr: np.ndarray, indices: Any, data: Any) -> None:
        self.lo, self.hi = lo, hi
        self.indptr, self.indices, self.data = indptr, indices, data

    def accumulate(self, n: int, x: np.ndarray, out: np.ndarray) -> None:
        """``out += self @ x`` for a C-contiguous ``x`` ``(n, b)``; ``out`` holds the rows."""
        rows, b = self.hi - self.lo, x.shape[1]
        assert x.flags.c_contiguous and out.flags.c_contiguous, "row-major blocks only"
        if _csr_matvecs is None:  # pragma: no cover
            m = sparse.csr_array((self.data, self.indices, self.indptr), shape=(rows, n))
            out += m @ x
        else:
            _csr_matvecs(
                rows, n, b, self.indptr, self.indices, self.data, x.ravel(), out.reshape(-1)
            )


def _chunks(solver: PPRSolver, rows_per: int, width: int) -> list[list[_Chunk]]:
    """The matrix in chunks of ``rows_per`` rows, one list per thread (cached). Threads as
    the solver has; a single-threaded solver's batch gets the CPU count (at most 4) once
    the block's step is worth it (``nnz * width`` over the solver's threading threshold)."""
    threads = solver.threads
    if threads == 1 and not solver.config.threads and solver.nnz * width >= _THREAD_MIN_NNZ:
        threads = max(1, min(os.cpu_count() or 1, 4))
    per_solver = _CHUNKS.setdefault(solver, {})
    key = (rows_per, threads)
    if key not in per_solver:
        chunks = []
        for blk in solver._blocks:
            for lo in range(0, blk.rows, rows_per):
                hi = min(lo + rows_per, blk.rows)
                s, e = int(blk.indptr[lo]), int(blk.indptr[hi])
                ptr = (blk.indptr[lo : hi + 1] - s).astype(blk.indptr.dtype)
                chunks.append(
                    _Chunk(blk.lo + lo, blk.lo + hi, ptr, blk.indices[s:e], blk.data[s:e])
                )
        # contiguous runs of chunks with about equal stored edges, one per thread
        ends = np.cumsum([len(c.data) for c in chunks])
        cuts = np.searchsorted(ends, np.linspace(0, ends[-1], threads + 1)[1:-1]).tolist()
        bounds = [0, *cuts, len(chunks)]
        per_solver[key] = [chunks[a:b] for a, b in itertools.pairwise(bounds) if b > a]
    return per_solver[key]


def block_width(solver: PPRSolver, max_columns: int = MAX_COLUMNS) -> int:
    """Columns per block for this graph: as many as keep the four block iterates within
    ``CACHE_BYTES`` (at most ``max_columns``). 1 means one column at a time."""
    per_column = 4 * solver.n * np.dtype(solver.config.dtype).itemsize
    return int(max(1, min(max_columns, CACHE_BYTES // max(per_column, 1))))


def solve_block(
    solver: PPRSolver,
    resets: np.ndarray | Sequence[np.ndarray],
    *,
    rows: slice | np.ndarray | None = None,
    max_columns: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """PageRank probabilities for many reset vectors, solved together.

    Args:
        solver: The graph's solver (its matrix, thread split, method and tolerance).
        resets: An ``(n, b)`` array with one reset vector per column (a 1-D vector is one
            column), or a sequence of ``b`` vectors of length ``n``; each is cleaned like
            :func:`~memagents.graphmem.core.ppr.clean_reset`.
        rows: Output rows to keep (e.g. the passage nodes); default all ``n``.
        max_columns: Columns per block; larger batches run block after block. Default:
            :func:`block_width` (as many as stay in cache, at most ``MAX_COLUMNS``; one at a
            time for graphs too large for that).

    Returns:
        ``(probabilities, iterations)``: ``(len(rows), b)`` float64, column ``j`` equal to
        ``solver.solve(resets[:, j])[0][rows]``; the steps each column took.

    Raises:
        InputError: A reset has the wrong shape or no positive mass (its column is named).
    """
    columns = _columns(resets, solver.n)
    if max_columns is None:
        max_columns = block_width(solver)
    if max_columns < 1:
        raise InputError("max_columns must be >= 1.")
    b = len(columns)
    keep = np.arange(solver.n)[rows] if rows is not None else None
    out = np.empty((solver.n if keep is None else keep.size, b), dtype=np.float64)
    iterations = np.zeros(b, dtype=np.int64)

    def emit(j: int, probs: np.ndarray, its: int) -> None:
        out[:, j] = probs if keep is None else probs[keep]
        iterations[j] = its

    for start in range(0, b, max_columns):
        group = list(range(start, min(start + max_columns, b)))
        cleaned = [_clean(columns[j], solver.n, j) for j in group]
        if len(group) == 1 or solver.config.damping == 0.0 or solver.nnz == 0:
            for j, r in zip(group, cleaned):  # the single-vector kernel is faster for one
                probs, its = solver._solve(r)
                emit(j, probs, its)
            continue
        block = np.empty((solver.n, len(group)), dtype=solver.config.dtype)
        for c, r in enumerate(cleaned):
            block[:, c] = solver._to_solver_order(r)
        del cleaned
        method = _power if solver.config.method == "power" else _chebyshev
        for c, z, its in method(solver, block):
            emit(group[c], solver._probabilities(z), its)
    return out, iterations


def _columns(resets: np.ndarray | Sequence[np.ndarray], n: int) -> list[np.ndarray]:
    """The reset vectors as a list of 1-D arrays (views, not copies)."""
    if isinstance(resets, np.ndarray):
        if resets.ndim == 1:
            return [resets]
        if resets.ndim == 2 and resets.shape[0] == n:
            return [resets[:, j] for j in range(resets.shape[1])]
        raise InputError(f"resets must have shape ({n}, b); got {resets.shape}.")
    return [np.asarray(r) for r in resets]


def _clean(reset: np.ndarray, n: int, j: int) -> np.ndarray:
    if reset.ndim != 1:
        raise InputError(f"reset column {j} must be a vector of length {n}; got {reset.shape}.")
    try:
        return clean_reset(reset, n)
    except InputError as exc:
        raise InputError(f"reset column {j}: {exc}") from None


def _compact(a: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """The kept columns as a new C-contiguous block (the kernel needs row-major blocks;
    fancy indexing on axis 1 may return another layout)."""
    return np.ascontiguousarray(a[:, keep])


def _run(fn: Any, blocks: list[list[_Chunk]]) -> list[Any]:
    """``fn(chunks)`` for every thread block (in threads when several), results in order."""
    if len(blocks) == 1:
        return [fn(blocks[0])]
    return list(_pool().map(fn, blocks))


def _converged(
    solver: PPRSolver, partials: list[np.ndarray], exact: Any
) -> np.ndarray:
    """Which columns met the tolerance. ``partials`` are per-block column sums; a column
    within the band around ``tol`` is decided by ``exact(column)``, the single solver's sum."""
    tol = solver.config.tol
    approx = partials[0].copy()
    for p in partials[1:]:
        approx += p
    done = approx < tol
    for c in np.flatnonzero(np.abs(approx - tol) <= _EXACT_BAND * tol).tolist():
        done[c] = exact(c) < tol
    return done


def _single_sum(solver: PPRSolver, column: Any) -> float:
    """Sum of ``column(lo, hi)`` (a float32 vector) over the thread blocks, as the
    single-vector solver adds its per-block residuals."""
    parts = [float(column(b.lo, b.hi).sum(dtype=np.float64)) for b in solver._blocks]
    return float(sum(parts)) if len(parts) > 1 else parts[0]


class _Iteration:
    """The block iterates of one solve, compacted as columns finish."""

    def __init__(self, solver: PPRSolver, r: np.ndarray, names: tuple[str, ...]) -> None:
        self.solver, self.n = solver, solver.n
        self.rows_per = max(64, _CHUNK_ELEMENTS // r.shape[1])
        self.blocks = _chunks(solver, self.rows_per, r.shape[1])
        self.names = names  # the arrays that hold live columns
        self.active = np.arange(r.shape[1])
        self.finished: list[tuple[int, np.ndarray, int]] = []
        self.arrays: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    def scratch(self) -> np.ndarray:
        """A chunk-sized temporary (one per thread and step: it stays in cache)."""
        width = len(self.active)
        return np.empty((self.rows_per, width), dtype=self.solver.config.dtype)

    def finish(self, done: np.ndarray, result: str, it: int) -> bool:
        """Take the ``done`` columns of ``result`` out; True when none is left."""
        z = self.arrays[result]
        for c in np.flatnonzero(done).tolist():
            self.finished.append((int(self.active[c]), np.ascontiguousarray(z[:, c]), it))
        if done.all():
            return True
        left = ~done
        self.active = self.active[left]
        for name in self.names:
            self.arrays[name] = _compact(self.arrays[name], left)
        return False

    def rest(self, result: str, it: int) -> list[tuple[int, np.ndarray, int]]:
        """The finished columns plus those still running (stopped at ``max_iter``)."""
        z = self.arrays[result]
        return self.finished + [
            (int(a), np.ascontiguousarray(z[:, c]), it) for c, a in enumerate(self.active)
        ]


def _chebyshev(solver: PPRSolver, r: np.ndarray) -> list[tuple[int, np.ndarray, int]]:
    """Chebyshev semi-iteration on a block; the steps of ``PPRSolver._chebyshev``."""
    n, d = solver.n, float(solver.config.damping)
    dt = r.dtype.type
    sigma = 1.0 / d
    state = _Iteration(solver, r, ("x", "res", "cur"))
    a = state.arrays
    a["x"], a["res"], a["cur"], a["nxt"] = np.zeros_like(r), r.copy(), r.copy(), np.empty_like(r)
    first = solver._first_check(sigma - np.sqrt(sigma * sigma - 1.0))
    coef = [1.0 / sigma, 0.0, 0.0]

    def step(chunks: list[_Chunk], check: bool, c1: Any, c2: Any) -> Any:
        x, res, cur, nxt = a["x"], a["res"], a["cur"], a["nxt"]
        tmp = state.scratch()
        total = np.zeros(cur.shape[1]) if check else None
        for ch in chunks:
            lo, hi = ch.lo, ch.hi
            rs, cs, ns, ts = res[lo:hi], cur[lo:hi], nxt[lo:hi], tmp[: hi - lo]
            ch.accumulate(n, cur, rs)  # res_{k+1} = res_k - (I - d M) d_k
            rs -= cs
            x[lo:hi] += cs
            np.multiply(cs, c1, out=ns)  # d_{k+1} = rho' rho d_k + 2 rho'/d res
            np.multiply(rs, c2, out=ts)
            ns += ts
            if total is not None:
                np.abs(rs, out=ts)
                total += ts.sum(axis=0, dtype=np.float64)
        return total

    def exact(c: int) -> float:
        return _single_sum(solver, lambda lo, hi: np.abs(a["res"][lo:hi, c]))

    it = 0
    for it in range(1, solver.config.max_iter + 1):
        rho_next = 1.0 / (2.0 * sigma - coef[0])
        coef[1], coef[2] = rho_next * coef[0], 2.0 * rho_next / d
        check = it >= first
        c1, c2 = dt(coef[1]), dt(coef[2])
        partials = _run(lambda ch: step(ch, check, c1, c2), state.blocks)  # noqa: B023
        coef[0] = rho_next
        a["cur"], a["nxt"] = a["nxt"], a["cur"]
        if not check:
            continue
        done = _converged(solver, partials, exact)
        if done.any():
            if state.finish(done, "x", it):
                return state.finished
            a["nxt"] = np.empty_like(a["cur"])
    return state.rest("x", it)


def _power(solver: PPRSolver, r: np.ndarray) -> list[tuple[int, np.ndarray, int]]:
    """Power iteration on a block; the steps of ``PPRSolver._power``."""
    n = solver.n
    state = _Iteration(solver, r, ("z", "r"))
    a = state.arrays
    a["z"], a["nxt"], a["r"] = r.copy(), np.empty_like(r), r
    first = solver._first_check(solver.config.damping)

    def step(chunks: list[_Chunk], check: bool) -> Any:
        z, nxt, reset = a["z"], a["nxt"], a["r"]
        tmp = state.scratch()
        total = np.zeros(z.shape[1]) if check else None
        for ch in chunks:
            lo, hi = ch.lo, ch.hi
            ns = nxt[lo:hi]
            ns[...] = reset[lo:hi]
            ch.accumulate(n, z, ns)  # z_{k+1} = r + d M z_k
            if total is not None:
                diff = np.subtract(ns, z[lo:hi], out=tmp[: hi - lo])
                total += np.abs(diff, out=diff).sum(axis=0, dtype=np.float64)
        return total

    def exact(c: int) -> float:
        return _single_sum(
            solver, lambda lo, hi: np.abs(np.subtract(a["nxt"][lo:hi, c], a["z"][lo:hi, c]))
        )

    it = 0
    for it in range(1, solver.config.max_iter + 1):
        check = it >= first
        partials = _run(lambda ch: step(ch, check), state.blocks)  # noqa: B023
        done = _converged(solver, partials, exact) if check else None
        a["z"], a["nxt"] = a["nxt"], a["z"]
        if done is not None and done.any():
            if state.finish(done, "z", it):
                return state.finished
            a["nxt"] = np.empty_like(a["z"])
    return state.rest("z", it)
