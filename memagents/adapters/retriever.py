"""A langchain ``BaseRetriever`` over any memagents memory: :class:`MemoryRetriever`.

The retriever runs the memory's ``search`` (``asearch`` under ``ainvoke``) and returns
``Document``s carrying the item id (``Document.id``), ``id``, ``source`` and ``score`` in
``metadata`` (the package's document convention, :func:`memagents.base.state.as_documents`) and
the capability's scores under ``metadata["memagents"]``. The number of results is ``k``, from
the constructor or per call (``invoke(query, k=3)``); the namespace is ``namespace=`` per call,
else the retriever's ``namespace`` (a fixed name or a template such as ``"users/{user_id}"``),
else the one namespace rule of :mod:`memagents.base.namespaces`. The search's notes are logged
at WARNING on the ``"memagents"`` logger.

Example:
    >>> from memagents.base import InMemoryMemory
    >>> memory = InMemoryMemory()
    >>> _ = memory.add(["Ada lives in Velm.", "Bo lives in Tarn."], ids=["m1", "m2"])
    >>> docs = MemoryRetriever(memory=memory, k=2).invoke("Where does Bo live?", k=1)
    >>> [(d.id, d.page_content, d.metadata["memagents"]["rank"]) for d in docs]
    [('m2', 'Bo lives in Tarn.', 1)]
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

from memagents.base.memory import Memory
from memagents.base.namespaces import resolve_namespace, run_context
from memagents.base.state import as_documents, surface_notes

__all__ = ["MemoryRetriever"]


class MemoryRetriever(BaseRetriever):
    """Retrieve items from a memagents :class:`~memagents.base.Memory`.

    Attributes:
        memory: The memory to search (the retriever does not own it: close it yourself).
        k: Number of documents to return (override per call with ``invoke(q, k=...)``).
        namespace: Namespace, or a template filled from ``config["configurable"]`` then the
            run's context (default: resolved per run, see the module docstring).
        search_options: Capability options passed to every search (e.g. graph memory's
            ``{"use_filter": False}``).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    memory: Memory
    k: int = Field(default=5, ge=1)
    namespace: str | None = None
    search_options: dict[str, Any] = Field(default_factory=dict)

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
        """Async twin of :meth:`invoke` (runs the memory's ``asearch``)."""
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
            query, self.k if k is None else k, namespace=namespace, **self.search_options
        )
        return self._documents(hits)

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        k: int | None = None,
        namespace: str | None = None,
    ) -> list[Document]:
        hits = await self.memory.asearch(
            query, self.k if k is None else k, namespace=namespace, **self.search_options
        )
        return self._documents(hits)

    def _documents(self, hits: Any) -> list[Document]:
        surface_notes(getattr(hits, "notes", None), where=f"{type(self.memory).__name__} retriever")
        return as_documents(hits)
