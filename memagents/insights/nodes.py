"""LangGraph nodes of the insight store: inject insights into a prompt, solve, record an
outcome, learn from a failure.

* :class:`InjectInsightsNode` selects the insights for the state's question (utility on
  similar problems; ``explore=True`` adds the training bonus) and writes the insight block
  to ``state["insight_prompt"]`` (append it to a system prompt) with the ids in
  ``state["insight_ids"]``; an empty store says so in ``notes``.
* :class:`SolveNode` solves the question with the block (one structured call).
* :class:`RecordOutcomeNode` records the attempt: the reward is ``state["reward"]``, else the
  verifier's against ``state["expected"]``; the injected insights get ``u = r − b_p``.
  Without a reward or an expected answer nothing is recorded (a note says so).
* :class:`LearnNode` reflects on a recorded failure and runs the admission test.

All derive from :class:`~memagents.base.node.Node`: the question is ``state["question"]``
(else the last human message) and the namespace follows the one namespace rule.

Example:
    >>> import tempfile
    >>> from memagents.insights.store import InsightStore
    >>> with InsightStore.open(tempfile.mkdtemp(), embeddings="hash") as store:
    ...     _ = store.add(["Round the number of buses up."])
    ...     out = InjectInsightsNode(store).invoke({"question": "How many buses for 41?"})
    >>> out["insight_prompt"].splitlines()[-1], len(out["insight_ids"])
    ('- Round the number of buses up.', 1)
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig

from memagents.base.node import Node
from memagents.base.results import Note
from memagents.base.state import last_message_text
from memagents.insights.records import Problem, problem_id
from memagents.insights.solvers import LLMSolver
from memagents.insights.store import InsightStore

__all__ = ["InjectInsightsNode", "LearnNode", "RecordOutcomeNode", "SolveNode"]

_AI = ("ai", "assistant")


def _problem(node: Node, state: Any) -> Problem:
    text = node.question(state)
    given = node.value(state, "problem_id")
    return Problem(id=str(given) if given else problem_id(text), text=text,
                   answer=node.value(state, "expected"), verifier=node.value(state, "verifier"))


class InjectInsightsNode(Node):
    """Select the insights for the state's question; see the module docstring.

    Args:
        store: The insight store.
        k: Most insights (default: the store's ``top_k``).
        explore: Add the exploration bonus (training-style retrieval).
        namespace: Namespace or template (default: the one namespace rule).
        name: Node name.
    """

    def __init__(self, store: InsightStore, *, k: int | None = None, explore: bool = False,
                 namespace: Any = None, name: str = "inject") -> None:
        self.store, self.k, self.explore = store, k, explore
        self.namespace, self.name = namespace, name

    def _run(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        problem = _problem(self, state)
        selection = self.store.select(problem, explore=self.explore, k=self.k,
                                      namespace=self.resolve_namespace(config))
        return {"insights": [{"id": h.id, "text": h.text, "score": h.score}
                             for h in selection.hits],
                "insight_ids": selection.ids, "insight_prompt": selection.block,
                "insight_tokens": selection.tokens, "problem_id": problem.id,
                **self.notes(selection.notes)}


class SolveNode(Node):
    """Solve the question with ``state["insight_prompt"]`` (prompt ``insights.solve``);
    writes ``answer``, ``trace`` and appends the answer as an AI message.

    Args:
        llm: Chat model, spec or StructuredLLM.
        name: Node name.
    """

    def __init__(self, llm: Any, *, name: str = "solve") -> None:
        self.solver = LLMSolver(llm)
        self.name = name

    def _run(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        problem = _problem(self, state)
        block = self.value(state, "insight_prompt", "") or ""
        result = self.solver(problem, [], block=block)
        return {"answer": result.answer, "trace": result.trace,
                "messages": [AIMessage(content=result.answer)]}


class RecordOutcomeNode(Node):
    """Record the attempt and credit its insights; see the module docstring.

    Args:
        store: The insight store.
        verifier: Verifier for ``state["expected"]`` (default: the state's ``verifier``
            spec, else exact match).
        learn: Also reflect on a failure (as :class:`LearnNode` does).
        name: Node name.
    """

    def __init__(self, store: InsightStore, *, verifier: Any = None, learn: bool = False,
                 namespace: Any = None, name: str = "record") -> None:
        self.store, self.verifier, self.learn = store, verifier, learn
        self.namespace, self.name = namespace, name

    def _run(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        problem = _problem(self, state)
        answer = self.value(state, "answer") or last_message_text(state, _AI) or ""
        reward = self.value(state, "reward")
        if reward is None and problem.answer is None and self.verifier is None:
            return self.notes([Note.info("no reward and no expected answer in the state: "
                                         "the outcome was not recorded (give 'expected' or "
                                         "'reward').")])
        rollout, fates = self.store.record_outcome(
            problem, insight_ids=self.value(state, "insight_ids") or (), answer=str(answer),
            trace=self.value(state, "trace", "") or "", reward=reward, verifier=self.verifier,
            learn=self.learn, namespace=self.resolve_namespace(config))
        notes = [f"verifier: {rollout.error}"] if rollout.error else []
        return {"reward": rollout.reward, "rollout_id": rollout.id, "learned": fates,
                **self.notes(notes)}


class LearnNode(Node):
    """Reflect on the recorded failure ``state["rollout_id"]`` and test its candidates
    (:meth:`InsightStore.learn`); writes ``learned`` (candidates and their fates).

    Args:
        store: The insight store.
        verifier: Verifier of the admission test (default: as the outcome's).
        solver: Solver of the admission test (default: the store's model).
        name: Node name.
    """

    def __init__(self, store: InsightStore, *, verifier: Any = None, solver: Any = None,
                 namespace: Any = None, name: str = "learn") -> None:
        self.store, self.verifier, self.solver = store, verifier, solver
        self.namespace, self.name = namespace, name

    def _run(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        rollout_id = self.value(state, "rollout_id")
        if not rollout_id:
            return {"learned": []}
        fates = self.store.learn(_problem(self, state), str(rollout_id), solver=self.solver,
                                 verifier=self.verifier,
                                 namespace=self.resolve_namespace(config))
        admitted = sum(1 for f in fates if f["status"] == "admitted")
        notes = [Note.info(f"learned from the failure: {len(fates)} candidate(s), "
                           f"{admitted} admitted")] if fates else []
        return {"learned": fates, **self.notes(notes)}
