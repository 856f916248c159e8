"""How a worker's in-memory graph stays in step with the stored memory.

Every worker process searches its own in-memory :class:`~memagents.graphmem.core.graph.GraphIndex`
(and the CSR matrices built from it). With SQLite one process owns the folder, so the graph
only changes through that process: :class:`LocalSync` loads it once and never looks again.

With Postgres many workers share the memory, and :class:`SharedSync` keeps their graphs in step:

* every write (index passages, delete passages) bumps the namespace's row in
  ``graph_versions`` and records, in ``graph_changes``, the version at which each of its
  passages last changed; the write holds the namespace's transaction-scoped advisory lock, so
  writes to one namespace are serialised across workers;
* a worker remembers the version its graph reflects. A read checks the stored version at most
  once per ``refresh_interval`` seconds; when it moved, the worker reads only the passages
  changed since (one ``REPEATABLE READ`` snapshot) and adds or removes them: an incremental
  refresh, no reload. The graph is a pure function of the passage set, so the result equals
  a graph loaded from scratch. Until then a stale worker answers from the graph it has;
* the memory's writes (:meth:`GraphDB.writing <memagents.graphmem.db.GraphDB.writing>`) take
  the namespace's lock *before* computing their graph delta, and :meth:`SharedSync.lock` first
  brings the worker's graph up to date under it (incrementally, as a read does). The delta is
  then computed on the graph as stored and applied as is: writes of many workers never read
  the whole stored graph. Embedding happens before the lock, so model calls never hold it;
* a write whose delta was computed without the lock (or on a freshly loaded graph) is still
  correct: under the lock it first brings the graph up to date (its own passages win) and
  replaces the delta by the exact difference between the graph and the stored
  ``nodes``/``edges``, so the stored graph never drifts and no edge is written twice. A
  passage whose row another worker deleted or re-wrote meanwhile is left out (the other
  worker's add indexes it).

Example:
    >>> from memagents.graphmem.sync import LocalSync
    >>> LocalSync(db=None).before_write(None, "default", ["p1"], None)
    (None, frozenset())
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from memagents.errors import StorageError
from memagents.graphmem.core.graph import Edge, GraphDelta, GraphIndex
from memagents.stores.postgres import PostgresDatabase

__all__ = ["LocalSync", "SharedSync"]

MakeIndex = Callable[[], GraphIndex]


class GraphRows(Protocol):
    """What the synchronisation reads from :class:`~memagents.graphmem.db.GraphDB`."""

    sql: Any

    def passages(
        self, namespace: str, *, status: str | None = None, ids: Sequence[str] | None = None
    ) -> list[Any]: ...

    def triples(
        self, namespace: str, *, ids: Sequence[str] | None = None
    ) -> dict[str, list[tuple[str, str, str]]]: ...


def fill(
    db: GraphRows, namespace: str, index: GraphIndex, ids: Sequence[str] | None = None
) -> None:
    """Put the namespace's indexed passages (all, or those of ``ids``) into ``index``; with
    ``ids``, the ones no longer indexed leave it."""
    rows = db.passages(namespace, status="indexed", ids=ids)
    triples = db.triples(namespace, ids=[p.id for p in rows] if ids is not None else None)
    if ids is not None:
        live = {p.id for p in rows}
        gone = [pid for pid in ids if pid not in live and pid in index]
        if gone:
            index.remove(gone)
    if rows:
        index.add([(p.id, p.text, triples.get(p.id, [])) for p in rows])


class LocalSync:
    """One process owns the memory: load the graph once, write deltas as computed."""

    def __init__(self, db: GraphRows) -> None:
        self.db = db

    def graph(self, namespace: str, current: GraphIndex | None, make: MakeIndex) -> GraphIndex:
        """The graph to use: ``current``, or a new one loaded from the database."""
        if current is not None:
            return current
        index = make()
        fill(self.db, namespace, index)
        return index

    def before_write(
        self, conn: Any, namespace: str, ids: Sequence[str], delta: Any, *, adding: bool = True
    ) -> tuple[Any, frozenset[str]]:
        """The delta to store and the passage ids to leave out (none)."""
        return delta, frozenset()

    def after_write(self, conn: Any, namespace: str, ids: Sequence[str]) -> int:
        return 0

    def committed(self, namespace: str, version: int) -> None:
        return None

    def forget(self, namespace: str) -> None:
        return None

    def lock(self, conn: Any, namespace: str) -> None:
        """One process owns the memory: nothing to take."""


@dataclass(eq=False)
class _Tracked:
    index: GraphIndex
    version: int  # the stored version the graph reflects (plus this worker's own write)
    synced: bool  # the stored nodes/edges equal this graph (so a delta can be applied as is)
    checked: float  # clock reading of the last version check


class SharedSync:
    """Many workers share the memory through Postgres (see the module docstring).

    Args:
        db: The graph database (on a :class:`~memagents.stores.postgres.PostgresDatabase`).
        refresh_interval: Seconds between two version checks of a reading worker.
        clock: Monotonic clock of those checks.
    """

    def __init__(
        self, db: GraphRows, refresh_interval: float, clock: Callable[[], float]
    ) -> None:
        if not refresh_interval >= 0:
            raise ValueError(f"refresh_interval must be >= 0 seconds, got {refresh_interval!r}")
        self.db = db
        self.interval = float(refresh_interval)
        self.clock = clock
        self.tracked: dict[str, _Tracked] = {}
        self.refreshes = 0  # incremental refreshes of a reading worker (observability, tests)
        self.catch_ups = 0  # writes that first caught up with another worker's write
        # the connection's own lock: one lock, so a read's refresh and a write (which holds
        # the connection) can never wait for each other
        self._lock = db.sql.lock if isinstance(db.sql, PostgresDatabase) else threading.RLock()

    @property
    def sql(self) -> PostgresDatabase:
        assert isinstance(self.db.sql, PostgresDatabase)
        return self.db.sql

    def version(self, namespace: str, conn: Any = None) -> int:
        """The namespace's stored graph version (0 before its first write)."""
        sql = "SELECT version FROM graph_versions WHERE namespace = ?"
        row = (self.sql.query_one(sql, (namespace,)) if conn is None
               else conn.execute(sql, (namespace,)).fetchone())
        return int(row[0]) if row else 0

    def graph(self, namespace: str, current: GraphIndex | None, make: MakeIndex) -> GraphIndex:
        """``current`` brought up to date (at most one check per interval), or a new graph
        loaded in one snapshot when there is none or it is not tracked."""
        with self._lock:
            tracked = self.tracked.get(namespace)
            if current is None or tracked is None or tracked.index is not current:
                return self._load(namespace, make)
            now = self.clock()
            if now - tracked.checked < self.interval:
                return current
            tracked.checked = now
            if self.version(namespace) == tracked.version:
                return current
            with self.sql.snapshot("refresh the graph") as conn:
                if self._catch_up(conn, namespace, tracked, self.version(namespace, conn)):
                    self.refreshes += 1
            return current

    def lock(self, conn: Any, namespace: str) -> None:
        """Take the namespace's write lock in ``conn``'s transaction (held until it ends), then
        bring this worker's graph up to date with the writes committed before it, so that a
        delta computed next applies to the stored graph as is."""
        PostgresDatabase.advisory_lock(conn, f"graph {namespace}")
        with self._lock:
            tracked = self.tracked.get(namespace)
            if tracked is None:  # not loaded: the next use loads it, inside this transaction
                return
            if self._catch_up(conn, namespace, tracked, self.version(namespace, conn)):
                self.refreshes += 1
            tracked.checked = self.clock()

    def before_write(
        self, conn: Any, namespace: str, ids: Sequence[str], delta: GraphDelta, *,
        adding: bool = True,
    ) -> tuple[GraphDelta, frozenset[str]]:
        """Under the namespace's lock: the delta to store and the ids to leave out."""
        PostgresDatabase.advisory_lock(conn, f"graph {namespace}")
        with self._lock:
            tracked = self.tracked.get(namespace)
            if tracked is None:
                raise StorageError(
                    f"the graph of namespace {namespace!r} changed without being loaded from "
                    "this database; reopen the memory."
                )
            index = tracked.index
            skip = self._vanished(conn, namespace, ids, index) if adding else frozenset()
            if skip:
                index.remove([pid for pid in skip if pid in index])
            version = self.version(namespace, conn)
            if version == tracked.version and tracked.synced and not skip:
                return delta, skip
            if self._catch_up(conn, namespace, tracked, version, leave=set(ids)):
                self.catch_ups += 1
            return _difference(conn, namespace, index), skip

    def _catch_up(self, conn: Any, namespace: str, tracked: _Tracked, version: int, *,
                  leave: set[str] | frozenset[str] = frozenset()) -> bool:
        """Apply to the tracked graph the passages changed since its version (but ``leave``),
        up to ``version``; False when it was already there."""
        if version == tracked.version:
            return False
        changed = [p for p in self._changed(conn, namespace, tracked.version) if p not in leave]
        if changed:
            fill(self.db, namespace, tracked.index, changed)
        tracked.version = version
        return True

    def after_write(self, conn: Any, namespace: str, ids: Sequence[str]) -> int:
        """Bump the namespace's version and record which passages changed at it."""
        row = conn.execute(
            "INSERT INTO graph_versions VALUES (?, 1) ON CONFLICT (namespace) DO UPDATE "
            "SET version = graph_versions.version + 1 RETURNING version",
            (namespace,),
        ).fetchone()
        version = int(row[0])
        conn.executemany(
            "INSERT INTO graph_changes VALUES (?, ?, ?) ON CONFLICT (namespace, passage_id) "
            "DO UPDATE SET version = excluded.version",
            [(namespace, pid, version) for pid in dict.fromkeys(ids)],
        )
        return version

    def committed(self, namespace: str, version: int) -> None:
        """The write committed: the graph reflects ``version`` and equals the stored one."""
        with self._lock:
            tracked = self.tracked.get(namespace)
            if tracked is not None:
                tracked.version, tracked.synced = version, True
                tracked.checked = self.clock()

    def forget(self, namespace: str) -> None:
        """The write failed: the graph may be ahead of the store; the next use reloads it."""
        with self._lock:
            self.tracked.pop(namespace, None)

    # -------------------------------------------------------------- internals
    def _load(self, namespace: str, make: MakeIndex) -> GraphIndex:
        index = make()
        with self.sql.snapshot("load the graph") as conn:
            version = self.version(namespace, conn)
            rows = self.db.passages(namespace, status="indexed")
            triples = self.db.triples(namespace)
        if rows:  # embeds outside the snapshot (vectors come from the shared cache)
            index.add([(p.id, p.text, triples.get(p.id, [])) for p in rows])
        self.tracked[namespace] = _Tracked(index, version, synced=False, checked=self.clock())
        return index

    @staticmethod
    def _changed(conn: Any, namespace: str, since: int) -> list[str]:
        rows = conn.execute(
            "SELECT passage_id FROM graph_changes WHERE namespace = ? AND version > ? "
            "ORDER BY passage_id",
            (namespace, since),
        ).fetchall()
        return [r[0] for r in rows]

    @staticmethod
    def _vanished(
        conn: Any, namespace: str, ids: Sequence[str], index: GraphIndex
    ) -> frozenset[str]:
        """Passages of this write deleted or re-written by another worker meanwhile (their
        rows are locked until the write commits)."""
        rows: dict[str, str] = {}
        for at in range(0, len(ids), 1000):
            chunk = list(ids[at:at + 1000])
            marks = ",".join("?" * len(chunk))
            rows.update(conn.execute(
                f"SELECT id, text FROM passages WHERE namespace = ? AND id IN ({marks}) "
                "FOR UPDATE",
                [namespace, *chunk],
            ).fetchall())
        return frozenset(
            pid for pid in ids
            if pid not in rows or (pid in index and index.passage_text(pid) != rows[pid])
        )


def _difference(conn: Any, namespace: str, index: GraphIndex) -> GraphDelta:
    """The delta that turns the stored nodes and edges of a namespace into ``index``'s."""
    stored_nodes = {(k, n) for k, n in conn.execute(
        "SELECT kind, name FROM nodes WHERE namespace = ?", (namespace,)).fetchall()}
    stored = {
        ((a, b), (c, d)): (float(w), k)
        for a, b, c, d, w, k in conn.execute(
            "SELECT u_kind, u, v_kind, v, weight, kind FROM edges WHERE namespace = ?",
            (namespace,),
        ).fetchall()
    }
    live_nodes = set(index.nodes())
    live = {(e.u, e.v): (float(e.weight), e.kind) for e in index.edges()}
    return GraphDelta(
        added_nodes=tuple(sorted(live_nodes - stored_nodes)),
        removed_nodes=tuple(sorted(stored_nodes - live_nodes)),
        changed_edges=tuple(
            Edge(u=u, v=v, weight=w, kind=k)
            for (u, v), (w, k) in sorted(live.items())
            if stored.get((u, v)) != (w, k)
        ),
        removed_edges=tuple(sorted(set(stored) - set(live))),
    )
