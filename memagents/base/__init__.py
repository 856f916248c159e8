"""The capability contract: operations as data, shared result types, the memory base class.

Every memagents capability implements :class:`Memory` (two methods, ``batch`` and ``abatch``)
and returns the result types below; the adapters in :mod:`memagents.adapters` then give it
LangGraph nodes, a LangChain retriever, agent tools and a LangGraph ``BaseStore``. This package
imports only the foundation (:mod:`memagents.errors`, :mod:`memagents.config`).
"""

from __future__ import annotations

from memagents.base.knowledge import EntityHit, KnowledgeIndex, RelationHit
from memagents.base.memory import Memory, check_ids, check_k
from memagents.base.ops import AddOp, DeleteOp, GetOp, Op, SearchOp
from memagents.base.reference import InMemoryMemory
from memagents.base.results import AddResult, DeleteResult, Hit, Note, SearchHits

__all__ = [
    "AddOp",
    "AddResult",
    "DeleteOp",
    "DeleteResult",
    "EntityHit",
    "GetOp",
    "Hit",
    "InMemoryMemory",
    "KnowledgeIndex",
    "Memory",
    "Note",
    "Op",
    "RelationHit",
    "SearchHits",
    "SearchOp",
    "check_ids",
    "check_k",
]
