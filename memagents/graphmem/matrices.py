"""Immutable search-time arrays derived from a :class:`~memagents.graphmem.graph.GraphIndex`.

Node order is canonical (phrases sorted, then passages sorted), so the matrices, and hence
search results, do not depend on the order in which passages were added.

Example:
    >>> import numpy as np
    >>> from memagents.graphmem.graph import GraphIndex
    >>> index = GraphIndex(embed=lambda t: np.ones((len(t), 2), np.float32))
    >>> _ = index.add([("p1", "a b", [("a", "r", "b")]), ("p2", "b c", [("b", "r", "c")])])
    >>> m = index.matrices()
    >>> m.phrases, m.passages, m.adjacency.shape
    (('a', 'b', 'c'), ('p1', 'p2'), (5, 5))
    >>> m.adjacency.toarray()[0].tolist()  # a: fact edge to b (2 x 1 count), passage p1 (1)
    [0.0, 2.0, 0.0, 1.0, 0.0]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse

from memagents.graphmem.config import PPRConfig
from memagents.graphmem.normalize import Triple, fact_text
from memagents.graphmem.ppr import PPRSolver

if TYPE_CHECKING:
    from memagents.graphmem.graph import GraphIndex

__all__ = ["GraphMatrices", "build_matrices"]


@dataclass(frozen=True, kw_only=True, slots=True)
class GraphMatrices:
    """Arrays for one version of the graph.

    Attributes:
        version: The :attr:`GraphIndex.version` these arrays describe.
        phrases: Phrase nodes; node ``i`` for ``i < len(phrases)``.
        passages: Passage ids; node ``len(phrases) + j`` is ``passages[j]``.
        adjacency: Symmetric ``(n, n)`` CSR matrix of effective edge weights.
        passage_vectors: ``(len(passages), dim)`` float32, row ``j`` for ``passages[j]``.
        facts: Distinct normalised facts.
        fact_vectors: ``(len(facts), dim)`` float32.
        fact_subject: Node index of each fact's subject.
        fact_object: Node index of each fact's object.
        phrase_passage_count: For each phrase, the number of passages mentioning it.
    """

    version: int
    phrases: tuple[str, ...]
    passages: tuple[str, ...]
    adjacency: sparse.csr_array
    passage_vectors: np.ndarray
    facts: tuple[Triple, ...]
    fact_vectors: np.ndarray
    fact_subject: np.ndarray
    fact_object: np.ndarray
    phrase_passage_count: np.ndarray
    _solvers: dict[PPRConfig, PPRSolver] = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_nodes(self) -> int:
        """Number of graph nodes."""
        return len(self.phrases) + len(self.passages)

    def solver(self, config: PPRConfig) -> PPRSolver:
        """A PPR solver for this graph, built once per configuration and cached."""
        solver = self._solvers.get(config)
        if solver is None:
            solver = PPRSolver(self.adjacency, config, check_symmetric=False)
            self._solvers[config] = solver
        return solver


def build_matrices(index: GraphIndex) -> GraphMatrices:
    """Build the arrays of the index's current version."""
    phrases, passages, directed, facts = index._matrix_parts()
    n_ph = len(phrases)
    node = {p: i for i, p in enumerate(phrases)}
    n = n_ph + len(passages)
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    if directed:
        src = np.fromiter((node[a] for a, _ in directed), dtype=np.int64, count=len(directed))
        dst = np.fromiter((node[b] for _, b in directed), dtype=np.int64, count=len(directed))
        w = np.fromiter(directed.values(), dtype=np.float64, count=len(directed))
        if index.config.parallel_edge_doubling:
            # each directed entry becomes one undirected edge: W[a,b] = w[a,b] + w[b,a]
            rows += [src, dst]
            cols += [dst, src]
            vals += [w, w]
        else:
            # one undirected edge per pair, weighted by the larger stored direction
            best: dict[tuple[int, int], float] = {}
            for a, b, x in zip(src.tolist(), dst.tolist(), w.tolist()):
                key = (a, b) if a < b else (b, a)
                if x > best.get(key, 0.0):
                    best[key] = x
            keys = np.array(list(best), dtype=np.int64).reshape(-1, 2)
            bw = np.fromiter(best.values(), dtype=np.float64, count=len(best))
            rows += [keys[:, 0], keys[:, 1]]
            cols += [keys[:, 1], keys[:, 0]]
            vals += [bw, bw]
    pe_rows: list[int] = []
    pe_cols: list[int] = []
    for j, pid in enumerate(passages):
        for ph in index._passages[pid].phrases:
            pe_rows.append(n_ph + j)
            pe_cols.append(node[ph])
    if pe_rows:
        pr = np.asarray(pe_rows, dtype=np.int64)
        pc = np.asarray(pe_cols, dtype=np.int64)
        ones = np.ones(pr.size, dtype=np.float64)
        rows += [pr, pc]
        cols += [pc, pr]
        vals += [ones, ones]
    if rows:
        adj = sparse.coo_array(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
        ).tocsr()
        adj.sum_duplicates()
    else:
        adj = sparse.csr_array((n, n), dtype=np.float64)
    vec = index.vectors
    pvec = vec.matrix([index._passages[p].text for p in passages])
    fvec = vec.matrix([fact_text(t) for t in facts])
    subj = np.fromiter((node[s] for s, _, _ in facts), dtype=np.int64, count=len(facts))
    obj = np.fromiter((node[o] for _, _, o in facts), dtype=np.int64, count=len(facts))
    counts = np.fromiter(
        (len(index._phrase_passages[p]) for p in phrases), dtype=np.int64, count=n_ph
    )
    return GraphMatrices(
        version=index.version,
        phrases=tuple(phrases),
        passages=tuple(passages),
        adjacency=adj,
        passage_vectors=pvec,
        facts=tuple(facts),
        fact_vectors=fvec,
        fact_subject=subj,
        fact_object=obj,
        phrase_passage_count=counts,
    )
