"""Entities, relations and passages of one graph version, ranked by cosine: the arrays behind
graph memory's :class:`~memagents.base.KnowledgeIndex` methods.

A :class:`KnowledgeView` is built once per graph version from the public API of a
:class:`~memagents.graphmem.core.graph.GraphIndex` (its search matrices and its passages'
facts) and never changes afterwards, so it can be read without the graph's lock. Like the rest
of the core it opens no file and calls no model: a query comes in as a vector.

* entities are the phrase nodes (sorted); an entity's sources are the passages whose facts
  mention it;
* relations are the distinct normalised facts (sorted), with the passages they come from;
* neighbours follow fact edges (``subject - object`` of a fact), and synonymy edges too on
  request;
* every ranking is by cosine with the query, best first, ties by name (or id): rows are in
  sorted order, so ties go to the lower row.

Example:
    >>> import numpy as np
    >>> from memagents.graphmem.core.graph import GraphIndex
    >>> table = {"rome": [1, 0, 0], "italy": [0, 1, 0]}
    >>> def embed(texts):  # the first word in the table, else [0, 0, 1]
    ...     def vec(t):
    ...         return next((table[w] for w in t.lower().split() if w in table), [0, 0, 1])
    ...     return np.array([vec(t) for t in texts], np.float32)
    >>> index = GraphIndex(embed=embed)
    >>> _ = index.add([("p1", "Rome is in Italy.", [("Rome", "in", "Italy")]),
    ...                ("p2", "Italy is in Europe.", [("Italy", "in", "Europe")])])
    >>> view = KnowledgeView.build(index)
    >>> [(view.phrases[i], round(s, 2)) for i, s in view.search_entities(embed(["italy"])[0], 2)]
    [('italy', 1.0), ('europe', 0.0)]
    >>> [view.phrases[i] for i in view.neighbours(view.rows(["rome"]), hops=2)]
    ['europe', 'italy']
    >>> view.entity_sources(view.rows(["italy"])[0]), view.description(view.rows(["rome"])[0])
    (('p1', 'p2'), 'rome in italy')
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from memagents.graphmem.core.graph import GraphIndex
from memagents.graphmem.core.normalize import Triple, normalize_phrase

__all__ = ["DESCRIPTION_FACTS", "KnowledgeView"]

DESCRIPTION_FACTS = 3
"""At most this many facts make an entity's description (the most attested first)."""

_vecdot = getattr(np, "vecdot", None)  # numpy >= 2.0


def _incidence(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sparse.csr_array:
    """A 0/1 CSR matrix with a one at each ``(rows[i], cols[i])`` (duplicates merged), its
    column indices sorted within each row."""
    ones = np.ones(rows.size, dtype=np.int32)
    mat = sparse.coo_array((ones, (rows, cols)), shape=shape).tocsr()
    mat.sum_duplicates()
    mat.sort_indices()
    mat.data[:] = 1
    return mat


def _row(mat: sparse.csr_array, i: int) -> np.ndarray:
    """The column indices of row ``i`` (sorted)."""
    indices: np.ndarray = mat.indices[mat.indptr[i] : mat.indptr[i + 1]]
    return indices


def _cosines(mat: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Cosine of each row of ``mat`` (L2-normalised rows) with ``query``, as float64."""
    q = np.asarray(query, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(q))
    if norm > 0:
        q = q / norm
    if mat.shape[0] == 0:
        return np.zeros(0)
    if mat.shape[1] != q.size:
        raise ValueError(f"the query has {q.size} dimensions, the index {mat.shape[1]}.")
    out = _vecdot(mat, q) if _vecdot is not None else np.einsum("ij,j->i", mat, q)
    return np.clip(np.asarray(out, dtype=np.float64), -1.0, 1.0)  # float32 rounding


def _top(scores: np.ndarray, rows: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The ``k`` best ``(row, score)`` pairs, best first, ties by ascending row.

    ``scores[i]`` belongs to ``rows[i]``. Only the values at or above the ``k``-th best are
    sorted, so a search over 30k rows sorts a handful.
    """
    if k <= 0 or scores.size == 0:
        return []
    if k < scores.size:
        kth = np.partition(scores, scores.size - k)[scores.size - k]
        cand = np.flatnonzero(scores >= kth)
    else:
        cand = np.arange(scores.size)
    best = cand[np.lexsort((rows[cand], -scores[cand]))][:k]
    return [(int(rows[i]), float(scores[i])) for i in best.tolist()]


@dataclass(frozen=True, kw_only=True, slots=True)
class KnowledgeView:
    """Entities (phrases), relations (facts) and passages of one graph version.

    Row ``i`` of ``phrases`` / ``facts`` / ``passages`` is row ``i`` of the matching vector
    matrix and incidence; all three are sorted. Build it with :meth:`build`.

    Attributes:
        version: The graph version it describes.
        phrases: Entity names (normalised phrases), sorted.
        facts: Distinct normalised facts, sorted.
        passages: Passage ids, sorted.
        phrase_vectors: ``(len(phrases), dim)`` float32, L2-normalised rows.
        fact_vectors: ``(len(facts), dim)`` float32.
        passage_vectors: ``(len(passages), dim)`` float32.
        phrase_passages: 0/1 CSR ``(phrases, passages)``: the passages whose facts mention it.
        fact_passages: 0/1 CSR ``(facts, passages)``: the passages a fact comes from.
        phrase_facts: 0/1 CSR ``(phrases, facts)``: the facts a phrase is subject or object of.
        fact_graph: 0/1 symmetric CSR ``(phrases, phrases)``: fact edges.
        phrase_graph: 0/1 symmetric CSR ``(phrases, phrases)``: fact and synonymy edges.
    """

    version: int
    phrases: tuple[str, ...]
    facts: tuple[Triple, ...]
    passages: tuple[str, ...]
    phrase_vectors: np.ndarray
    fact_vectors: np.ndarray
    passage_vectors: np.ndarray
    phrase_passages: sparse.csr_array
    fact_passages: sparse.csr_array
    phrase_facts: sparse.csr_array
    fact_graph: sparse.csr_array
    phrase_graph: sparse.csr_array
    _phrase_row: dict[str, int] = field(repr=False, compare=False)
    _passage_row: dict[str, int] = field(repr=False, compare=False)

    @classmethod
    def build(cls, index: GraphIndex) -> KnowledgeView:
        """The view of ``index`` as it is now (call it under the lock that guards ``index``;
        the view shares no mutable state with it)."""
        m = index.matrices()
        phrases, facts, passages = m.phrases, m.facts, m.passages
        n_ph, n_f, n_p = len(phrases), len(facts), len(passages)
        phrase_row = {p: i for i, p in enumerate(phrases)}
        fact_row = {f: i for i, f in enumerate(facts)}
        f_rows: list[int] = []
        f_cols: list[int] = []
        for j, pid in enumerate(passages):
            for fact in index.passage_facts(pid):
                f_rows.append(fact_row[fact])
                f_cols.append(j)
        fr = np.asarray(f_rows, dtype=np.int64)
        fc = np.asarray(f_cols, dtype=np.int64)
        subj, obj = m.fact_subject, m.fact_object  # phrase rows: phrases are nodes 0..n_ph-1
        # a passage mentions a phrase when one of its facts has it as subject or object
        ph_rows = np.concatenate([subj[fr], obj[fr]]) if fr.size else fr
        ph_cols = np.concatenate([fc, fc]) if fc.size else fc
        links = subj != obj
        s, o = subj[links], obj[links]
        fact_ids = np.arange(n_f, dtype=np.int64)
        block = m.adjacency[:n_ph, :n_ph].tocoo()
        return cls(
            version=m.version,
            phrases=phrases,
            facts=facts,
            passages=passages,
            phrase_vectors=index.vectors.matrix(list(phrases)),
            fact_vectors=m.fact_vectors,
            passage_vectors=m.passage_vectors,
            phrase_passages=_incidence(ph_rows, ph_cols, (n_ph, n_p)),
            fact_passages=_incidence(fr, fc, (n_f, n_p)),
            phrase_facts=_incidence(
                np.concatenate([subj, obj]), np.concatenate([fact_ids, fact_ids]), (n_ph, n_f)
            ),
            fact_graph=_incidence(np.concatenate([s, o]), np.concatenate([o, s]), (n_ph, n_ph)),
            phrase_graph=_incidence(
                np.asarray(block.row, np.int64), np.asarray(block.col, np.int64), (n_ph, n_ph)
            ),
            _phrase_row=phrase_row,
            _passage_row={p: j for j, p in enumerate(passages)},
        )

    # ------------------------------------------------------------------ names
    def rows(self, names: Iterable[str]) -> list[int]:
        """Rows of the known entities among ``names``, normalised like phrases
        (``"Ada Korvin"`` finds ``"ada korvin"``), in the order given, each once."""
        out: dict[int, None] = {}
        for name in names:
            row = self._phrase_row.get(normalize_phrase(name))
            if row is not None:
                out[row] = None
        return list(out)

    def passage_rows(self, ids: Iterable[str]) -> list[int]:
        """Rows of the known passages among ``ids``, in the order given, each once."""
        return list(dict.fromkeys(j for j in map(self._passage_row.get, ids) if j is not None))

    # -------------------------------------------------------------- rankings
    def search_entities(
        self,
        query: np.ndarray,
        k: int,
        *,
        within: Sequence[int] | None = None,
        exclude: Sequence[int] = (),
    ) -> list[tuple[int, float]]:
        """The ``k`` entity rows most similar to ``query`` as ``(row, cosine)``, best first;
        only rows in ``within`` when given, never rows in ``exclude``."""
        return self._search(self.phrase_vectors, query, k, within, exclude)

    def search_facts(
        self, query: np.ndarray, k: int, *, entities: Sequence[int] | None = None
    ) -> list[tuple[int, float]]:
        """The ``k`` fact rows most similar to ``query``; only facts whose subject or object
        is among the ``entities`` rows when given."""
        within = None
        if entities is not None:
            rows = np.asarray(list(entities), dtype=np.int64)
            within = np.unique(self.phrase_facts[rows].indices) if rows.size else rows
        return self._search(self.fact_vectors, query, k, within, ())

    def search_passages(
        self, query: np.ndarray, k: int, *, within: Sequence[int] | None = None
    ) -> list[tuple[int, float]]:
        """The ``k`` passage rows most similar to ``query``; only rows in ``within`` when
        given."""
        return self._search(self.passage_vectors, query, k, within, ())

    @staticmethod
    def _search(
        mat: np.ndarray,
        query: np.ndarray,
        k: int,
        within: Sequence[int] | np.ndarray | None,
        exclude: Sequence[int],
    ) -> list[tuple[int, float]]:
        if within is None:
            rows = np.arange(mat.shape[0], dtype=np.int64)
            scores = _cosines(mat, query)
        else:
            rows = np.unique(np.asarray(within, dtype=np.int64))
            scores = _cosines(mat[rows], query)
        if len(exclude):
            keep = ~np.isin(rows, np.asarray(exclude, dtype=np.int64))
            rows, scores = rows[keep], scores[keep]
        return _top(scores, rows, k)

    # ----------------------------------------------------------------- graph
    def neighbours(self, rows: Sequence[int], hops: int = 1, *, synonyms: bool = False) -> list[int]:
        """Entity rows within ``hops`` edges of ``rows`` (``rows`` excluded), ascending:
        breadth-first over fact edges, and synonymy edges too when ``synonyms``."""
        graph = self.phrase_graph if synonyms else self.fact_graph
        seen = np.zeros(len(self.phrases), dtype=bool)
        frontier = np.unique(np.asarray(list(rows), dtype=np.int64))
        seen[frontier] = True
        for _ in range(hops):
            if frontier.size == 0:
                break
            reached = np.unique(graph[frontier].indices)
            frontier = reached[~seen[reached]]
            seen[frontier] = True
        seen[np.asarray(list(rows), dtype=np.int64)] = False
        return np.flatnonzero(seen).tolist()

    # ------------------------------------------------------------ what's known
    def entity_sources(self, row: int) -> tuple[str, ...]:
        """Ids of the passages whose facts mention the entity, sorted."""
        return tuple(self.passages[j] for j in _row(self.phrase_passages, row).tolist())

    def fact_sources(self, row: int) -> tuple[str, ...]:
        """Ids of the passages a fact was extracted from, sorted."""
        return tuple(self.passages[j] for j in _row(self.fact_passages, row).tolist())

    def description(self, row: int, limit: int = DESCRIPTION_FACTS) -> str:
        """The entity's facts as text, ``"; "``-joined: at most ``limit``, the ones found in
        the most passages first (ties: fact order); ``""`` when it has none."""
        facts = _row(self.phrase_facts, row)
        if facts.size == 0 or limit <= 0:
            return ""
        support = np.diff(self.fact_passages.indptr)[facts]
        best = facts[np.lexsort((facts, -support))][:limit]
        return "; ".join(" ".join(self.facts[f]) for f in best.tolist())
