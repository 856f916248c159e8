"""The self-improving solver as a compiled LangGraph graph.

::

    START -> inject -> solve -> record --(failed, learning on)--> learn -> END
                                   \\----------------(else)-----------------> END

``inject`` selects the insights for the question (utility on similar problems), ``solve``
answers with them (one structured call), ``record`` verifies the answer against
``expected`` (or takes a given ``reward``) and credits the injected insights with
``r − b_p``, and after a failure ``learn`` contrasts the attempt with the nearest correct
rollout, reflects and runs the admission test of each candidate: the next problem benefits.
A run without ``expected`` or ``reward`` is answered but not recorded (a note says so).

Input ``{"question": ..., "expected": ...}`` (or a human message); per-run ``namespace`` in
``configurable`` or the context. The answer is also appended to ``messages``.

Example:
    >>> import tempfile
    >>> from memagents.insights.store import InsightStore
    >>> from memagents.testing import ScriptedChatModel
    >>> llm = ScriptedChatModel(default={"reasoning": "7 × 6", "answer": "42"})
    >>> with InsightStore.open(tempfile.mkdtemp(), llm=llm, embeddings="hash") as store:
    ...     graph = build_insight_solver(llm, store)
    ...     out = graph.invoke({"question": "What is 7 × 6?", "expected": "42"})
    >>> out["answer"], out["reward"], out["notes"]
    ('42', 1.0, ['the insight store holds no insights here: solving without insights'])
"""

from __future__ import annotations

import operator
from typing import Annotated, Any

from langchain_core.messages import AnyMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict

from memagents.insights.nodes import InjectInsightsNode, LearnNode, RecordOutcomeNode, SolveNode
from memagents.insights.store import InsightStore

__all__ = ["InsightSolverInput", "InsightSolverState", "build_insight_solver"]


class InsightSolverInput(TypedDict, total=False):
    """A run's input: the problem, and how to judge the answer."""

    question: str
    messages: Annotated[list[AnyMessage], add_messages]
    expected: str
    verifier: Any
    reward: float
    problem_id: str


class InsightSolverState(InsightSolverInput, total=False):
    """The workflow's state.

    Attributes:
        insights: The injected insights (``id``, ``text``, ``score``).
        insight_ids: Their ids.
        insight_prompt: The insight block given to the solver.
        insight_tokens: Its tokens.
        answer: The answer.
        trace: The solver's reasoning.
        reward: The verifier's reward (or the one given).
        rollout_id: The recorded rollout.
        learned: Candidates of the reflection after a failure, with their fates.
        notes: What the nodes had to say.
    """

    insights: list[dict[str, Any]]
    insight_ids: list[str]
    insight_prompt: str
    insight_tokens: int
    answer: str
    trace: Any
    rollout_id: str
    learned: list[dict[str, Any]]
    notes: Annotated[list[str], operator.add]


def build_insight_solver(llm: Any, store: InsightStore, *, verifier: Any = None,
                         learn: bool = True, explore: bool = False,
                         checkpointer: Any = None, name: str = "insight_solver") -> Any:
    """Compile the self-improving solver over ``store`` (see the module docstring).

    Args:
        llm: Chat model, spec or StructuredLLM of the solve step (the store's model
            reflects and runs admission tests).
        store: The insight store.
        verifier: Verifier of ``expected`` (default: the state's ``verifier`` spec, else
            exact match).
        learn: Reflect on failures and admit insights (off: only record and credit).
        explore: Retrieve with the exploration bonus (training-style).
        checkpointer: LangGraph checkpointer (LangGraph Server brings its own).
        name: The graph's name.
    """
    builder = StateGraph(InsightSolverState, input_schema=InsightSolverInput)
    builder.add_node("inject", InjectInsightsNode(store, explore=explore))
    builder.add_node("solve", SolveNode(llm))
    builder.add_node("record", RecordOutcomeNode(store, verifier=verifier))
    builder.add_node("learn", LearnNode(store, verifier=verifier))
    builder.add_edge(START, "inject")
    builder.add_edge("inject", "solve")
    builder.add_edge("solve", "record")

    def after_record(state: dict[str, Any]) -> str:
        failed = state.get("rollout_id") and (state.get("reward") or 0.0) < 1.0 - 1e-9
        return "learn" if learn and failed else END

    builder.add_conditional_edges("record", after_record, ["learn", END])
    builder.add_edge("learn", END)
    return builder.compile(checkpointer=checkpointer, name=name)
