"""Any memagents memory as a LangGraph ``BaseStore``: ``graph.compile(store=memory.as_store())``.

:class:`MemoryStore` keeps LangGraph items (namespace, key, JSON value, timestamps) in
``store.db`` in the memory's folder, and mirrors the text of their indexed fields into the
memory (any :class:`~memagents.base.Memory` with a ``folder``) as passages, so
``search(prefix, query=...)`` ranks items with the memory's own search: Personalized PageRank
over the knowledge graph for a :class:`~memagents.graphmem.GraphMemory`. The rest of this page
describes the store over a graph memory; another capability documents what its search and its
scores mean.

How items become passages:

* The fields come from ``index={"fields": [...]}`` (LangGraph JSON paths, default ``["$"]``:
  the whole value as JSON) or per put (``index=[...]``; ``index=False`` stores the item
  without passages). Each text becomes a passage in the graph namespace of the item's namespace
  (``store:["users", "ada"]``), id = the key (whole-value passage) or ``["key", "field"]``.
* Passages go through ``memory.add`` with the store's ``add_options``. A graph memory with a
  chat model (or an extractor) extracts triples (one LLM call per new text) and search is real
  PPR over them; without one, ``as_store()`` passes ``extract=False``: passages are stored with
  no triples, the graph has passage nodes only and the search degrades to dense retrieval with
  the memory's embeddings.
* Overwrites replace an item's passages, deletes remove them. Graph updates run after the
  items are committed, through an outbox table, so a crash in between is repaired later.

Semantics follow ``InMemoryStore`` (the reference of LangGraph's docs), checked by
:mod:`memagents.testing.store_conformance`: searches and gets see the state before the puts of
their batch; repeated puts of one key in a batch: the last wins; an overwrite keeps the item's
position and resets both timestamps (as ``InMemoryStore`` and ``SqliteStore`` do); unranked
results come in insertion order, namespace by namespace; ``list_namespaces`` sorts.
Differences, on purpose:

* ``SearchItem.score`` is each hit's :meth:`~memagents.base.Hit.stable_score` from one
  ``memory.search`` per memory namespace; for a graph memory it means one of two things:

  - **Dense hits** (the graph has no triples, as without a chat model, or no fact survived
    the recognition filter): the **cosine similarity** of the query and the item's text, as
    ``InMemoryStore`` returns for the same embeddings (within float32 rounding). It does not
    depend on the other items or on the query's best match, so a threshold
    (``[h for h in hits if h.score >= 0.5]``) means the same for every query.
  - **Graph hits** (the query linked to facts and PPR ran): the item's **Personalized
    PageRank probability**, in ``[0, 1]``; the probabilities of all passages of one graph
    sum to at most 1 (the rest sits on phrase nodes), so values shrink as the graph grows and
    are not cosines: use them to rank, not with a fixed threshold. Items are ordered by it
    (the preset's ``rerank_window`` does not apply here: scores must be non-increasing).
    ``memory.search(query, namespace=memory_namespace(ns)).explanation.used_graph`` tells
    which kind a search returned.

  Results of several namespaces are merged by :meth:`~memagents.base.Hit.merge_key` (for a
  graph memory: the score, ties broken by the dense cosine);
  scores of two namespaces come from separate graphs (and can be of the two kinds), so search
  one namespace (``("memories", user_id)``) for a ranking you can trust. An item with
  several passages gets its best passage's score (max pooling, like LangGraph's vectors).
  Items without passages (``index=False``, no text at the fields, a failed extraction)
  follow the scored ones with ``score=None``, and ``offset`` pages through both
  (``InMemoryStore`` ignores ``offset`` for the unscored tail).
* Values are stored as JSON: tuples come back as lists, non-string dict keys as strings, and a
  value JSON cannot encode is refused with :class:`~memagents.errors.InputError`.
* Range filters (``$gt`` ...) on a missing or non-numeric value do not match (InMemoryStore
  raises ``TypeError``).
* ``list_namespaces`` lists namespaces that hold items (InMemoryStore also lists namespaces a
  ``get`` or ``delete`` merely touched).
* ``batch`` checks the labels of every op (``validate_op_namespace``), as LangGraph asks of
  stores that serialise namespaces. No TTL: ``supports_ttl = False`` and ``ttl=`` raises
  ``NotImplementedError``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from langgraph.store.base import (
    BaseStore,
    GetOp,
    IndexConfig,
    Item,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
)
from typing_extensions import Self

from memagents.adapters.store.filters import (
    check_ops,
    check_value,
    item_texts,
    matches_filter,
    namespace_matches,
)
from memagents.adapters.store.tables import PreparedPut, Row, StoreTables, encode_ns
from memagents.base.memory import Memory
from memagents.errors import ConfigError, InputError

__all__ = ["STORE_FILE", "MemoryStore", "memory_namespace"]

STORE_FILE = "store.db"
"""Name of the store's SQLite file in the memory folder."""

logger = logging.getLogger(__name__)
_MAX_MEMORY_NS = 200  # memory namespaces take 256 characters; long ones are hashed
_LOCKS: dict[str, threading.RLock] = {}
_LOCKS_GUARD = threading.Lock()


def memory_namespace(namespace: tuple[str, ...]) -> str:
    """The memory namespace holding the passages of a LangGraph namespace.

    >>> memory_namespace(("users", "ada"))
    'store:["users", "ada"]'
    """
    name = "store:" + json.dumps(list(namespace))
    if len(name) <= _MAX_MEMORY_NS:
        return name
    return "store:sha256:" + hashlib.sha256(name.encode("utf-8")).hexdigest()


def _lock_for(location: str | Path) -> threading.RLock:
    """One lock per store file (or database), shared by every store object of the process
    on it."""
    key = str(Path(location).resolve()) if isinstance(location, Path) else location
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, threading.RLock())


class MemoryStore(BaseStore):
    """LangGraph ``BaseStore`` over any memagents memory with a folder.

    Build it with ``memory.as_store(...)``; see the module docstring for the semantics. The
    fields apply when an item is put: changing them later does not re-index stored items (put
    them again).

    Args:
        memory: An open memory; items go to ``store.db`` in its folder (or to the memory's
            Postgres database, shared by its workers: ``memory.state_location``).
        index: LangGraph ``IndexConfig``; only ``fields`` is used (default ``["$"]``). ``dims``
            is ignored and ``embed`` refused: embeddings are the memory's own.
        add_options: Capability options of every ``memory.add`` (graph memory:
            ``{"extract": False}`` stores passages without an LLM).
        search_options: Capability options of every ``memory.search`` (graph memory:
            ``{"use_filter": False}``).

    Example:
        >>> import tempfile
        >>> from memagents.graphmem import GraphMemory
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     with GraphMemory.open(folder, embeddings="hash") as memory:
        ...         with memory.as_store() as store:
        ...             store.put(("users", "ada"), "m1", {"text": "Ada likes green tea"})
        ...             store.put(("users", "ada"), "m2", {"text": "Ada was born in Velmora"})
        ...             hits = store.search(("users",), query="Where was Ada born?", limit=1)
        ...             [h.key for h in hits], store.get(("users", "ada"), "m1").value
        (['m2'], {'text': 'Ada likes green tea'})
    """

    supports_ttl = False

    def __init__(
        self,
        memory: Memory,
        *,
        index: IndexConfig | None = None,
        add_options: dict[str, Any] | None = None,
        search_options: dict[str, Any] | None = None,
    ) -> None:
        config: dict[str, Any] = dict(index or {})
        if config.get("embed") is not None:
            raise ConfigError(
                "MemoryStore embeds with the memory's own embeddings: drop 'embed' from "
                "index= and open the memory with embeddings=... instead."
            )
        fields = config.get("fields") or ["$"]
        if isinstance(fields, str) or not all(isinstance(f, str) and f for f in fields):
            raise ConfigError(f"index fields must be a list of JSON paths, got {fields!r}.")
        self.memory = memory
        self.fields: list[str] = list(fields)
        self.index_config: IndexConfig = {"fields": self.fields}
        self.add_options = dict(add_options or {})
        self.search_options = {k: v for k, v in (search_options or {}).items() if v is not None}
        location = memory.state_location(STORE_FILE.removesuffix(".db"))
        if location is None:
            raise ConfigError(
                f"{type(memory).__name__} has no folder, and the LangGraph store keeps its items "
                "in store.db in the memory's folder: open the memory in a folder."
            )
        self._tables = StoreTables(location)
        self._lock = _lock_for(location)
        legacy = None if memory.folder is None else Path(memory.folder) / STORE_FILE
        if isinstance(location, str) and legacy is not None and legacy.is_file():
            self._import_folder_store(legacy)

    def _import_folder_store(self, path: Path) -> None:
        """Bring the items of a worker folder's ``store.db`` into the shared database.

        Before the store of a Postgres memory lived in the memory's database, each worker kept
        its items in ``store.db`` in its folder. Each item the database lacks, or holds in an
        older version, is put (indexing the same fields as before; its timestamps become the
        import's); the file is then renamed ``store.db.imported`` (kept, never deleted).
        """
        old = StoreTables(path)
        try:
            texts = old.item_texts()
            puts = []
            for row in old.items(()):
                ns = encode_ns(row.namespace)
                current = self._tables.get(row.namespace, row.key)
                if current is not None and current.updated_at >= row.updated_at:
                    continue
                puts.append(PreparedPut(
                    row.namespace, row.key, json.dumps(row.value, ensure_ascii=False),
                    texts.get((ns, row.key), {}), memory_namespace(row.namespace),
                ))
        finally:
            old.close()
        with self._lock:
            if puts:
                self._tables.write(puts, [])
                self._sync_graph(raise_errors=False)
        target = path.with_name(STORE_FILE + ".imported")
        n = 1
        while target.exists():
            n += 1
            target = path.with_name(f"{STORE_FILE}.imported.{n}")
        for suffix in ("-wal", "-shm"):  # SQLite's side files, if a crash left them
            side = path.with_name(STORE_FILE + suffix)
            if side.exists():
                side.rename(target.with_name(target.name + suffix))
        path.rename(target)
        logger.warning(
            "MemoryStore: moved %d item(s) from %s into the memory's shared database "
            "(the file is kept as %s).", len(puts), path, target.name,
        )

    # ---------------------------------------------------------------- lifecycle
    def close(self) -> None:
        """Close ``store.db`` (the memory stays open; close it yourself)."""
        self._tables.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"MemoryStore({str(self.memory.folder)!r}, fields={self.fields!r})"

    # -------------------------------------------------------------------- batch
    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run ops like ``InMemoryStore``: reads first (in order), then the puts, together."""
        ops = list(ops)
        check_ops(ops)
        if self.memory.closed:
            raise InputError(
                f"the {type(self.memory).__name__} behind this store is closed: open it again "
                "and call as_store() again."
            )
        puts: dict[tuple[tuple[str, ...], str], PreparedPut] = {}
        for op in ops:
            if isinstance(op, PutOp):
                prepared = self._prepare(op)
                puts[(prepared.namespace, prepared.key)] = prepared
        with self._lock:
            results: list[Result] = []
            touched: list[tuple[str, ...]] = []
            for op in ops:
                if isinstance(op, GetOp):
                    touched.append(tuple(op.namespace))
                    results.append(_item(self._tables.get(op.namespace, str(op.key))))
                elif isinstance(op, SearchOp):
                    results.append(self._search(op))
                elif isinstance(op, ListNamespacesOp):
                    results.append(self._list_namespaces(op))
                else:
                    results.append(None)
            if puts:
                self._tables.write(list(puts.values()), touched)
                self._sync_graph(raise_errors=True)
            return results

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Async twin of :meth:`batch` (runs it in a worker thread)."""
        return await asyncio.to_thread(self.batch, list(ops))

    # ------------------------------------------------------------------- writes
    def _prepare(self, op: PutOp) -> PreparedPut:
        """Validate a put before anything runs; compute the passages it should have."""
        namespace, key = tuple(op.namespace), str(op.key)
        if op.value is None:
            return PreparedPut(namespace, key, None)
        value_json = check_value(op.value, key)
        if op.index is False:
            texts: dict[str, str] = {}
        else:
            paths = self.fields if op.index is None else op.index
            if isinstance(paths, str) or not all(isinstance(p, str) and p for p in paths):
                raise InputError(
                    f"index= of item {key!r} must be False or a list of JSON paths, got {paths!r}."
                )
            texts = item_texts(json.loads(value_json), list(paths))
        limit = self.memory.max_input_chars
        for label, text in texts.items():
            if limit is not None and len(text) > limit:
                raise InputError(
                    f"field {label!r} of item {key!r} has {len(text)} characters, over "
                    f"max_input_chars={limit}: index fewer fields (put(..., index=[...]) or "
                    "index=False) or raise MEMAGENTS_MAX_INPUT_CHARS."
                )
        return PreparedPut(namespace, key, value_json, texts, memory_namespace(namespace))

    def _sync_graph(self, *, raise_errors: bool) -> None:
        """Bring the graph in line with ``store.db`` (replays the outbox, graph by graph)."""
        with self._tables.exclusive("replay the store outbox"):
            self._replay(raise_errors=raise_errors)

    def _replay(self, *, raise_errors: bool) -> None:
        by_graph: dict[str, list[tuple[str, str | None, dict[str, Any]]]] = {}
        for g, pid, text, namespace, key, label in self._tables.dirty():
            meta = {"store_namespace": list(namespace), "store_key": key, "store_field": label}
            by_graph.setdefault(g, []).append((pid, text, meta))
        for g, entries in by_graph.items():
            try:
                self._sync_one(g, entries)
            except Exception as exc:
                if raise_errors:
                    raise
                logger.warning(
                    "MemoryStore: updating memory namespace %s failed (%s); searching the "
                    "memory as it was, the update is retried by the next put.", g, exc,
                )

    def _sync_one(self, g: str, entries: list[tuple[str, str | None, dict[str, Any]]]) -> None:
        gone = [pid for pid, text, _ in entries if text is None]
        new = [(pid, text, meta) for pid, text, meta in entries if text is not None]
        if gone:
            self.memory.delete(gone, namespace=g)
        if new:
            ids = [pid for pid, _, _ in new]
            metas = [meta for _, _, meta in new]
            result = self.memory.add([t for _, t, _ in new], ids=ids, metadata=metas,
                                     namespace=g, **self.add_options)
            if result.failed:
                logger.warning(
                    "MemoryStore: indexing failed for %d passage(s) of %s (%s); the "
                    "items are stored and listed, and the memory retries them on its next add.",
                    len(result.failed), g, "; ".join(sorted(set(result.failed.values()))[:3]),
                )
        self._tables.clear_dirty(g, [pid for pid, _, _ in entries])

    # -------------------------------------------------------------------- reads
    def _search(self, op: SearchOp) -> list[SearchItem]:
        prefix = tuple(op.namespace_prefix)
        query = op.query if isinstance(op.query, str) and op.query.strip() else None
        if query is None and not op.filter and min(op.offset, op.limit) >= 0:
            rows = self._tables.items(prefix, limit=op.limit, offset=op.offset)
            return [_search_item(r, None) for r in rows]
        rows = [r for r in self._tables.items(prefix) if matches_filter(r.value, op.filter)]
        if query is None or not rows:
            return [_search_item(r, None) for r in rows[op.offset : op.offset + op.limit]]
        scores = self._scores(prefix, query, {(r.namespace, r.key) for r in rows})
        scored = sorted(
            (r for r in rows if (r.namespace, r.key) in scores),
            key=lambda r: tuple(-x for x in scores[(r.namespace, r.key)]),
        )
        ranked = scored + [r for r in rows if (r.namespace, r.key) not in scores]
        return [
            _search_item(r, scores[(r.namespace, r.key)][0] if (r.namespace, r.key) in scores
                         else None)
            for r in ranked[op.offset : op.offset + op.limit]
        ]

    def _scores(
        self, prefix: tuple[str, ...], query: str, wanted: set[tuple[tuple[str, ...], str]]
    ) -> dict[tuple[tuple[str, ...], str], tuple[float, ...]]:
        """The :meth:`~memagents.base.Hit.merge_key` of each wanted item's best passage (its
        first element is the stable score), one ``memory.search`` per memory namespace."""
        self._sync_graph(raise_errors=False)
        owners = self._tables.owners(prefix)
        graphs = {g for (g, _), owner in owners.items() if owner in wanted}
        scores: dict[tuple[tuple[str, ...], str], tuple[float, ...]] = {}
        for g, count in self._tables.graph_namespaces(prefix).items():
            if g not in graphs:
                continue
            hits = self.memory.search(query, k=count, namespace=g, **self.search_options)
            for hit in hits:
                owner = owners.get((g, hit.id))
                score = hit.stable_score()
                if owner not in wanted or score is None or math.isnan(score):
                    continue
                key = hit.merge_key()
                scores[owner] = max(scores.get(owner, key), key)
        return scores

    def _list_namespaces(self, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        conditions = [(c.match_type, tuple(c.path)) for c in op.match_conditions or ()]
        found = [ns for ns in self._tables.namespaces() if namespace_matches(ns, conditions)]
        if op.max_depth is not None:
            found = sorted({ns[: op.max_depth] for ns in found})
        else:
            found = sorted(found)
        return found[op.offset : op.offset + op.limit]


def _item(row: Row | None) -> Item | None:
    if row is None:
        return None
    return Item(value=row.value, key=row.key, namespace=row.namespace,
                created_at=row.created_at, updated_at=row.updated_at)


def _search_item(row: Row, score: float | None) -> SearchItem:
    return SearchItem(namespace=row.namespace, key=row.key, value=row.value,
                      created_at=row.created_at, updated_at=row.updated_at, score=score)
