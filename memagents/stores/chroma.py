"""A :class:`~memagents.stores.vectors.VectorIndex` on a Chroma collection.

Three ways to reach Chroma:

* embedded (default for a memory folder): ``ChromaVectorIndex("passages", path=folder/"chroma")``
  opens a ``chromadb.PersistentClient``. Safe for **one process**; see
  :class:`~memagents.stores.lock.FolderLock`.
* server: ``ChromaVectorIndex("passages", url="http://127.0.0.1:8000")`` talks to a server
  started with ``chroma run --path DIR --port 8000``; the topology for many workers.
* injected: ``client=`` any chromadb client you built yourself (it is not closed by us).

With none of them the index uses a process-wide in-memory ``EphemeralClient`` (handy in tests).

Chroma's default embedding function downloads a model, so collections are created with
``embedding_function=None`` and every vector is passed explicitly; telemetry is turned off.
HNSW search is approximate: queries over-fetch and re-sort by ``(-score, id)``, which makes small
collections exact and deterministic. Writes larger than the client's maximum batch size are split
into several requests, so a failure mid-way can leave the earlier batches written.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np

from memagents.errors import ConfigError, MemagentsError, StorageError
from memagents.stores.vectors import Metadata, VectorIndex, check_index_name

__all__ = ["ChromaVectorIndex", "parse_chroma_url"]

_OVERFETCH = 16


def parse_chroma_url(url: str) -> tuple[str, int, bool]:
    """Split ``http(s)://host[:port]`` into ``(host, port, ssl)``; the default port is 8000.

    Raises:
        ConfigError: The URL is not an ``http``/``https`` URL with a host and no path.
    """
    parts = urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:
        port = -1
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or port == -1
        or parts.path.strip("/")
    ):
        raise ConfigError(
            f"invalid Chroma server URL {url!r}: use http://HOST:PORT (e.g. "
            "http://127.0.0.1:8000), set as chroma_url / MEMAGENTS_CHROMA_URL."
        )
    return (
        parts.hostname,
        port or (443 if parts.scheme == "https" else 8000),
        parts.scheme == "https",
    )


class ChromaVectorIndex(VectorIndex):
    """Vector index stored in a Chroma collection (cosine space, explicit embeddings).

    Args:
        collection: Collection name (3-512 of ``[A-Za-z0-9._-]``).
        path: Folder of an embedded ``PersistentClient``.
        url: URL of a Chroma server (``http://host:port``).
        client: A chromadb client to use as is.
        batch_size: Upper bound for rows per request (default: the client's maximum).

    Raises:
        ConfigError: More than one of ``path``/``url``/``client``, a bad URL or name, or an
            existing collection that does not use cosine distance.
        StorageError: The server is unreachable or Chroma failed.

    Example:
        >>> import tempfile
        >>> from memagents.stores.chroma import ChromaVectorIndex
        >>> index = ChromaVectorIndex("docs", path=tempfile.mkdtemp())
        >>> index.add(["a", "b", "c"], [[1, 0], [0, 1], [1, 1]], [{"n": 1}, {"n": 2}, {"n": 3}])
        >>> [hit for hit, _ in index.query([1, 0], k=2)]
        ['a', 'c']
        >>> index.query([1, 0], k=3, where={"n": 2})
        [('b', 0.0)]
        >>> index.close()
    """

    def __init__(
        self,
        collection: str,
        *,
        path: str | Path | None = None,
        url: str | None = None,
        client: Any = None,
        batch_size: int | None = None,
    ) -> None:
        super().__init__()
        self._name = check_index_name(collection)
        if sum(x is not None for x in (path, url, client)) > 1:
            raise ConfigError("pass at most one of path=, url= or client= to ChromaVectorIndex.")
        self._url = url
        self._owns_client = client is None
        self._where = (
            f"the Chroma server at {url}"
            if url
            else f"the Chroma store in {path}"
            if path
            else "the given Chroma client"
            if client is not None
            else "an in-memory Chroma"
        )
        self._client = client if client is not None else self._connect(path, url)
        try:
            with self._guard("open the collection"):
                self._collection = self._client.get_or_create_collection(
                    self._name, embedding_function=None, metadata={"hnsw:space": "cosine"}
                )
                self._check_space()
                limit = int(self._client.get_max_batch_size())
                self._batch = max(1, min(limit, batch_size or limit))
                probe = self._collection.get(limit=1, include=["embeddings"])
        except BaseException:
            self._close()
            raise
        embeddings = probe.get("embeddings")
        self._dim: int | None = (
            len(embeddings[0]) if embeddings is not None and len(embeddings) else None
        )

    @property
    def dim(self) -> int | None:
        """Vector dimension, or ``None`` while the collection is empty and was never written."""
        return self._dim

    @property
    def collection_name(self) -> str:
        """The Chroma collection name."""
        return self._name

    # -- primitives -------------------------------------------------------------------------

    def _upsert(self, ids: list[str], unit: np.ndarray, metas: list[Metadata | None]) -> None:
        with self._guard("add"):
            old: dict[str, Any] = {}
            for chunk in _chunks(ids, self._batch):
                got = self._collection.get(ids=chunk, include=["metadatas"])
                old.update(
                    zip(got["ids"], got["metadatas"] or [None] * len(got["ids"]), strict=True)
                )
            final: list[Any] = []
            for i, new in zip(ids, metas, strict=True):
                stale = {key: None for key in (old.get(i) or {}) if new is None or key not in new}
                merged = {**stale, **(new or {})}  # Chroma merges metadata; None deletes a key
                final.append(merged or None)
            for start in range(0, len(ids), self._batch):
                stop = start + self._batch
                chunk_meta = final[start:stop]
                self._collection.upsert(
                    ids=ids[start:stop],
                    embeddings=unit[start:stop],
                    metadatas=chunk_meta if any(m is not None for m in chunk_meta) else None,
                )
        if self._dim is None:
            self._dim = int(unit.shape[1])

    def _delete(self, ids: list[str]) -> int:
        deleted = 0
        with self._guard("delete"):
            for chunk in _chunks(ids, self._batch):
                present = self._collection.get(ids=chunk, include=[])["ids"]
                if present:
                    self._collection.delete(ids=list(present))
                    deleted += len(present)
        return deleted

    def _get(self, ids: list[str]) -> dict[str, np.ndarray]:
        found, mat = self._matrix(ids)
        return {i: mat[n].copy() for n, i in enumerate(found)}

    def _query(self, q: np.ndarray, k: int, where: Metadata | None) -> list[tuple[str, float]]:
        with self._guard("query"):
            result = self._collection.query(
                query_embeddings=[q],
                n_results=k + max(k, _OVERFETCH),
                where=_chroma_where(where),
                include=["distances"],
            )
        ids = result["ids"][0] if result["ids"] else []
        distances = result["distances"][0] if result.get("distances") else []
        return [(i, 1.0 - float(d)) for i, d in zip(ids, distances, strict=True)]

    def _count(self) -> int:
        with self._guard("count"):
            return int(self._collection.count())

    def _list_ids(self) -> list[str]:
        out: list[str] = []
        with self._guard("list ids"):
            for page in self._pages(include=[]):
                out.extend(page["ids"])
        return out

    def _matrix(self, ids: list[str] | None) -> tuple[list[str], np.ndarray]:
        found: list[str] = []
        rows: list[np.ndarray] = []
        with self._guard("read vectors"):
            if ids is None:
                pages: Iterator[dict[str, Any]] = self._pages(include=["embeddings"])
            else:
                pages = (
                    self._collection.get(ids=chunk, include=["embeddings"])
                    for chunk in _chunks(ids, self._batch)
                )
            for page in pages:
                if page["ids"]:
                    found.extend(page["ids"])
                    rows.append(np.asarray(page["embeddings"], dtype=np.float32))
        dim = self._dim or 0
        return found, np.concatenate(rows) if rows else np.zeros((0, dim), np.float32)

    def _close(self) -> None:
        client, self._client = self._client, None
        if not self._owns_client or client is None:
            return
        with contextlib.suppress(Exception):  # releasing resources must not raise
            client.close()
            # chromadb's HTTP client never closes its httpx session (sockets would leak)
            session = getattr(getattr(client, "_server", None), "_session", None)
            if session is not None and hasattr(session, "close"):
                session.close()

    # -- internals --------------------------------------------------------------------------

    def _pages(self, include: list[str]) -> Iterator[dict[str, Any]]:
        offset = 0
        while True:
            page = self._collection.get(limit=self._batch, offset=offset, include=include)
            yield page
            if len(page["ids"]) < self._batch:
                return
            offset += self._batch

    def _connect(self, path: str | Path | None, url: str | None) -> Any:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        settings = ChromaSettings(anonymized_telemetry=False)
        if url is not None:
            host, port, ssl = parse_chroma_url(url)
            try:
                return chromadb.HttpClient(host=host, port=port, ssl=ssl, settings=settings)
            except Exception as exc:  # chromadb raises a bare ValueError
                raise StorageError(self._unreachable(exc)) from exc
        try:
            if path is not None:
                Path(path).mkdir(parents=True, exist_ok=True)
                return chromadb.PersistentClient(path=str(path), settings=settings)
            return chromadb.EphemeralClient(settings=settings)
        except Exception as exc:
            raise StorageError(
                f"cannot open {self._where} ({exc}); check the folder's permissions. If another "
                "process uses it, close that process or run a Chroma server (chroma run) instead."
            ) from exc

    def _unreachable(self, exc: BaseException) -> str:
        port = urlsplit(self._url or "").port or 8000
        return (
            f"cannot reach the Chroma server at {self._url} ({exc}); start one with "
            f"`chroma run --path DIR --port {port}`, fix chroma_url / MEMAGENTS_CHROMA_URL, or "
            "unset it to use the embedded store."
        )

    def _check_space(self) -> None:
        space = (self._collection.metadata or {}).get("hnsw:space")
        if space is None:
            config = getattr(self._collection, "configuration_json", None) or {}
            space = (config.get("hnsw") or {}).get("space")
        if space not in (None, "cosine"):
            raise ConfigError(
                f"the Chroma collection {self._name!r} uses {space!r} distance, but memagents "
                "needs cosine; pick another collection name or delete that collection."
            )

    @contextmanager
    def _guard(self, operation: str) -> Iterator[None]:
        if self._client is None:
            raise StorageError(f"ChromaVectorIndex {self._name!r} is closed; open it again.")
        try:
            yield
        except MemagentsError:
            raise
        except Exception as exc:  # every chromadb failure becomes a StorageError
            if self._url is not None and _is_connection_error(exc):
                raise StorageError(self._unreachable(exc)) from exc
            raise StorageError(
                f"Chroma {operation} failed on collection {self._name!r} in {self._where}: "
                f"{exc}. Check that the store is reachable and not used by another process."
            ) from exc


def _chroma_where(where: Metadata | None) -> dict[str, Any] | None:
    if not where:
        return None
    clauses = [{key: {"$eq": value}} for key, value in where.items()]
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _is_connection_error(exc: BaseException) -> bool:
    # httpx is imported at module load: a lazy import raced by threads can see it half-built
    return isinstance(exc, (httpx.TransportError, ConnectionError)) or "Could not connect" in str(
        exc
    )
