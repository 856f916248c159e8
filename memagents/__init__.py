"""memagents: adaptive retrieval and long-term memory for LangGraph agents.

``import memagents`` is cheap: the names below load their modules (and the heavy libraries
behind them: scipy, langchain, chromadb, torch) the first time they are used.

Example:
    >>> import memagents
    >>> memagents.MemagentsError.__name__
    'MemagentsError'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'memagents' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
