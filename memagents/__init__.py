"""memagents: adaptive retrieval and long-term memory for LangGraph agents.

``import memagents`` is cheap: the names below load their modules (and the heavy libraries
behind them: scipy, langchain, chromadb, torch) the first time they are used.

Example:
    >>> import memagents
    >>> memagents.MemagentsError.__name__
    'MemagentsError'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from memagents._lazy import lazy_exports

if TYPE_CHECKING:
    from memagents.base import AddResult, DeleteResult, Hit, Memory, SearchHits
    from memagents.config import Settings, get_settings
    from memagents.errors import (
        BackendError,
        BudgetExceeded,
        ConfigError,
        EmbeddingError,
        InputError,
        LLMError,
        MemagentsError,
        NamespaceError,
        StorageError,
        StoreLockedError,
        WebFetchError,
    )
    from memagents.graphmem import GraphMemory

__version__ = "0.1.0"

_WHERE = {
    "AddResult": "memagents.base",
    "BackendError": "memagents.errors",
    "BudgetExceeded": "memagents.errors",
    "ConfigError": "memagents.errors",
    "DeleteResult": "memagents.base",
    "EmbeddingError": "memagents.errors",
    "GraphMemory": "memagents.graphmem",
    "Hit": "memagents.base",
    "InputError": "memagents.errors",
    "LLMError": "memagents.errors",
    "MemagentsError": "memagents.errors",
    "Memory": "memagents.base",
    "NamespaceError": "memagents.errors",
    "SearchHits": "memagents.base",
    "Settings": "memagents.config",
    "StorageError": "memagents.errors",
    "StoreLockedError": "memagents.errors",
    "WebFetchError": "memagents.errors",
    "get_settings": "memagents.config",
}

__all__ = [
    "AddResult",
    "BackendError",
    "BudgetExceeded",
    "ConfigError",
    "DeleteResult",
    "EmbeddingError",
    "GraphMemory",
    "Hit",
    "InputError",
    "LLMError",
    "MemagentsError",
    "Memory",
    "NamespaceError",
    "SearchHits",
    "Settings",
    "StorageError",
    "StoreLockedError",
    "WebFetchError",
    "get_settings",
]

__getattr__, __dir__ = lazy_exports(__name__, _WHERE, globals())
