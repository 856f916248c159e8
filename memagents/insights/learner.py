"""The training loop (``../shared/docs/methods/core.md`` §3), resumable after a kill.

::

    estimate b_p for every training problem (baseline_samples each, counted as rollouts)
    repeat until the rollout budget is spent:
        p ← failure-biased sample (mixed with uniform)
        I ← top-k insights for p (utility on similar problems + UCB bonus)
        y ← solve(p, I);  r ← verify(y)                      # one rollout
        credit u = r − b_p to every insight of I              # same transaction as the rollout
        if r < 1: pair with the nearest correct rollout, reflect, screen, dedup,
                  admission test per candidate (the candidate alone, counted rollouts)

Every rollout has a deterministic id (``b:<problem>:<i>``, ``t:<step>``,
``a:<step>:<candidate>:<i>``) and is recorded with its credit in one transaction; a step's
problem and its reflection's candidates are recorded before they are used. A run killed at any
point therefore resumes where it stopped: recorded rollouts are reused (never re-run, never
counted twice), the budget is the number of rollouts recorded, and only the call in flight
when the process died is made again. The ExpeL-style baseline
(:mod:`memagents.insights.expel`) replaces the reflection and admission of a failed step.

Example:
    >>> TrainReport(budget=10, used=10).done
    True
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from memagents.errors import BudgetExceeded, LLMError, MemagentsError
from memagents.insights.expel import expel_update
from memagents.insights.parts import Solver, StoreParts, attempt
from memagents.insights.records import Insight, Problem, Rollout
from memagents.insights.reflection import (
    duplicate_of,
    insight_id,
    nearest_correct,
    reflect,
    screen,
)
from memagents.insights.retrieval import Selection
from memagents.insights.scoring import admits, sampling_weights, success_estimate, utility
from memagents.insights.solvers import insight_block
from memagents.models.usage import track_usage

__all__ = ["Progress", "TrainReport", "Trainer"]

MAX_SOLVER_FAILURES = 3
"""Consecutive solver failures after which training stops (the model is down, say)."""


@dataclass(frozen=True, kw_only=True)
class Progress:
    """One progress event: ``phase`` (``baseline``, ``train``, ``admission``, ``eval``),
    the rollouts used and the budget, the step and the last reward.

    Example:
        >>> Progress(phase="train", used=3, budget=10).fraction
        0.3
    """

    phase: str
    used: int
    budget: int
    step: int | None = None
    reward: float | None = None

    @property
    def fraction(self) -> float:
        """Share of the budget used."""
        return self.used / self.budget if self.budget else 1.0


@dataclass(kw_only=True)
class TrainReport:
    """What a training run did (counts are for the whole store namespace, so a resumed run
    reports the totals).

    Attributes:
        budget: The rollout budget (baseline estimation and admission tests included).
        used: Rollouts recorded against it.
        steps: Training steps started.
        rollouts: Rollouts by kind.
        candidates: Candidate insights by fate (``admitted``, ``rejected``, ``duplicate``,
            ``unusable``; ``untested`` when the budget ran out first: a resumed run with a
            larger budget tests them).
        counters: ``reflections``, ``empty_reflections`` (nothing usable), ``no_contrast``
            (no correct rollout to contrast with), ``reflection_errors``, ExpeL edits...
        insights: Active insights now.
        llm_calls: LLM requests made by this run (reflections and model solves).
        step_llm_calls: LLM requests of this run's training steps (solve, reflection,
            admission; baseline estimation excluded).
        new_steps: Training steps this run completed.
        notes: What the caller should know (a budget stop, a model that kept failing).
    """

    budget: int
    used: int
    steps: int = 0
    rollouts: dict[str, int] = field(default_factory=dict)
    candidates: dict[str, int] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    insights: int = 0
    llm_calls: int = 0
    step_llm_calls: int = 0
    new_steps: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        """True when the whole budget is spent."""
        return self.used >= self.budget

    @property
    def llm_calls_per_step(self) -> float | None:
        """Mean LLM requests per training step of this run."""
        return round(self.step_llm_calls / self.new_steps, 4) if self.new_steps else None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible data."""
        return {"budget": self.budget, "used": self.used, "steps": self.steps,
                "rollouts": dict(self.rollouts), "candidates": dict(self.candidates),
                "counters": dict(self.counters), "insights": self.insights,
                "llm_calls": self.llm_calls, "step_llm_calls": self.step_llm_calls,
                "new_steps": self.new_steps, "llm_calls_per_step": self.llm_calls_per_step,
                "notes": list(self.notes)}


class _Stop(Exception):
    """The budget is spent (or the model keeps failing): stop cleanly."""


class Trainer:
    """Runs training steps on one namespace until the rollout budget is spent.

    Args:
        parts: The store's parts.
        namespace: The namespace trained.
        solver: The solver of every rollout.
        verifier: A verifier for every problem (``None``: each problem's own).
        budget: Total rollout budget of the namespace.
        on_progress: Called after every rollout with a :class:`Progress`.
        on_step: Called after every completed step with the step number (checkpoints).
    """

    def __init__(self, parts: StoreParts, namespace: str, *, solver: Solver, verifier: Any,
                 budget: int, on_progress: Callable[[Progress], Any] | None = None,
                 on_step: Callable[[int], Any] | None = None,
                 admission_kind: str = "admission") -> None:
        self.parts, self.ns, self.solver, self.verifier = parts, namespace, solver, verifier
        self.admission_kind = admission_kind
        self.budget = budget
        self.on_progress = on_progress
        self.on_step = on_step
        self.notes: list[str] = []
        self._failures = 0
        self.new_steps = 0
        self.step_calls = 0

    @property
    def s(self) -> Any:
        return self.parts.settings

    def used(self) -> int:
        """Rollouts recorded against the budget."""
        return self.parts.db.used(self.ns)

    def baseline(self, problem_id: str) -> float:
        """``b_p``: the problem's no-insight success rate; for a problem without baseline
        rollouts (seen online, or the ExpeL baseline), the mean of the namespace's known
        baselines, else 0.5 (uninformed)."""
        found = self.parts.db.baseline(self.ns, problem_id)[1]
        if found is not None:
            return found
        known = [b for _, b in self.parts.db.baselines(self.ns).values()]
        return round(sum(known) / len(known), 12) if known else 0.5

    def online_step(self, problem: Problem, failed: Rollout) -> list[dict[str, Any]]:
        """Learn from one failed online rollout (the self-improving workflow): contrast,
        reflect, screen, dedup and admission test, as a training step numbered below 0.
        Returns the candidates and their fates."""
        db = self.parts.db
        step = -(db.counter(self.ns, "online_steps") + 1)
        with db.db.transaction("online step") as tx:
            db.bump(self.ns, "online_steps", 1, tx)
            db.set_step(self.ns, step, problem_id=problem.id, phase="sampled", conn=tx)
        if self.s.method == "expel":
            self._expel(step, problem, failed)
        else:
            self._reflect(step, problem, failed)
            self._admit(step, problem)
        db.set_step(self.ns, step, phase="done")
        return [{"text": c["text"], "status": c["status"], "reason": c["reason"],
                 "insight_id": c["insight_id"]} for c in db.candidates(self.ns, step)]

    def _tick(self, phase: str, step: int | None = None, reward: float | None = None) -> None:
        if self.on_progress is not None:
            self.on_progress(Progress(phase=phase, used=self.used(), budget=self.budget,
                                      step=step, reward=reward))

    # ------------------------------------------------------------------ the loop
    def run(self) -> None:
        """Baselines, then steps until the budget is spent (or the run must stop)."""
        db = self.parts.db
        problems = db.problems(self.ns, "train")
        try:
            if self.s.method == "core":
                self._baselines(problems)
            step = db.steps_done(self.ns)
            row = db.step(self.ns, step - 1) if step else None
            if row is not None and row["phase"] != "done":
                step -= 1  # resume the step a kill interrupted
            while True:
                if self.used() >= self.budget and db.rollout(self.ns, f"t:{step}") is None:
                    break
                with track_usage() as usage:
                    try:
                        self._step(step, problems)
                    finally:
                        self.step_calls += usage.llm_calls
                self.new_steps += 1
                if self.on_step is not None:
                    self.on_step(step)
                step += 1
        except _Stop as stop:
            if str(stop):
                self.notes.append(str(stop))
        except BudgetExceeded as exc:
            self.notes.append(f"training stopped: {exc}")

    def _rollout(self, rid: str, kind: str, problem: Problem, selection: Selection, *,
                 step: int | None, credit: bool, held_out: tuple[str, ...] = ()) -> Rollout:
        """The rollout ``rid``: recorded before (reused), or run now and recorded."""
        db = self.parts.db
        found = db.rollout(self.ns, rid)
        if found is not None:
            return found
        if self.used() >= self.budget:
            raise _Stop("")
        result, reward, error = attempt(
            self.solver, self.verifier, problem, selection, timeout=self.s.verifier_timeout,
            max_trace_tokens=self.s.max_trace_tokens, tokenizer=self.parts.tokenizer)
        self._failures = self._failures + 1 if (error or "").startswith("solver failed") else 0
        b = self.baseline(problem.id)
        rollout = Rollout(id=rid, kind=kind, step=step, problem_id=problem.id,
                          insight_ids=tuple(selection.ids), answer=result.answer,
                          trace=str(result.trace), reward=reward, error=error,
                          baseline=b if credit else None, insight_tokens=selection.tokens,
                          held_out=held_out)
        u = utility(reward, b)
        pairs = [(i, problem.id, u) for i in selection.ids] if credit else []
        out = [(i, problem.id, u) for i in held_out] if credit else []
        db.record(self.ns, rollout, pairs, left_out=out,
                  retrievals=1 if kind == "train" else 0)
        self._tick(kind, step, reward)
        if self._failures >= MAX_SOLVER_FAILURES:
            raise _Stop(f"training stopped: the solver failed {self._failures} times in a "
                        f"row (last: {error}); check the model and run train again to resume.")
        return rollout

    def _baselines(self, problems: list[Problem]) -> None:
        for i in range(self.s.baseline_samples):
            for problem in problems:
                self._rollout(f"b:{problem.id}:{i}", "baseline", problem, Selection(),
                              step=None, credit=False)

    def _sample(self, step: int, problems: list[Problem]) -> Problem:
        recent = self.parts.db.recent_rewards(self.ns)
        bases = self.parts.db.baselines(self.ns)
        success = [success_estimate(bases.get(p.id, (0, 0.0))[1], recent.get(p.id, []),
                                    self.s.success_window) for p in problems]
        weights = sampling_weights(success, self.s.uniform_mix)
        rng = random.Random(f"{self.s.seed}:{self.ns}:{step}")
        return rng.choices(problems, weights=weights.tolist(), k=1)[0]

    def _step(self, step: int, problems: list[Problem]) -> None:
        db = self.parts.db
        row = db.step(self.ns, step)
        if row is None:
            if not problems:
                raise _Stop("training stopped: the namespace holds no training problems "
                            "(add_problems(..., split='train')).")
            db.set_step(self.ns, step, problem_id=self._sample(step, problems).id,
                        phase="sampled")
            row = db.step(self.ns, step)
        if row["phase"] == "done":
            return
        problem = db.problem(self.ns, row["problem_id"])
        assert problem is not None
        found = db.rollout(self.ns, f"t:{step}")
        selection, held_out = Selection(), ()
        if found is None:
            selection, held_out = self._select(step, problem)
        rollout = self._rollout(f"t:{step}", "train", problem, selection, step=step,
                                credit=True, held_out=held_out)
        if not rollout.correct:
            if self.s.method == "expel":
                self._expel(step, problem, rollout)
            else:
                self._reflect(step, problem, rollout)
                self._admit(step, problem)
        if self.s.prune_every and (step + 1) % self.s.prune_every == 0:
            from memagents.insights.pruning import prune

            prune(self.parts, self.ns)
        db.set_step(self.ns, step, phase="done")

    def _select(self, step: int, problem: Problem) -> tuple[Selection, tuple[str, ...]]:
        """The training selection (utility + exploration); with contrast credit, each
        selected insight is left out with probability ``dropout`` (seeded by the step, so a
        resumed run leaves out the same ones)."""
        selection = self.parts.ranker.select(self.ns, problem.text, explore=True,
                                             problem_id=problem.id)
        if self.s.credit != "contrast" or not selection.hits:
            return selection, ()
        rng = random.Random(f"{self.s.seed}:{self.ns}:{step}:dropout")
        keep = [h for h in selection.hits if rng.random() >= self.s.dropout]
        dropped = tuple(h.id for h in selection.hits if h not in keep)
        _, block, tokens = insight_block([h.text for h in keep], max_tokens=10**9,
                                         tokenizer=self.parts.tokenizer)
        return Selection(hits=keep, block=block, tokens=tokens,
                         notes=selection.notes), dropped

    # ------------------------------------------------------------------ reflection
    def _contrast(self, problem: Problem) -> tuple[Rollout | None, Problem | None]:
        vector = self.parts.ranker.vector(self.ns, problem.text, problem.id)
        success = nearest_correct(self.parts, self.ns, vector)
        found = self.parts.db.problem(self.ns, success.problem_id) if success else None
        return success, found

    def _reflect(self, step: int, problem: Problem, failed: Rollout) -> None:
        db = self.parts.db
        if db.step(self.ns, step)["phase"] != "sampled":
            return  # reflected before a kill: the candidates are recorded
        success, success_problem = self._contrast(problem)
        if success is None and not self.s.reflect_without_contrast:
            with db.db.transaction("no contrast") as tx:
                db.bump(self.ns, "no_contrast", 1, tx)
                db.set_step(self.ns, step, phase="reflected", note="no correct rollout yet",
                            conn=tx)
            return
        try:
            drafts = reflect(self.parts, failed, problem, success, success_problem)
        except (LLMError, MemagentsError) as exc:
            if isinstance(exc, BudgetExceeded):
                raise
            with db.db.transaction("reflection failed") as tx:
                db.bump(self.ns, "reflection_errors", 1, tx)
                db.set_step(self.ns, step, phase="reflected", note=f"reflection failed: {exc}",
                            conn=tx)
            return
        screened = screen([(d.text, d.label) for d in drafts],
                          max_chars=self.s.max_insight_chars,
                          max_candidates=self.s.max_candidates)
        with db.db.transaction("record a reflection") as tx:
            db.add_candidates(self.ns, step, screened, tx)
            db.bump(self.ns, "reflections", 1, tx)
            if not any(status == "new" for _, _, status, _ in screened):
                db.bump(self.ns, "empty_reflections", 1, tx)
            db.set_step(self.ns, step, phase="reflected",
                        contrast_id=success.id if success else None, conn=tx)

    def _admit(self, step: int, problem: Problem) -> None:
        db = self.parts.db
        b = self.baseline(problem.id)
        for cand in db.candidates(self.ns, step):
            if cand["status"] != "new":
                continue
            idx, text = cand["idx"], cand["text"]
            vector = self.parts.embed([text])[0]
            dup = duplicate_of(self.parts, self.ns, text, vector)
            if dup is not None:
                with db.db.transaction("duplicate candidate") as tx:
                    db.adjust(self.ns, dup[0], support=1, conn=tx)
                    db.set_candidate(self.ns, step, idx, "duplicate",
                                     f"repeats {dup[0]} (cosine {dup[1]:.3f})", dup[0], tx)
                continue
            _, block, tokens = insight_block([text], max_tokens=10**9,
                                             tokenizer=self.parts.tokenizer)
            alone = Selection(block=block, tokens=tokens)
            rewards = [self._rollout(f"a:{step}:{idx}:{j}", self.admission_kind, problem, alone,
                                     step=step, credit=False).reward
                       for j in range(self.s.admission_samples)]
            solved = sum(1 for r in rewards if r >= 1 - 1e-9)
            verdict = f"solved {solved} of {len(rewards)} alone (b_p={b:.2f})"
            if not admits(rewards, b, rule=self.s.admission_rule,
                          margin=self.s.admission_margin):
                db.set_candidate(self.ns, step, idx, "rejected", verdict)
                continue
            iid = insight_id(self.ns, text)
            source = {"how": "reflection", "step": step, "problem": problem.id,
                      "failed": f"t:{step}", "contrast": db.step(self.ns, step)["contrast_id"]}
            with db.db.transaction("admit an insight") as tx:
                db.add_insight(self.ns, Insight(id=iid, text=text, namespace=self.ns,
                                                label=cand["label"], source=source), vector)
                for r in rewards:  # the admission rollouts are its first uses on p
                    db.credit(self.ns, iid, problem.id, utility(r, b), tx)
                db.set_candidate(self.ns, step, idx, "admitted", verdict, iid, tx)

    def _expel(self, step: int, problem: Problem, failed: Rollout) -> None:
        if self.parts.db.step(self.ns, step)["phase"] != "sampled":
            return
        success, success_problem = self._contrast(problem)
        expel_update(self.parts, self.ns, step, problem, failed, success, success_problem)
