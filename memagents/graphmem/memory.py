"""GraphMemory: long-term agent memory as a knowledge graph searched with Personalized PageRank.

One folder holds a memory: ``memory.db`` (SQLite, WAL) with passages, triples, the extraction
and embedding caches and the graph; a folder lock keeps other processes out. Passages live in
namespaces (one per user, say) that never see each other.

``add`` records passages first (status ``pending``), extracts triples with one LLM call per
passage (cached by content hash), embeds only strings never seen before, updates the graph
incrementally and commits triples, statuses and graph changes in one transaction. A passage
whose extraction fails stays ``failed`` with its error and is retried by the next ``add``; a
crash at any point leaves a memory that reopens consistent and resumes.

Example:
    >>> import tempfile
    >>> from memagents.graphmem import GraphMemory
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     with GraphMemory.open(folder, embeddings="hash") as memory:
    ...         _ = memory.add_triples([
    ...             ("Oskar Thandrell founded Quillmere Press.",
    ...              [("Oskar Thandrell", "founded", "Quillmere Press")]),
    ...             ("Oskar Thandrell was born in Velmora.",
    ...              [("Oskar Thandrell", "born in", "Velmora")]),
    ...         ])
    ...         hits = memory.search("Where was the founder of Quillmere Press born?", k=2)
    ...         sorted(h.text.split()[-1] for h in hits)
    ['Press.', 'Velmora.']
"""

from __future__ import annotations

import asyncio
import errno
import os
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings
from typing_extensions import Self

from memagents.config import Settings, get_settings
from memagents.errors import ConfigError, InputError, NamespaceError, StorageError
from memagents.graphmem._ingest import Ingestor, ProgressFn, check_ids, check_string
from memagents.graphmem._results import AddResult, DeleteResult, MemoryHit, SearchHits
from memagents.graphmem.config import Preset, get_preset
from memagents.graphmem.extraction import Extractor, LLMExtractor
from memagents.graphmem.graph import GraphIndex
from memagents.graphmem.normalize import unencodable
from memagents.graphmem.storage import GraphStore, text_key
from memagents.models import (
    Budget,
    StructuredLLM,
    Usage,
    chat_model_configured,
    embed_texts,
    embeddings_id,
    resolve_embeddings,
)
from memagents.stores import FolderLock

__all__ = ["DEFAULT_NAMESPACE", "GraphMemory"]

DEFAULT_NAMESPACE = "default"
_MAX_NAMESPACE = 256


_NON_PRINTABLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
"""Unicode categories refused in namespaces: controls (C0, DEL, C1), format characters (bidi
controls, zero-width characters), surrogates, private-use and unassigned code points, and line
or paragraph separators."""


def check_namespace(namespace: Any) -> str:
    """Validate a namespace name: a non-empty string of at most 256 printable characters.

    Printable means no control, format (bidi controls such as U+202E, zero-width characters),
    surrogate, private-use, unassigned or line-separator character.

    >>> check_namespace("users/alice")
    'users/alice'
    >>> check_namespace("users/\u202eecila")
    Traceback (most recent call last):
    ...
    memagents.errors.NamespaceError: namespace 'users/\u202eecila' is invalid: it contains U+202E (RIGHT-TO-LEFT OVERRIDE, category Cf) at position 6; use at most 256 printable characters (no control, format or bidi characters).
    """
    if not isinstance(namespace, str) or not namespace.strip():
        raise NamespaceError(f"namespace must be a non-empty string, got {namespace!r}.")
    rule = (f"use at most {_MAX_NAMESPACE} printable characters (no control, format or bidi "
            "characters).")
    if len(namespace) > _MAX_NAMESPACE:
        raise NamespaceError(
            f"namespace {namespace[:40]!r}... has {len(namespace)} characters: {rule}"
        )
    for pos, char in enumerate(namespace):
        category = unicodedata.category(char)
        if category in _NON_PRINTABLE:
            name = unicodedata.name(char, "unnamed")
            raise NamespaceError(
                f"namespace {namespace[:40]!r} is invalid: it contains U+{ord(char):04X} "
                f"({name}, category {category}) at position {pos}; {rule}"
            )
    return namespace


class GraphMemory:
    """HippoRAG 2 graph memory in a folder. Build it with :meth:`open`.

    Use it as a context manager (or call :meth:`close`) to release the folder lock.
    """

    def __init__(
        self,
        folder: Path,
        *,
        store: GraphStore,
        lock: FolderLock,
        embeddings: Embeddings,
        embeddings_key: str,
        preset: Preset,
        llm: StructuredLLM,
        extractor: Extractor | None,
        use_filter: bool | None,
        namespace: str,
        settings: Settings,
    ) -> None:
        self.folder = folder
        self.store = store
        self._lock = lock
        self.embeddings = embeddings
        self.embeddings_key = embeddings_key
        self.preset = preset
        self.llm = llm
        self.usage: Usage = llm.usage
        self.settings = settings
        self.namespace = namespace
        self.use_filter = use_filter
        self._extractor = extractor
        self._indexes: dict[str, GraphIndex] = {}
        self._mutex = threading.RLock()
        self._ingest = Ingestor(self)
        self._closed = False

    # ----------------------------------------------------------------- opening
    @classmethod
    def open(
        cls,
        folder: str | Path | None = None,
        *,
        llm: Any = None,
        embeddings: str | Embeddings | None = None,
        preset: str | Preset = "default",
        extractor: Extractor | None = None,
        use_filter: bool | None = None,
        budget: Budget | None = None,
        namespace: str = DEFAULT_NAMESPACE,
        settings: Settings | None = None,
    ) -> GraphMemory:
        """Open (or create) the memory in ``folder`` (default: the ``home`` setting).

        Args:
            folder: The memory folder; created when missing.
            llm: Chat model for triple extraction and the recognition filter: a langchain
                ``BaseChatModel``, a spec such as ``"openai:gpt-4o-mini"``, or a
                :class:`~memagents.models.StructuredLLM`. Default: the ``llm`` setting. Without
                one, :meth:`add_triples` and search work; :meth:`add` needs an extractor.
            embeddings: Embedding model or spec (default: the ``embeddings`` setting). A memory
                remembers the model it was built with and refuses another one.
            preset: ``"default"`` (our improvements) or ``"hipporag2"`` (official rankings).
            extractor: Replace LLM triple extraction with any :class:`Extractor`.
            use_filter: Run the LLM recognition filter at search time (default: when a chat
                model is configured).
            budget: Limits on LLM calls and tokens for this memory's lifetime.
            namespace: Default namespace of every operation.
            settings: Settings object (default: from ``MEMAGENTS_*`` variables).

        Raises:
            StoreLockedError: Another process has this memory open.
            ConfigError: The folder was built with other embeddings or another preset graph,
                or ``folder`` is not a usable folder path (a file, under a file, too long...).
            StorageError: The folder cannot be created (e.g. no permission).
            NamespaceError: ``namespace`` is not a valid namespace.
        """
        settings = settings or get_settings()
        check_namespace(namespace)
        the_preset = get_preset(preset)
        root = _make_folder(folder if folder is not None else settings.home)
        lock = FolderLock(root)
        lock.acquire(timeout=0)
        store: GraphStore | None = None
        try:
            emb = resolve_embeddings(embeddings or settings.embeddings, settings)
            key = embeddings_id(emb)
            store = GraphStore(root / "memory.db")
            _check_identity(store, "embeddings", key, "embeddings=")
            _check_identity(store, "graph_config", repr(the_preset.graph), "preset=")
            if isinstance(llm, StructuredLLM):
                structured = llm
            else:
                has_llm = llm is not None or chat_model_configured(settings)
                structured = StructuredLLM(llm if has_llm else None, settings=settings,
                                           budget=budget)
            return cls(
                root, store=store, lock=lock, embeddings=emb, embeddings_key=key,
                preset=the_preset, llm=structured, extractor=extractor, use_filter=use_filter,
                namespace=namespace, settings=settings,
            )
        except BaseException:
            if store is not None:
                store.close()
            lock.release()
            raise

    def close(self) -> None:
        """Release the folder lock and the database (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self.store.close()
        self._lock.release()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"GraphMemory({str(self.folder)!r}, preset={self.preset.name!r})"

    # --------------------------------------------------------------- plumbing
    @property
    def has_llm(self) -> bool:
        """True when a chat model is configured (extraction and the filter can run)."""
        return self.llm.configured

    @property
    def extractor(self) -> Extractor:
        """The triple extractor (LLM by default). Raises ConfigError without an LLM."""
        if self._extractor is None:
            if not self.has_llm:
                raise ConfigError(
                    "GraphMemory.add() extracts triples with a chat model, and none is "
                    "configured: pass llm='openai:gpt-4o-mini' (or any BaseChatModel) to "
                    "GraphMemory.open, set MEMAGENTS_LLM, pass extractor=..., or store your "
                    "own triples with add_triples()."
                )
            self._extractor = LLMExtractor(self.llm)
        return self._extractor

    def _ns(self, namespace: str | None) -> str:
        if self._closed:
            raise InputError("this GraphMemory is closed; open it again with GraphMemory.open.")
        return check_namespace(namespace if namespace is not None else self.namespace)

    def _embed(self, texts: list[str]) -> np.ndarray:
        """Embed through the persistent cache: each string is embedded once, ever."""
        keys = [text_key(t) for t in texts]
        cached = self.store.vectors(self.embeddings_key, keys)
        missing = list(dict.fromkeys(t for t, k in zip(texts, keys) if k not in cached))
        if missing:
            fresh = embed_texts(self.embeddings, missing, usage=self.usage)
            pairs = [(text_key(t), v) for t, v in zip(missing, fresh)]
            self.store.put_vectors(self.embeddings_key, pairs)
            cached.update(pairs)
        return np.stack([cached[k] for k in keys]) if keys else np.zeros((0, 0), np.float32)

    def index(self, namespace: str | None = None) -> GraphIndex:
        """The in-memory graph of a namespace (loaded from SQLite on first use)."""
        ns = self._ns(namespace)
        with self._mutex:
            if ns not in self._indexes:
                index = GraphIndex(self.preset.graph, embed=self._embed)
                triples = self.store.triples(ns)
                rows = self.store.passages(ns, status="indexed")
                if rows:
                    index.add([(p.id, p.text, triples.get(p.id, [])) for p in rows])
                self._indexes[ns] = index
            return self._indexes[ns]

    def _reload(self, namespace: str) -> None:
        """Forget the in-memory graph so the next use rebuilds it from SQLite."""
        with self._mutex:
            self._indexes.pop(namespace, None)

    # ------------------------------------------------------------------ write
    def add(
        self,
        texts: Sequence[Any],
        *,
        ids: Sequence[str] | None = None,
        metadata: Sequence[dict[str, Any]] | None = None,
        namespace: str | None = None,
        progress: ProgressFn | None = None,
    ) -> AddResult:
        """Store passages (strings or langchain ``Document``s): extract, embed, link.

        Re-adding unchanged content costs no LLM or embedding call; an existing id with new
        content replaces the old passage. Passages whose extraction failed (and any left
        ``pending`` by a crash) are retried too.

        Args:
            texts: Strings or ``Document``s (their ``id`` and ``metadata`` are kept).
            ids: One id per text (``None`` entries: derived from the content).
            metadata: One dict per text of JSON values: string keys, finite numbers, at most
                32 levels deep.
            namespace: Target namespace (default: the memory's).
            progress: ``progress(done, total)`` called as extraction advances.

        Raises:
            InputError: A text, id or metadata value is invalid (empty, too long, not JSON,
                NaN, a lone surrogate...). Nothing is stored then.

        A passage whose extraction fails (the model never returned valid JSON, or returned
        strings that cannot be stored) is reported in ``failed`` while the others index;
        passages with no triples are listed in ``empty`` and ``notes``.
        """
        ns = self._ns(namespace)
        return self._ingest.add(texts, ids=ids, metadata=metadata, namespace=ns, progress=progress)

    async def aadd(
        self,
        texts: Sequence[Any],
        *,
        ids: Sequence[str] | None = None,
        metadata: Sequence[dict[str, Any]] | None = None,
        namespace: str | None = None,
        progress: ProgressFn | None = None,
    ) -> AddResult:
        """Async twin of :meth:`add` (extraction runs on the model's async API)."""
        ns = self._ns(namespace)
        return await self._ingest.aadd(
            texts, ids=ids, metadata=metadata, namespace=ns, progress=progress
        )

    def add_triples(
        self,
        passages: Sequence[Any],
        *,
        ids: Sequence[str] | None = None,
        metadata: Sequence[dict[str, Any]] | None = None,
        namespace: str | None = None,
        progress: ProgressFn | None = None,
    ) -> AddResult:
        """Store passages with their own triples: ``(text, triples)`` pairs or dicts with
        ``text`` and ``triples`` keys. No LLM is called. Malformed triples are dropped and
        counted in the result."""
        ns = self._ns(namespace)
        return self._ingest.add_triples(
            passages, ids=ids, metadata=metadata, namespace=ns, progress=progress
        )

    def delete(self, ids: Sequence[str], *, namespace: str | None = None) -> DeleteResult:
        """Delete passages; the graph becomes exactly what it would be had they never been
        added (weights, synonymy and fact edges recomputed). Unknown ids are reported."""
        return self._ingest.delete(ids, namespace=self._ns(namespace))

    async def adelete(self, ids: Sequence[str], *, namespace: str | None = None) -> DeleteResult:
        """Async twin of :meth:`delete`."""
        return await asyncio.to_thread(self.delete, ids, namespace=namespace)

    # ------------------------------------------------------------------- read
    def search(
        self,
        query: str,
        k: int = 5,
        *,
        namespace: str | None = None,
        preset: str | Preset | None = None,
        use_filter: bool | None = None,
    ) -> SearchHits:
        """Rank stored passages for ``query`` with Personalized PageRank.

        Returns a list of :class:`MemoryHit` (best first) with an ``explanation`` attribute:
        linked facts, seed phrases, whether the recognition filter ran (and why not).
        """
        from memagents.graphmem._search import run_search

        ns = self._ns(namespace)
        if isinstance(query, str):
            check_string(query, "the search query")
        return run_search(self, query, k, ns, preset, use_filter)

    async def asearch(
        self,
        query: str,
        k: int = 5,
        *,
        namespace: str | None = None,
        preset: str | Preset | None = None,
        use_filter: bool | None = None,
    ) -> SearchHits:
        """Async twin of :meth:`search` (query embedding and the recognition filter run on the
        models' async APIs)."""
        from memagents.graphmem._search import arun_search

        ns = self._ns(namespace)
        if isinstance(query, str):
            check_string(query, "the search query")
        return await arun_search(self, query, k, ns, preset, use_filter)

    def get(self, ids: Iterable[str] | str, *, namespace: str | None = None) -> list[MemoryHit]:
        """Stored passages by id (any status) with their triples, in the order asked; unknown
        ids are skipped. ``ids`` is a list (or any iterable) of ids; a single id string is read
        as ``[id]``."""
        ns = self._ns(namespace)
        if isinstance(ids, str):
            ids = [ids]
        elif isinstance(ids, (bytes, bytearray, dict)) or not isinstance(ids, Iterable):
            raise InputError(
                f"pass a list of ids (or one id string) to get, got {type(ids).__name__}."
            )
        ids = list(ids)
        rows = {p.id: p for p in self.store.passages(ns, ids=check_ids(ids))}
        triples = self.store.triples(ns, ids=list(rows))
        return [
            MemoryHit(
                id=i,
                text=rows[i].text,
                metadata=rows[i].metadata,
                namespace=ns,
                triples=tuple(triples.get(i, ())),
            )
            for i in ids
            if i in rows
        ]

    def namespaces(self) -> list[str]:
        """Namespaces that hold at least one passage."""
        return self.store.namespaces()

    def stats(self, namespace: str | None = None) -> dict[str, Any]:
        """Counts of passages by status, graph nodes and edges, and usage so far."""
        ns = self._ns(namespace)
        graph = self.index(ns).stats()
        return {
            "namespace": ns,
            "passages": self.store.counts(ns),
            "graph": graph,
            "persisted_edges": self.store.edge_count(ns),
            "embeddings": self.embeddings_key,
            "preset": self.preset.name,
            "usage": self.usage.as_dict(),
        }

    # ------------------------------------------------------------- interfaces
    def node(self, k: int = 5, **kw: Any) -> Any:
        """A LangGraph node searching this memory; see :func:`.nodes.memory_node`."""
        from memagents.graphmem.nodes import memory_node

        return memory_node(self, k=k, **kw)

    def as_retriever(self, k: int = 5, **kw: Any) -> Any:
        """A langchain retriever; see :class:`.retriever.GraphMemoryRetriever`."""
        from memagents.graphmem.retriever import GraphMemoryRetriever

        return GraphMemoryRetriever(memory=self, k=k, **kw)

    def as_tools(self, **kw: Any) -> Any:
        """Agent tools ``[search_memory, save_memory]``; see :func:`.tools.create_memory_tools`."""
        from memagents.graphmem.tools import create_memory_tools

        return create_memory_tools(self, **kw)

    def as_store(self, **kw: Any) -> Any:
        """A LangGraph ``BaseStore``; see :class:`.store.GraphMemoryStore`."""
        from memagents.graphmem.store import GraphMemoryStore

        return GraphMemoryStore(self, **kw)


def _make_folder(folder: Any) -> Path:
    """The memory folder as a Path, created if missing; ConfigError when it cannot be one."""
    if isinstance(folder, bytes) or not isinstance(folder, (str, os.PathLike)):
        raise ConfigError(
            f"folder must be a path (a str or pathlib.Path), got {type(folder).__name__}."
        )
    shown = repr(str(folder))[:200]
    if not str(folder).strip():
        raise ConfigError("folder is empty: pass the path of the memory folder.")
    if "\x00" in str(folder):
        raise ConfigError(f"folder {shown} contains a NUL character; pass a valid path.")
    problem = unencodable(str(folder))
    if problem is not None:
        raise ConfigError(f"folder {shown} contains {problem}; pass a valid path.")
    root = Path(folder)
    try:
        if root.exists() and not root.is_dir():
            raise ConfigError(
                f"folder {shown} is a file, not a folder: pass a folder path (it is created "
                "when missing)."
            )
        root.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise ConfigError(
            f"cannot create the memory folder {shown}: a part of the path is a file "
            f"({exc.strerror}); pass a path whose parents are folders."
        ) from None
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise ConfigError(
                f"cannot create the memory folder {shown}: the name is too long for the file "
                "system; use a shorter path."
            ) from None
        raise StorageError(
            f"cannot create the memory folder {shown} ({exc.strerror or exc}); pick a folder "
            "you can write to."
        ) from exc
    return root


def _check_identity(store: GraphStore, key: str, value: str, argument: str) -> None:
    """Remember what a memory was built with; refuse to reopen it with something else."""
    known = store.db.get_meta(key)
    if known is None:
        store.db.set_meta(key, value)
    elif known != value:
        raise ConfigError(
            f"this memory was built with {key} {known!r} but is opened with {value!r}: vectors "
            f"and graph would not match. Open it with the same {argument} or use a new folder."
        )
