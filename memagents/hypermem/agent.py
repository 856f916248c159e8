"""A facade over the compiled HGMem loop: ``HypergraphAgent(index=..., llm=...).ask(question)``.

Each :meth:`HypergraphAgent.ask` runs the loop of :mod:`memagents.hypermem.workflow` and
returns a :class:`HypergraphAnswer`: the answer, the memory the loop built (a
:class:`~memagents.hypermem.core.HypergraphMemory`), the evidence passages, the sub-queries
asked, why it stopped, notes and this question's LLM usage. A ``budget`` applies to each
question separately. With ``thread_id`` (and ``keep_memory=True``) a follow-up question starts
from the memory the thread already holds (an in-memory checkpointer is made when none is
given). ``on_update`` watches the memory evolve: the loop is streamed
(``stream_mode="updates"``) and the callback gets each node's update (``"diff"`` holds the
step's :meth:`MemoryDiff.to_dict <memagents.hypermem.core.MemoryDiff.to_dict>`).

Example:
    >>> from memagents.base.results import SearchHits
    >>> from memagents.testing import ScriptedChatModel
    >>> class Empty:
    ...     def search_entities(self, query, k=5, **kw): return []
    ...     def get_entities(self, names, **kw): return []
    ...     def entity_neighbours(self, names, hops=1, **kw): return []
    ...     def search_relations(self, query, k=5, **kw): return []
    ...     def search_passages(self, query, k=5, **kw): return SearchHits([])
    >>> agent = HypergraphAgent(index=Empty(), llm=ScriptedChatModel(default="{}"))
    >>> result = agent.ask("Who founded Velm Press?")
    >>> result.known, len(result.memory), result.stop_reason, result.usage.llm_calls
    (False, 0, 'no_evidence', 0)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from memagents.base.knowledge import KnowledgeIndex
from memagents.hypermem.core import HypergraphMemory
from memagents.hypermem.nodes import HypergraphOptions
from memagents.hypermem.retrieval import Passage
from memagents.hypermem.workflow import HypergraphRAGContext, build_hypergraph_rag
from memagents.models import Budget, StructuredLLM, Usage

__all__ = ["HypergraphAgent", "HypergraphAnswer", "UpdateCallback"]

#: ``on_update(node, update)``: one node's state update, as streamed.
UpdateCallback = Callable[[str, dict[str, Any]], None]


@dataclass(kw_only=True)
class HypergraphAnswer:
    """What one question produced.

    Attributes:
        question: The question.
        answer: The answer text (on a budget stop: what the memory holds, with a note).
        known: ``False`` when the model said it does not know; ``None`` when no answer call ran.
        explanation: The model's explanation.
        memory: The memory at the end of the run.
        evidence: The final evidence passages (each lists the points it supports).
        subqueries: Every sub-query asked, the question first.
        steps: Retrieval rounds run.
        stop_reason: Why the loop stopped (see :class:`~memagents.hypermem.workflow.
            HypergraphRAGState`).
        notes: What the nodes had to say.
        usage: This question's LLM usage.
    """

    question: str
    answer: str
    known: bool | None
    explanation: str = ""
    memory: HypergraphMemory
    evidence: list[Passage] = field(default_factory=list)
    subqueries: list[str] = field(default_factory=list)
    steps: int = 0
    stop_reason: str | None = None
    notes: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> HypergraphAnswer:
        """Build from a final workflow state."""
        usage = Usage()
        for k, v in (state.get("usage") or {}).items():
            if hasattr(usage, k) and k != "total_tokens":
                setattr(usage, k, v)
        return cls(
            question=state["question"], answer=state.get("answer") or "",
            known=state.get("known"), explanation=state.get("explanation") or "",
            memory=HypergraphMemory.from_dict(state["memory"]) if state.get("memory")
            else HypergraphMemory(),
            evidence=[Passage(id=p["id"], text=p["text"], score=p.get("score"),
                              points=tuple(p.get("points") or ()))
                      for p in state.get("evidence") or ()],
            subqueries=list(state.get("asked") or ()), steps=int(state.get("step") or 0),
            stop_reason=state.get("stop_reason"), notes=list(state.get("notes") or ()),
            usage=usage)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible data: every field, the memory as
        :meth:`HypergraphMemory.to_dict <memagents.hypermem.core.HypergraphMemory.to_dict>`."""
        return {
            "question": self.question, "answer": self.answer, "known": self.known,
            "explanation": self.explanation, "steps": self.steps,
            "stop_reason": self.stop_reason, "subqueries": list(self.subqueries),
            "evidence": [p.to_dict() for p in self.evidence], "notes": list(self.notes),
            "usage": self.usage.as_dict(), "memory": self.memory.to_dict(),
        }


class HypergraphAgent:
    """Ask questions through the HGMem loop over a knowledge index.

    Args:
        index: A :class:`~memagents.base.knowledge.KnowledgeIndex` (graph memory, say).
        llm: Chat model, spec or :class:`~memagents.models.StructuredLLM`.
        options: :class:`~memagents.hypermem.nodes.HypergraphOptions`, or its fields as
            keywords (``max_steps=2``).
        budget: Per-question LLM budget.
        checkpointer: LangGraph checkpointer for threads (default: an in-memory one, made
            when a ``thread_id`` is first used).
        namespace: Index namespace.
    """

    def __init__(self, *, index: KnowledgeIndex, llm: Any = None,
                 options: HypergraphOptions | None = None, budget: Budget | None = None,
                 checkpointer: Any = None, namespace: str | None = None,
                 **option_overrides: Any) -> None:
        self.index = index
        self.llm = StructuredLLM.coerce(llm)
        self.budget = budget
        self.checkpointer = checkpointer
        self.namespace = namespace
        self._options = options
        self._overrides = option_overrides
        self.graph = self._graph(self.llm)  # validates the index and options now

    def _graph(self, llm: StructuredLLM) -> Any:
        return build_hypergraph_rag(llm, self.index, options=self._options,
                                    checkpointer=self.checkpointer, namespace=self.namespace,
                                    **self._overrides)

    def _run_args(self, question: str, thread_id: str | None, max_steps: int | None,
                  keep_memory: bool | None) -> tuple[Any, dict[str, Any], dict[str, Any]]:
        if thread_id is not None and self.checkpointer is None:
            from langgraph.checkpoint.memory import InMemorySaver

            self.checkpointer = InMemorySaver()
            self.graph = self._graph(self.llm)
        # a sibling with its own usage, so the budget applies to this question alone
        llm = StructuredLLM.coerce(self.llm, usage=Usage(), budget=self.budget) \
            if self.budget is not None else self.llm
        graph = self.graph if llm is self.llm else self._graph(llm)
        config: dict[str, Any] = {"configurable": {"thread_id": thread_id}} if thread_id else {}
        inputs: dict[str, Any] = {"question": question}
        if keep_memory is not None:
            inputs["keep_memory"] = keep_memory
        config["context"] = HypergraphRAGContext(max_steps=max_steps)
        return graph, inputs, config

    def ask(self, question: str, *, thread_id: str | None = None, max_steps: int | None = None,
            keep_memory: bool | None = None,
            on_update: UpdateCallback | None = None) -> HypergraphAnswer:
        """Run the loop on ``question``; see :class:`HypergraphAnswer`. With ``on_update``,
        the run is streamed and each node's update is passed to it as it happens."""
        graph, inputs, config = self._run_args(question, thread_id, max_steps, keep_memory)
        context = config.pop("context")
        if on_update is None:
            return HypergraphAnswer.from_state(graph.invoke(inputs, config, context=context))
        final: dict[str, Any] = {}
        for mode, chunk in graph.stream(inputs, config, context=context,
                                        stream_mode=["updates", "values"]):
            final = _seen(mode, chunk, on_update, final)
        return HypergraphAnswer.from_state(final)

    async def aask(self, question: str, *, thread_id: str | None = None,
                   max_steps: int | None = None, keep_memory: bool | None = None,
                   on_update: UpdateCallback | None = None) -> HypergraphAnswer:
        """Async twin of :meth:`ask`."""
        graph, inputs, config = self._run_args(question, thread_id, max_steps, keep_memory)
        context = config.pop("context")
        if on_update is None:
            return HypergraphAnswer.from_state(
                await graph.ainvoke(inputs, config, context=context))
        final: dict[str, Any] = {}
        async for mode, chunk in graph.astream(inputs, config, context=context,
                                               stream_mode=["updates", "values"]):
            final = _seen(mode, chunk, on_update, final)
        return HypergraphAnswer.from_state(final)


def _seen(mode: str, chunk: Any, on_update: UpdateCallback,
          final: dict[str, Any]) -> dict[str, Any]:
    """Pass an ``updates`` chunk to the callback; return the latest ``values`` state."""
    if mode == "values":
        return dict(chunk)
    for node, change in (chunk or {}).items():
        if not node.startswith("__"):
            on_update(node, dict(change or {}))
    return final
