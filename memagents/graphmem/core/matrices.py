"""Immutable search-time arrays derived from a :class:`~memagents.graphmem.core.graph.GraphIndex`.

Node order is canonical (phrases sorted, then passages sorted), so the matrices, and hence
search results, do not depend on the order in which passages were added.

Example:
    >>> import numpy as np
    >>> from memagents.graphmem.core.graph import GraphIndex
    >>> index = GraphIndex(embed=lambda t: np.ones((len(t), 2), np.float32))
    >>> _ = index.add([("p1", "a b", [("a", "r", "b")]), ("p2", "b c", [("b", "r", "c")])])
    >>> m = index.matrices()
    >>> m.phrases, m.passages, m.adjacency.shape
    (('a', 'b', 'c'), ('p1', 'p2'), (5, 5))
    >>> m.adjacency.toarray()[0].tolist()  # a: fact edge to b (2 x 1 count), passage p1 (1)
    [0.0, 2.0, 0.0, 1.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from memagents.graphmem.core.config import PPRConfig
from memagents.graphmem.core.normalize import Triple, fact_text
from memagents.graphmem.core.ppr import PPRSolver
from memagents.graphmem.core.vector_cache import VectorCache

__all__ = ["GraphMatrices", "GraphSnapshot", "build_matrices"]


@dataclass(frozen=True, kw_only=True, slots=True)
class GraphSnapshot:
    """What the search arrays are built from: one version of a graph as plain values
    (:meth:`GraphIndex.snapshot() <memagents.graphmem.core.graph.GraphIndex.snapshot>`).

    Attributes:
        version: The graph version.
        phrases: Phrase nodes, sorted.
        passages: Passage ids, sorted.
        directed: Directed phrase-to-phrase weights (fact counts, synonymy overrides).
        facts: Distinct normalised facts, sorted.
        passage_texts: The text of each passage, in ``passages`` order.
        passage_phrases: The phrases of each passage, in ``passages`` order.
        phrase_passage_count: For each phrase, the number of passages mentioning it.
        parallel_edge_doubling: ``W[a,b] = w[a,b] + w[b,a]`` (else the larger direction).
        vectors: The vector cache holding every passage text and fact text.
    """

    version: int
    phrases: tuple[str, ...]
    passages: tuple[str, ...]
    directed: Mapping[tuple[str, str], float]
    facts: tuple[Triple, ...]
    passage_texts: tuple[str, ...]
    passage_phrases: tuple[frozenset[str], ...]
    phrase_passage_count: tuple[int, ...]
    parallel_edge_doubling: bool
    vectors: VectorCache


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


def build_matrices(graph: GraphSnapshot) -> GraphMatrices:
    """Build the search arrays of one graph version."""
    phrases, passages, directed, facts = graph.phrases, graph.passages, graph.directed, graph.facts
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
        if graph.parallel_edge_doubling:
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
    for j, passage_phrases in enumerate(graph.passage_phrases):
        for ph in passage_phrases:
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
    vec = graph.vectors
    pvec = vec.matrix(list(graph.passage_texts))
    fvec = vec.matrix([fact_text(t) for t in facts])
    subj = np.fromiter((node[s] for s, _, _ in facts), dtype=np.int64, count=len(facts))
    obj = np.fromiter((node[o] for _, _, o in facts), dtype=np.int64, count=len(facts))
    counts = np.fromiter(graph.phrase_passage_count, dtype=np.int64, count=n_ph)
    return GraphMatrices(
        version=graph.version,
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
