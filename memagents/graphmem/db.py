"""Durable state of a graph memory: one SQLite file in the memory folder.

Tables (all rows scoped by ``namespace``):

* ``passages``: every passage a user stored, with its status (``pending`` until extracted and
  indexed, ``failed`` with the error when extraction gave up, ``indexed`` once in the graph).
  Nothing a user stored is ever dropped: failed passages stay and are retried by the next add.
* ``triples``: the triples of each passage (extracted or given by the user).
* ``extractions``: extractor output cached by content hash, so re-adding unchanged content
  (or resuming after a crash) costs zero LLM calls.
* ``vectors``: embedding cache keyed by (embedding model, sha1 of the text), so reopening a
  memory or re-adding content costs zero embedding calls.
* ``nodes`` and ``edges``: the graph itself (weights as the index computed them), kept in step
  with every add and delete, for export and inspection without rebuilding.

The in-memory :class:`~memagents.graphmem.core.graph.GraphIndex` is rebuilt from ``passages`` and
``triples`` on open; since it is a pure function of the passage set, the rebuilt graph equals
the one that was persisted.

Example:
    >>> db = GraphDB(":memory:")
    >>> db.namespaces()
    []
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from memagents.graphmem.core.graph import Edge, GraphDelta, NodeKey
from memagents.stores import Database, Migration

__all__ = ["GraphDB", "StoredPassage", "content_hash", "text_key"]

_SCHEMA_V1 = """
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

MIGRATIONS = (Migration(1, _SCHEMA_V1, "graph memory schema"),)
_CHUNK = 500  # SQLite host-parameter batches


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


class GraphDB:
    """Typed access to the graph-memory tables of one SQLite file (``memory.db``).

    The memory's own database, not a LangGraph store: ``GraphMemory.db`` is one of these,
    while ``GraphMemory.as_store()`` is the LangGraph ``BaseStore`` adapter.
    """

    def __init__(self, path: str | Path) -> None:
        self.sql = Database(path, migrations=MIGRATIONS, name="graph memory")

    def close(self) -> None:
        self.sql.close()

    def get_meta(self, key: str) -> str | None:
        """A value of the metadata table (what the memory was built with), or None."""
        return self.sql.get_meta(key)

    def set_meta(self, key: str, value: str) -> None:
        """Set a value of the metadata table."""
        self.sql.set_meta(key, value)

    # ------------------------------------------------------------------ reads
    def namespaces(self) -> list[str]:
        return [r[0] for r in self.sql.query("SELECT DISTINCT namespace FROM passages ORDER BY 1")]

    def passages(
        self, namespace: str, *, status: str | None = None, ids: Sequence[str] | None = None
    ) -> list[StoredPassage]:
        sql = "SELECT * FROM passages WHERE namespace = ?"
        params: list[Any] = [namespace]
        if status is not None:
            sql += " AND status = ?"
            params.append(status)
        if ids is None:
            return [_row(r) for r in self.sql.query(sql + " ORDER BY seq", params)]
        out: list[StoredPassage] = []
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            out += [_row(r) for r in self.sql.query(f"{sql} AND id IN ({marks})", params + chunk)]
        return sorted(out, key=lambda p: p.seq)

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
        out.update({r[0]: r[1] for r in rows})
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
                out[h] = ([tuple(x) for x in json.loads(t)], json.loads(e), d)
        return out

    def vectors(self, model: str, keys: Sequence[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for chunk in _chunks(list(dict.fromkeys(keys))):
            marks = ",".join("?" * len(chunk))
            rows = self.sql.query(
                f"SELECT key, vec FROM vectors WHERE model = ? AND key IN ({marks})",
                [model, *chunk],
            )
            for key, blob in rows:
                out[key] = np.frombuffer(blob, dtype=np.float32)
        return out

    def edge_count(self, namespace: str) -> int:
        row = self.sql.query_one("SELECT COUNT(*) FROM edges WHERE namespace = ?", (namespace,))
        return int(row[0]) if row else 0

    def next_seq(self) -> int:
        row = self.sql.query_one("SELECT COALESCE(MAX(seq), 0) FROM passages")
        return int(row[0]) + 1 if row else 1

    # ----------------------------------------------------------------- writes
    def put_vectors(self, model: str, items: Iterable[tuple[str, np.ndarray]]) -> None:
        rows = [(model, k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in items]
        with self.sql.transaction("cache vectors") as conn:
            conn.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)", rows)

    def put_extractions(
        self, extractor: str, items: Iterable[tuple[str, Sequence[Sequence[str]], list[str], int]]
    ) -> None:
        now = time.time()
        rows = [
            (h, extractor, json.dumps([list(t) for t in tr]), json.dumps(ents), dropped, now)
            for h, tr, ents, dropped in items
        ]
        with self.sql.transaction("cache extractions") as conn:
            conn.executemany("INSERT OR REPLACE INTO extractions VALUES (?, ?, ?, ?, ?, ?)", rows)

    def upsert_pending(
        self, namespace: str, rows: Sequence[tuple[str, str, dict[str, Any], str, str]]
    ) -> None:
        """Record passages ``(id, text, metadata, content_hash, source)`` as pending.

        An id whose content changed keeps its position (``seq``) and goes back to pending.
        """
        now = time.time()
        seq = self.next_seq()
        with self.sql.transaction("record passages") as conn:
            for pid, text, meta, chash, source in rows:
                conn.execute(
                    "INSERT INTO passages (namespace, id, text, metadata, content_hash, source, "
                    "status, error, attempts, seq, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, 'pending', NULL, 0, ?, ?, ?) "
                    "ON CONFLICT (namespace, id) DO UPDATE SET text = excluded.text, "
                    "metadata = excluded.metadata, content_hash = excluded.content_hash, "
                    "source = excluded.source, status = 'pending', error = NULL, attempts = 0, "
                    "updated_at = excluded.updated_at",
                    (namespace, pid, text, json.dumps(meta, sort_keys=True), chash, source,
                     seq, now, now),
                )
                seq += 1

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
        """In one transaction: store triples, mark passages indexed, apply the graph delta."""
        now = time.time()
        with self.sql.transaction("index passages") as conn:
            for pid, triples in indexed:
                conn.execute(
                    "DELETE FROM triples WHERE namespace = ? AND passage_id = ?", (namespace, pid)
                )
                conn.executemany(
                    "INSERT INTO triples VALUES (?, ?, ?, ?, ?, ?)",
                    [(namespace, pid, i, s, p, o) for i, (s, p, o) in enumerate(triples)],
                )
                conn.execute(
                    "UPDATE passages SET status = 'indexed', error = NULL, "
                    "attempts = attempts + 1, updated_at = ? WHERE namespace = ? AND id = ?",
                    (now, namespace, pid),
                )
            self._apply_delta(conn, namespace, delta)

    def delete_passages(self, namespace: str, ids: Sequence[str], delta: GraphDelta) -> int:
        """Delete passages (their triples cascade) and apply the graph delta, atomically."""
        with self.sql.transaction("delete passages") as conn:
            deleted = 0
            for chunk in _chunks(list(ids)):
                marks = ",".join("?" * len(chunk))
                cur = conn.execute(
                    f"DELETE FROM passages WHERE namespace = ? AND id IN ({marks})",
                    [namespace, *chunk],
                )
                deleted += cur.rowcount
            self._apply_delta(conn, namespace, delta)
        return deleted

    @staticmethod
    def _apply_delta(conn: Any, namespace: str, delta: GraphDelta) -> None:
        conn.executemany(
            "DELETE FROM nodes WHERE namespace = ? AND kind = ? AND name = ?",
            [(namespace, k, n) for k, n in delta.removed_nodes],
        )
        conn.executemany(
            "INSERT OR REPLACE INTO nodes VALUES (?, ?, ?)",
            [(namespace, k, n) for k, n in delta.added_nodes],
        )
        conn.executemany(
            "DELETE FROM edges WHERE namespace = ? AND u_kind = ? AND u = ? AND v_kind = ? "
            "AND v = ?",
            [(namespace, u[0], u[1], v[0], v[1]) for u, v in delta.removed_edges],
        )
        conn.executemany(
            "INSERT OR REPLACE INTO edges VALUES (?, ?, ?, ?, ?, ?, ?)",
            [_edge_row(namespace, e) for e in delta.changed_edges],
        )

    def edges(self, namespace: str) -> list[tuple[NodeKey, NodeKey, float, str]]:
        rows = self.sql.query(
            "SELECT u_kind, u, v_kind, v, weight, kind FROM edges WHERE namespace = ? "
            "ORDER BY u_kind, u, v_kind, v",
            (namespace,),
        )
        return [((a, b), (c, d), w, k) for a, b, c, d, w, k in rows]


def _edge_row(namespace: str, e: Edge) -> tuple[Any, ...]:
    return (namespace, e.u[0], e.u[1], e.v[0], e.v[1], float(e.weight), e.kind)


def _row(r: Any) -> StoredPassage:
    return StoredPassage(
        id=r["id"],
        text=r["text"],
        metadata=json.loads(r["metadata"]),
        content_hash=r["content_hash"],
        source=r["source"],
        status=r["status"],
        error=r["error"],
        attempts=r["attempts"],
        seq=r["seq"],
    )


def _chunks(items: list[Any], size: int = _CHUNK) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
