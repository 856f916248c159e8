"""GraphMemory: long-term agent memory as a knowledge graph searched with Personalized PageRank.

One folder holds a memory: ``memory.db`` (SQLite, WAL) with passages, triples, the extraction
and embedding caches and the graph; a folder lock keeps other processes out. With a
``database_url`` (``postgresql://...``) the same tables live in Postgres instead and any number
of worker processes share the memory, each searching its own in-memory graph that follows the
others' writes (:mod:`memagents.graphmem.sync`). Passages live in namespaces (one per user,
say) that never see each other.

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
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings
from typing_extensions import Self

from memagents.adapters.facade import Adaptable
from memagents.base.knowledge import EntityHit, RelationHit
from memagents.base.memory import Memory
from memagents.base.ops import AddOp, DeleteOp, GetOp, Op, SearchOp
from memagents.config import Settings, get_settings
from memagents.errors import ConfigError, InputError, StorageError
from memagents.graphmem import knowledge
from memagents.graphmem.batching import DEFAULT_WINDOW_MS, WindowBatcher
from memagents.graphmem.core.config import Preset, get_preset
from memagents.graphmem.core.graph import GraphIndex
from memagents.graphmem.core.normalize import unencodable
from memagents.graphmem.db import GraphDB
from memagents.graphmem.extraction import Extractor
from memagents.graphmem.ingest import Ingestor, ProgressFn, check_ids, check_string
from memagents.graphmem.results import AddResult, MemoryHit, SearchHits
from memagents.graphmem.retrieval import (
    arun_search_ops,
    group_searches,
    rank_requests,
    run_search,
    run_search_ops,
)
from memagents.graphmem.state import DEFAULT_NAMESPACE, MemoryState, check_namespace
from memagents.models import (
    Budget,
    StructuredLLM,
    Usage,
    embeddings_id,
    resolve_embeddings,
)
from memagents.stores import FolderLock
from memagents.stores.postgres import PostgresDatabase, is_postgres_url

__all__ = ["DEFAULT_NAMESPACE", "GraphMemory", "check_namespace"]


class GraphMemory(Memory, Adaptable):
    """HippoRAG 2 graph memory in a folder. Build it with :meth:`open`.

    It implements the capability contract (:class:`~memagents.base.Memory`): ``add``,
    ``search``, ``get``, ``delete`` and their async twins come from :meth:`batch` /
    :meth:`abatch`; ``node()``, ``as_retriever()``, ``as_tools()`` and ``as_store()`` are the
    shared adapters (:mod:`memagents.adapters`).

    ``add(texts, *, ids=None, metadata=None, namespace=None, progress=None, extract=True)``
    stores strings or ``Document``s: one LLM call per new passage extracts its triples (cached
    by content hash), then embeddings and graph update incrementally; re-adding unchanged
    content costs nothing. Metadata is one dict per text of JSON values (string keys, finite
    numbers, at most 32 levels). A passage whose extraction fails is reported in ``failed``
    while the others index. ``search(query, k=5, *, namespace=None, preset=None,
    use_filter=None)`` ranks passages with Personalized PageRank; the hits carry an
    ``explanation`` (linked facts, seed phrases, whether the recognition filter ran) and
    ``notes``. ``get`` takes one id or a list; ``delete`` recomputes the graph as if the
    passages had never been added.

    Use it as a context manager (or call :meth:`close`) to release the folder lock.
    """

    add_options = frozenset({"progress", "extract"})
    search_options = frozenset({"preset", "use_filter"})

    def __init__(
        self,
        folder: Path,
        *,
        db: GraphDB,
        lock: FolderLock | None,
        embeddings: Embeddings,
        embeddings_key: str,
        preset: Preset,
        llm: StructuredLLM,
        extractor: Extractor | None,
        use_filter: bool | None,
        namespace: str,
        settings: Settings,
        ppr_batch_window_ms: float = DEFAULT_WINDOW_MS,
    ) -> None:
        self._lock = lock
        self._state = MemoryState(
            folder=folder, db=db, embeddings=embeddings, embeddings_key=embeddings_key,
            preset=preset, llm=llm, settings=settings, namespace=namespace,
            use_filter=use_filter, given_extractor=extractor,
        )
        self._ingest = Ingestor(self._state)
        state = self._state
        self._ppr_batcher = WindowBatcher(
            lambda requests: rank_requests(state, requests), window_ms=ppr_batch_window_ms
        )

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
        database_url: str | None = None,
        refresh_interval: float = 1.0,
        ppr_batch_window_ms: float = DEFAULT_WINDOW_MS,
    ) -> GraphMemory:
        """Open (or create) the memory in ``folder`` (default: the ``home`` setting), or in
        the Postgres database of ``database_url``.

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
            database_url: ``postgresql://USER:PASSWORD@HOST:PORT/DBNAME`` (default: the
                ``database_url`` setting, ``MEMAGENTS_DATABASE_URL``): keep the memory in
                Postgres, shared by every worker that opens it, with no folder lock
                (``folder`` then only holds what adapters keep beside the memory). Needs
                ``pip install 'memagents[postgres]'``.
            refresh_interval: With Postgres: a worker checks at most this often (seconds)
                whether other workers changed the memory before it searches; until then it
                answers from the graph it has. Writes always bring it up to date first.
            ppr_batch_window_ms: ``asearch`` calls arriving within this many milliseconds
                of each other share one batched PageRank (same hits as alone; see
                :mod:`memagents.graphmem.batching`); ``0`` turns it off. Sync ``search`` is
                never delayed.

        Raises:
            StoreLockedError: Another process has this memory open (a folder memory).
            ConfigError: The folder was built with other embeddings or another preset graph,
                or ``folder`` is not a usable folder path (a file, under a file, too long...).
            StorageError: The folder cannot be created (e.g. no permission).
            NamespaceError: ``namespace`` is not a valid namespace.
        """
        settings = settings or get_settings()
        check_namespace(namespace)
        the_preset = get_preset(preset)
        url = _check_url(database_url if database_url is not None else settings.database_url,
                         refresh_interval)
        root = _make_folder(folder if folder is not None else settings.home)
        lock = None if url else FolderLock(root)
        if lock is not None:
            lock.acquire(timeout=0)
        db: GraphDB | None = None
        try:
            emb = resolve_embeddings(embeddings or settings.embeddings, settings)
            key = embeddings_id(emb)
            db = GraphDB(url or root / "memory.db", refresh_interval=refresh_interval)
            _check_identity(db, "embeddings", key, "embeddings=")
            _check_identity(db, "graph_config", repr(the_preset.graph), "preset=")
            structured = StructuredLLM.coerce(llm, settings=settings, budget=budget)
            return cls(
                root, db=db, lock=lock, embeddings=emb, embeddings_key=key,
                preset=the_preset, llm=structured, extractor=extractor, use_filter=use_filter,
                namespace=namespace, settings=settings, ppr_batch_window_ms=ppr_batch_window_ms,
            )
        except BaseException:
            if db is not None:
                db.close()
            if lock is not None:
                lock.release()
            raise

    def close(self) -> None:
        """Release the folder lock and the database (idempotent)."""
        if self._state.closed:
            return
        self._state.closed = True
        self._state.db.close()
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self.db.location if self.db.shared else str(self.folder)
        return f"GraphMemory({where!r}, preset={self.preset.name!r})"

    # ------------------------------------------------------------- attributes
    @property
    def folder(self) -> Path:  # type: ignore[override]
        """The memory folder."""
        return self._state.folder

    def state_location(self, name: str) -> str | Path | None:
        """``<name>.db`` in the folder, or the memory's Postgres database when it lives in one
        (the LangGraph store's items then live beside the graph, shared by every worker)."""
        sql = self._state.db.sql
        if isinstance(sql, PostgresDatabase):
            return sql.dsn
        return super().state_location(name)

    @property
    def db(self) -> GraphDB:
        """The memory's own tables (``memory.db``, or the Postgres database); not a LangGraph
        store (that is :meth:`as_store`)."""
        return self._state.db

    @property
    def embeddings(self) -> Embeddings:
        """The embedding model."""
        return self._state.embeddings

    @property
    def embeddings_key(self) -> str:
        """The embedding model's identity, remembered in the folder."""
        return self._state.embeddings_key

    @property
    def preset(self) -> Preset:
        """The preset the graph is built with (and the default search preset)."""
        return self._state.preset

    @property
    def llm(self) -> StructuredLLM:
        """The chat model (triple extraction and the recognition filter)."""
        return self._state.llm

    @property
    def usage(self) -> Usage:
        """Running usage totals of this memory's model calls."""
        return self._state.usage

    @property
    def settings(self) -> Settings:
        """The settings the memory was opened with."""
        return self._state.settings

    @property
    def namespace(self) -> str:  # type: ignore[override]
        """The default namespace of every operation."""
        return self._state.namespace

    @property
    def use_filter(self) -> bool | None:
        """Run the recognition filter at search time (``None``: when a chat model is set)."""
        return self._state.use_filter

    @use_filter.setter
    def use_filter(self, value: bool | None) -> None:
        self._state.use_filter = value

    @property
    def ppr_batch_window_ms(self) -> float:
        """The batching window of ``asearch`` in milliseconds (``0``: off); settable."""
        return self._ppr_batcher.window_ms

    @ppr_batch_window_ms.setter
    def ppr_batch_window_ms(self, value: float) -> None:
        self._ppr_batcher.window_ms = value

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._state.closed

    @property
    def max_input_chars(self) -> int:  # type: ignore[override]
        """The longest passage accepted (the ``max_input_chars`` setting)."""
        return int(self._state.settings.max_input_chars)

    @property
    def has_llm(self) -> bool:
        """True when a chat model is configured (extraction and the filter can run)."""
        return self._state.has_llm

    @property
    def extractor(self) -> Extractor:
        """The triple extractor (LLM by default). Raises ConfigError without an LLM."""
        return self._state.extractor()

    def _ns(self, namespace: str | None) -> str:
        return self._state.resolve(namespace)

    def index(self, namespace: str | None = None) -> GraphIndex:
        """The in-memory graph of a namespace (loaded from SQLite on first use)."""
        return self._state.index(self._ns(namespace))

    # ------------------------------------------------------------- the contract
    def batch(self, ops: Sequence[Op]) -> list[Any]:
        """Run contract operations in order (see :class:`~memagents.base.Memory`).

        ``add`` options: ``progress`` (``progress(done, total)`` as extraction advances) and
        ``extract`` (``False``: store the passages with no triples and no LLM call). ``search``
        options: ``preset`` and ``use_filter``. Consecutive searches share one batched
        PageRank per graph (each gets the hits it gets alone).
        """
        out: list[Any] = []
        for group in group_searches(ops):
            if len(group) > 1:
                out += run_search_ops(self._state, group)  # type: ignore[arg-type]
            else:
                out.append(self._run_op(group[0]))
        return out

    async def abatch(self, ops: Sequence[Op]) -> list[Any]:
        """Async twin of :meth:`batch`: extraction, query embedding and the recognition
        filter run on the models' async APIs; SQLite work runs in worker threads. Searches
        (consecutive ones concurrently) rank through the batching window."""
        out: list[Any] = []
        for group in group_searches(ops):
            op = group[0]
            if isinstance(op, SearchOp):
                out += await arun_search_ops(self._state, group, self._ppr_batcher)  # type: ignore[arg-type]
            elif isinstance(op, AddOp) and op.options.get("extract", True):
                ns = self._ns(op.namespace)
                out.append(await self._ingest.aadd(
                    list(op.items), ids=op.ids, metadata=op.metadata, namespace=ns,
                    progress=op.options.get("progress"),
                ))
            else:
                out.append(await asyncio.to_thread(self._run_op, op))
        return out

    def _run_op(self, op: Op) -> Any:
        ns = self._ns(op.namespace)
        if isinstance(op, AddOp):
            progress = op.options.get("progress")
            if op.options.get("extract", True):
                return self._ingest.add(list(op.items), ids=op.ids, metadata=op.metadata,
                                        namespace=ns, progress=progress)
            passages = [(getattr(t, "page_content", t), []) for t in op.items]
            ids = op.ids
            if ids is None and any(getattr(t, "id", None) for t in op.items):
                ids = tuple(getattr(t, "id", None) for t in op.items)
            metadata = op.metadata
            if metadata is None and any(getattr(t, "metadata", None) for t in op.items):
                metadata = tuple(dict(getattr(t, "metadata", None) or {}) for t in op.items)
            return self._ingest.add_triples(passages, ids=ids, metadata=metadata, namespace=ns,
                                            progress=progress)
        if isinstance(op, SearchOp):
            check_string(op.query, "the search query")
            return run_search(self._state, op.query, op.k, ns, op.options.get("preset"),
                              op.options.get("use_filter"))
        if isinstance(op, GetOp):
            return self._get(list(op.ids), ns)
        if isinstance(op, DeleteOp):
            return self._ingest.delete(list(op.ids), namespace=ns)
        raise InputError(f"GraphMemory cannot run {type(op).__name__}.")

    # ------------------------------------------------------------ graph-specific
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

    def _get(self, ids: list[str], ns: str) -> list[MemoryHit]:
        rows = {p.id: p for p in self.db.passages(ns, ids=check_ids(ids))}
        triples = self.db.triples(ns, ids=list(rows))
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
        return self.db.namespaces()

    def stats(self, namespace: str | None = None) -> dict[str, Any]:
        """Counts of passages by status, graph nodes and edges, and usage so far."""
        ns = self._ns(namespace)
        graph = self.index(ns).stats()
        return {
            "namespace": ns,
            "passages": self.db.counts(ns),
            "graph": graph,
            "persisted_edges": self.db.edge_count(ns),
            "embeddings": self.embeddings_key,
            "preset": self.preset.name,
            "usage": self.usage.as_dict(),
        }

    # ------------------------------------------------------ the knowledge index
    # KnowledgeIndex (memagents.base.knowledge), implemented in memagents.graphmem.knowledge:
    # entities are phrase nodes, relations are facts; read-only, per namespace.
    def search_entities(
        self,
        query: str,
        k: int = 5,
        *,
        namespace: str | None = None,
        within: Collection[str] | None = None,
        exclude: Collection[str] | None = None,
    ) -> list[EntityHit]:
        """The ``k`` phrase nodes most similar to ``query`` (cosine), best first, ties by name;
        only names in ``within`` when given, never names in ``exclude``. Names are normalised
        like phrases; ``sources`` are the passages mentioning the entity and ``description``
        its best-attested facts (see :mod:`memagents.graphmem.knowledge`).

        Example:
            >>> import tempfile
            >>> from memagents.base import KnowledgeIndex
            >>> with tempfile.TemporaryDirectory() as folder:
            ...     with GraphMemory.open(folder, embeddings="hash") as memory:
            ...         _ = memory.add_triples([
            ...             ("Ada Korvin was born in Velm.", [("Ada Korvin", "born in", "Velm")]),
            ...             ("Velm is in Ostria.", [("Velm", "is in", "Ostria")]),
            ...         ], ids=["p1", "p2"])
            ...         print(isinstance(memory, KnowledgeIndex))
            ...         [velm] = memory.search_entities("Velm", k=1)
            ...         print(velm.name, round(velm.score, 3), velm.sources)
            ...         print(velm.description)
            ...         print(memory.entity_neighbours(["Ada Korvin"], hops=2))
            ...         print([r.text for r in memory.search_relations("Ostria", k=1)])
            True
            velm 1.0 ('p1', 'p2')
            ada korvin born in velm; velm is in ostria
            ['ostria', 'velm']
            ['velm is in ostria']
        """
        return knowledge.search_entities(
            self._state, query, k, namespace=namespace, within=within, exclude=exclude
        )

    def get_entities(
        self, names: Sequence[str], *, namespace: str | None = None
    ) -> list[EntityHit]:
        """The known phrase nodes among ``names`` (normalised), in the order asked, each once;
        unknown names are skipped."""
        return knowledge.get_entities(self._state, names, namespace=namespace)

    def entity_neighbours(
        self,
        names: Collection[str],
        *,
        hops: int = 1,
        namespace: str | None = None,
        synonyms: bool = False,
    ) -> list[str]:
        """Phrases within ``hops`` fact edges of ``names`` (breadth-first; ``names``
        excluded), sorted. ``synonyms=True`` follows synonymy edges too."""
        return knowledge.entity_neighbours(
            self._state, names, hops=hops, namespace=namespace, synonyms=synonyms
        )

    def search_relations(
        self,
        query: str,
        k: int = 5,
        *,
        namespace: str | None = None,
        entities: Collection[str] | None = None,
    ) -> list[RelationHit]:
        """The ``k`` facts most similar to ``query`` (cosine), best first, ties by fact; only
        facts whose subject or object is among ``entities`` when given. ``sources`` are the
        passages each fact was extracted from."""
        return knowledge.search_relations(
            self._state, query, k, namespace=namespace, entities=entities
        )

    def search_passages(
        self,
        query: str,
        k: int = 5,
        *,
        namespace: str | None = None,
        within: Collection[str] | None = None,
    ) -> SearchHits:
        """The ``k`` passages most similar to ``query`` by dense cosine alone (no PageRank,
        no model but the embedder), best first; only ids in ``within`` when given. Hits are
        :class:`MemoryHit` with ``score`` and ``dense_score`` the cosine."""
        return knowledge.search_passages(
            self._state, query, k, namespace=namespace, within=within
        )

    # ------------------------------------------------------------- interfaces
    def as_retriever(self, k: int = 5, *, use_filter: bool | None = None, **kw: Any) -> Any:
        """A langchain retriever (:class:`~memagents.adapters.MemoryRetriever`);
        ``use_filter`` is passed to every search."""
        if use_filter is not None:
            kw["search_options"] = {**kw.get("search_options", {}), "use_filter": use_filter}
        return super().as_retriever(k, **kw)

    def as_tools(self, **kw: Any) -> Any:
        """Agent tools ``[search_memory, save_memory]`` (:func:`~memagents.adapters.create_memory_tools`)."""
        kw.setdefault("search_description", SEARCH_DESCRIPTION)
        return super().as_tools(**kw)

    def as_store(
        self, *, extract: bool | None = None, use_filter: bool | None = None, **kw: Any
    ) -> Any:
        """A LangGraph ``BaseStore`` (:class:`~memagents.adapters.MemoryStore`) whose
        ``search(query=...)`` runs PPR. ``extract``: build passages with LLM triple extraction
        (default: when the memory has a chat model or an extractor; else passages are stored
        with no triples and search is dense); ``use_filter``: the recognition filter."""
        can = self._state.can_extract
        kw.setdefault("add_options", {"extract": can if extract is None else bool(extract)})
        kw.setdefault("search_options", {"use_filter": use_filter})
        return super().as_store(**kw)


SEARCH_DESCRIPTION = (
    "Search long-term memory for stored passages relevant to a question. Memory is a "
    "knowledge graph, so multi-hop questions work (e.g. 'Where was the founder of X born?'). "
    "Returns the best passages, best first, with their ids, or says that nothing was found."
)


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


def _check_url(url: str | None, refresh_interval: float) -> str | None:
    """The Postgres URL of a shared memory (None: a folder memory); ConfigError when bad."""
    if isinstance(refresh_interval, bool) or not isinstance(refresh_interval, (int, float)) or (
        not refresh_interval >= 0
    ):
        raise ConfigError(
            f"refresh_interval must be a number of seconds >= 0, got {refresh_interval!r}."
        )
    if url is None or not str(url).strip():
        return None
    if not is_postgres_url(url):
        raise ConfigError(
            f"database_url must be a postgresql:// URL, got {str(url)[:40]!r}...; use "
            "postgresql://USER:PASSWORD@HOST:PORT/DBNAME, or leave it unset for a folder memory."
        )
    return str(url).strip()


def _check_identity(db: GraphDB, key: str, value: str, argument: str) -> None:
    """Remember what a memory was built with; refuse to reopen it with something else."""
    known = db.get_meta(key)
    if known is None:
        db.set_meta(key, value)
    elif known != value:
        raise ConfigError(
            f"this memory was built with {key} {known!r} but is opened with {value!r}: vectors "
            f"and graph would not match. Open it with the same {argument} or use a new folder."
        )
