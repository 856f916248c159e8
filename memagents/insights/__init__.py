"""Insight store (CORE): agents that learn short insights by contrasting failed and
successful attempts, keep the ones that measurably help, and inject the most useful ones.

Spec: ``../shared/docs/methods/core.md``. The parts:

* :class:`InsightStore`, the facade on the capability contract (``add`` / ``search`` /
  ``get`` / ``delete``, plus ``train``, ``evaluate``, ``record_outcome``, ``prune``), with
  the shared adapters (``node()``, ``as_retriever()``, ``as_tools()``, ``as_store()``);
* :class:`InsightSettings`: every open parameter, with its documented default;
* verifiers (:class:`ExactMatch`, :class:`NumericTolerance`, :class:`RegexMatch`,
  :class:`UnitTests`, or any callback) and solvers (:class:`LLMSolver`,
  :class:`GraphSolver` for multi-step LangGraph runs);
* LangGraph nodes (:class:`InjectInsightsNode`, :class:`SolveNode`,
  :class:`RecordOutcomeNode`, :class:`LearnNode`) and the compiled self-improving solver
  (:func:`build_insight_solver`);
* the command line ``memagents insights train|eval|list|show|prune``.

``import memagents.insights`` is cheap: names load their modules on first use.

Example:
    >>> from memagents.insights import InsightSettings
    >>> InsightSettings().top_k
    25
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from memagents._lazy import lazy_exports

if TYPE_CHECKING:
    from memagents.insights.evaluation import EvalReport, EvalResult
    from memagents.insights.learner import Progress, TrainReport
    from memagents.insights.nodes import (
        InjectInsightsNode,
        LearnNode,
        RecordOutcomeNode,
        SolveNode,
    )
    from memagents.insights.pruning import PruneReport
    from memagents.insights.records import Attempt, Insight, InsightHit, Problem, Rollout
    from memagents.insights.retrieval import Selection
    from memagents.insights.settings import InsightSettings
    from memagents.insights.solvers import GraphSolver, LLMSolver
    from memagents.insights.store import InsightStore
    from memagents.insights.verifiers import (
        ExactMatch,
        NumericTolerance,
        RegexMatch,
        UnitTests,
        run_verifier,
    )
    from memagents.insights.workflow import build_insight_solver

_WHERE = {
    "Attempt": "memagents.insights.records",
    "EvalReport": "memagents.insights.evaluation",
    "EvalResult": "memagents.insights.evaluation",
    "ExactMatch": "memagents.insights.verifiers",
    "GraphSolver": "memagents.insights.solvers",
    "InjectInsightsNode": "memagents.insights.nodes",
    "Insight": "memagents.insights.records",
    "LearnNode": "memagents.insights.nodes",
    "SolveNode": "memagents.insights.nodes",
    "InsightHit": "memagents.insights.records",
    "InsightSettings": "memagents.insights.settings",
    "InsightStore": "memagents.insights.store",
    "LLMSolver": "memagents.insights.solvers",
    "NumericTolerance": "memagents.insights.verifiers",
    "Problem": "memagents.insights.records",
    "Progress": "memagents.insights.learner",
    "PruneReport": "memagents.insights.pruning",
    "RecordOutcomeNode": "memagents.insights.nodes",
    "RegexMatch": "memagents.insights.verifiers",
    "Rollout": "memagents.insights.records",
    "Selection": "memagents.insights.retrieval",
    "TrainReport": "memagents.insights.learner",
    "UnitTests": "memagents.insights.verifiers",
    "build_insight_solver": "memagents.insights.workflow",
    "run_verifier": "memagents.insights.verifiers",
}

__all__ = [
    "Attempt",
    "EvalReport",
    "EvalResult",
    "ExactMatch",
    "GraphSolver",
    "InjectInsightsNode",
    "Insight",
    "LearnNode",
    "InsightHit",
    "InsightSettings",
    "InsightStore",
    "LLMSolver",
    "NumericTolerance",
    "Problem",
    "Progress",
    "PruneReport",
    "RecordOutcomeNode",
    "RegexMatch",
    "Rollout",
    "Selection",
    "SolveNode",
    "TrainReport",
    "UnitTests",
    "build_insight_solver",
    "run_verifier",
]

__getattr__, __dir__ = lazy_exports(__name__, _WHERE, globals())
