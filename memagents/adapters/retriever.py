"""A langchain ``BaseRetriever`` over a :class:`~memagents.graphmem.memory.GraphMemory`.

The retriever ranks passages with the memory's Personalized PageRank search and returns
``Document``s carrying the passage id (``Document.id``), ``id``, ``source`` and ``score`` in
``metadata`` (the package's document convention, :func:`memagents.base.state.as_documents`) and
all scores under ``metadata["memagents"]`` (``score``, ``dense_score``, ``ppr_score``,
``rank``, ``namespace``). The number of results is ``k``, from the constructor or per call
(``invoke(query, k=3)``); the namespace is ``namespace=`` per call, else the retriever's
``namespace`` (a fixed name or a template such as ``"users/{user_id}"`` filled from
``config["configurable"]``, then the run's context), else ``config["configurable"]["namespace"]``,
else the run's LangGraph ``context.namespace``, else the memory's default namespace (see
:mod:`memagents.base`; a ``user_id`` alone is never a namespace). The search's notes are
logged at WARNING on the ``"memagents"`` logger.

Example:
    >>> import tempfile
    >>> from memagents.graphmem import GraphMemory
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     with GraphMemory.open(folder, embeddings="hash") as memory:
    ...         _ = memory.add_triples([
    ...             ("Oskar Thandrell founded Quillmere Press.",
    ...              [("Oskar Thandrell", "founded", "Quillmere Press")]),
    ...             ("Oskar Thandrell was born in Velmora.",
    ...              [("Oskar Thandrell", "born in", "Velmora")]),
    ...         ])
    ...         retriever = memory.as_retriever(k=2)
    ...         docs = retriever.invoke("Where was the founder of Quillmere Press born?", k=1)
    ...         len(docs), docs[0].metadata["memagents"]["rank"]
    (1, 1)
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableConfig, ensure_config
from pydantic import ConfigDict, Field

from memagents.base.namespaces import resolve_namespace, run_context
from memagents.base.state import as_documents, surface_notes
from memagents.graphmem.memory import GraphMemory

__all__ = ["GraphMemoryRetriever"]


class GraphMemoryRetriever(BaseRetriever):
    """Retrieve passages from a :class:`~memagents.graphmem.memory.GraphMemory`.

    Attributes:
        memory: The memory to search (the retriever does not own it: close the memory
            yourself).
        k: Number of documents to return (override per call with ``invoke(q, k=...)``).
        namespace: Namespace, or a template filled from ``config["configurable"]`` (default:
            resolved per run, see the module docstring).
        use_filter: Passed to :meth:`GraphMemory.search` (``None``: the memory's setting).

    Example:
        >>> import tempfile
        >>> from memagents.graphmem import GraphMemory
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     with GraphMemory.open(folder, embeddings="hash") as memory:
        ...         _ = memory.add_triples([
        ...             ("Ada lives in Velm.", [("Ada", "lives in", "Velm")]),
        ...             ("Bo lives in Tarn.", [("Bo", "lives in", "Tarn")]),
        ...             ("Cy lives in Orrin.", [("Cy", "lives in", "Orrin")]),
        ...         ])
        ...         retriever = GraphMemoryRetriever(memory=memory, k=3)
        ...         docs = retriever.invoke("Where does Bo live?")
        ...         len(docs), docs[0].page_content
        (3, 'Bo lives in Tarn.')
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    memory: GraphMemory
    k: int = Field(default=5, ge=1)
    namespace: str | None = None
    use_filter: bool | None = None

    def _namespace(self, given: str | None, config: RunnableConfig | None) -> str | None:
        if given is not None:
            return given
        return resolve_namespace(self.namespace, ensure_config(config), run_context())

    def invoke(
        self, input: str, config: RunnableConfig | None = None, **kwargs: Any
    ) -> list[Document]:
        """Retrieve documents for ``input``; accepts ``k=`` and ``namespace=`` keywords."""
        kwargs["namespace"] = self._namespace(kwargs.get("namespace"), config)
        return super().invoke(input, config, **kwargs)

    async def ainvoke(
        self, input: str, config: RunnableConfig | None = None, **kwargs: Any
    ) -> list[Document]:
        """Async twin of :meth:`invoke` (runs :meth:`GraphMemory.asearch`)."""
        kwargs["namespace"] = self._namespace(kwargs.get("namespace"), config)
        return await super().ainvoke(input, config, **kwargs)

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        k: int | None = None,
        namespace: str | None = None,
    ) -> list[Document]:
        hits = self.memory.search(
            query, self.k if k is None else k, namespace=namespace, use_filter=self.use_filter
        )
        return _documents(hits)

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        k: int | None = None,
        namespace: str | None = None,
    ) -> list[Document]:
        hits = await self.memory.asearch(
            query, self.k if k is None else k, namespace=namespace, use_filter=self.use_filter
        )
        return _documents(hits)


def _documents(hits: Any) -> list[Document]:
    surface_notes(getattr(hits, "notes", None), where="graph memory retriever")
    return as_documents(hits)
