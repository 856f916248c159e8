"""Question to ranked passages: fact linking, seed phrases, Personalized PageRank, reranking.

The steps of HippoRAG 2's ``retrieve`` (``docs/methods/hipporag2.md`` §2.3), deterministic:

1. Encode the question: once when both instructions of the
   :class:`~memagents.graphmem.core.config.SearchConfig` are equal (both presets), else twice.
2. Link it to facts: ``s = minmax(F . q_fact)`` over every fact; keep the top
   ``linking_top_k`` (ties: fact order, i.e. sorted facts).
3. Optionally let a recognition filter (``fact_filter(question, facts) -> kept``, e.g. an LLM)
   drop facts. With no fact left the answer is plain dense retrieval.
4. Seed phrases: each subject and object of a kept fact contributes
   ``s(fact) / |passages(phrase)|``; a phrase's weight is the mean of its contributions; the
   top ``seed_phrase_top_k`` stay (ties: first appearance in the ranked facts, as official).
5. Seed passages: ``passage_node_weight * minmax(P . q_passage)``.
6. Run PPR from phrase plus passage seeds; the passage probabilities are the graph scores.
7. Rank by the PPR probability; with ``rerank_window = n`` the top ``n`` are then ordered by
   their dense cosine.

A search is two halves: :meth:`GraphSearcher.link` (steps 1-2: question to candidate facts
and passage cosines, no PageRank) and :meth:`GraphSearcher.rank` (steps 4-7 from the facts a
filter kept: exactly one PPR). A recognition filter runs between them, so a filtered search
ranks the graph once, as an unfiltered one does. :meth:`GraphSearcher.query_texts` is the one
place where query instructions are prefixed.

Several questions can be searched at once (:meth:`GraphSearcher.search_many`): one encode call
for all; cosines, seeds and the PPR are then computed per question with the same kernels as a
single search (:meth:`GraphSearcher.search` is ``search_many`` of one), so a question gets the
same scores and ranking alone or in a batch. Every ranking breaks ties explicitly: facts,
passages and PPR by score, then id (facts and passages are indexed in sorted order); seed
phrases by weight, then first appearance in the ranked facts (the official rule).

Example:
    >>> import numpy as np
    >>> from memagents.graphmem.core.graph import GraphIndex
    >>> from memagents.graphmem.core.search import GraphSearcher
    >>> table = {"who": [1, 0, 0], "x": [1, 0, 0], "y": [0, 1, 0]}
    >>> def embed(texts):  # vector of the first word found in the table, else [0, 0, 1]
    ...     def vec(t):
    ...         words = [w.strip("'(),.?") for w in t.lower().split()]
    ...         return next((table[w] for w in words if w in table), [0, 0, 1])
    ...     return np.array([vec(t) for t in texts], np.float32)
    >>> index = GraphIndex(embed=embed)
    >>> _ = index.add([("p1", "x is near y", [("x", "near", "y")]), ("p2", "z", [("z", "is", "w")])])
    >>> result = GraphSearcher(index, "hipporag2").search("Who is near?", k=2)
    >>> [(h.rank, h.passage_id) for h in result.hits]
    [(1, 'p1'), (2, 'p2')]
    >>> result.explanation.kept_facts[0].triple
    ('x', 'near', 'y')
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from memagents.errors import InputError
from memagents.graphmem.core.config import Preset, get_preset
from memagents.graphmem.core.graph import GraphIndex
from memagents.graphmem.core.matrices import GraphMatrices
from memagents.graphmem.core.normalize import Triple, normalize_triple
from memagents.graphmem.core.ppr import PPRSolver

_vecdot = getattr(np, "vecdot", None)  # numpy >= 2.0

__all__ = [
    "Explanation",
    "FactFilter",
    "GraphSearcher",
    "Hit",
    "LinkedFact",
    "Linking",
    "RankPlan",
    "SearchResult",
    "SeedPhrase",
    "minmax",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class Hit:
    """One ranked passage.

    ``dense_score`` is the raw cosine with the question and ``ppr_score`` the PPR probability.
    ``score`` is what the hit was ranked by: the PPR probability (the first ``rerank_window``
    hits are then ordered by ``dense_score``), or the min-max dense score when the search
    fell back to dense retrieval.
    """

    passage_id: str
    score: float
    dense_score: float
    ppr_score: float
    rank: int


@dataclass(frozen=True, kw_only=True, slots=True)
class LinkedFact:
    """A fact linked to the question: min-max ``score`` over all facts and raw ``cosine``."""

    triple: Triple
    score: float
    cosine: float


@dataclass(frozen=True, kw_only=True, slots=True)
class SeedPhrase:
    """A PPR seed phrase, its reset weight (before normalisation) and its passage count."""

    phrase: str
    weight: float
    passages: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Explanation:
    """Why the ranking is what it is."""

    preset: str
    candidate_facts: tuple[LinkedFact, ...] = ()
    kept_facts: tuple[LinkedFact, ...] = ()
    filter_ran: bool = False
    seed_phrases: tuple[SeedPhrase, ...] = ()
    used_graph: bool = False
    fallback_reason: str | None = None
    query_encodes: int = 0
    ppr_iterations: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class Linking:
    """A question linked to one version of the graph: the first half of a search.

    Attributes:
        question: The question.
        matrices: The graph snapshot it was linked against (``None``: the index was empty).
        dense: Raw cosine of the question with each passage (``matrices.passages`` order).
        linked: The top ``linking_top_k`` facts as ``(fact index, LinkedFact)``, best first.
        query_encodes: Embedding rows computed for the question (0 with given vectors).
    """

    question: str
    matrices: GraphMatrices | None
    dense: np.ndarray = field(default_factory=lambda: np.zeros(0))
    linked: tuple[tuple[int, LinkedFact], ...] = ()
    query_encodes: int = 0

    @property
    def candidates(self) -> list[LinkedFact]:
        """The linked facts, best first: what a recognition filter chooses from."""
        return [f for _, f in self.linked]


@dataclass(frozen=True, kw_only=True, slots=True)
class SearchResult:
    """Hits (best first) and the explanation."""

    hits: tuple[Hit, ...]
    explanation: Explanation


@dataclass(frozen=True, kw_only=True, slots=True)
class RankPlan:
    """A search between its two halves (:meth:`GraphSearcher.plan_rank`): its PPR is
    ``solver.solve(reset)``; ``n_phrases`` leading nodes are phrases, the rest passages."""

    linking: Linking
    k: int
    seeds: tuple[tuple[int, float], ...]
    reset: np.ndarray
    solver: PPRSolver
    explanation: dict[str, Any]

    @property
    def n_phrases(self) -> int:
        """Phrase nodes before the passage nodes."""
        m = self.linking.matrices
        return len(m.phrases) if m is not None else 0


FactFilter = Callable[[str, list[LinkedFact]], Sequence[LinkedFact | Sequence[str]]]
"""``fact_filter(question, candidates) -> kept`` (LinkedFacts or triples among candidates)."""


def minmax(x: np.ndarray) -> np.ndarray:
    """``(x - min) / (max - min)``, or all ones when every value is equal (official rule)."""
    if x.size == 0:
        return x.astype(np.float64)
    lo, hi = float(x.min()), float(x.max())
    if hi - lo == 0:
        return np.ones(x.shape, dtype=np.float64)
    return (x.astype(np.float64) - lo) / (hi - lo)


def _cosines(mat: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """``queries @ mat.T``, shape ``(len(queries), len(mat))``, one query at a time.

    Every query goes through the same row-wise kernel (``vecdot``; ``einsum`` before numpy
    2), on its own copy, so a question gets bit-identical cosines whether it is searched alone
    or in a batch: a BLAS matrix product picks other kernels (and summation orders) by batch
    shape and CPU, and the last bits then move seed weights and can flip near-tied rankings.
    ``vecdot`` is also single-threaded: a multi-threaded BLAS product is faster on an idle
    machine but waits for its second thread on a busy one (measured 1 ms against 1-8 ms on
    MuSiQue's 17k facts under load).
    """
    out = np.empty((queries.shape[0], mat.shape[0]), dtype=np.result_type(mat, queries))
    for b in range(queries.shape[0]):
        q = np.array(queries[b], copy=True)  # same memory alignment alone or in a batch
        out[b] = _vecdot(mat, q) if _vecdot is not None else np.einsum("ij,j->i", mat, q)
    return out


def _order(scores: np.ndarray) -> np.ndarray:
    """Indices by descending score, ties by ascending index (stable)."""
    return np.argsort(-scores, kind="stable")


class GraphSearcher:
    """Searches a :class:`GraphIndex` with one preset.

    Args:
        index: The graph to search.
        preset: A name from :data:`~memagents.graphmem.core.config.PRESETS` or a
            :class:`~memagents.graphmem.core.config.Preset` (its ``search`` and ``ppr`` parts are
            used; its ``graph`` part is for building the index).
    """

    def __init__(self, index: GraphIndex, preset: str | Preset = "default") -> None:
        self.index = index
        self.preset = get_preset(preset)
        self.config = self.preset.search

    @property
    def encodes_per_query(self) -> int:
        """1 when both query instructions are equal, else 2."""
        cfg = self.config
        return 1 if cfg.fact_query_instruction == cfg.passage_query_instruction else 2

    def query_texts(self, questions: Sequence[str]) -> list[str]:
        """The strings to embed for ``questions``: each question behind the fact instruction,
        then, when the passage instruction differs, each behind the passage instruction. The
        first ``len(questions)`` rows of their vectors are the fact queries, the last
        ``len(questions)`` the passage queries (the same rows when one encode suffices)."""
        cfg = self.config
        texts = [(cfg.fact_query_instruction or "") + q for q in questions]
        if self.encodes_per_query == 2:
            texts += [(cfg.passage_query_instruction or "") + q for q in questions]
        return texts

    def encode_queries(self, questions: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(fact_vectors, passage_vectors)``, each ``(len(questions), dim)``, in one call."""
        texts = self.query_texts(questions)
        vecs = np.asarray(self.index.embed(texts), dtype=np.float32)
        if vecs.ndim != 2 or vecs.shape[0] != len(texts):
            raise InputError(f"embed returned shape {vecs.shape} for {len(texts)} query strings.")
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        vecs = np.divide(vecs, norms, out=np.zeros_like(vecs), where=norms > 0)
        n = len(questions)
        return vecs[:n], vecs[-n:]

    def search(
        self,
        question: str,
        k: int = 10,
        *,
        fact_filter: FactFilter | None = None,
        query_vectors: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> SearchResult:
        """Rank passages for ``question``: :meth:`link`, the filter, then :meth:`rank`.

        Args:
            question: The question.
            k: Number of hits to return (all passages when larger).
            fact_filter: Optional recognition filter; ``None`` keeps the top linked facts.
            query_vectors: Precomputed ``(fact_vector, passage_vector)``; skips encoding.

        Raises:
            InputError: Empty question or ``k < 1``.
        """
        qv = None
        if query_vectors is not None:
            qv = (
                np.asarray(query_vectors[0], np.float32).reshape(1, -1),
                np.asarray(query_vectors[1], np.float32).reshape(1, -1),
            )
        return self.search_many([question], k, fact_filter=fact_filter, query_vectors=qv)[0]

    def search_many(
        self,
        questions: Sequence[str],
        k: int = 10,
        *,
        fact_filter: FactFilter | None = None,
        query_vectors: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> list[SearchResult]:
        """Rank passages for several questions at once (one encode call).

        ``query_vectors`` are two ``(len(questions), dim)`` arrays when given.
        """
        questions = list(questions)
        _check_questions(questions)
        _check_k(k)
        results = []
        for linking in self.link_many(questions, query_vectors=query_vectors):
            kept = None
            if fact_filter is not None:
                kept = fact_filter(linking.question, linking.candidates) if linking.linked else []
            results.append(self.rank(linking, k, kept=kept))
        return results

    # ------------------------------------------------------------- the two halves
    def link(
        self, question: str, *, query_vectors: tuple[np.ndarray, np.ndarray] | None = None
    ) -> Linking:
        """Link ``question`` to the graph: its dense passage cosines and its top facts.

        No PageRank runs here; :meth:`rank` does that once, after an optional recognition
        filter has looked at :attr:`Linking.candidates`.
        """
        qv = None
        if query_vectors is not None:
            qv = (
                np.asarray(query_vectors[0], np.float32).reshape(1, -1),
                np.asarray(query_vectors[1], np.float32).reshape(1, -1),
            )
        return self.link_many([question], query_vectors=qv)[0]

    def link_many(
        self,
        questions: Sequence[str],
        *,
        query_vectors: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> list[Linking]:
        """:meth:`link` for several questions (one encode call for all)."""
        questions = list(questions)
        _check_questions(questions)
        if not questions:
            return []
        if len(self.index) == 0:
            return [Linking(question=q, matrices=None) for q in questions]
        m = self.index.matrices()
        if query_vectors is None:
            qf, qp = self.encode_queries(questions)
            encodes = self.encodes_per_query
        else:
            qf, qp = (
                np.asarray(v, dtype=np.float32).reshape(len(questions), -1) for v in query_vectors
            )
            encodes = 0
        dense_cos = _cosines(m.passage_vectors, qp).astype(np.float64)  # (B, passages)
        fact_cos = _cosines(m.fact_vectors, qf) if m.facts else None  # (B, facts)
        return [
            Linking(
                question=question,
                matrices=m,
                dense=dense_cos[b],
                linked=tuple(self._link(m, fact_cos[b])) if fact_cos is not None else (),
                query_encodes=encodes,
            )
            for b, question in enumerate(questions)
        ]

    def rank(
        self,
        linking: Linking,
        k: int = 10,
        *,
        kept: Sequence[LinkedFact | Sequence[str]] | None = None,
    ) -> SearchResult:
        """Rank passages from a :class:`Linking`: seeds from the kept facts, one PPR.

        It is :meth:`plan_rank`, the PPR, then :meth:`finish_rank`; several searches can
        share one batched PPR between the two halves
        (:func:`memagents.graphmem.batching.rank_many`), with the same result.

        Args:
            linking: What :meth:`link` returned (its graph snapshot is used, whatever
                changed in the index since).
            k: Number of hits to return (all passages when larger).
            kept: The recognition filter's answer (LinkedFacts or triples among
                ``linking.candidates``); ``None`` when no filter ran (all candidates kept).
        """
        plan = self.plan_rank(linking, k, kept=kept)
        if isinstance(plan, SearchResult):
            return plan
        probs, iterations = plan.solver.solve(plan.reset)
        return self.finish_rank(plan, probs[plan.n_phrases :], iterations)

    def plan_rank(
        self,
        linking: Linking,
        k: int = 10,
        *,
        kept: Sequence[LinkedFact | Sequence[str]] | None = None,
    ) -> RankPlan | SearchResult:
        """The first half of :meth:`rank`: the seeds and the PPR reset vector, or the whole
        result when no PageRank is needed (empty index, no fact kept: dense ranking)."""
        _check_k(k)
        name = self.config.name
        m = linking.matrices
        if m is None:
            empty = Explanation(preset=name, fallback_reason="empty index")
            return SearchResult(hits=(), explanation=empty)
        linked = list(linking.linked)
        facts = linked
        if kept is not None and linked:
            facts = _apply_filter(linked, kept)
        dense = linking.dense
        expl: dict[str, Any] = {
            "preset": name,
            "candidate_facts": tuple(f for _, f in linked),
            "kept_facts": tuple(f for _, f in facts),
            "filter_ran": kept is not None,
            "query_encodes": linking.query_encodes,
        }
        if facts:
            n_ph = len(m.phrases)
            reset = np.zeros(m.n_nodes)
            seeds = self._seed_phrases(m, facts)
            for node, weight in seeds:
                reset[node] = weight
            reset[n_ph:] = self.config.passage_node_weight * minmax(dense)
            solver = m.solver(self.preset.ppr)
            return RankPlan(
                linking=linking, k=k, seeds=tuple(seeds), reset=reset, solver=solver,
                explanation=expl,
            )
        reason = "no facts in the index" if not linked else "the filter kept no fact"
        score = minmax(dense)
        order = _order(score)[:k]
        explanation = Explanation(**expl, fallback_reason=reason)
        return _result(m, order, score, dense, np.zeros(len(m.passages)), explanation)

    def finish_rank(
        self, plan: RankPlan, passage_probs: np.ndarray, iterations: int
    ) -> SearchResult:
        """The second half of :meth:`rank`: the PPR probabilities of the passage nodes
        (``probabilities[plan.n_phrases:]``) to ranked hits."""
        m = plan.linking.matrices
        assert m is not None
        dense = plan.linking.dense
        ppr = np.zeros(len(m.passages))
        ppr[:] = passage_probs
        order = self._graph_order(ppr, dense, plan.k)
        explanation = Explanation(
            **plan.explanation,
            used_graph=True,
            ppr_iterations=int(iterations),
            seed_phrases=tuple(
                SeedPhrase(
                    phrase=m.phrases[node],
                    weight=w,
                    passages=int(m.phrase_passage_count[node]),
                )
                for node, w in plan.seeds
            ),
        )
        return _result(m, order, ppr, dense, ppr, explanation)

    def _graph_order(self, ppr: np.ndarray, dense: np.ndarray, k: int) -> np.ndarray:
        """Passage indices, best first: PPR order, the top window reordered by dense."""
        window = self.config.rerank_window
        need = min(max(k, window), ppr.size)
        if need < ppr.size:
            cand = np.argpartition(-ppr, need - 1)[:need]
            order = cand[np.lexsort((cand, -ppr[cand]))]
        else:
            order = _order(ppr)
        if window > 1:
            head = order[:window]
            order = np.concatenate([head[np.lexsort((head, -dense[head]))], order[window:]])
        return order[:k]

    def _link(self, m: GraphMatrices, cos: np.ndarray) -> list[tuple[int, LinkedFact]]:
        """Top ``linking_top_k`` facts by min-max score (ties: fact order)."""
        lo, hi = float(cos.min()), float(cos.max())
        span = hi - lo
        k = min(self.config.linking_top_k, cos.size)
        cand = np.flatnonzero(cos >= hi - 0.1 * span) if span > 0 else np.arange(cos.size)
        if cand.size < k:  # rare: fall back to a full partial sort
            cand = np.argpartition(-cos, k - 1)[:k] if k < cos.size else np.arange(cos.size)
        top = cand[np.lexsort((cand, -cos[cand]))][:k]
        return [
            (
                i,
                LinkedFact(
                    triple=m.facts[i],
                    cosine=float(cos[i]),
                    score=(float(cos[i]) - lo) / span if span > 0 else 1.0,
                ),
            )
            for i in top.tolist()
        ]

    def _seed_phrases(
        self, m: GraphMatrices, kept: list[tuple[int, LinkedFact]]
    ) -> list[tuple[int, float]]:
        total: dict[int, float] = {}
        count: dict[int, int] = {}
        for fi, fact in kept:
            for node in (int(m.fact_subject[fi]), int(m.fact_object[fi])):
                total[node] = total.get(node, 0.0) + fact.score / m.phrase_passage_count[node]
                count[node] = count.get(node, 0) + 1
        # ties: first appearance in the ranked facts (themselves by score, then fact order),
        # as the official implementation's stable sort of its phrase-score dict; ranking the
        # tied subject and object of one fact by phrase text would change which phrases make
        # the seed_phrase_top_k cut and move the hipporag2 preset away from official rankings
        first = {node: i for i, node in enumerate(total)}  # dicts keep first-appearance order
        ranked = sorted(total, key=lambda n: (-total[n] / count[n], first[n]))
        top = self.config.seed_phrase_top_k
        if top is not None:
            ranked = ranked[:top]
        return [(n, float(total[n] / count[n])) for n in ranked]


def _result(
    m: GraphMatrices,
    order: np.ndarray,
    score: np.ndarray,
    dense: np.ndarray,
    ppr: np.ndarray,
    explanation: Explanation,
) -> SearchResult:
    hits = tuple(
        Hit(
            passage_id=m.passages[j],
            score=float(score[j]),
            dense_score=float(dense[j]),
            ppr_score=float(ppr[j]),
            rank=r + 1,
        )
        for r, j in enumerate(order.tolist())
    )
    return SearchResult(hits=hits, explanation=explanation)


def _check_questions(questions: list[str]) -> None:
    for q in questions:
        if not isinstance(q, str) or not q.strip():
            raise InputError("every question must be a non-empty string.")


def _check_k(k: int) -> None:
    if k < 1:
        raise InputError("k must be >= 1.")


def _apply_filter(
    linked: list[tuple[int, LinkedFact]], kept: Sequence[LinkedFact | Sequence[str]]
) -> list[tuple[int, LinkedFact]]:
    """The linked facts the filter kept (answers that are no candidate are ignored), by
    score then fact order."""
    by_triple = {f.triple: (i, f) for i, f in linked}
    out: dict[Triple, tuple[int, LinkedFact]] = {}
    for item in kept or ():
        if isinstance(item, LinkedFact):
            key = item.triple
        elif isinstance(item, (list, tuple)) and len(item) == 3:
            key = normalize_triple((str(item[0]), str(item[1]), str(item[2])))
        else:
            continue
        if key in by_triple and key not in out:
            out[key] = by_triple[key]
    return sorted(out.values(), key=lambda x: (-x[1].score, x[0]))
