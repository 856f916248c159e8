"""Adapters written once, over the capability contract (:mod:`memagents.base`).

Every memagents memory gets, from here: LangGraph nodes (:class:`RecallNode`,
:class:`SaveNode`), a LangChain ``BaseRetriever`` (:class:`MemoryRetriever`), agent tools
(:func:`create_memory_tools`) and a LangGraph ``BaseStore`` (:class:`MemoryStore`); a
capability's facade mixes in :class:`Adaptable` for ``node()``, ``as_retriever()``,
``as_tools()`` and ``as_store()``.
"""

from __future__ import annotations

from memagents.adapters.facade import Adaptable
from memagents.adapters.nodes import RecallNode, SaveNode, recall_node, save_node
from memagents.adapters.retriever import MemoryRetriever
from memagents.adapters.tools import (
    create_memory_tools,
    create_save_memory_tool,
    create_search_memory_tool,
)

__all__ = [
    "Adaptable",
    "MemoryRetriever",
    "RecallNode",
    "SaveNode",
    "create_memory_tools",
    "create_save_memory_tool",
    "create_search_memory_tool",
    "recall_node",
    "save_node",
]
