"""Operations as data: what every memagents memory can be asked to do.

A capability implements two methods, ``batch(ops)`` and ``abatch(ops)``, over these four
operations (the pattern of LangGraph's ``BaseStore``); :class:`~memagents.base.memory.Memory`
derives every convenience method (``add``, ``search``, ``get``, ``delete`` and their async
twins) from them once, and the shared adapters (nodes, retriever, tools, LangGraph store) call
nothing else.

Capability-specific knobs travel in ``options`` (for example graph memory's ``preset`` or
``use_filter``); a capability lists the ones it accepts and refuses the rest with a clear error.

Example:
    >>> op = SearchOp(query="Where was Ada born?", k=3, namespace="users/ada")
    >>> op.k, op.namespace, dict(op.options)
    (3, 'users/ada', {})
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AddOp", "DeleteOp", "GetOp", "Op", "SearchOp"]


@dataclass(frozen=True, kw_only=True, slots=True)
class AddOp:
    """Store items (strings, langchain ``Document``s, or a capability's own records).

    Attributes:
        items: What to store, in order.
        ids: One id per item (``None`` entries: the capability derives one), or ``None``.
        metadata: One JSON-serialisable dict per item, or ``None``.
        namespace: Target namespace (``None``: the memory's default).
        options: Capability-specific options.
    """

    items: tuple[Any, ...]
    ids: tuple[str | None, ...] | None = None
    metadata: tuple[dict[str, Any], ...] | None = None
    namespace: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class SearchOp:
    """Rank stored items for a query; the result is a :class:`~memagents.base.results.SearchHits`."""

    query: str
    k: int = 5
    namespace: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class GetOp:
    """Fetch stored items by id, in the order asked; unknown ids are skipped."""

    ids: tuple[str, ...]
    namespace: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class DeleteOp:
    """Delete stored items by id; the result reports unknown ids."""

    ids: tuple[str, ...]
    namespace: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


Op = AddOp | SearchOp | GetOp | DeleteOp
"""Any operation of the contract."""
