"""Ranking insights for a problem: utility on similar problems, plus exploration in training.

For a problem ``q`` (``../shared/docs/methods/core.md`` §6): score each active insight by its
utility on the training problems similar to ``q`` (with contrast credit, injected minus left
out), add the UCB bonus ``c·√(ln(T+1)/(1+n_i))`` while training, and rank; the cosine of the
insight and the problem breaks ties. "Similar" is, by default (``neighbourhood="kernel"``),
a kernel over cosine similarity relative to the nearest training problem, its bandwidth
chosen on the training rollouts by leave-one-problem-out (:meth:`Ranker.bandwidth`,
:func:`~memagents.insights.scoring.kernel_utility`, :func:`~memagents.insights.scoring.
loo_bandwidth`); ``neighbourhood="knn"`` is the fixed ``k`` nearest of the paper
(:func:`~memagents.insights.scoring.neighbour_utility`). A stored training problem is its
own nearest. The ExpeL-style baseline ranks by importance (votes) instead.

:meth:`Ranker.select` then takes what goes into a prompt: the first ``top_k``, at evaluation
without those measured to hurt (``min_eval_utility``), within the token budget of the insight
block.

Example:
    >>> from memagents.insights.scoring import neighbour_utility
    >>> neighbour_utility({"p1": (4, 0.5), "p2": (1, 0.0)}, ["p1", "p2"])
    (0.4, 5)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from memagents.base.results import Note, SearchHits
from memagents.insights.db import InsightDB
from memagents.insights.records import InsightHit
from memagents.insights.scoring import (
    cosine_top,
    kernel_utility,
    kernel_weights,
    loo_bandwidth,
    neighbour_utility,
    ucb_bonus,
)
from memagents.insights.settings import InsightSettings
from memagents.insights.solvers import insight_block
from memagents.models import Tokenizer

__all__ = ["NEIGHBOUR_SPLITS", "Ranker", "Selection"]

NEIGHBOUR_SPLITS = ("train", "online")
"""Problems whose utilities count for a new problem (evaluation problems never do)."""

EMPTY_NOTE = "the insight store holds no insights here: solving without insights"


@dataclass(kw_only=True)
class Selection:
    """What goes into one prompt.

    Attributes:
        hits: The insights injected, best first.
        block: The insight block (``""`` without insights).
        tokens: Tokens of the block.
        notes: What the caller should know (an empty store, insights left out).

    Example:
        >>> Selection().texts
        []
    """

    hits: list[InsightHit] = field(default_factory=list)
    block: str = ""
    tokens: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def ids(self) -> list[str]:
        """Ids of the injected insights."""
        return [h.id for h in self.hits]

    @property
    def texts(self) -> list[str]:
        """Texts of the injected insights."""
        return [h.text for h in self.hits]


class Ranker:
    """Ranks a namespace's insights for problems (see the module docstring).

    Args:
        db: The store's tables.
        embed: ``embed(texts) -> unit rows`` (the store's embeddings, counted).
        settings: The store's settings.
        tokenizer: Counts the insight block's tokens.
    """

    def __init__(self, db: InsightDB, embed: Callable[[Sequence[str]], np.ndarray],
                 settings: InsightSettings, tokenizer: Tokenizer) -> None:
        self.db = db
        self.embed = embed
        self.settings = settings
        self.tokenizer = tokenizer
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._bandwidths: dict[str, tuple[tuple[Any, ...], float, dict[float, float]]] = {}

    def vector(self, namespace: str, text: str, problem_id: str | None = None) -> np.ndarray:
        """A problem's unit vector: stored with the problem, else embedded (LRU cached)."""
        if problem_id is not None:
            for splits in (NEIGHBOUR_SPLITS, ("eval",)):
                ids, matrix = self.db.problem_matrix(namespace, splits)
                if problem_id in ids:
                    return matrix[ids.index(problem_id)]
        if text in self._vectors:
            self._vectors.move_to_end(text)
            return self._vectors[text]
        vec = self.embed([text])[0]
        self._vectors[text] = vec
        if len(self._vectors) > 2048:
            self._vectors.popitem(last=False)
        return vec

    def prime(self, namespace: str, texts: Sequence[str]) -> None:
        """Embed the problems ``texts`` not cached yet, in one batch."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            for text, vec in zip(missing, self.embed(missing), strict=True):
                self._vectors[text] = vec

    def neighbours(self, namespace: str, vector: np.ndarray) -> list[str]:
        """The ``k`` nearest training (and online) problems, nearest first."""
        ids, matrix = self.db.problem_matrix(namespace, NEIGHBOUR_SPLITS)
        return [ids[i] for i, _ in cosine_top(matrix, vector, self.settings.neighbours)]

    def bandwidth(self, namespace: str) -> tuple[float, dict[float, float]]:
        """The kernel bandwidth: ``settings.bandwidth`` when set, else the candidate with the
        lowest leave-one-problem-out error on the training problems' recorded utilities
        (:func:`~memagents.insights.scoring.loo_bandwidth`; recomputed when the recorded
        uses change), with every candidate's error (empty when fixed)."""
        if self.settings.bandwidth is not None:
            return self.settings.bandwidth, {}
        ids, matrix = self.db.problem_matrix(namespace, NEIGHBOUR_SPLITS)
        uses = self.db.uses(namespace)
        out = self.db.left_out(namespace) if self.settings.credit == "contrast" else {}
        key = (tuple(ids), self.settings.credit, self.settings.kernel_prior,
               *(sum(n for per in table.values() for n, _ in per.values())
                 for table in (uses, out)))
        cached = self._bandwidths.get(namespace)
        if cached is not None and cached[0] == key:
            return cached[1], cached[2]
        col = {p: j for j, p in enumerate(ids)}
        counts = np.zeros((len(uses), len(ids)))
        means = np.zeros((len(uses), len(ids)))
        for r, (iid, per) in enumerate(uses.items()):
            for p, (n, mean) in per.items():
                if p in col:
                    counts[r, col[p]] = n
                    means[r, col[p]] = mean - out.get(iid, {}).get(p, (0, 0.0))[1]
        sims = matrix @ matrix.T if len(ids) else np.zeros((0, 0))
        h, errors = loo_bandwidth(sims, counts, means, prior=self.settings.kernel_prior)
        self._bandwidths[namespace] = (key, h, errors)
        return h, errors

    def weights(self, namespace: str, vector: np.ndarray) -> dict[str, float]:
        """Kernel weight of every training (and online) problem for a problem ``vector``."""
        ids, matrix = self.db.problem_matrix(namespace, NEIGHBOUR_SPLITS)
        if not ids:
            return {}
        sims = np.round(matrix @ vector.astype(matrix.dtype), 6)
        w = kernel_weights(sims, self.bandwidth(namespace)[0])
        return {p: float(x) for p, x in zip(ids, w, strict=True)}

    def rank(self, namespace: str, text: str, *, explore: bool = False,
             problem_id: str | None = None) -> SearchHits:
        """Every active insight ranked for the problem ``text``, best first."""
        ids, matrix = self.db.insight_matrix(namespace)
        if not ids:
            return SearchHits([], notes=[Note.info(EMPTY_NOTE)])
        vector = self.vector(namespace, text, problem_id)
        sims = matrix @ vector.astype(matrix.dtype)
        insights = {i.id: i for i in self.db.insights(namespace)}
        if self.settings.method == "expel":
            scored = [(float(insights[i].votes), 0.0, 0.0, 0, float(s), i)
                      for i, s in zip(ids, sims, strict=True) if i in insights]
        else:
            kernel = self.settings.neighbourhood == "kernel"
            near = [] if kernel else self.neighbours(namespace, vector)
            weights = self.weights(namespace, vector) if kernel else {}
            uses = self.db.uses(namespace)
            out = self.db.left_out(namespace) if self.settings.credit == "contrast" else None
            total = self.db.counter(namespace, "retrievals")
            scored = []
            for i, s in zip(ids, sims, strict=True):
                if i not in insights:
                    continue
                left = None if out is None else out.get(i, {})
                value, evidence = (
                    kernel_utility(uses.get(i, {}), weights, left,
                                   prior=self.settings.kernel_prior) if kernel
                    else neighbour_utility(uses.get(i, {}), near, left))
                bonus = (ucb_bonus(self.settings.ucb_c, total, insights[i].uses)
                         if explore else 0.0)
                scored.append((value + bonus, value, bonus, evidence, float(s), i))
        scored.sort(key=lambda x: (-round(x[0], 9), -round(x[4], 6), insights[x[5]].created_at,
                                   x[5]))
        hits = [InsightHit(id=i, text=insights[i].text, namespace=namespace,
                           metadata=dict(insights[i].metadata), score=round(score, 6),
                           rank=r, utility=round(value, 6), bonus=round(bonus, 6),
                           similarity=round(sim, 6), uses=insights[i].uses, evidence=evidence)
                for r, (score, value, bonus, evidence, sim, i) in enumerate(scored, 1)]
        return SearchHits(hits)

    def select(self, namespace: str, text: str, *, explore: bool = False,
               problem_id: str | None = None, top_k: int | None = None,
               max_tokens: int | None = None) -> Selection:
        """The insights to inject for a problem: the ``top_k`` best, at evaluation without
        those scoring under ``min_eval_utility``, within the block's token budget."""
        ranked = self.rank(namespace, text, explore=explore, problem_id=problem_id)
        notes = list(ranked.notes)
        k = top_k or self.settings.top_k
        floor = self.settings.min_eval_utility
        pool = list(ranked)
        if not explore and floor is not None and self.settings.method == "core":
            kept = [h for h in pool if h.utility >= floor]
            if len(kept) < len(pool) and not kept:
                notes.append(Note.info(
                    f"every insight scores below min_eval_utility={floor:g} on similar "
                    "problems: solving without insights"))
            pool = kept
        pool = pool[:k]
        budget = max_tokens or self.settings.max_insight_tokens
        chosen, block, tokens = insight_block([h.text for h in pool], max_tokens=budget,
                                              tokenizer=self.tokenizer)
        if len(chosen) < len(pool):
            notes.append(Note.info(f"{len(pool) - len(chosen)} insight(s) left out to keep "
                                   f"the insight block within {budget} tokens"))
        return Selection(hits=[pool[i] for i in chosen], block=block, tokens=tokens,
                         notes=notes)
