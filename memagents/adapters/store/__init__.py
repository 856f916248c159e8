"""The LangGraph ``BaseStore`` adapter over any memagents memory (see :mod:`.adapter`).

``adapter`` holds :class:`MemoryStore`; ``tables`` its durable state (``store.db``);
``filters`` the pure helpers (op validation, filters, namespace matching, item texts).
"""

from __future__ import annotations

from memagents.adapters.store.adapter import STORE_FILE, MemoryStore, memory_namespace

__all__ = ["STORE_FILE", "MemoryStore", "memory_namespace"]
