"""Durable state of :class:`~memagents.adapters.store.MemoryStore`: ``store.db``.

A SQLite file of its own in the memory folder, beside the memory's own files (a graph
memory's ``memory.db`` has its own migrations), or, for a memory shared by workers through
Postgres, the same tables in the memory's database (its own row of migrations), so that an
item one worker puts is read and found by every other. Tables:

* ``store_items``: one row per LangGraph item: namespace (labels joined by ``.``, which labels
  cannot contain), key, JSON value, ISO timestamps and ``seq``, the insertion position (kept on
  overwrite, new after a delete, like the dict behind ``InMemoryStore``).
* ``store_namespaces``: the position of every non-empty namespace, for the cross-namespace
  order of an unranked search (``InMemoryStore`` lists namespace by namespace, in the order the
  namespaces appeared).
* ``store_passages``: the graph passages each item should have: graph namespace, passage id,
  field label and text. This is the desired state of the graph.
* ``store_dirty``: an outbox of passages whose graph copy is out of date. Rows are written in
  the same transaction as the items, and cleared once the graph has been updated, so a crash
  between the two files is repaired by replaying the outbox.

Every batch of puts is one transaction. On Postgres, writes and outbox replays take one
advisory lock (:meth:`StoreTables.exclusive`), so workers neither number items alike nor clear
an outbox row another worker has just refreshed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from memagents.adapters.store.filters import passage_id
from memagents.stores import Database, Migration
from memagents.stores.postgres import PostgresDatabase, is_postgres_url

__all__ = ["STORE_MIGRATIONS", "PreparedPut", "Row", "StoreTables", "decode_ns", "encode_ns"]

_SCHEMA_V1 = """
CREATE TABLE store_namespaces (
    ns TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
);
CREATE TABLE store_items (
    ns TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (ns, key)
);
CREATE INDEX store_items_by_seq ON store_items (ns, seq);
CREATE TABLE store_passages (
    graph_ns TEXT NOT NULL,
    passage_id TEXT NOT NULL,
    ns TEXT NOT NULL,
    key TEXT NOT NULL,
    label TEXT NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (graph_ns, passage_id)
);
CREATE INDEX store_passages_by_item ON store_passages (ns, key);
CREATE TABLE store_dirty (
    graph_ns TEXT NOT NULL,
    passage_id TEXT NOT NULL,
    PRIMARY KEY (graph_ns, passage_id)
);
"""

STORE_MIGRATIONS = (Migration(1, _SCHEMA_V1, "LangGraph store items"),)
# Postgres has no implicit rowid: the outbox keeps its order in a column of that name
POSTGRES_STORE_MIGRATIONS = (Migration(1, _SCHEMA_V1.replace(
    "CREATE TABLE store_dirty (\n", "CREATE TABLE store_dirty (\n    rowid BIGSERIAL,\n"),
    "LangGraph store items"),)


def encode_ns(namespace: Sequence[str]) -> str:
    """Namespace tuple as stored (labels never contain ``.``, so this is reversible)."""
    return ".".join(namespace)


def decode_ns(text: str) -> tuple[str, ...]:
    """Inverse of :func:`encode_ns`."""
    return tuple(text.split(".")) if text else ()


@dataclass(frozen=True, slots=True)
class Row:
    """A stored item, decoded.

    Example:
        >>> from datetime import datetime, timezone
        >>> now = datetime.now(timezone.utc)
        >>> Row(("notes",), "a", {"text": "hi"}, now, now).namespace
        ('notes',)
    """

    namespace: tuple[str, ...]
    key: str
    value: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PreparedPut:
    """A validated put (``value_json is None``: delete) with the passages it should have.

    Example:
        >>> PreparedPut(("notes",), "a", None).texts  # a delete has no passages
        {}
    """

    namespace: tuple[str, ...]
    key: str
    value_json: str | None
    texts: dict[str, str] = field(default_factory=dict)
    graph_ns: str = ""


class StoreTables:
    """Typed access to the tables of ``store.db`` (see the module docstring).

    Example:
        >>> tables = StoreTables(":memory:")
        >>> tables.write([PreparedPut(("notes",), "a", '{"text": "hi"}', {"$": "hi"}, "g")], [])
        >>> [(row.namespace, row.key, row.value) for row in tables.items(())]
        [(('notes',), 'a', {'text': 'hi'})]
        >>> tables.dirty()  # the graph still has to receive the passage
        [('g', 'a', 'hi', ('notes',), 'a', '$')]
        >>> tables.close()
    """

    def __init__(self, location: str | Path) -> None:
        self.db: Database | PostgresDatabase
        if is_postgres_url(location):
            self.db = PostgresDatabase(str(location), migrations=POSTGRES_STORE_MIGRATIONS,
                                       name="graph memory store")
        else:
            self.db = Database(location, migrations=STORE_MIGRATIONS, name="graph memory store")

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def exclusive(self, operation: str) -> Iterator[None]:
        """Hold the store's lock across workers for the block (Postgres: a transaction with
        an advisory lock, which the block's reads and writes join; SQLite, one process: the
        adapter's own lock suffices, nothing more)."""
        if not isinstance(self.db, PostgresDatabase):
            yield
            return
        with self.db.transaction(operation) as conn:
            PostgresDatabase.advisory_lock(conn, "langgraph store")
            yield

    # ------------------------------------------------------------------ reads
    def get(self, namespace: Sequence[str], key: str) -> Row | None:
        row = self.db.query_one(
            "SELECT ns, key, value, created_at, updated_at FROM store_items "
            "WHERE ns = ? AND key = ?",
            (encode_ns(namespace), key),
        )
        return None if row is None else _row(row)

    def items(
        self, prefix: Sequence[str], *, limit: int | None = None, offset: int = 0
    ) -> list[Row]:
        """Items under ``prefix`` in insertion order (namespace by namespace)."""
        where, params = _under("i.ns", prefix)
        sql = (
            "SELECT i.ns, i.key, i.value, i.created_at, i.updated_at FROM store_items i "
            f"JOIN store_namespaces n ON n.ns = i.ns WHERE {where} ORDER BY n.seq, i.seq"
        )
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params += [limit, offset]
        return [_row(r) for r in self.db.query(sql, params)]

    def item_texts(self) -> dict[tuple[str, str], dict[str, str]]:
        """``(encoded namespace, key) -> {field label: text}``: what each item indexes."""
        out: dict[tuple[str, str], dict[str, str]] = {}
        for ns, key, label, text in self.db.query(
            "SELECT ns, key, label, text FROM store_passages ORDER BY ns, key, label"
        ):
            out.setdefault((ns, key), {})[label] = text
        return out

    def namespaces(self) -> list[tuple[str, ...]]:
        """Namespaces holding at least one item."""
        return [decode_ns(r[0]) for r in self.db.query("SELECT ns FROM store_namespaces")]

    def graph_namespaces(self, prefix: Sequence[str]) -> dict[str, int]:
        """Graph namespaces of the items under ``prefix``, with their passage counts."""
        where, params = _under("ns", prefix)
        rows = self.db.query(
            f"SELECT graph_ns, COUNT(*) FROM store_passages WHERE {where} GROUP BY graph_ns "
            "ORDER BY graph_ns",
            params,
        )
        return {r[0]: int(r[1]) for r in rows}

    def owners(self, prefix: Sequence[str]) -> dict[tuple[str, str], tuple[tuple[str, ...], str]]:
        """``(graph namespace, passage id) -> (namespace, key)`` under ``prefix``."""
        where, params = _under("ns", prefix)
        rows = self.db.query(
            f"SELECT graph_ns, passage_id, ns, key FROM store_passages WHERE {where}", params
        )
        return {(r[0], r[1]): (decode_ns(r[2]), r[3]) for r in rows}

    def dirty(self) -> list[tuple[str, str, str | None, tuple[str, ...], str, str]]:
        """Outbox rows: ``(graph_ns, passage_id, text or None to delete, namespace, key,
        label)``, grouped by graph namespace."""
        rows = self.db.query(
            "SELECT d.graph_ns, d.passage_id, p.text, p.ns, p.key, p.label FROM store_dirty d "
            "LEFT JOIN store_passages p ON p.graph_ns = d.graph_ns AND "
            "p.passage_id = d.passage_id ORDER BY d.graph_ns, d.rowid"
        )
        return [
            (r[0], r[1], r[2], decode_ns(r[3] or ""), r[4] or "", r[5] or "") for r in rows
        ]

    # ----------------------------------------------------------------- writes
    def clear_dirty(self, graph_ns: str, ids: Iterable[str]) -> None:
        with self.db.transaction("clear the store outbox") as conn:
            conn.executemany(
                "DELETE FROM store_dirty WHERE graph_ns = ? AND passage_id = ?",
                [(graph_ns, i) for i in ids],
            )

    def write(self, puts: Sequence[PreparedPut], touched: Sequence[Sequence[str]]) -> None:
        """Apply a batch of puts and deletes in one transaction.

        ``touched`` lists namespaces the batch read before writing (``GetOp``): a namespace
        created by this batch takes its position from its first mention, reads first, as in
        ``InMemoryStore``. Namespaces left empty are forgotten.
        """
        now = datetime.now(timezone.utc).isoformat()
        mentioned = list(dict.fromkeys([encode_ns(n) for n in touched] +
                                       [encode_ns(p.namespace) for p in puts]))
        with self.exclusive("write store items"), self.db.transaction("write store items") as conn:
            ns_seq = _next(conn, "store_namespaces")
            for ns in mentioned:
                cur = conn.execute(
                    "INSERT INTO store_namespaces (ns, seq) VALUES (?, ?) ON CONFLICT DO NOTHING",
                    (ns, ns_seq),
                )
                ns_seq += cur.rowcount
            seq = _next(conn, "store_items")
            dirty: list[tuple[str, str]] = []
            for put in puts:
                seq += self._apply(conn, put, now, seq, dirty)
            conn.executemany("INSERT INTO store_dirty (graph_ns, passage_id) VALUES (?, ?) "
                             "ON CONFLICT DO NOTHING", dirty)
            conn.executemany(
                "DELETE FROM store_namespaces WHERE ns = ? AND NOT EXISTS "
                "(SELECT 1 FROM store_items WHERE store_items.ns = ?)",
                [(ns, ns) for ns in mentioned],
            )

    @staticmethod
    def _apply(conn: Any, put: PreparedPut, now: str, seq: int, dirty: list[Any]) -> int:
        ns = encode_ns(put.namespace)
        old = {
            (r[0], r[1]): r[2]
            for r in conn.execute(
                "SELECT graph_ns, passage_id, text FROM store_passages WHERE ns = ? AND key = ?",
                (ns, put.key),
            )
        }
        conn.execute("DELETE FROM store_passages WHERE ns = ? AND key = ?", (ns, put.key))
        if put.value_json is None:
            conn.execute("DELETE FROM store_items WHERE ns = ? AND key = ?", (ns, put.key))
            dirty.extend(old)
            return 0
        conn.execute(
            "INSERT INTO store_items (ns, key, value, created_at, updated_at, seq) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (ns, key) DO UPDATE SET "
            "value = excluded.value, created_at = excluded.created_at, "
            "updated_at = excluded.updated_at",
            (ns, put.key, put.value_json, now, now, seq),
        )
        new = {(put.graph_ns, passage_id(put.key, label)): (label, text)
               for label, text in put.texts.items()}
        conn.executemany(
            "INSERT INTO store_passages VALUES (?, ?, ?, ?, ?, ?)",
            [(g, pid, ns, put.key, label, text) for (g, pid), (label, text) in new.items()],
        )
        dirty.extend(k for k, text in old.items() if k not in new or new[k][1] != text)
        dirty.extend(k for k, (_, text) in new.items() if old.get(k) != text)
        return 1  # an overwrite keeps its old seq; the unused number leaves a harmless gap


def _next(conn: Any, table: str) -> int:
    row = conn.execute(f"SELECT COALESCE(MAX(seq), 0) + 1 FROM {table}").fetchone()
    return int(row[0])


def _under(column: str, prefix: Sequence[str]) -> tuple[str, list[Any]]:
    """SQL condition: ``column`` is ``prefix`` or a namespace below it."""
    if not prefix:
        return "1 = 1", []
    p = encode_ns(prefix)
    return f"({column} = ? OR substr({column}, 1, ?) = ?)", [p, len(p) + 1, p + "."]


def _row(r: Any) -> Row:
    return Row(
        namespace=decode_ns(r[0]),
        key=r[1],
        value=json.loads(r[2]),
        created_at=datetime.fromisoformat(r[3]),
        updated_at=datetime.fromisoformat(r[4]),
    )
