"""The HGMem loop as a compiled LangGraph graph.

::

    START -> start -> retrieve -> evolve --(step >= 2, merging on)--> merge --+
                         ^           |                                       |
                         |           +------------(last step, or stop)-------+--> answer -> END
                         |           |                                       |
                         |           +----------------> plan <---------------+
                         |                               |  \\--(sufficient / no concern)--> answer
                         +------------- subqueries <-----+
                            (none new: answer)

One round (``../shared/docs/methods/hgmem.md`` §4-8): ``retrieve`` reads the
:class:`~memagents.base.knowledge.KnowledgeIndex` for the current sub-queries (each one a local
investigation around the memory points it names, or a global exploration outside memory);
``evolve`` inserts/updates points (one structured call); ``merge`` merges cohesive points
(from the second step; ``merge="auto"`` skips it for single-fact questions); ``plan`` judges
the memory (sufficient / dig deeper / explore, at most three concerns) with hints from the
index around the memory and, in the same reply, writes one sub-query per concern;
``subqueries`` (no LLM call) checks them: one per concern, none repeating the question or an
earlier sub-query. The loop stops on "sufficient", at ``max_steps`` (**no planning call in the
last round**), when nothing new is left to ask, or when the
:class:`~memagents.models.Budget` is exhausted (a note, then an answer from what the memory
holds). ``answer`` answers from the memory points plus, per point, inner and outer evidence
passages.

LLM calls per question: at most ``3 × max_steps − 1`` (within the goal ``2 + 3 × max_steps``):
step 1 costs evolve and plan; a middle step evolve, merge and plan; the last step evolve and
merge; plus the answer (``max_steps=1``: 2; ``max_steps=3``: at most 8). Re-asks of a
malformed reply, and the one re-ask of an evolve reply whose requests were all refused, come
on top (counted in ``usage["retries"]`` and ``usage["llm_calls"]``).

Streaming: every node changing the memory puts the step's :meth:`MemoryDiff.to_dict
<memagents.hypermem.core.MemoryDiff.to_dict>` in its update under ``"diff"``::

    for update in graph.stream({"question": q}, stream_mode="updates"):
        for node, change in update.items():
            if change.get("diff"): print(node, change["diff"]["added"])

Threads: with a checkpointer and ``keep_memory=True`` (builder option, input key, or context
field), a follow-up question on the same ``thread_id`` starts from the memory held. A turn is
``{"question": ...}`` or, in a chat, ``{"messages": [("user", ...)]}``: the answer is appended
as an AI message, and a new human message is the next turn's question even though the
checkpointed ``question`` still holds the previous one
(:func:`~memagents.base.state.turn_question`).

Example:
    >>> from memagents.base.results import Hit, SearchHits
    >>> from memagents.testing import ScriptedChatModel
    >>> class Empty:  # a KnowledgeIndex with nothing in it
    ...     def search_entities(self, query, k=5, **kw): return []
    ...     def get_entities(self, names, **kw): return []
    ...     def entity_neighbours(self, names, hops=1, **kw): return []
    ...     def search_relations(self, query, k=5, **kw): return []
    ...     def search_passages(self, query, k=5, **kw): return SearchHits([])
    >>> graph = build_hypergraph_rag(ScriptedChatModel(default="{}"), Empty())
    >>> out = graph.invoke({"question": "Who founded Velm Press?"})
    >>> out["answer"], out["stop_reason"], out["usage"]
    ('I do not know: no evidence about this question was found.', 'no_evidence', {})
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from langchain_core.documents import Document
from langchain_core.messages import AnyMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict

from memagents.base.knowledge import KnowledgeIndex
from memagents.errors import InputError
from memagents.hypermem.nodes import (
    USAGE_RESET,
    AnswerNode,
    EvolveNode,
    HypergraphOptions,
    LoopParts,
    MergeNode,
    PlanNode,
    RetrieveNode,
    StartNode,
    SubQueryNode,
    should_merge,
)
from memagents.models import Budget, StructuredLLM

__all__ = [
    "HypergraphRAGContext",
    "HypergraphRAGInput",
    "HypergraphRAGState",
    "add_usage",
    "build_hypergraph_rag",
]


def add_usage(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any]:
    """Reducer of ``state["usage"]``: sums counters; an update holding the reset marker
    starts again (each question of a thread counts its own usage).

    >>> add_usage({"llm_calls": 2}, {"llm_calls": 1})
    {'llm_calls': 3}
    >>> add_usage({"llm_calls": 2}, {"__reset__": 1})
    {}
    """
    if new and USAGE_RESET in new:
        return {k: v for k, v in new.items() if k != USAGE_RESET}
    out = dict(old or {})
    for k, v in (new or {}).items():
        out[k] = out.get(k, 0) + v
    return out


class HypergraphRAGInput(TypedDict, total=False):
    """What a run takes: the question (or a human message in ``messages``, for chat
    threads), and optionally whether to keep the thread's memory."""

    question: str
    messages: Annotated[list[AnyMessage], add_messages]
    keep_memory: bool


class HypergraphRAGState(TypedDict, total=False):
    """The loop's state (plain values; checkpoint-friendly).

    Attributes:
        question: The main question of this turn (given, or the turn's human message).
        messages: The chat thread, when the graph is used as a chat agent: each turn's
            answer is appended as an AI message, and a new human message is the next turn's
            question even though ``question`` still holds the previous one.
        keep_memory: Per-run override of the builder's ``keep_memory``.
        memory: The memory, :meth:`HypergraphMemory.to_dict
            <memagents.hypermem.core.HypergraphMemory.to_dict>`.
        max_steps: Step limit of this run.
        step: Retrieval rounds run so far in this turn.
        subqueries: Current sub-queries: ``{"query", "points", "mode"}`` (``mode``: ``open``
            for the question itself, ``local`` or ``global``).
        asked: Every sub-query of this turn, the question first.
        retrieved: Ids of every passage retrieved (this turn; the thread's when keeping
            memory), the pool of the final evidence.
        context: The current step's retrieval (:meth:`Evidence.to_dict
            <memagents.hypermem.retrieval.Evidence.to_dict>`).
        diff: The last memory change (:meth:`MemoryDiff.to_dict
            <memagents.hypermem.core.MemoryDiff.to_dict>`).
        judgement: The planner's last judgement: ``sufficient``, ``dig_deeper``, ``explore``.
        concerns: Its concerns: ``{"text", "points"}``.
        single_fact: Whether the planner judged the question single-fact.
        hints: Names of the hint entities shown to the planner.
        stop_reason: ``sufficient``, ``max_steps``, ``budget``, ``no_evidence``,
            ``no_concerns`` or ``no_new_subqueries``.
        answer / explanation / known: The final answer.
        evidence: The final evidence passages (``{"id", "text", "score", "points"}``).
        documents: The same as langchain ``Document``s (the package's convention).
        notes: What the nodes had to say (also logged).
        usage: LLM usage of this question (counters of :class:`~memagents.models.Usage`).
    """

    question: str
    messages: Annotated[list[AnyMessage], add_messages]
    keep_memory: bool | None
    memory: dict[str, Any]
    max_steps: int
    step: int
    subqueries: list[dict[str, Any]]
    asked: list[str]
    retrieved: list[str]
    context: dict[str, Any] | None
    diff: dict[str, Any] | None
    judgement: str | None
    concerns: list[dict[str, Any]]
    single_fact: bool | None
    hints: list[str]
    stop_reason: str | None
    answer: str | None
    explanation: str | None
    known: bool | None
    evidence: list[dict[str, Any]]
    documents: list[Document]
    notes: Annotated[list[str], operator.add]
    usage: Annotated[dict[str, Any], add_usage]


@dataclass(frozen=True, kw_only=True, slots=True)
class HypergraphRAGContext:
    """Per-run settings (``invoke(..., context=HypergraphRAGContext(...))``).

    Attributes:
        max_steps: Step limit of this run (default: the builder's).
        keep_memory: Start from the thread's memory (default: the builder's).
        namespace: Namespace of the knowledge index to read.
    """

    max_steps: int | None = None
    keep_memory: bool | None = None
    namespace: str | None = None

    def __post_init__(self) -> None:
        if self.max_steps is not None and (isinstance(self.max_steps, bool) or
                                           not isinstance(self.max_steps, int) or
                                           self.max_steps < 1):
            raise InputError(f"max_steps must be a positive integer, got {self.max_steps!r}.")



def _after_retrieve(state: Any) -> Literal["evolve", "answer"]:
    return "answer" if state.get("stop_reason") else "evolve"


def _make_after_evolve(policy: str) -> Any:
    def after_evolve(state: Any) -> Literal["merge", "plan", "answer"]:
        if state.get("stop_reason") == "budget":
            return "answer"
        points = len((state.get("memory") or {}).get("points") or ())
        if int(state.get("step") or 0) >= 2 and points >= 2 and should_merge(
                policy, state.get("question") or "", state.get("single_fact")):  # type: ignore[arg-type]
            return "merge"
        return "answer" if state.get("stop_reason") else "plan"

    return after_evolve


def _after_merge(state: Any) -> Literal["plan", "answer"]:
    return "answer" if state.get("stop_reason") else "plan"


def _after_plan(state: Any) -> Literal["subqueries", "answer"]:
    return "answer" if state.get("stop_reason") else "subqueries"


def _after_subqueries(state: Any) -> Literal["retrieve", "answer"]:
    return "answer" if state.get("stop_reason") else "retrieve"


def build_hypergraph_rag(
    llm: Any,
    index: KnowledgeIndex,
    *,
    options: HypergraphOptions | None = None,
    budget: Budget | None = None,
    checkpointer: Any = None,
    store: Any = None,
    namespace: str | None = None,
    name: str = "hypergraph_rag",
    **option_overrides: Any,
) -> Any:
    """Compile the HGMem loop.

    Args:
        llm: Chat model: a ``BaseChatModel``, a spec such as ``"openai:gpt-4o-mini"``, or a
            :class:`~memagents.models.StructuredLLM` (its usage and budget are shared).
        index: The :class:`~memagents.base.knowledge.KnowledgeIndex` to read (graph memory,
            or any object with its methods).
        options: :class:`~memagents.hypermem.nodes.HypergraphOptions`; single fields can be
            given as keywords instead (``max_steps=2, merge="never"``).
        budget: LLM budget (a :class:`~memagents.models.Budget`) checked before every call;
            when exhausted the loop stops with a note and answers from memory.
        checkpointer: Optional LangGraph checkpointer (threads; resume after a failure).
        store: Optional LangGraph store.
        namespace: Index namespace (default: ``configurable["namespace"]``, then the
            context's).
        name: Graph name.

    Returns:
        The compiled graph (input :class:`HypergraphRAGInput`, state
        :class:`HypergraphRAGState`, context :class:`HypergraphRAGContext`).

    Raises:
        InputError: ``index`` lacks a KnowledgeIndex method, or an option is invalid.
    """
    if not isinstance(index, KnowledgeIndex):
        raise InputError(
            f"index must implement the KnowledgeIndex protocol (search_entities, get_entities, "
            f"entity_neighbours, search_relations, search_passages), got "
            f"{type(index).__name__}.")
    opts = options or HypergraphOptions()
    if option_overrides:
        from dataclasses import fields, replace

        known = {f.name for f in fields(HypergraphOptions)}
        unknown = sorted(set(option_overrides) - known)
        if unknown:
            raise InputError(f"unknown option(s) {', '.join(unknown)}; known: "
                             f"{', '.join(sorted(known))}.")
        opts = replace(opts, **option_overrides)
    structured = StructuredLLM.coerce(llm, budget=budget)
    if structured.configured:
        _ = structured.tokenizer  # resolve now, not inside an event loop
    parts = LoopParts(llm=structured, index=index, options=opts, namespace=namespace)

    builder = StateGraph(HypergraphRAGState, context_schema=HypergraphRAGContext,
                         input_schema=HypergraphRAGInput)
    for node in (StartNode, RetrieveNode, EvolveNode, MergeNode, PlanNode, SubQueryNode,
                 AnswerNode):
        builder.add_node(node.name, node(parts))
    builder.add_edge(START, "start")
    builder.add_edge("start", "retrieve")
    builder.add_conditional_edges("retrieve", _after_retrieve, ["evolve", "answer"])
    builder.add_conditional_edges("evolve", _make_after_evolve(opts.merge),
                                  ["merge", "plan", "answer"])
    builder.add_conditional_edges("merge", _after_merge, ["plan", "answer"])
    builder.add_conditional_edges("plan", _after_plan, ["subqueries", "answer"])
    builder.add_conditional_edges("subqueries", _after_subqueries, ["retrieve", "answer"])
    builder.add_edge("answer", END)
    return builder.compile(checkpointer=checkpointer, store=store, name=name)
