"""LangGraph nodes over any memagents memory: recall (search) and save (add).

:class:`RecallNode` searches the memory for the state's question and writes ``Document``s to
``state["documents"]`` and the search's notes to ``state["notes"]``; :class:`SaveNode` stores
text from the state (by default the last AI message). Both derive from the package's one node
base (:class:`~memagents.base.node.Node`): the memory's ``search``/``add`` run under
``invoke``, its ``asearch``/``aadd`` under ``ainvoke``; the question, documents and notes
follow :mod:`memagents.base.state`, and the namespace of each run follows the one rule of
:mod:`memagents.base.namespaces` (the node's ``namespace`` or template such as
``"users/{user_id}"``, else ``configurable["namespace"]``, else ``context.namespace``, else the
memory's default; a ``user_id`` alone is never a namespace).

Example:
    >>> from langgraph.graph import START, StateGraph
    >>> from typing_extensions import TypedDict
    >>> from memagents.base import InMemoryMemory
    >>> class State(TypedDict, total=False):
    ...     question: str
    ...     documents: list
    >>> memory = InMemoryMemory()
    >>> _ = memory.add(["Ada Korvin was born in Velm."], namespace="users/ada")
    >>> builder = StateGraph(State)
    >>> _ = builder.add_node("recall", RecallNode(memory, namespace="users/{user}"))
    >>> _ = builder.add_edge(START, "recall")
    >>> out = builder.compile().invoke({"question": "Where was Ada born?"},
    ...                                {"configurable": {"user": "ada"}})
    >>> [d.page_content for d in out["documents"]]
    ['Ada Korvin was born in Velm.']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.runnables import RunnableConfig

from memagents.base.memory import Memory, check_k
from memagents.base.namespaces import NamespaceSpec, context_value
from memagents.base.node import Node
from memagents.base.state import DOCUMENTS, QUESTION, as_documents, last_message_text
from memagents.errors import InputError

__all__ = ["RecallNode", "SaveNode", "recall_node", "save_node"]

_AI = ("ai", "assistant")


class RecallNode(Node):
    """A LangGraph node: search a memory for the state's question.

    Reads the question from ``state[query_key]``, else the last human message; returns
    ``{output_key: list[Document]}`` (``metadata`` has ``id``, ``source`` and ``score``, the
    capability's scores under ``metadata["memagents"]``) plus ``{"notes": [...]}`` when the
    search has notes (such as "namespace 'alice' holds no indexed passages"), which are also
    logged at WARNING on the ``"memagents"`` logger (a state without a ``notes`` key keeps only
    the log line). Build it with :func:`recall_node` or ``memory.node()``.

    Args:
        memory: Any memagents memory.
        k: Number of documents.
        query_key: Where the question is read.
        output_key: Where the documents are written.
        namespace: Namespace or template (default: the one namespace rule).
        search_options: Capability options passed to every search.
        name: The node's name.
    """

    def __init__(
        self,
        memory: Memory,
        *,
        k: int = 5,
        query_key: str = QUESTION,
        output_key: str = DOCUMENTS,
        namespace: NamespaceSpec | None = None,
        search_options: Mapping[str, Any] | None = None,
        name: str = "recall",
    ) -> None:
        self.memory = memory
        self.k = check_k(k)
        self.question_key = query_key
        self.output_key = output_key
        self.namespace = namespace
        self.search_options = dict(search_options or {})
        self.name = name

    @property
    def query_key(self) -> str:
        return self.question_key

    def __repr__(self) -> str:
        return f"RecallNode({self.memory!r}, k={self.k}, namespace={self.namespace!r})"

    def query(self, state: Any) -> str:
        """The question this node would search for in ``state``."""
        return self.question(state)

    def _run(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        hits = self.memory.search(self.query(state), self.k,
                                  namespace=self.resolve_namespace(config), **self.search_options)
        return self._out(hits)

    async def _arun(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        hits = await self.memory.asearch(self.query(state), self.k,
                                         namespace=self.resolve_namespace(config),
                                         **self.search_options)
        return self._out(hits)

    def _out(self, hits: Any) -> dict[str, Any]:
        return {self.output_key: as_documents(hits), **self.notes(getattr(hits, "notes", None))}


class SaveNode(Node):
    """A LangGraph node: store text from the state in a memory with ``add``.

    Stores ``state[text_key]`` (a string or a list of strings/Documents) when ``text_key`` is
    set, else the text of the last AI message in ``state["messages"]`` (nothing happens when
    there is none). Returns ``{output_key: stored ids}`` when ``output_key`` is set, plus the
    add's notes; a capability that needs a model to store (graph memory's triple extraction)
    raises :class:`~memagents.errors.ConfigError` without one.

    Example:
        >>> from memagents.base import InMemoryMemory
        >>> memory = InMemoryMemory()
        >>> node = SaveNode(memory, output_key="saved")
        >>> out = node.invoke({"messages": [("user", "Hi"), ("ai", "Bo likes tea.")]})
        >>> [h.text for h in memory.get(out["saved"])]
        ['Bo likes tea.']
    """

    def __init__(
        self,
        memory: Memory,
        *,
        text_key: str | None = None,
        namespace: NamespaceSpec | None = None,
        output_key: str | None = None,
        add_options: Mapping[str, Any] | None = None,
        name: str = "remember",
    ) -> None:
        self.memory = memory
        self.text_key = text_key
        self.namespace = namespace
        self.output_key = output_key
        self.add_options = dict(add_options or {})
        self.name = name

    def __repr__(self) -> str:
        return f"SaveNode({self.memory!r}, text_key={self.text_key!r})"

    def texts(self, state: Any) -> list[Any]:
        """What this node would store from ``state`` (possibly nothing)."""
        if self.text_key is None:
            text = last_message_text(state, _AI)
            return [text] if text else []
        value = context_value(state, self.text_key)
        items = [value] if isinstance(value, str) or hasattr(value, "page_content") else value
        if not isinstance(items, list) or not items:
            raise InputError(
                f"the save node found nothing to store in state[{self.text_key!r}]: put a "
                "string or a list of strings there (or leave text_key unset to store the last "
                "AI message)."
            )
        return items

    def _out(self, result: Any) -> dict[str, Any]:
        out = self.notes(getattr(result, "notes", None)) if result is not None else {}
        if self.output_key:
            out[self.output_key] = list(result.ids) if result is not None else []
        return out

    def _run(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        texts = self.texts(state)
        if not texts:
            return self._out(None)
        ns = self.resolve_namespace(config)
        return self._out(self.memory.add(texts, namespace=ns, **self.add_options))

    async def _arun(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        texts = self.texts(state)
        if not texts:
            return self._out(None)
        ns = self.resolve_namespace(config)
        return self._out(await self.memory.aadd(texts, namespace=ns, **self.add_options))


def recall_node(memory: Memory, **kw: Any) -> RecallNode:
    """A LangGraph node searching ``memory``; see :class:`RecallNode`."""
    return RecallNode(memory, **kw)


def save_node(memory: Memory, **kw: Any) -> SaveNode:
    """A LangGraph node storing text from the state in ``memory``; see :class:`SaveNode`."""
    return SaveNode(memory, **kw)
