"""Durable state of a graph memory: one SQLite file in the memory folder, or a Postgres database.

:class:`GraphDB` is the one storage interface the graph-memory code talks to. Its SQL is
written once (portable ``?`` placeholders and ``INSERT ... ON CONFLICT``) and runs on a
:class:`~memagents.stores.Database` (``memory.db`` in the folder; one process, guarded by the
folder lock) or a :class:`~memagents.stores.postgres.PostgresDatabase` (any number of worker
processes; see :mod:`memagents.graphmem.sync` for how their in-memory graphs stay in step).

Tables (all rows scoped by ``namespace``):

* ``passages``: every passage a user stored, with its status (``pending`` until extracted and
  indexed, ``failed`` with the error when extraction gave up, ``indexed`` once in the graph).
  Nothing a user stored is ever dropped: failed passages stay and are retried by the next add.
* ``triples``: the triples of each passage (extracted or given by the user).
* ``extractions``: extractor output cached by content hash, so re-adding unchanged content
  (or resuming after a crash) costs zero LLM calls.
* ``vectors``: embedding cache keyed by (embedding model, sha1 of the text), so reopening a
  memory or re-adding content costs zero embedding calls (a pgvector ``vector`` column when the
  Postgres server has the extension, else bytes).
* ``nodes`` and ``edges``: the graph itself (weights as the index computed them), kept in step
  with every add and delete, for export and inspection without rebuilding.
* Postgres only: ``graph_versions`` (one version per namespace, bumped by every graph change)
  and ``graph_changes`` (the version at which each passage last changed), from which a worker
  brings its in-memory graph up to date incrementally.

The in-memory :class:`~memagents.graphmem.core.graph.GraphIndex` is rebuilt from ``passages`` and
``triples`` on open; since it is a pure function of the passage set, the rebuilt graph equals
the one that was persisted.

Example:
    >>> db = GraphDB(":memory:")
    >>> db.namespaces(), db.shared
    ([], False)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from memagents.errors import StorageError
from memagents.graphmem.core.graph import Edge, GraphDelta, GraphIndex, NodeKey
from memagents.graphmem.sync import LocalSync, SharedSync
from memagents.stores import Database, Migration
from memagents.stores.postgres import PostgresDatabase, is_postgres_url

__all__ = ["GraphDB", "StoredPassage", "content_hash", "text_key"]

_TABLES = """
CREATE TABLE passages (
    namespace TEXT NOT NULL,
    id TEXT NOT NULL,
    text TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    content_hash TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('extract', 'user')),
    status TEXT NOT NULL CHECK (status IN ('pending', 'failed', 'indexed')),
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    seq INTEGER NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (namespace, id)
);
CREATE INDEX passages_by_status ON passages (namespace, status);
CREATE TABLE triples (
    namespace TEXT NOT NULL,
    passage_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    subject TEXT NOT NULL,
    predicate TEXT NOT NULL,
    object TEXT NOT NULL,
    PRIMARY KEY (namespace, passage_id, idx),
    FOREIGN KEY (namespace, passage_id) REFERENCES passages (namespace, id) ON DELETE CASCADE
);
CREATE TABLE extractions (
    content_hash TEXT NOT NULL,
    extractor TEXT NOT NULL,
    triples TEXT NOT NULL,
    entities TEXT NOT NULL,
    dropped INTEGER NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (content_hash, extractor)
);
CREATE TABLE vectors (
    model TEXT NOT NULL,
    key TEXT NOT NULL,
    vec BLOB NOT NULL,
    PRIMARY KEY (model, key)
);
CREATE TABLE nodes (
    namespace TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (namespace, kind, name)
);
CREATE TABLE edges (
    namespace TEXT NOT NULL,
    u_kind TEXT NOT NULL,
    u TEXT NOT NULL,
    v_kind TEXT NOT NULL,
    v TEXT NOT NULL,
    weight REAL NOT NULL,
    kind TEXT NOT NULL,
    PRIMARY KEY (namespace, u_kind, u, v_kind, v)
);
"""

_POSTGRES_SYNC = """
CREATE TABLE graph_versions (namespace TEXT PRIMARY KEY, version BIGINT NOT NULL);
CREATE TABLE graph_changes (
    namespace TEXT NOT NULL,
    passage_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (namespace, passage_id)
);
CREATE INDEX graph_changes_by_version ON graph_changes (namespace, version)
"""


def _postgres_schema(conn: Any) -> None:
    """The same tables in Postgres types (8-byte floats and integers; vectors in a pgvector
    column when the server has the extension, else bytes)."""
    if conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone():
        with contextlib.suppress(StorageError), conn.savepoint():
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")  # needs the right to create
    vector = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone()
    sql = (
        _TABLES.replace("REAL", "DOUBLE PRECISION")
        .replace("seq INTEGER", "seq BIGINT")
        .replace("BLOB", "vector" if vector else "BYTEA")
    )
    for statement in (sql + ";" + _POSTGRES_SYNC).split(";"):
        if statement.strip():
            conn.execute(statement)


SQLITE_MIGRATIONS = (Migration(1, _TABLES, "graph memory schema"),)
POSTGRES_MIGRATIONS = (Migration(1, _postgres_schema, "graph memory schema"),)
MIGRATIONS = SQLITE_MIGRATIONS  # the name older code imports
_CHUNK = 500  # host-parameter batches


def content_hash(text: str, triples: Sequence[Sequence[str]] | None = None) -> str:
    """Stable hash of a passage's content (and of its user-given triples, if any).

    >>> content_hash("a") == content_hash("a") != content_hash("a", [("a", "b", "c")])
    True
    """
    h = hashlib.sha256(text.encode("utf-8"))
    if triples is not None:
        h.update(b"\x00" + json.dumps([list(t) for t in triples]).encode("utf-8"))
    return h.hexdigest()


def text_key(text: str) -> str:
    """Key of a string in the embedding cache."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredPassage:
    """A passage row (triples loaded separately)."""

    id: str
    text: str
    metadata: dict[str, Any]
    content_hash: str
    source: str
    status: str
    error: str | None
    attempts: int
    seq: int


_PASSAGE_COLUMNS = "id, text, metadata, content_hash, source, status, error, attempts, seq"


class GraphDB:
    """Typed access to the graph-memory tables, in SQLite (a path) or Postgres (a URL).

    The memory's own database, not a LangGraph store: ``GraphMemory.db`` is one of these,
    while ``GraphMemory.as_store()`` is the LangGraph ``BaseStore`` adapter.

    Args:
        location: A SQLite file (``memory.db``) or ``":memory:"``, or a ``postgresql://`` URL.
        refresh_interval: Postgres only: seconds between two checks of the memory's version
            by a reading worker (a write always checks).
        clock: Postgres only: the monotonic clock of those checks (tests pass a fake one).
    """

    def __init__(
        self,
        location: str | Path,
        *,
        refresh_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sql: Database | PostgresDatabase
        if is_postgres_url(location):
            self.sql = PostgresDatabase(
                str(location), migrations=POSTGRES_MIGRATIONS, name="graph memory"
            )
            self._pgvector = bool(self.sql.query_one(
                "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND table_name = 'vectors' AND column_name = 'vec' AND udt_name = 'vector'"
            ))
            self.sync: LocalSync | SharedSync = SharedSync(self, refresh_interval, clock)
        else:
            self.sql = Database(location, migrations=SQLITE_MIGRATIONS, name="graph memory")
            self._pgvector = False
            self.sync = LocalSync(self)

    @property
    def shared(self) -> bool:
        """True when other worker processes may write this database (Postgres)."""
        return isinstance(self.sync, SharedSync)

    @property
    def location(self) -> str:
        """The SQLite file, or the Postgres URL without its password."""
        return self.sql.url if isinstance(self.sql, PostgresDatabase) else self.sql.path

    def close(self) -> None:
        self.sql.close()

    def get_meta(self, key: str) -> str | None:
        """A value of the metadata table (what the memory was built with), or None."""
        value: str | None = self.sql.get_meta(key)
        return value

    def set_meta(self, key: str, value: str) -> None:
        """Set a value of the metadata table."""
        self.sql.set_meta(key, value)

    # ----------------------------------------------------------- graph snapshot
    def graph(
        self, namespace: str, current: GraphIndex | None, make: Callable[[], GraphIndex]
    ) -> GraphIndex:
        """The in-memory graph of a namespace: ``current`` when there is one (on Postgres
        first brought up to date with other workers' changes, at most once per
        ``refresh_interval``), else a new one (``make()`` builds it empty) holding the
        namespace's indexed passages."""
        return self.sync.graph(namespace, current, make)

    @contextlib.contextmanager
    def writing(self, namespace: str) -> Iterator[None]:
        """Hold the namespace's write lock across workers for a whole graph change.

        On Postgres: one transaction holding the namespace's advisory lock, in which the
        worker's graph is first brought up to date; compute the delta and call
        :meth:`commit_indexed` / :meth:`delete_passages` inside (they join the transaction),
        so the delta applies as is. Embed before entering: model calls should not hold the
        lock. With SQLite (one process) it does nothing.
        """
        if not self.shared:
            yield
            return
        try:
            with self.sql.transaction("write the graph") as conn:
                self.sync.lock(conn, namespace)
                yield
        except BaseException:
            self.sync.forget(namespace)
            raise

    # ------------------------------------------------------------------ reads
    def namespaces(self) -> list[str]:
        return [r[0] for r in self.sql.query("SELECT DISTINCT namespace FROM passages ORDER BY 1")]

    def passages(
        self, namespace: str, *, status: str | None = None, ids: Sequence[str] | None = None
    ) -> list[StoredPassage]:
        sql = f"SELECT {_PASSAGE_COLUMNS} FROM passages WHERE namespace = ?"
        params: list[Any] = [namespace]
        if status is not None:
            sql += " AND status = ?"
            params.append(status)
        if ids is None:
            return [_row(r) for r in self.sql.query(sql + " ORDER BY seq, id", params)]
        out: list[StoredPassage] = []
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            out += [_row(r) for r in self.sql.query(f"{sql} AND id IN ({marks})", params + chunk)]
        return sorted(out, key=lambda p: (p.seq, p.id))

    def triples(
        self, namespace: str, *, ids: Sequence[str] | None = None
    ) -> dict[str, list[tuple[str, str, str]]]:
        out: dict[str, list[tuple[str, str, str]]] = {}
        sql = "SELECT passage_id, subject, predicate, object FROM triples WHERE namespace = ?"
        if ids is None:
            rows = self.sql.query(sql + " ORDER BY passage_id, idx", (namespace,))
        else:
            rows = []
            for chunk in _chunks(list(ids)):
                marks = ",".join("?" * len(chunk))
                rows += self.sql.query(
                    f"{sql} AND passage_id IN ({marks}) ORDER BY passage_id, idx",
                    [namespace, *chunk],
                )
        for pid, s, p, o in rows:
            out.setdefault(pid, []).append((s, p, o))
        return out

    def counts(self, namespace: str) -> dict[str, int]:
        rows = self.sql.query(
            "SELECT status, COUNT(*) FROM passages WHERE namespace = ? GROUP BY status",
            (namespace,),
        )
        out = {"pending": 0, "failed": 0, "indexed": 0}
        out.update({r[0]: int(r[1]) for r in rows})
        return out

    def cached_extractions(
        self, extractor: str, hashes: Sequence[str]
    ) -> dict[str, tuple[list[tuple[str, str, str]], list[str], int]]:
        out = {}
        for chunk in _chunks(list(dict.fromkeys(hashes))):
            marks = ",".join("?" * len(chunk))
            rows = self.sql.query(
                "SELECT content_hash, triples, entities, dropped FROM extractions "
                f"WHERE extractor = ? AND content_hash IN ({marks})",
                [extractor, *chunk],
            )
            for h, t, e, d in rows:
                out[h] = ([tuple(x) for x in json.loads(t)], json.loads(e), int(d))
        return out

    def vectors(self, model: str, keys: Sequence[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        column = "vec::real[]" if self._pgvector else "vec"
        for chunk in _chunks(list(dict.fromkeys(keys))):
            marks = ",".join("?" * len(chunk))
            rows = self.sql.query(
                f"SELECT key, {column} FROM vectors WHERE model = ? AND key IN ({marks})",
                [model, *chunk],
            )
            for key, vec in rows:
                out[key] = (np.asarray(vec, dtype=np.float32) if self._pgvector
                            else np.frombuffer(vec, dtype=np.float32))
        return out

    def edge_count(self, namespace: str) -> int:
        row = self.sql.query_one("SELECT COUNT(*) FROM edges WHERE namespace = ?", (namespace,))
        return int(row[0]) if row else 0

    def next_seq(self) -> int:
        row = self.sql.query_one("SELECT COALESCE(MAX(seq), 0) FROM passages")
        return int(row[0]) + 1 if row else 1

    def nodes(self, namespace: str) -> list[NodeKey]:
        rows = self.sql.query(
            "SELECT kind, name FROM nodes WHERE namespace = ? ORDER BY kind, name", (namespace,)
        )
        return [(k, n) for k, n in rows]

    def edges(self, namespace: str) -> list[tuple[NodeKey, NodeKey, float, str]]:
        rows = self.sql.query(
            "SELECT u_kind, u, v_kind, v, weight, kind FROM edges WHERE namespace = ? "
            "ORDER BY u_kind, u, v_kind, v",
            (namespace,),
        )
        return [((a, b), (c, d), float(w), k) for a, b, c, d, w, k in rows]

    # ----------------------------------------------------------------- writes
    def put_vectors(self, model: str, items: Iterable[tuple[str, np.ndarray]]) -> None:
        if self._pgvector:
            rows = [(model, k, _pgvector_text(v)) for k, v in items]
            sql = "INSERT INTO vectors VALUES (?, ?, ?::vector)"
        else:
            rows = [(model, k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in items]
            sql = "INSERT INTO vectors VALUES (?, ?, ?)"
        with self.sql.transaction("cache vectors") as conn:
            conn.executemany(sql + " ON CONFLICT (model, key) DO NOTHING", rows)

    def put_extractions(
        self, extractor: str, items: Iterable[tuple[str, Sequence[Sequence[str]], list[str], int]]
    ) -> None:
        now = time.time()
        rows = [
            (h, extractor, json.dumps([list(t) for t in tr]), json.dumps(ents), dropped, now)
            for h, tr, ents, dropped in items
        ]
        with self.sql.transaction("cache extractions") as conn:
            conn.executemany(
                "INSERT INTO extractions VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (content_hash, extractor) DO UPDATE SET triples = excluded.triples, "
                "entities = excluded.entities, dropped = excluded.dropped, "
                "created_at = excluded.created_at",
                rows,
            )

    def upsert_pending(
        self, namespace: str, rows: Sequence[tuple[str, str, dict[str, Any], str, str]]
    ) -> None:
        """Record passages ``(id, text, metadata, content_hash, source)`` as pending.

        An id whose content changed keeps its position (``seq``) and goes back to pending.
        """
        now = time.time()
        seq = self.next_seq()
        with self.sql.transaction("record passages") as conn:
            conn.executemany(
                "INSERT INTO passages (namespace, id, text, metadata, content_hash, source, "
                "status, error, attempts, seq, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, 'pending', NULL, 0, ?, ?, ?) "
                "ON CONFLICT (namespace, id) DO UPDATE SET text = excluded.text, "
                "metadata = excluded.metadata, content_hash = excluded.content_hash, "
                "source = excluded.source, status = 'pending', error = NULL, attempts = 0, "
                "updated_at = excluded.updated_at",
                [(namespace, pid, text, json.dumps(meta, sort_keys=True), chash, source,
                  seq + i, now, now) for i, (pid, text, meta, chash, source) in enumerate(rows)],
            )

    def mark_failed(self, namespace: str, failures: Sequence[tuple[str, str]]) -> None:
        now = time.time()
        with self.sql.transaction("record failed extractions") as conn:
            conn.executemany(
                "UPDATE passages SET status = 'failed', error = ?, attempts = attempts + 1, "
                "updated_at = ? WHERE namespace = ? AND id = ?",
                [(err, now, namespace, pid) for pid, err in failures],
            )

    def commit_indexed(
        self,
        namespace: str,
        indexed: Sequence[tuple[str, Sequence[tuple[str, str, str]]]],
        delta: GraphDelta,
    ) -> None:
        """In one transaction: store triples, mark passages indexed, apply the graph delta.

        On Postgres the write holds the namespace's advisory lock; when another worker wrote
        since this worker's graph was last in step, the graph catches up first and the delta
        is recomputed against the stored graph (see :mod:`memagents.graphmem.sync`).
        """
        now = time.time()
        try:
            with self.sql.transaction("index passages") as conn:
                delta, skip = self.sync.before_write(conn, namespace, [p for p, _ in indexed],
                                                     delta)
                kept = [(pid, triples) for pid, triples in indexed if pid not in skip]
                conn.executemany(
                    "DELETE FROM triples WHERE namespace = ? AND passage_id = ?",
                    [(namespace, pid) for pid, _ in kept],
                )
                conn.executemany(
                    "INSERT INTO triples VALUES (?, ?, ?, ?, ?, ?)",
                    [(namespace, pid, i, s, p, o) for pid, triples in kept
                     for i, (s, p, o) in enumerate(triples)],
                )
                conn.executemany(
                    "UPDATE passages SET status = 'indexed', error = NULL, "
                    "attempts = attempts + 1, updated_at = ? WHERE namespace = ? AND id = ?",
                    [(now, namespace, pid) for pid, _ in kept],
                )
                self._apply_delta(conn, namespace, delta)
                version = self.sync.after_write(conn, namespace, [p for p, _ in indexed])
        except BaseException:
            self.sync.forget(namespace)
            raise
        self.sync.committed(namespace, version)

    def delete_passages(self, namespace: str, ids: Sequence[str], delta: GraphDelta) -> int:
        """Delete passages (their triples cascade) and apply the graph delta, atomically."""
        try:
            with self.sql.transaction("delete passages") as conn:
                delta, _ = self.sync.before_write(conn, namespace, list(ids), delta,
                                                  adding=False)
                deleted = 0
                for chunk in _chunks(list(ids)):
                    marks = ",".join("?" * len(chunk))
                    cur = conn.execute(
                        f"DELETE FROM passages WHERE namespace = ? AND id IN ({marks})",
                        [namespace, *chunk],
                    )
                    deleted += cur.rowcount
                self._apply_delta(conn, namespace, delta)
                version = self.sync.after_write(conn, namespace, list(ids))
        except BaseException:
            self.sync.forget(namespace)
            raise
        self.sync.committed(namespace, version)
        return deleted

    @staticmethod
    def _apply_delta(conn: Any, namespace: str, delta: GraphDelta) -> None:
        conn.executemany(
            "DELETE FROM nodes WHERE namespace = ? AND kind = ? AND name = ?",
            [(namespace, k, n) for k, n in delta.removed_nodes],
        )
        conn.executemany(
            "INSERT INTO nodes VALUES (?, ?, ?) ON CONFLICT (namespace, kind, name) DO NOTHING",
            [(namespace, k, n) for k, n in delta.added_nodes],
        )
        conn.executemany(
            "DELETE FROM edges WHERE namespace = ? AND u_kind = ? AND u = ? AND v_kind = ? "
            "AND v = ?",
            [(namespace, u[0], u[1], v[0], v[1]) for u, v in delta.removed_edges],
        )
        conn.executemany(
            "INSERT INTO edges VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (namespace, u_kind, u, v_kind, v) DO UPDATE SET "
            "weight = excluded.weight, kind = excluded.kind",
            [_edge_row(namespace, e) for e in delta.changed_edges],
        )


def _edge_row(namespace: str, e: Edge) -> tuple[Any, ...]:
    return (namespace, e.u[0], e.u[1], e.v[0], e.v[1], float(e.weight), e.kind)


def _pgvector_text(vec: np.ndarray) -> str:
    """A pgvector literal; 9 significant digits give every float32 back exactly."""
    return "[" + ",".join(f"{x:.9g}" for x in np.asarray(vec, dtype=np.float32).tolist()) + "]"


def _row(r: Sequence[Any]) -> StoredPassage:
    pid, text, meta, chash, source, status, error, attempts, seq = r
    return StoredPassage(
        id=pid,
        text=text,
        metadata=json.loads(meta),
        content_hash=chash,
        source=source,
        status=status,
        error=error,
        attempts=int(attempts),
        seq=int(seq),
    )


def _chunks(items: list[Any], size: int = _CHUNK) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
