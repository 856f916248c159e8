"""Held-out evaluation with the memory frozen (``../shared/docs/methods/core.md`` §8).

Each problem is solved once with what the mode injects, then verified; nothing is recorded
in the store, nothing is learned. Modes:

* ``"core"``: the store's selection at evaluation (utility on similar problems, no
  exploration bonus; the ExpeL-style store: its rules by importance);
* ``"none"``: no insights (the no-learning model);
* ``"random"``: ``top_k`` insights drawn at random from the store, within the same token
  budget (the control for "any insight helps");
* ``"random_matched"``: for each problem, as many random insights as ``"core"`` would
  inject for it (the control for "which insights", at the same count).

Accuracy comes with a 95% percentile bootstrap interval over problems.

Example:
    >>> report = EvalReport(mode="none", results=[EvalResult(problem_id="p", reward=1.0)])
    >>> report.accuracy, report.n
    (1.0, 1)
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from memagents.base.results import Note
from memagents.errors import InputError
from memagents.insights.parts import Solver, StoreParts, attempt
from memagents.insights.records import InsightHit, Problem
from memagents.insights.retrieval import EMPTY_NOTE, Selection
from memagents.insights.scoring import bootstrap_ci
from memagents.insights.solvers import insight_block
from memagents.models.usage import track_usage

__all__ = ["MODES", "EvalReport", "EvalResult", "evaluate"]

MODES = ("core", "none", "random", "random_matched")


@dataclass(frozen=True, kw_only=True)
class EvalResult:
    """One evaluated problem.

    Example:
        >>> EvalResult(problem_id="p", reward=0.0, error="verifier timed out").reward
        0.0
    """

    problem_id: str
    reward: float
    answer: str = ""
    error: str | None = None
    insight_ids: tuple[str, ...] = ()
    insight_tokens: int = 0


@dataclass(kw_only=True)
class EvalReport:
    """What an evaluation measured.

    Attributes:
        mode: ``core``, ``none`` or ``random``.
        results: One per problem, in order.
        llm_calls: LLM requests made.
        notes: What the caller should know (an empty store: solved without insights).
        rollouts: The training rollouts the store had used when evaluated.
    """

    mode: str
    results: list[EvalResult] = field(default_factory=list)
    llm_calls: int = 0
    notes: list[str] = field(default_factory=list)
    rollouts: int = 0

    @property
    def n(self) -> int:
        """Problems evaluated."""
        return len(self.results)

    @property
    def accuracy(self) -> float:
        """Mean reward."""
        return round(sum(r.reward for r in self.results) / self.n, 6) if self.n else 0.0

    def ci(self, *, seed: int = 0) -> tuple[float, float]:
        """95% percentile bootstrap interval of the accuracy (2,000 resamples)."""
        _, low, high = bootstrap_ci([r.reward for r in self.results], seed=seed)
        return low, high

    @property
    def insight_tokens(self) -> float:
        """Mean tokens of the injected insight block per problem."""
        return round(sum(r.insight_tokens for r in self.results) / self.n, 2) if self.n else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible data."""
        low, high = self.ci() if self.n else (None, None)
        return {"mode": self.mode, "n": self.n, "accuracy": self.accuracy, "ci95": [low, high],
                "insight_tokens": self.insight_tokens, "llm_calls": self.llm_calls,
                "rollouts": self.rollouts, "notes": list(self.notes),
                "results": [{"problem_id": r.problem_id, "reward": r.reward,
                             "answer": r.answer, "error": r.error,
                             "insight_ids": list(r.insight_ids),
                             "insight_tokens": r.insight_tokens} for r in self.results]}


def _random(parts: StoreParts, namespace: str, rng: random.Random,
            count: int | None = None) -> Selection:
    pool = parts.db.insights(namespace)
    if not pool:
        return Selection(notes=[Note.info(EMPTY_NOTE)])
    drawn = rng.sample(pool, min(parts.settings.top_k if count is None else count, len(pool)))
    chosen, block, tokens = insight_block([i.text for i in drawn],
                                          max_tokens=parts.settings.max_insight_tokens,
                                          tokenizer=parts.tokenizer)
    hits = [InsightHit(id=drawn[i].id, text=drawn[i].text, namespace=namespace, rank=r)
            for r, i in enumerate(chosen, 1)]
    return Selection(hits=hits, block=block, tokens=tokens)


def evaluate(parts: StoreParts, namespace: str, problems: Sequence[Problem], *,
             solver: Solver, verifier: Any = None, mode: str = "core", seed: int = 0,
             on_result: Callable[[EvalResult], Any] | None = None) -> EvalReport:
    """Solve and verify each problem with the memory frozen (see the module docstring)."""
    if mode not in MODES:
        raise InputError(f"evaluation mode {mode!r} is unknown: use one of {', '.join(MODES)}.")
    report = EvalReport(mode=mode, rollouts=parts.db.used(namespace))
    if mode != "none" and not parts.db.insight_matrix(namespace)[0]:
        report.notes.append(f"{EMPTY_NOTE} (namespace {namespace!r})")
    rng = random.Random(f"{seed}:{namespace}:random")
    if mode in ("core", "random_matched"):
        parts.ranker.prime(namespace, [p.text for p in problems])
    with track_usage() as usage:
        for problem in problems:
            if mode == "none":
                selection = Selection()
            elif mode == "random":
                selection = _random(parts, namespace, rng)
            elif mode == "random_matched":
                count = len(parts.ranker.select(namespace, problem.text, explore=False,
                                                problem_id=problem.id).hits)
                selection = _random(parts, namespace, rng, count)
            else:
                selection = parts.ranker.select(namespace, problem.text, explore=False,
                                                problem_id=problem.id)
            result, reward, error = attempt(solver, verifier, problem, selection,
                                            timeout=parts.settings.verifier_timeout)
            one = EvalResult(problem_id=problem.id, reward=reward, answer=result.answer,
                             error=error, insight_ids=tuple(selection.ids),
                             insight_tokens=selection.tokens)
            report.results.append(one)
            if on_result is not None:
                on_result(one)
    report.llm_calls = usage.llm_calls
    return report
