"""memagents: adaptive retrieval and long-term memory for LangGraph agents."""

from __future__ import annotations

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

__all__ = [
    "BackendError",
    "BudgetExceeded",
    "ConfigError",
    "EmbeddingError",
    "GraphMemory",
    "InputError",
    "LLMError",
    "MemagentsError",
    "NamespaceError",
    "Settings",
    "StorageError",
    "StoreLockedError",
    "WebFetchError",
    "get_settings",
]
