"""The interface methods every capability's facade gets: :class:`Adaptable`.

A capability's memory class derives from :class:`~memagents.base.Memory` and mixes in
:class:`Adaptable`; it then has ``node()``, ``save_node()``, ``as_retriever()``, ``as_tools()``
and ``as_store()``, all built on the shared adapters. A capability whose search or add takes
options overrides these methods to translate its keyword arguments into
``search_options``/``add_options``, and nothing else.

Example:
    >>> from memagents.base import InMemoryMemory
    >>> class Notes(InMemoryMemory, Adaptable):
    ...     pass
    >>> notes = Notes()
    >>> _ = notes.add(["Ada lives in Velm."])
    >>> type(notes.node(k=1)).__name__, notes.as_retriever(k=1).invoke("Ada")[0].page_content
    ('RecallNode', 'Ada lives in Velm.')
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from memagents.adapters.nodes import RecallNode, SaveNode
from memagents.adapters.retriever import MemoryRetriever
from memagents.adapters.tools import create_memory_tools

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

    from memagents.adapters.store import MemoryStore

__all__ = ["Adaptable"]


class Adaptable:
    """Mixin: the shared adapters as methods of a memory (see the module docstring)."""

    def node(self, k: int = 5, **kw: Any) -> RecallNode:
        """A LangGraph node searching this memory; see :class:`~memagents.adapters.RecallNode`."""
        return RecallNode(self, k=k, **kw)  # type: ignore[arg-type]

    def save_node(self, **kw: Any) -> SaveNode:
        """A LangGraph node storing text from the state; see :class:`~memagents.adapters.SaveNode`."""
        return SaveNode(self, **kw)  # type: ignore[arg-type]

    def as_retriever(self, k: int = 5, **kw: Any) -> MemoryRetriever:
        """A langchain ``BaseRetriever``; see :class:`~memagents.adapters.MemoryRetriever`."""
        return MemoryRetriever(memory=self, k=k, **kw)

    def as_tools(self, **kw: Any) -> list[BaseTool]:
        """Agent tools ``[search_memory, save_memory]``; see
        :func:`~memagents.adapters.create_memory_tools`."""
        return create_memory_tools(self, **kw)  # type: ignore[arg-type]

    def as_store(self, **kw: Any) -> MemoryStore:
        """A LangGraph ``BaseStore`` over this memory; see :class:`~memagents.adapters.MemoryStore`."""
        from memagents.adapters.store import MemoryStore

        return MemoryStore(self, **kw)  # type: ignore[arg-type]
