"""LangGraph nodes over a :class:`~memagents.graphmem.memory.GraphMemory`.

:func:`memory_node` searches the memory for the question in the graph state and writes
``Document``s to ``state["documents"]`` and the search's notes to ``state["notes"]``;
:func:`save_node` stores text from the state (by default the last AI message). Both are langchain ``Runnable``s with native sync and async paths, so LangGraph calls
``memory.search`` under ``invoke`` and ``memory.asearch`` under ``ainvoke``.

The namespace of each run is resolved by :func:`memagents.base.namespaces.resolve_namespace` (the node's
``namespace`` or template such as ``"users/{user_id}"``, else ``configurable["namespace"]``,
else ``context.namespace``, else the memory's default; a ``user_id`` alone is never a
namespace), the same rule every memagents node, retriever and tool follows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import AsyncCallbackManagerForChainRun, CallbackManagerForChainRun
from langchain_core.runnables import Runnable, RunnableConfig, ensure_config

from memagents.base.namespaces import NamespaceSpec, resolve_namespace, run_context
from memagents.base.namespaces import context_value as _lookup
from memagents.base.state import as_documents, last_message_text, state_question, surface_notes
from memagents.errors import InputError

if TYPE_CHECKING:
    from memagents.graphmem.memory import GraphMemory

__all__ = [
    "MemoryNode",
    "SaveNode",
    "last_message_text",
    "memory_node",
    "save_node",
]

_AI = ("ai", "assistant")


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InputError(f"k must be a positive integer, got {k!r}.")
    return k


# ---------------------------------------------------------------------------------- nodes
class MemoryNode(Runnable[Any, dict[str, Any]]):
    """A LangGraph node: search a graph memory for the state's question.

    Reads the question from ``state[query_key]``, or, when that is absent and the state has
    ``messages``, from the last human message; returns ``{output_key: list[Document]}``
    (``metadata`` has ``id``, ``source`` and ``score``, all scores under
    ``metadata["memagents"]``) plus ``{"notes": [...]}`` when the search has notes (such as
    "namespace 'alice' holds no indexed passages"), which are also logged at WARNING on the
    ``"memagents"`` logger (a state without a ``notes`` key keeps only the log line). Build it
    with :func:`memory_node` or ``GraphMemory.node()``.

    Example:
        >>> import tempfile
        >>> from langgraph.graph import START, StateGraph
        >>> from typing_extensions import TypedDict
        >>> from memagents.graphmem import GraphMemory
        >>> class State(TypedDict, total=False):
        ...     question: str
        ...     documents: list
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     with GraphMemory.open(folder, embeddings="hash") as memory:
        ...         _ = memory.add_triples(
        ...             [("Ada Korvin was born in Velm.", [("Ada Korvin", "born in", "Velm")])],
        ...             namespace="users/ada")
        ...         builder = StateGraph(State)
        ...         _ = builder.add_node("recall", memory_node(memory, namespace="users/{user}"))
        ...         _ = builder.add_edge(START, "recall")
        ...         out = builder.compile().invoke({"question": "Where was Ada born?"},
        ...                                        {"configurable": {"user": "ada"}})
        ...         [d.page_content for d in out["documents"]]
        ['Ada Korvin was born in Velm.']
    """

    def __init__(
        self,
        memory: GraphMemory,
        *,
        k: int = 5,
        query_key: str = "question",
        output_key: str = "documents",
        namespace: NamespaceSpec | None = None,
        name: str = "recall",
    ) -> None:
        self.memory = memory
        self.k = _check_k(k)
        self.query_key = query_key
        self.output_key = output_key
        self.namespace = namespace
        self.name = name

    def __repr__(self) -> str:
        return f"MemoryNode({self.memory!r}, k={self.k}, namespace={self.namespace!r})"

    def __call__(self, state: Any, config: RunnableConfig | None = None) -> dict[str, Any]:
        """Run the node synchronously (same as :meth:`invoke`)."""
        return self.invoke(state, config)

    def query(self, state: Any) -> str:
        """The question this node would search for in ``state``."""
        return state_question(state, self.query_key, "memory")

    def _namespace(self, config: RunnableConfig) -> str | None:
        return resolve_namespace(self.namespace, config, run_context())

    def _search(
        self, state: Any, run_manager: CallbackManagerForChainRun, config: RunnableConfig
    ) -> dict[str, Any]:
        hits = self.memory.search(self.query(state), self.k, namespace=self._namespace(config))
        return self._out(hits)

    async def _asearch(
        self, state: Any, run_manager: AsyncCallbackManagerForChainRun, config: RunnableConfig
    ) -> dict[str, Any]:
        ns = self._namespace(config)
        hits = await self.memory.asearch(self.query(state), self.k, namespace=ns)
        return self._out(hits)

    def _out(self, hits: Any) -> dict[str, Any]:
        notes = surface_notes(getattr(hits, "notes", None), where=f"memory node {self.name!r}")
        return {self.output_key: as_documents(hits), **notes}

    def invoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        return self._call_with_config(self._search, input, ensure_config(config))

    async def ainvoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        return await self._acall_with_config(self._asearch, input, ensure_config(config))


class SaveNode(Runnable[Any, dict[str, Any]]):
    """A LangGraph node: store text from the state in a graph memory with ``add``.

    Stores ``state[text_key]`` (a string or a list of strings/Documents) when ``text_key`` is
    set, else the text of the last AI message in ``state["messages"]`` (nothing happens when
    there is none). ``add`` extracts triples, so the memory needs a chat model or an
    extractor; without one the node raises :class:`~memagents.errors.ConfigError`. Returns
    ``{output_key: stored ids}`` when ``output_key`` is set, else no update.

    Example:
        >>> import tempfile
        >>> from memagents.graphmem import GraphMemory
        >>> from memagents.testing import ScriptedChatModel
        >>> llm = ScriptedChatModel(
        ...     default='{"entities": ["Bo"], "triples": [["Bo", "likes", "tea"]]}')
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     with GraphMemory.open(folder, embeddings="hash", llm=llm) as memory:
        ...         node = SaveNode(memory, output_key="saved")
        ...         out = node.invoke({"messages": [("user", "Hi"), ("ai", "Bo likes tea.")]})
        ...         [h.text for h in memory.get(out["saved"])]
        ['Bo likes tea.']
    """

    def __init__(
        self,
        memory: GraphMemory,
        *,
        text_key: str | None = None,
        namespace: NamespaceSpec | None = None,
        output_key: str | None = None,
        name: str = "remember",
    ) -> None:
        self.memory = memory
        self.text_key = text_key
        self.namespace = namespace
        self.output_key = output_key
        self.name = name

    def __repr__(self) -> str:
        return f"SaveNode({self.memory!r}, text_key={self.text_key!r})"

    def __call__(self, state: Any, config: RunnableConfig | None = None) -> dict[str, Any]:
        """Run the node synchronously (same as :meth:`invoke`)."""
        return self.invoke(state, config)

    def texts(self, state: Any) -> list[Any]:
        """What this node would store from ``state`` (possibly nothing)."""
        if self.text_key is None:
            text = last_message_text(state, _AI)
            return [text] if text else []
        value = _lookup(state, self.text_key)
        items = [value] if isinstance(value, str) or hasattr(value, "page_content") else value
        if not isinstance(items, list) or not items:
            raise InputError(
                f"the save node found nothing to store in state[{self.text_key!r}]: put a "
                "string or a list of strings there (or leave text_key unset to store the last "
                "AI message)."
            )
        return items

    def _out(self, ids: list[str]) -> dict[str, Any]:
        return {self.output_key: ids} if self.output_key else {}

    def _save(
        self, state: Any, run_manager: CallbackManagerForChainRun, config: RunnableConfig
    ) -> dict[str, Any]:
        texts = self.texts(state)
        if not texts:
            return self._out([])
        ns = resolve_namespace(self.namespace, config, run_context())
        return self._out(self.memory.add(texts, namespace=ns).ids)

    async def _asave(
        self, state: Any, run_manager: AsyncCallbackManagerForChainRun, config: RunnableConfig
    ) -> dict[str, Any]:
        texts = self.texts(state)
        if not texts:
            return self._out([])
        ns = resolve_namespace(self.namespace, config, run_context())
        return self._out((await self.memory.aadd(texts, namespace=ns)).ids)

    def invoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        return self._call_with_config(self._save, input, ensure_config(config))

    async def ainvoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        return await self._acall_with_config(self._asave, input, ensure_config(config))


def memory_node(
    memory: GraphMemory,
    *,
    k: int = 5,
    query_key: str = "question",
    output_key: str = "documents",
    namespace: NamespaceSpec | None = None,
    name: str = "recall",
) -> MemoryNode:
    """A LangGraph node searching ``memory``; see :class:`MemoryNode` and the module docs."""
    return MemoryNode(
        memory, k=k, query_key=query_key, output_key=output_key, namespace=namespace, name=name
    )


def save_node(
    memory: GraphMemory,
    *,
    text_key: str | None = None,
    namespace: NamespaceSpec | None = None,
    output_key: str | None = None,
    name: str = "remember",
) -> SaveNode:
    """A LangGraph node storing text from the state in ``memory``; see :class:`SaveNode`."""
    return SaveNode(
        memory, text_key=text_key, namespace=namespace, output_key=output_key, name=name
    )
