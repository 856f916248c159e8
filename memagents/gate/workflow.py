"""A compiled adaptive-RAG workflow: retrieve only when parametric memory is not enough.

::

    START -> gate --(retrieve)--> retrieve -> answer --(need more, bounded)--> retrieve
                 \\--(recall)----------------> answer -> END

The ``gate`` node runs a :class:`~memagents.gate.gate.RetrievalGate` (default: Adapt-LLM, which
answers closed-book or emits ``<RET>``); when it recalls, ``answer`` returns the gate's own
closed-book answer (the fast path: one model call in all). When it retrieves, ``retrieve``
searches the retriever (a ``GraphMemory`` or any langchain ``BaseRetriever``) and ``answer``
resolves the evidence against the parametric answer with a
:class:`~memagents.gate.conflict.ConflictPolicy`. A resolution asking for more retrieval loops
back to ``retrieve`` with a larger ``k`` (``n * k`` on round ``n``), at most
``max_retrievals`` rounds in all; the last round must answer.

Per-run settings go in the context (:class:`AdaptiveRAGContext`: ``k``, ``namespace``,
``user_id``), read by the retrieval node from ``runtime.context``. A ``user_id`` selects a
memory namespace only through a template given to the builder (the namespace rule of
:mod:`memagents.base`)::

    graph = build_adaptive_rag(llm, memory, namespace="users/{user_id}")
    graph.invoke({"question": "..."}, context=AdaptiveRAGContext(k=5, user_id="ada"))

Retrieved passages are ``state["documents"]`` (langchain ``Document``s); notes such as
"namespace 'users/ada' holds no indexed passages" accumulate in ``state["notes"]``.

Example:
    >>> from langchain_core.documents import Document
    >>> from langchain_core.retrievers import BaseRetriever
    >>> from memagents.gate.gate import RetrievalGate
    >>> from memagents.testing import ScriptedChatModel
    >>> class Docs(BaseRetriever):
    ...     def _get_relevant_documents(self, query, *, run_manager):
    ...         return [Document("Hollin Bay lies in Quillmere.", id="p7")]
    >>> llm = ScriptedChatModel(rules=[
    ...     ("given the context", {"answer": "Quillmere", "supported": True})])
    >>> graph = build_adaptive_rag(llm, Docs(), gate=RetrievalGate("always"))
    >>> out = graph.invoke({"question": "Where is Hollin Bay?"})
    >>> out["answer"], out["answer_source"], [d.id for d in out["documents"]]
    ('Quillmere', 'evidence', ['p7'])
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langgraph.graph import END, START, StateGraph
from typing_extensions import Required, TypedDict

from memagents.errors import InputError
from memagents.gate.nodes import answer_node, gate_node, retrieve_node, route_after_gate
from memagents.models import StructuredLLM

__all__ = [
    "AdaptiveRAGContext",
    "AdaptiveRAGInput",
    "AdaptiveRAGState",
    "build_adaptive_rag",
    "make_loop_router",
]


class AdaptiveRAGInput(TypedDict, total=False):
    """What a run takes: the question and optional per-question metadata (``s_pop``, ``prop``)."""

    question: Required[str]
    metadata: dict[str, Any]


class AdaptiveRAGState(TypedDict, total=False):
    """The state of the adaptive-RAG workflow (checkpoint-friendly values).

    Attributes:
        question: The question.
        metadata: Per-question facts for the gate (``s_pop``, ``prop``...).
        decision: The gate's :class:`~memagents.gate.base.Decision` as a dict.
        parametric_answer: The gate's closed-book answer, when its policy produced one.
        documents: Retrieved passages, langchain ``Document``s (``metadata``: ``id``,
            ``source``, ``score``), the key ``memory.node()`` writes too.
        retrievals: Retrieval rounds run so far in this turn.
        retrieval_k: ``k`` of the last retrieval round.
        answer: The final answer.
        answer_source: ``parametric``, ``evidence``, ``abstain`` or ``need_more_retrieval``.
        conflict: Whether evidence and parametric answers disagreed.
        resolution: The conflict :class:`~memagents.gate.conflict.Resolution` as a dict
            (``None`` on the closed-book path).
        notes: What the nodes had to say (an empty namespace, retrieval decided but no
            documents); appended to, also logged at WARNING on the ``"memagents"`` logger.
    """

    question: Required[str]
    metadata: dict[str, Any]
    decision: dict[str, Any]
    parametric_answer: str | None
    documents: list[Document] | None
    retrievals: int | None
    retrieval_k: int | None
    answer: str | None
    answer_source: str | None
    conflict: bool | None
    resolution: dict[str, Any] | None
    notes: Annotated[list[str], operator.add]


#: Fields of a previous turn the gate clears (a checkpointed thread keeps the last state).
TURN_FIELDS = ("documents", "retrievals", "retrieval_k", "answer", "answer_source", "conflict",
               "resolution")


@dataclass(frozen=True, kw_only=True, slots=True)
class AdaptiveRAGContext:
    """Per-run settings of the workflow (``invoke(..., context=AdaptiveRAGContext(...))``).

    Attributes:
        k: Passages to retrieve (default: the ``k`` the graph was built with).
        namespace: Memory namespace to search (GraphMemory retrievers).
        user_id: The user; fills a ``{user_id}`` field of the builder's ``namespace``
            template (``build_adaptive_rag(..., namespace="users/{user_id}")``). It is never
            a namespace by itself.

    Example:
        >>> AdaptiveRAGContext(k=5, user_id="ada").k
        5
    """

    k: int | None = None
    namespace: str | None = None
    user_id: str | None = None

    def __post_init__(self) -> None:
        if self.k is not None and (isinstance(self.k, bool) or not isinstance(self.k, int)
                                   or self.k < 1):
            raise InputError(f"AdaptiveRAGContext.k must be a positive integer, got {self.k!r}.")
        for name in ("namespace", "user_id"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise InputError(
                    f"AdaptiveRAGContext.{name} must be a non-empty string, got {value!r}."
                )


def make_loop_router(max_retrievals: int) -> Any:
    """Router after ``answer``: back to ``retrieve`` while a resolution asks for more
    retrieval and fewer than ``max_retrievals`` rounds ran, else ``END``.

    >>> router = make_loop_router(2)
    >>> router({"answer_source": "need_more_retrieval", "retrievals": 1})
    'retrieve'
    >>> router({"answer_source": "need_more_retrieval", "retrievals": 2})
    '__end__'
    """

    def route_after_answer(state: Any) -> Literal["retrieve", "__end__"]:
        more = state.get("answer_source") == "need_more_retrieval"
        return "retrieve" if more and (state.get("retrievals") or 0) < max_retrievals else END

    return route_after_answer


def _warm_up(*llms: Any) -> None:
    """Resolve the tokenizers now: the first call would otherwise look them up (file-system
    calls) on the event loop of an async server, which ``langgraph dev`` rejects as blocking."""
    for llm in {id(x): x for x in llms if isinstance(x, StructuredLLM)}.values():
        if llm.configured:
            _ = llm.tokenizer


def build_adaptive_rag(
    llm: BaseChatModel | str | Any,
    retriever: Any,
    *,
    gate: Any = None,
    answerer: Any = None,
    conflict_policy: Any = None,
    k: int = 3,
    max_retrievals: int = 2,
    checkpointer: Any = None,
    store: Any = None,
    namespace: str | None = None,
    name: str = "adaptive_rag",
) -> Any:
    """Compile the adaptive-RAG workflow.

    Args:
        llm: Chat model for the gate and the answers: a ``BaseChatModel``, a spec such as
            ``"openai:gpt-4o-mini"``, or a :class:`~memagents.models.StructuredLLM`.
        retriever: A ``GraphMemory`` (searched with PPR, namespace from the context) or any
            langchain ``BaseRetriever``.
        gate: A :class:`~memagents.gate.gate.RetrievalGate`, a policy, or a policy name
            (default: ``RetrievalGate("adapt-llm", llm=llm)``).
        answerer: An :class:`~memagents.gate.answering.Answerer` (default: on ``llm``; the
            default gate and answerer share one StructuredLLM, hence usage and budget).
        conflict_policy: A :class:`~memagents.gate.conflict.ConflictPolicy` (default one).
        k: Passages per retrieval round (overridable per run with the context's ``k``).
        max_retrievals: Most retrieval rounds per question (``>= 1``); with 1 the loop is off.
        checkpointer: Optional short-term memory (threads).
        store: Optional LangGraph store handed to the nodes.
        namespace: Memory namespace or template such as ``"users/{user_id}"`` (filled from
            ``configurable``, then the context); default: ``configurable["namespace"]``, else
            the context's ``namespace``, else the memory's default.
        name: Graph name (shown by LangGraph Server and Studio).

    Returns:
        The compiled graph (input: :class:`AdaptiveRAGInput`; state: :class:`AdaptiveRAGState`;
        context: :class:`AdaptiveRAGContext`).
    """
    from memagents.gate.answering import Answerer
    from memagents.gate.gate import RetrievalGate

    if isinstance(max_retrievals, bool) or not isinstance(max_retrievals, int) or (
            max_retrievals < 1):
        raise InputError(f"max_retrievals must be a positive integer, got {max_retrievals!r}.")
    structured = StructuredLLM.coerce(llm)
    if gate is None:
        gate = RetrievalGate("adapt-llm", llm=structured)
    elif isinstance(gate, str):
        gate = RetrievalGate(gate, llm=structured)
    if answerer is None:
        answerer = Answerer(structured)
    _warm_up(getattr(gate, "llm", None), getattr(answerer, "llm", None))

    builder = StateGraph(
        AdaptiveRAGState, context_schema=AdaptiveRAGContext, input_schema=AdaptiveRAGInput
    )
    builder.add_node("gate", gate_node(gate, reset_keys=TURN_FIELDS))
    builder.add_node("retrieve", retrieve_node(retriever, k=k, namespace=namespace))
    builder.add_node(
        "answer", answer_node(answerer, conflict_policy, max_retrievals=max_retrievals)
    )
    builder.add_edge(START, "gate")
    builder.add_conditional_edges("gate", route_after_gate, ["retrieve", "answer"])
    builder.add_edge("retrieve", "answer")
    builder.add_conditional_edges("answer", make_loop_router(max_retrievals), ["retrieve", END])
    return builder.compile(checkpointer=checkpointer, store=store, name=name)
