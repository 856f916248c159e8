"""The memory contract: two abstract methods, every convenience method derived once.

A capability subclasses :class:`Memory` and implements :meth:`Memory.batch` and
:meth:`Memory.abatch` over the operations of :mod:`memagents.base.ops`. Everything else
(``add``/``search``/``get``/``delete`` and their ``a``-prefixed async twins, argument checks)
comes from here, and the shared adapters in :mod:`memagents.adapters` (LangGraph nodes, the
LangChain retriever, agent tools, the LangGraph ``BaseStore``) work on any such memory.

Example:
    >>> from memagents.base.results import AddResult, DeleteResult, Hit, SearchHits
    >>> class ListMemory(Memory):
    ...     '''Keeps texts in a list; search ranks by shared words.'''
    ...     def __init__(self):
    ...         self.rows = {}
    ...     def batch(self, ops):
    ...         out = []
    ...         for op in ops:
    ...             ns = op.namespace or self.namespace
    ...             if isinstance(op, AddOp):
    ...                 ids = [i or f"m{len(self.rows) + n}" for n, i in
    ...                        enumerate(op.ids or [None] * len(op.items))]
    ...                 self.rows.update({(ns, i): t for i, t in zip(ids, op.items)})
    ...                 out.append(AddResult(namespace=ns, ids=ids, added=ids))
    ...             elif isinstance(op, SearchOp):
    ...                 words = set(op.query.lower().split())
    ...                 scored = sorted(((len(words & set(t.lower().split())), i, t)
    ...                                  for (n, i), t in self.rows.items() if n == ns),
    ...                                 key=lambda x: (-x[0], x[1]))[: op.k]
    ...                 out.append(SearchHits([Hit(id=i, text=t, namespace=ns, score=s, rank=r)
    ...                                        for r, (s, i, t) in enumerate(scored, 1)]))
    ...             elif isinstance(op, GetOp):
    ...                 out.append([Hit(id=i, text=self.rows[(ns, i)], namespace=ns)
    ...                             for i in op.ids if (ns, i) in self.rows])
    ...             else:
    ...                 gone = [i for i in op.ids if self.rows.pop((ns, i), None) is not None]
    ...                 out.append(DeleteResult(deleted=gone,
    ...                                         unknown=[i for i in op.ids if i not in gone]))
    ...         return out
    ...     async def abatch(self, ops):
    ...         return self.batch(ops)
    >>> memory = ListMemory()
    >>> memory.add(["Ada was born in Velm", "Bo lives in Tarn"]).ids
    ['m0', 'm1']
    >>> memory.search("where was Ada born", k=1).ids
    ['m0']
    >>> [h.text for h in memory.get("m1")]
    ['Bo lives in Tarn']
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from memagents.base.ops import AddOp, DeleteOp, GetOp, Op, SearchOp
from memagents.base.results import AddResult, DeleteResult, Hit, SearchHits
from memagents.errors import InputError

__all__ = ["Memory"]


class Memory(ABC):
    """Base class of every memagents memory (graph memory, hypergraph memory, insights...).

    Subclasses implement :meth:`batch` and :meth:`abatch`; they may set:

    * ``namespace``: the default namespace of operations without one;
    * ``add_options`` / ``search_options``: the capability-specific keyword options that
      :meth:`add` and :meth:`search` accept (others are refused with a clear error).
    """

    namespace: str = "default"
    add_options: ClassVar[frozenset[str]] = frozenset()
    search_options: ClassVar[frozenset[str]] = frozenset()
    folder: Path | None = None
    """Where the memory keeps its files (``None``: in memory only); adapters that persist
    state of their own (the LangGraph store's ``store.db``) put it here."""
    def state_location(self, name: str) -> str | Path | None:
        """Where an adapter keeps durable state of its own called ``name``: the SQLite file
        ``<name>.db`` in :attr:`folder`, or the memory's shared database (a ``postgresql://``
        URL) for a memory that lives in one, so that every worker sharing the memory shares
        that state too. ``None``: the memory has neither (in memory only).

        >>> from memagents.base import InMemoryMemory
        >>> InMemoryMemory().state_location("store") is None
        True
        """
        return None if self.folder is None else Path(self.folder) / f"{name}.db"

    max_input_chars: int | None = None
    """The longest text an item may have (``None``: no limit), checked by adapters before
    they write anything."""

    @property
    def closed(self) -> bool:
        """True once the memory is closed (adapters refuse to use it then)."""
        return False

    # ------------------------------------------------------------------ the contract
    @abstractmethod
    def batch(self, ops: Sequence[Op]) -> list[Any]:
        """Run operations in order; one result per operation."""

    @abstractmethod
    async def abatch(self, ops: Sequence[Op]) -> list[Any]:
        """Async twin of :meth:`batch`."""

    # ------------------------------------------------------------------ derived: ops
    def _add_op(
        self,
        items: Sequence[Any],
        ids: Sequence[str | None] | None,
        metadata: Sequence[dict[str, Any]] | None,
        namespace: str | None,
        options: Mapping[str, Any],
    ) -> AddOp:
        _check_options(type(self).__name__, "add", options, self.add_options)
        if isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
            if hasattr(items, "page_content"):
                items = [items]
            elif isinstance(items, str):
                raise InputError(
                    "add() takes a list of texts: wrap a single text in a list, "
                    f"add([{items[:30]!r}...])."
                )
            else:
                raise InputError(
                    f"add() takes a list of texts or Documents, got {type(items).__name__}."
                )
        if ids is not None:
            if isinstance(ids, str) or not isinstance(ids, Sequence):
                raise InputError(f"ids must be a list with one id per item, got {ids!r:.60}.")
            if len(ids) != len(items):
                raise InputError(f"got {len(items)} items but {len(ids)} ids: give one id per item.")
        if metadata is not None:
            if isinstance(metadata, Mapping) or not isinstance(metadata, Sequence):
                raise InputError("metadata must be a list with one dict per item.")
            if len(metadata) != len(items):
                raise InputError(
                    f"got {len(items)} items but {len(metadata)} metadata dicts: give one per item."
                )
        return AddOp(
            items=tuple(items),
            ids=None if ids is None else tuple(ids),
            metadata=None if metadata is None else tuple(metadata),
            namespace=namespace,
            options=dict(options),
        )

    def _search_op(
        self, query: Any, k: Any, namespace: str | None, options: Mapping[str, Any]
    ) -> SearchOp:
        _check_options(type(self).__name__, "search", options, self.search_options)
        if not isinstance(query, str) or not query.strip():
            raise InputError(f"the search query must be a non-empty string, got {query!r:.60}.")
        return SearchOp(query=query, k=check_k(k), namespace=namespace, options=dict(options))

    # ------------------------------------------------------------------ derived: sync
    def add(
        self,
        items: Sequence[Any],
        *,
        ids: Sequence[str | None] | None = None,
        metadata: Sequence[dict[str, Any]] | None = None,
        namespace: str | None = None,
        **options: Any,
    ) -> AddResult:
        """Store items (strings or ``Document``s); see the capability for what it extracts."""
        return self.batch([self._add_op(items, ids, metadata, namespace, options)])[0]

    def search(
        self, query: str, k: int = 5, *, namespace: str | None = None, **options: Any
    ) -> SearchHits:
        """The ``k`` best items for ``query``, best first (with ``notes``)."""
        return self.batch([self._search_op(query, k, namespace, options)])[0]

    def get(self, ids: str | Sequence[str], *, namespace: str | None = None) -> list[Hit]:
        """Stored items by id, in the order asked; unknown ids are skipped. A single id
        string is one id."""
        return self.batch([GetOp(ids=check_ids(ids, "get"), namespace=namespace)])[0]

    def delete(self, ids: str | Sequence[str], *, namespace: str | None = None) -> DeleteResult:
        """Delete items by id; unknown ids are reported, not raised."""
        return self.batch([DeleteOp(ids=check_ids(ids, "delete"), namespace=namespace)])[0]

    # ------------------------------------------------------------------ derived: async
    async def aadd(
        self,
        items: Sequence[Any],
        *,
        ids: Sequence[str | None] | None = None,
        metadata: Sequence[dict[str, Any]] | None = None,
        namespace: str | None = None,
        **options: Any,
    ) -> AddResult:
        """Async twin of :meth:`add`."""
        return (await self.abatch([self._add_op(items, ids, metadata, namespace, options)]))[0]

    async def asearch(
        self, query: str, k: int = 5, *, namespace: str | None = None, **options: Any
    ) -> SearchHits:
        """Async twin of :meth:`search`."""
        return (await self.abatch([self._search_op(query, k, namespace, options)]))[0]

    async def aget(self, ids: str | Sequence[str], *, namespace: str | None = None) -> list[Hit]:
        """Async twin of :meth:`get`."""
        return (await self.abatch([GetOp(ids=check_ids(ids, "get"), namespace=namespace)]))[0]

    async def adelete(
        self, ids: str | Sequence[str], *, namespace: str | None = None
    ) -> DeleteResult:
        """Async twin of :meth:`delete`."""
        op = DeleteOp(ids=check_ids(ids, "delete"), namespace=namespace)
        return (await self.abatch([op]))[0]


# ------------------------------------------------------------------------- checks
def check_k(k: Any, what: str = "k") -> int:
    """A positive integer, or a clear :class:`InputError`.

    >>> check_k(3)
    3
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        if isinstance(k, float) and math.isfinite(k) and k.is_integer() and k >= 1:
            return int(k)
        raise InputError(f"{what} must be a positive integer, got {k!r}.")
    return k


def check_ids(ids: Any, method: str) -> tuple[str, ...]:
    """Ids as a tuple of strings: a single string is one id (never its characters), any other
    iterable is read once; ``None`` and non-strings are refused.

    >>> check_ids("m0001", "get"), check_ids(iter(["a", "b"]), "get")
    (('m0001',), ('a', 'b'))
    """
    if isinstance(ids, str):
        return (ids,)
    if ids is None or isinstance(ids, (bytes, bytearray, Mapping)) or not isinstance(ids, Iterable):
        raise InputError(
            f"{method}() takes an id or a list of ids, got {type(ids).__name__}: "
            f"{method}(['id1', 'id2'])."
        )
    ids = tuple(ids)
    bad = [i for i in ids if not isinstance(i, str)]
    if bad:
        raise InputError(f"{method}() ids must be strings, got {bad[0]!r:.60}.")
    return ids


def _check_options(
    cls: str, method: str, options: Mapping[str, Any], allowed: frozenset[str]
) -> None:
    unknown = sorted(set(options) - allowed)
    if unknown:
        known = ", ".join(sorted(allowed)) or "none"
        raise InputError(
            f"{cls}.{method}() got unknown option(s) {', '.join(map(repr, unknown))}; "
            f"it accepts: {known}."
        )
