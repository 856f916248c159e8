"""The learning methods of :class:`~memagents.insights.store.InsightStore`: ``train``,
``record_outcome`` and ``learn`` (a mixin, so the facade stays one screenful per concern).

They drive :class:`~memagents.insights.learner.Trainer` over the store's parts: training to a
rollout budget (resumable), recording an attempt made elsewhere with its credit, and learning
from a recorded failure (reflection and admission test).

Example:
    >>> [m for m in ("train", "record_outcome", "learn") if callable(vars(LearningMethods)[m])]
    ['train', 'record_outcome', 'learn']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from memagents.errors import InputError
from memagents.insights.db import InsightDB
from memagents.insights.evaluation import EvalReport
from memagents.insights.learner import Progress, Trainer, TrainReport
from memagents.insights.parts import Solver, StoreParts, attempt
from memagents.insights.records import Attempt, Problem, Rollout, as_problems
from memagents.insights.retrieval import Selection
from memagents.insights.settings import InsightSettings
from memagents.insights.solvers import render_trace
from memagents.models import StructuredLLM
from memagents.models.usage import track_usage

__all__ = ["LearningMethods"]


class LearningMethods:
    """``train``, ``record_outcome`` and ``learn`` of the insight store (a mixin)."""

    _db: InsightDB
    _parts: StoreParts

    @property
    def settings(self) -> InsightSettings:  # provided by the store
        raise NotImplementedError

    def _ns(self, namespace: str | None) -> str:  # provided by the store
        raise NotImplementedError

    def _solver(self, solver: Solver | None) -> Solver:  # provided by the store
        raise NotImplementedError

    def add_problems(self, problems: Sequence[Any], *, split: str = "train",
                     namespace: str | None = None) -> list[str]:  # provided by the store
        raise NotImplementedError

    def evaluate(self, problems: Sequence[Any], **kw: Any) -> EvalReport:  # by the store
        raise NotImplementedError

    def train(self, rollouts: int, *, problems: Sequence[Any] | None = None,
              solver: Solver | None = None, verifier: Any = None,
              namespace: str | None = None,
              on_progress: Callable[[Progress], Any] | None = None,
              eval_problems: Sequence[Any] | None = None, eval_every: int | None = None,
              eval_modes: Sequence[str] = ("core",)) -> TrainReport:
        """Train until ``rollouts`` rollouts are recorded in the namespace (baseline
        estimation and admission tests count; a second call with a larger number continues,
        and a run killed midway resumes without counting a rollout twice).

        Args:
            rollouts: The total rollout budget.
            problems: Training problems to add first (or add them with
                :meth:`add_problems`).
            solver: Solver of every rollout (default: one structured call per rollout with
                the store's model); a :class:`~memagents.insights.solvers.GraphSolver` runs
                a LangGraph agent and the reflection reads its messages and tool calls.
            verifier: A callback ``verifier(answer, problem) -> reward`` or a verifier spec
                for every problem (default: each problem's own, else exact match).
            namespace: The namespace trained.
            on_progress: Called with a :class:`~memagents.insights.learner.Progress` after
                every rollout.
            eval_problems: Held-out problems evaluated at the start, every ``eval_every``
                rollouts and at the end (the learning curve, :meth:`curve`).
            eval_every: Rollouts between evaluations.
            eval_modes: Evaluation modes of the curve (``core``, ``none``, ``random``).
        """
        ns = self._ns(namespace)
        if isinstance(rollouts, bool) or not isinstance(rollouts, int) or rollouts < 1:
            raise InputError(f"rollouts must be a positive integer budget, got {rollouts!r}.")
        if problems:
            self.add_problems(problems, split="train", namespace=ns)
        if not self._db.problems(ns, "train"):
            raise InputError(f"namespace {ns!r} holds no training problems: pass problems= or "
                             "call add_problems(..., split='train') first.")
        self._parts.llm = StructuredLLM.coerce(self._parts.llm, require="training insights")
        chosen = self._solver(solver)
        held_out = as_problems(eval_problems) if eval_problems else []
        every = eval_every or 0
        marks = {"next": 0}

        def checkpoint(force: bool = False) -> None:
            used = self._db.used(ns)
            if not held_out or (not force and used < marks["next"]):
                return
            for mode in eval_modes:
                self.evaluate(held_out, mode=mode, solver=chosen, verifier=verifier,
                              namespace=ns, record=True)
            marks["next"] = (used // every + 1) * every if every else rollouts + 1

        checkpoint(force=not self._db.curve(ns))
        trainer = Trainer(self._parts, ns, solver=chosen, verifier=verifier, budget=rollouts,
                          on_progress=on_progress, on_step=lambda step: checkpoint())
        with track_usage() as usage:
            trainer.run()
        if held_out and max((p[0] for s in self._db.curve(ns).values() for p in s),
                            default=-1) < self._db.used(ns):
            checkpoint(force=True)
        candidates = self._db.candidate_counts(ns)
        if "new" in candidates:
            candidates["untested"] = candidates.pop("new")
        return TrainReport(
            budget=rollouts, used=self._db.used(ns), steps=self._db.steps_done(ns),
            rollouts=self._db.rollout_counts(ns), candidates=candidates,
            counters=self._db.counters(ns), insights=len(self._db.insight_matrix(ns)[0]),
            llm_calls=usage.llm_calls, step_llm_calls=trainer.step_calls,
            new_steps=trainer.new_steps, notes=trainer.notes)

    def record_outcome(self, problem: Any, *, insight_ids: Sequence[str] = (),
                       answer: str = "", trace: Any = "", reward: float | None = None,
                       verifier: Any = None, learn: bool = False,
                       solver: Solver | None = None, namespace: str | None = None
                       ) -> tuple[Rollout, list[dict[str, Any]]]:
        """Record an attempt made outside training and credit the insights it used.

        The reward is ``reward`` when given, else the verifier's (``verifier`` or the
        problem's own). Every insight of ``insight_ids`` gets ``u = r − b_p`` (a problem
        without baseline: the mean of the namespace's baselines, else 0.5). With
        ``learn=True`` a failure is reflected on against the nearest correct rollout and its
        candidates take the admission test (``solver`` runs it). Returns the rollout and the
        candidates with their fates.
        """
        ns = self._ns(namespace)
        p = Problem.of(problem)
        self.add_problems([p], split="online", namespace=ns)
        error = None
        if reward is None:
            selection = Selection()
            _, reward, error = attempt(lambda *a, **k: Attempt(answer=answer, trace=trace),
                                       verifier, p, selection,
                                       timeout=self.settings.verifier_timeout)
        trainer = Trainer(self._parts, ns, solver=self._solver(solver), verifier=verifier,
                          budget=0)
        b = trainer.baseline(p.id)
        known = {i.id for i in self._db.insights(ns, status=None, ids=list(insight_ids))}
        rollout = Rollout(id=f"o:{self._db.counter(ns, 'online') + 1}", kind="online",
                          problem_id=p.id, insight_ids=tuple(i for i in insight_ids
                                                             if i in known),
                          answer=str(answer), reward=float(reward), error=error, baseline=b,
                          trace=render_trace(trace, max_tokens=self.settings.max_trace_tokens,
                                             tokenizer=self._parts.tokenizer))
        with self._db.db.transaction("record an outcome") as tx:
            self._db.bump(ns, "online", 1, tx)
            self._db.record(ns, rollout, [(i, p.id, round(rollout.reward - b, 12))
                                          for i in rollout.insight_ids], retrievals=1)
        fates = self.learn(p, rollout.id, solver=solver, verifier=verifier,
                           namespace=ns) if learn and not rollout.correct else []
        return rollout, fates

    def learn(self, problem: Any, rollout_id: str, *, solver: Solver | None = None,
              verifier: Any = None, namespace: str | None = None) -> list[dict[str, Any]]:
        """Learn from a recorded failed rollout (:meth:`record_outcome`): contrast it with
        the nearest correct rollout, reflect, screen, dedup, and run the admission test of
        each candidate with ``solver``. Returns the candidates and their fates (``[]`` when
        the rollout was correct)."""
        ns = self._ns(namespace)
        p = Problem.of(problem)
        rollout = self._db.rollout(ns, rollout_id)
        if rollout is None:
            raise InputError(f"no rollout {rollout_id!r} in namespace {ns!r}: record the "
                             "outcome first (record_outcome).")
        if rollout.correct:
            return []
        self._parts.llm = StructuredLLM.coerce(self._parts.llm, require="learning insights")
        trainer = Trainer(self._parts, ns, solver=self._solver(solver), verifier=verifier,
                          budget=10**12, admission_kind="online_admission")
        return trainer.online_step(p, rollout)
