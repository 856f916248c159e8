"""Every open parameter of the insight store, one frozen settings object.

The spec (``../shared/docs/methods/core.md`` §15) lists what the CORE paper states and what it
leaves open. Each field below says where its default comes from:

* **[paper]** stated by the paper (through the secondary summary the spec cites);
* **[port]** a hint from a third-party port of CORE's memory (unverified);
* **[ours]** our choice, made configurable because the paper does not say.

Example:
    >>> s = InsightSettings(top_k=10, ucb_c=0.5)
    >>> s.top_k, s.baseline_samples, s.method
    (10, 10, 'core')
    >>> InsightSettings(uniform_mix=2.0)
    Traceback (most recent call last):
    ...
    memagents.errors.ConfigError: InsightSettings(uniform_mix=2.0) is invalid: it must lie in [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

from memagents.errors import ConfigError

__all__ = ["METHODS", "InsightSettings"]

METHODS = ("core", "expel")
"""Learning methods a store can run: CORE, or the ExpeL-style insight list (a baseline)."""

_UNIT = ("uniform_mix", "dedup_threshold", "merge_threshold", "dropout")
_POSITIVE_INT = ("top_k", "baseline_samples", "admission_samples", "neighbours",
                 "success_window", "max_candidates", "max_insight_tokens", "max_trace_tokens",
                 "max_insight_chars", "prune_min_uses", "expel_initial_votes")
_NON_NEGATIVE = ("ucb_c", "verifier_timeout", "prune_every", "kernel_prior")


@dataclass(frozen=True, kw_only=True)
class InsightSettings:
    """The parameters of retrieval, learning, admission, budgets and pruning.

    Attributes:
        method: ``"core"`` (contrastive reflection, utility retrieval, admission test) or
            ``"expel"`` (the ExpeL-style baseline: one insight list edited with
            add / upvote / downvote / edit, injected by importance). [ours]
        top_k: Insights injected per prompt. [paper: 25]
        credit: ``"equal"``: every injected insight gets ``u = r − b_p`` and an insight's
            utility on a problem is the mean over its uses [paper]. ``"contrast"``: while
            training, each selected insight is left out of the prompt with probability
            ``dropout``; its utility on a problem is then the mean reward when injected
            minus the mean reward when left out (a randomised, per-insight estimate that
            separates insights always injected together; equal credit where no left-out
            rollout exists yet) [ours, for the authors' open problem of finer credit].
        dropout: Leave-out probability of ``credit="contrast"``. [ours: 0.5]
        baseline_samples: No-insight samples per training problem for its baseline ``b_p``,
            counted in the rollout budget. [paper: 10]
        admission_samples: Samples of the admission test (the candidate alone in the
            prompt, solving its source problem). [paper: 1]
        admission_rule: ``"solved"`` admits when most admission samples solve the problem
            (with one sample: it is solved) [paper]; ``"margin"`` admits when their mean
            reward beats ``b_p`` by more than ``admission_margin`` [ours, variant].
        admission_margin: Margin of the ``"margin"`` rule. [paper: 0]
        neighbourhood: Which training problems' utilities score an insight for a problem
            ``q``. ``"kernel"``: all of them, weighted ``exp(−(s* − s_p)/h)`` by their cosine
            ``s_p`` to ``q`` relative to the nearest one's ``s*``, the score a weighted mean
            utility shrunk toward 0 by ``kernel_prior`` pseudo-uses [ours, the default: the
            paper says only "similar problems"; a fixed ``k`` mixes in dissimilar problems
            whenever fewer than ``k`` are similar, and which ``k`` is right depends on how
            many similar problems the training set holds, unknown in general].
            ``"knn"``: the use-weighted mean over the ``neighbours`` nearest (the paper's
            ``N_k(q)``, as the spec reads it).
        bandwidth: ``h`` of the kernel, in cosine units. ``None`` (default): chosen on the
            training problems alone, as the candidate (0.005 … 0.5, or inf) whose kernel
            best predicts each insight's measured utility on a training problem left out
            from its utilities on the others (leave-one-problem-out squared error, weighted
            by uses; recomputed as rollouts accrue) [ours: no held-out data, no knowledge of
            the task structure]. A number fixes it.
        kernel_prior: ``n₀``, pseudo-uses at utility 0 in the kernel score, so an insight
            known only from dissimilar problems scores near 0 and one use counts half.
            [ours: 1]
        neighbours: ``k`` of ``neighbourhood="knn"`` (``N_k(q)``). [ours: 5]
        ucb_c: Exploration coefficient ``c`` of ``c·√(ln(T+1)/(1+n_i))``, training only.
            [port: 0.30]
        uniform_mix: Share of uniform sampling in the problem sampler; the rest is
            failure-biased (weight ``1 − s_p``). [ours: 0.5]
        success_window: Recent training rewards in a problem's success estimate ``s_p``
            (missing ones are filled with ``b_p``). [ours: 5]
        dedup_threshold: Cosine at or above which a candidate duplicates a stored insight
            (the stored one gains support instead). [port: 0.92]
        max_candidates: Candidate insights kept per reflection. [ours: 3]
        max_insight_chars: Longer candidates are unusable (an insight is a sentence or
            two). [ours: 400]
        max_insight_tokens: Token budget of the injected insight block (tiktoken, offline).
            [ours: 1000; the paper's mean is 0.92k]
        min_eval_utility: At evaluation, insights scoring below this on similar problems
            are not injected (``None``: inject the top ``top_k`` whatever their score, as
            the paper). [ours: 0.0, i.e. never inject an insight measured to hurt]
        reflect_without_contrast: Reflect on a failure even when no correct rollout exists
            (the ablation "latest failure only"); off: such failures are counted and
            skipped. [paper: off]
        max_trace_tokens: Each trace shown to the reflection is cut to this many tokens
            (head and tail kept). [ours: 1500]
        verifier_timeout: Seconds a verifier may run (callbacks in a thread, unit tests in
            a subprocess); a timeout is a failed rollout with the error. [ours: 10]
        prune_min_uses: Uses after which an insight whose utility stays at or below
            ``prune_max_utility`` is pruned. [ours: 10]
        prune_max_utility: See ``prune_min_uses``. [ours: 0.0]
        merge_threshold: Consolidation merges active insights at least this similar
            (the one with the better utility keeps the other's uses). [ours: 0.85]
        prune_every: Prune and consolidate every this many training steps (0: never during
            training; the paper's store only grows). [ours: 0]
        expel_initial_votes: Importance of a new ExpeL rule; upvote +1, downvote −1, a
            rule at 0 is removed. [ExpeL: 2]
        seed: Seed of the problem sampler (a step's problem depends only on it and the
            step number, so a resumed run samples the same problems).
    """

    method: Literal["core", "expel"] = "core"
    top_k: int = 25
    credit: Literal["equal", "contrast"] = "equal"
    dropout: float = 0.5
    baseline_samples: int = 10
    admission_samples: int = 1
    admission_rule: Literal["solved", "margin"] = "solved"
    admission_margin: float = 0.0
    neighbourhood: Literal["kernel", "knn"] = "kernel"
    bandwidth: float | None = None
    kernel_prior: float = 1.0
    neighbours: int = 5
    ucb_c: float = 0.30
    uniform_mix: float = 0.5
    success_window: int = 5
    dedup_threshold: float = 0.92
    max_candidates: int = 3
    max_insight_chars: int = 400
    max_insight_tokens: int = 1000
    min_eval_utility: float | None = 0.0
    reflect_without_contrast: bool = False
    max_trace_tokens: int = 1500
    verifier_timeout: float = 10.0
    prune_min_uses: int = 10
    prune_max_utility: float = 0.0
    merge_threshold: float = 0.85
    prune_every: int = 0
    expel_initial_votes: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            self._bad("method", f"use one of {', '.join(METHODS)}")
        if self.credit not in ("equal", "contrast"):
            self._bad("credit", "use 'equal' or 'contrast'")
        if self.neighbourhood not in ("kernel", "knn"):
            self._bad("neighbourhood", "use 'kernel' or 'knn'")
        if self.bandwidth is not None and (
                isinstance(self.bandwidth, bool) or not isinstance(self.bandwidth, (int, float))
                or math.isnan(self.bandwidth) or self.bandwidth <= 0):
            self._bad("bandwidth", "it must be a number > 0 (inf: every training problem "
                      "weighs the same), or None to choose it by leave-one-problem-out")
        if self.admission_rule not in ("solved", "margin"):
            self._bad("admission_rule", "use 'solved' or 'margin'")
        for name in _POSITIVE_INT:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                self._bad(name, "it must be a positive integer")
        for name in _NON_NEGATIVE:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                    math.isfinite(value) and value >= 0):
                self._bad(name, "it must be a finite number >= 0")
        for name in _UNIT:
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                self._bad(name, "it must lie in [0, 1]")
        for name in ("admission_margin", "prune_max_utility", "min_eval_utility"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, (int, float))
                                      or not math.isfinite(value)):
                self._bad(name, "it must be a finite number")
        if self.verifier_timeout <= 0:
            self._bad("verifier_timeout", "it must be > 0 seconds")

    def _bad(self, name: str, why: str) -> None:
        raise ConfigError(f"InsightSettings({name}={getattr(self, name)!r}) is invalid: {why}.")

    def with_(self, **changes: Any) -> InsightSettings:
        """A copy with ``changes`` (unknown names are refused, listing the known ones)."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ConfigError(f"unknown insight setting(s) {', '.join(unknown)}; known: "
                              f"{', '.join(sorted(known))}.")
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """The settings as plain data (for reports and JSON)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
