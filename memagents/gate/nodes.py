"""LangGraph nodes of the retrieve-or-recall gate.

Three nodes and a router, each usable in any ``StateGraph`` whose state is a dict-like mapping:

* :func:`gate_node` runs a :class:`~memagents.gate.gate.RetrievalGate` (or any
  :class:`~memagents.gate.base.RetrievalPolicy`) on ``state["question"]`` (else the last human
  message of ``state["messages"]``, so it sits in a ``MessagesState`` graph) and writes
  ``{"decision": Decision.to_dict(), "parametric_answer": decision.answer}``;
* :func:`route_after_gate` (or a router from :func:`make_router`) sends the run to the
  retrieval node or straight to the answer node, for ``add_conditional_edges``;
* :func:`retrieve_node` searches any langchain ``BaseRetriever`` or a ``GraphMemory`` and writes
  ``{"documents": [Document, ...]}`` (as ``memory.node()`` does);
* :func:`answer_node` answers closed-book on the fast path (reusing the gate's answer, so the
  fast path costs no extra call) or resolves ``state["documents"]`` against the parametric answer
  with :func:`~memagents.gate.conflict.resolve_conflict`, writing ``answer``,
  ``answer_source``, ``conflict`` and ``resolution``.

All nodes are langchain ``Runnable``s with native sync and async paths: ``invoke`` calls
``decide``/``search``/``closed_book``, ``ainvoke`` their async twins. The retrieval node reads
``k`` and the namespace from the run's ``context`` (``StateGraph(..., context_schema=...)``,
``runtime.context``), so one compiled graph serves many users. Notes (an empty namespace,
retrieval decided but no documents) go to ``state["notes"]`` and the ``"memagents"`` logger;
see :mod:`memagents.base` for the conventions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig

from memagents.base.node import Node
from memagents.base.state import state_question
from memagents.errors import InputError
from memagents.gate._node_base import _decision, _get, to_plain
from memagents.gate.rag_nodes import (
    AnswerNode,
    RetrieveNode,
    answer_node,
    evidence_dicts,
    evidence_dicts_from_state,
    retrieve_node,
)

__all__ = [
    "AnswerNode",
    "GateNode",
    "RetrieveNode",
    "answer_node",
    "evidence_dicts",
    "evidence_dicts_from_state",
    "gate_node",
    "make_router",
    "retrieve_node",
    "route_after_gate",
    "to_plain",
]

Route = Literal["retrieve", "answer"]


# --------------------------------------------------------------------------------- gate
class GateNode(Node):
    """A LangGraph node running a retrieve-or-recall gate on the state's question.

    Writes ``{"decision": Decision.to_dict(), "parametric_answer": decision.answer}`` (plus
    ``None`` for each of ``reset_keys``, to clear the previous turn of a checkpointed thread).
    Build it with :func:`gate_node`.

    Example:
        >>> from memagents.gate.base import Decision, RetrievalPolicy
        >>> class Short(RetrievalPolicy):
        ...     name = "short"
        ...     def decide(self, question, *, metadata=None):
        ...         return Decision(retrieve=len(question) > 20, policy=self.name, reason="len")
        >>> out = GateNode(Short()).invoke({"question": "Who wrote Velmora?"})
        >>> out["decision"]["retrieve"], out["parametric_answer"]
        (False, None)
    """

    def __init__(
        self,
        gate: Any,
        *,
        question_key: str = "question",
        metadata_key: str = "metadata",
        reset_keys: Sequence[str] = (),
        name: str = "gate",
    ) -> None:
        if not callable(getattr(gate, "decide", None)):
            raise InputError(
                f"gate_node needs a RetrievalGate or RetrievalPolicy (an object with "
                f".decide(question, metadata=...)), got {type(gate).__name__}."
            )
        self.gate = gate
        self.question_key = question_key
        self.metadata_key = metadata_key
        self.reset_keys = tuple(reset_keys)
        self.name = name

    def __repr__(self) -> str:
        return f"GateNode({self.gate!r})"

    def _metadata(self, state: Any) -> Mapping[str, Any] | None:
        metadata = _get(state, self.metadata_key)
        if metadata is not None and not isinstance(metadata, Mapping):
            raise InputError(
                f"state[{self.metadata_key!r}] must be a dict of question metadata (such as "
                f"{{'s_pop': 1200}}), got {type(metadata).__name__}."
            )
        return metadata

    def _out(self, decision: Any) -> dict[str, Any]:
        out: dict[str, Any] = dict.fromkeys(self.reset_keys)
        out["decision"] = decision.to_dict()
        out["parametric_answer"] = decision.answer
        return out

    def _run(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        question = state_question(state, self.question_key, "gate")
        return self._out(self.gate.decide(question, metadata=self._metadata(state)))

    async def _arun(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        question = state_question(state, self.question_key, "gate")
        metadata = self._metadata(state)
        adecide = getattr(self.gate, "adecide", None)
        if callable(adecide):
            decision = await adecide(question, metadata=metadata)
        else:
            decision = await asyncio.to_thread(self.gate.decide, question, metadata=metadata)
        return self._out(decision)


def gate_node(
    gate: Any,
    *,
    question_key: str = "question",
    metadata_key: str = "metadata",
    reset_keys: Sequence[str] = (),
    name: str = "gate",
) -> GateNode:
    """A LangGraph node running ``gate``; see :class:`GateNode`."""
    return GateNode(
        gate, question_key=question_key, metadata_key=metadata_key, reset_keys=reset_keys,
        name=name,
    )


def route_after_gate(state: Any) -> Route:
    """Router for ``add_conditional_edges``: ``"retrieve"`` or ``"answer"`` (closed-book).

    >>> route_after_gate({"decision": {"retrieve": True}})
    'retrieve'
    """
    decision = _decision(state)
    if decision is None or "retrieve" not in decision:
        raise InputError(
            "route_after_gate found no decision in state['decision']: run the gate node "
            "(gate_node(...)) before this conditional edge."
        )
    return "retrieve" if decision["retrieve"] else "answer"


def make_router(retrieve: str = "retrieve", recall: str = "answer") -> Callable[[Any], str]:
    """A router like :func:`route_after_gate` returning your node names.

    Its return annotation is ``Literal[retrieve, recall]``, so LangGraph (and Studio) draw
    both edges without a ``path_map``.

    >>> make_router("search", "respond")({"decision": {"retrieve": False}})
    'respond'
    """
    if not all(isinstance(n, str) and n for n in (retrieve, recall)) or retrieve == recall:
        raise InputError(
            f"make_router needs two different node names, got {retrieve!r} and {recall!r}."
        )

    def router(state: Any) -> str:
        return retrieve if route_after_gate(state) == "retrieve" else recall

    router.__annotations__ = {"state": Any, "return": Literal[retrieve, recall]}  # type: ignore[valid-type]
    router.__name__ = router.__qualname__ = "route_after_gate"
    return router


