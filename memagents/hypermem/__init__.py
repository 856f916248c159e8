"""Hypergraph working memory (HGMem): multi-step RAG whose memory steers the next sub-queries.

Spec: ``../shared/docs/methods/hgmem.md``. The parts:

* the storage-free hypergraph (:mod:`memagents.hypermem.core`): :class:`HypergraphMemory` of
  :class:`Entity` vertices and :class:`MemoryPoint` hyperedges with stable ids; insert,
  update, merge and attach return a :class:`MemoryDiff`; serialization and a picture;
* the loop as a compiled LangGraph graph (:func:`build_hypergraph_rag`, options
  :class:`HypergraphOptions`) over any :class:`~memagents.base.KnowledgeIndex` (graph memory's,
  say), streaming each step's memory diff under ``stream_mode="updates"``;
* the facade :class:`HypergraphAgent` (``ask`` / ``aask`` return a :class:`HypergraphAnswer`);
* the command line ``memagents hypermem ask "QUESTION" --memory DIR``
  (:mod:`memagents.hypermem.cli`).

``import memagents.hypermem`` is cheap: the names below load their modules (and langgraph,
langchain, tiktoken behind them) the first time they are used.

Example:
    >>> from memagents.hypermem import HypergraphMemory
    >>> m = HypergraphMemory()
    >>> _ = m.insert("Rome is in Italy.", ["Rome", "Italy"])
    >>> m.render(max_tokens=50)
    '[mp-0001] (Rome; Italy) Rome is in Italy.'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from memagents._lazy import lazy_exports

if TYPE_CHECKING:
    from memagents.hypermem.agent import HypergraphAgent, HypergraphAnswer
    from memagents.hypermem.core import (
        Entity,
        HypergraphMemory,
        MemoryDiff,
        MemoryPoint,
        MemorySnapshot,
        Rejection,
    )
    from memagents.hypermem.nodes import HypergraphOptions
    from memagents.hypermem.retrieval import Passage, RetrievalSettings
    from memagents.hypermem.workflow import (
        HypergraphRAGContext,
        HypergraphRAGInput,
        HypergraphRAGState,
        build_hypergraph_rag,
    )

_WHERE = {
    "Entity": "memagents.hypermem.core",
    "HypergraphAgent": "memagents.hypermem.agent",
    "HypergraphAnswer": "memagents.hypermem.agent",
    "HypergraphMemory": "memagents.hypermem.core",
    "HypergraphOptions": "memagents.hypermem.nodes",
    "HypergraphRAGContext": "memagents.hypermem.workflow",
    "HypergraphRAGInput": "memagents.hypermem.workflow",
    "HypergraphRAGState": "memagents.hypermem.workflow",
    "MemoryDiff": "memagents.hypermem.core",
    "MemoryPoint": "memagents.hypermem.core",
    "MemorySnapshot": "memagents.hypermem.core",
    "Passage": "memagents.hypermem.retrieval",
    "Rejection": "memagents.hypermem.core",
    "RetrievalSettings": "memagents.hypermem.retrieval",
    "build_hypergraph_rag": "memagents.hypermem.workflow",
}

__all__ = [
    "Entity",
    "HypergraphAgent",
    "HypergraphAnswer",
    "HypergraphMemory",
    "HypergraphOptions",
    "HypergraphRAGContext",
    "HypergraphRAGInput",
    "HypergraphRAGState",
    "MemoryDiff",
    "MemoryPoint",
    "MemorySnapshot",
    "Passage",
    "Rejection",
    "RetrievalSettings",
    "build_hypergraph_rag",
]

__getattr__, __dir__ = lazy_exports(__name__, _WHERE, globals())
