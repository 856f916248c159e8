"""The insight store's SQLite tables (``insights.db``): problems, rollouts, insights, uses.

One file per store folder, in WAL mode through :class:`~memagents.stores.Database`; every
table is keyed by namespace. Problem and insight embeddings are stored beside their rows as
``float32`` blobs (unit vectors), so a store reopens without embedding anything again.

* ``problems``: text, expected answer, verifier, split (``train``, ``eval``, ``online``);
* ``rollouts``: every attempt, with a deterministic id: recording one twice is impossible
  (``UNIQUE(namespace, id)``), which is what makes a killed training run resume without
  counting a rollout twice;
* ``insights`` and ``insight_uses`` (``n(i,p)``, ``ū(i,p)``, and for contrast credit the
  count and mean utility of the rollouts that left the insight out): the insight memory;
* ``steps`` and ``candidates``: the phase of each training step and the fate of each
  candidate insight (admitted, rejected, duplicate, unusable, untested);
* ``counters``: total retrievals ``T`` and the counts of reflections that gave nothing;
* ``curve``: learning-curve points (accuracy against rollouts used).

Example:
    >>> db = InsightDB(":memory:")
    >>> db.counter("default", "retrievals")
    0
    >>> db.bump("default", "retrievals", 2); db.counter("default", "retrievals")
    2
    >>> db.close()
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from memagents.insights.records import Insight, Problem, Rollout
from memagents.insights.tables import StepTables
from memagents.stores import Database, Migration

__all__ = ["BUDGET_KINDS", "CONTRAST_KINDS", "InsightDB"]

BUDGET_KINDS = ("baseline", "train", "admission")
"""Rollout kinds counted against the training budget (the paper's accounting)."""

CONTRAST_KINDS = ("baseline", "train")
"""Rollout kinds whose correct attempts serve as contrast material."""

_SCHEMA = """
CREATE TABLE problems (
    namespace TEXT NOT NULL, id TEXT NOT NULL, text TEXT NOT NULL, answer TEXT,
    verifier TEXT, tags TEXT NOT NULL DEFAULT '[]', split TEXT NOT NULL,
    embedding BLOB NOT NULL, created_at REAL NOT NULL, PRIMARY KEY (namespace, id));
CREATE TABLE rollouts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, namespace TEXT NOT NULL, id TEXT NOT NULL,
    kind TEXT NOT NULL, step INTEGER, problem_id TEXT NOT NULL,
    insight_ids TEXT NOT NULL DEFAULT '[]', insight_tokens INTEGER NOT NULL DEFAULT 0,
    answer TEXT NOT NULL DEFAULT '', trace TEXT NOT NULL DEFAULT '', reward REAL NOT NULL,
    error TEXT, baseline REAL, held_out TEXT NOT NULL DEFAULT '[]', created_at REAL NOT NULL,
    UNIQUE (namespace, id));
CREATE INDEX rollouts_problem ON rollouts (namespace, problem_id, kind);
CREATE TABLE insights (
    namespace TEXT NOT NULL, id TEXT NOT NULL, text TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT 'specific', tags TEXT NOT NULL DEFAULT '[]',
    metadata TEXT NOT NULL DEFAULT '{}', source TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL DEFAULT 'active', merged_into TEXT,
    support INTEGER NOT NULL DEFAULT 1, votes INTEGER NOT NULL DEFAULT 0,
    embedding BLOB NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL,
    seq INTEGER NOT NULL, PRIMARY KEY (namespace, id));
CREATE TABLE insight_uses (
    namespace TEXT NOT NULL, insight_id TEXT NOT NULL, problem_id TEXT NOT NULL,
    n INTEGER NOT NULL, mean REAL NOT NULL, n_out INTEGER NOT NULL DEFAULT 0,
    mean_out REAL NOT NULL DEFAULT 0, PRIMARY KEY (namespace, insight_id, problem_id));
CREATE TABLE steps (
    namespace TEXT NOT NULL, step INTEGER NOT NULL, problem_id TEXT NOT NULL,
    phase TEXT NOT NULL, contrast_id TEXT, note TEXT, PRIMARY KEY (namespace, step));
CREATE TABLE candidates (
    namespace TEXT NOT NULL, step INTEGER NOT NULL, idx INTEGER NOT NULL, text TEXT NOT NULL,
    label TEXT NOT NULL, status TEXT NOT NULL, reason TEXT, insight_id TEXT,
    PRIMARY KEY (namespace, step, idx));
CREATE TABLE counters (
    namespace TEXT NOT NULL, name TEXT NOT NULL, value INTEGER NOT NULL,
    PRIMARY KEY (namespace, name));
CREATE TABLE curve (
    namespace TEXT NOT NULL, series TEXT NOT NULL, rollouts INTEGER NOT NULL,
    accuracy REAL NOT NULL, low REAL, high REAL, n INTEGER NOT NULL,
    PRIMARY KEY (namespace, series, rollouts));
"""


def _blob(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def _vec(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float32)


class InsightDB(StepTables):
    """The tables of one store (see the module docstring); thread-safe through
    :class:`~memagents.stores.Database`'s lock.

    Args:
        path: ``insights.db`` path or ``":memory:"``.
    """

    def __init__(self, path: str | Path) -> None:
        self.db = Database(path, migrations=[Migration(1, _SCHEMA, "insight store")],
                           name="insights")
        self._cache: dict[tuple[str, str], tuple[list[str], np.ndarray]] = {}
        self._guard = threading.RLock()

    def close(self) -> None:
        """Close the database (idempotent)."""
        self.db.close()

    def invalidate(self, namespace: str) -> None:
        """Drop the cached embedding matrices of a namespace (after a direct write)."""
        with self._guard:
            for key in [k for k in self._cache if k[0] == namespace]:
                del self._cache[key]

    # ------------------------------------------------------------------ problems
    def add_problems(self, namespace: str, problems: Sequence[Problem], split: str,
                     vectors: np.ndarray) -> list[str]:
        """Store problems not stored yet (same id: kept as it is); returns the new ids."""
        now = time.time()
        new = []
        with self.db.transaction("add problems") as conn:
            for problem, vector in zip(problems, vectors, strict=True):
                cur = conn.execute(
                    "INSERT OR IGNORE INTO problems (namespace, id, text, answer, verifier, "
                    "tags, split, embedding, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
                    (namespace, problem.id, problem.text, problem.answer,
                     None if problem.verifier is None else json.dumps(problem.verifier),
                     json.dumps(list(problem.tags)), split, _blob(vector), now))
                if cur.rowcount:
                    new.append(problem.id)
        self.invalidate(namespace)
        return new

    def known_problems(self, namespace: str, ids: Iterable[str]) -> dict[str, str]:
        """Id -> split of the stored problems among ``ids``."""
        wanted = list(ids)
        out: dict[str, str] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            rows = self.db.query(
                f"SELECT id, split FROM problems WHERE namespace=? AND id IN "
                f"({','.join('?' * len(chunk))})", (namespace, *chunk))
            out.update({r[0]: r[1] for r in rows})
        return out

    def problems(self, namespace: str, split: str | None = None) -> list[Problem]:
        """Stored problems (of one split), in insertion order."""
        sql = "SELECT * FROM problems WHERE namespace=?" + (" AND split=?" if split else "")
        rows = self.db.query(sql + " ORDER BY rowid", (namespace, split) if split
                             else (namespace,))
        return [_problem(r) for r in rows]

    def problem(self, namespace: str, pid: str) -> Problem | None:
        """One stored problem, or ``None``."""
        row = self.db.query_one("SELECT * FROM problems WHERE namespace=? AND id=?",
                                (namespace, pid))
        return _problem(row) if row else None

    def problem_matrix(self, namespace: str, splits: Sequence[str]) -> tuple[list[str],
                                                                            np.ndarray]:
        """Ids and unit embedding rows of the problems of ``splits`` (cached)."""
        key = (namespace, "problems:" + ",".join(splits))
        with self._guard:
            if key not in self._cache:
                rows = self.db.query(
                    f"SELECT id, embedding FROM problems WHERE namespace=? AND split IN "
                    f"({','.join('?' * len(splits))}) ORDER BY rowid", (namespace, *splits))
                self._cache[key] = _matrix(rows)
            return self._cache[key]

    def baseline(self, namespace: str, pid: str) -> tuple[int, float | None]:
        """``(samples, b_p)`` from the problem's baseline rollouts (``b_p`` ``None`` without
        any)."""
        row = self.db.query_one(
            "SELECT COUNT(*), AVG(reward) FROM rollouts WHERE namespace=? AND problem_id=? "
            "AND kind='baseline'", (namespace, pid))
        return (int(row[0]), None if row[1] is None else float(row[1])) if row else (0, None)

    def baselines(self, namespace: str) -> dict[str, tuple[int, float]]:
        """Problem id -> ``(samples, b_p)`` for every problem with baseline rollouts."""
        return {r[0]: (int(r[1]), float(r[2])) for r in self.db.query(
            "SELECT problem_id, COUNT(*), AVG(reward) FROM rollouts WHERE namespace=? AND "
            "kind='baseline' GROUP BY problem_id", (namespace,))}

    # ------------------------------------------------------------------ rollouts
    def rollout(self, namespace: str, rid: str) -> Rollout | None:
        """A recorded rollout by id, or ``None``."""
        row = self.db.query_one("SELECT * FROM rollouts WHERE namespace=? AND id=?",
                                (namespace, rid))
        return _rollout(row) if row else None

    def record(self, namespace: str, rollout: Rollout,
               credit: Sequence[tuple[str, str, float]] = (), *,
               left_out: Sequence[tuple[str, str, float]] = (), retrievals: int = 0) -> bool:
        """Record a rollout and, in the same transaction, its credit ``(insight, problem,
        utility)``, the utility of the insights it left out (contrast credit) and the
        retrievals it made. A rollout id recorded before is ignored (credit included):
        returns ``False`` then."""
        with self.db.transaction("record a rollout") as tx:
            cur = tx.execute(
                "INSERT OR IGNORE INTO rollouts (namespace, id, kind, step, problem_id, "
                "insight_ids, insight_tokens, answer, trace, reward, error, baseline, "
                "held_out, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (namespace, rollout.id, rollout.kind, rollout.step, rollout.problem_id,
                 json.dumps(list(rollout.insight_ids)), rollout.insight_tokens,
                 rollout.answer, rollout.trace, rollout.reward, rollout.error,
                 rollout.baseline, json.dumps(list(rollout.held_out)), time.time()))
            if not cur.rowcount:
                return False
            for insight_id, pid, value in credit:
                self.credit(namespace, insight_id, pid, value, tx)
            for insight_id, pid, value in left_out:
                self.credit(namespace, insight_id, pid, value, tx, left_out=True)
            if retrievals:
                self.bump(namespace, "retrievals", retrievals, tx)
        return True

    def credit(self, namespace: str, insight_id: str, pid: str, value: float,
               conn: sqlite3.Connection, *, left_out: bool = False) -> None:
        """Fold one utility into ``ū(i,p)`` and add one to ``n(i,p)`` (``left_out``: into
        the statistics of the rollouts that left the insight out)."""
        if left_out:
            conn.execute(
                "INSERT INTO insight_uses (namespace, insight_id, problem_id, n, mean, n_out, "
                "mean_out) VALUES (?,?,?,0,0,1,?) ON CONFLICT(namespace, insight_id, "
                "problem_id) DO UPDATE SET mean_out = mean_out + (excluded.mean_out - "
                "mean_out) / (n_out + 1), n_out = n_out + 1",
                (namespace, insight_id, pid, value))
            return
        conn.execute(
            "INSERT INTO insight_uses (namespace, insight_id, problem_id, n, mean) "
            "VALUES (?,?,?,1,?) ON CONFLICT(namespace, insight_id, problem_id) DO UPDATE SET "
            "mean = mean + (excluded.mean - mean) / (n + 1), n = n + 1",
            (namespace, insight_id, pid, value))

    def used(self, namespace: str, kinds: Sequence[str] = BUDGET_KINDS) -> int:
        """Rollouts recorded of ``kinds`` (the budget spent, by default)."""
        row = self.db.query_one(
            f"SELECT COUNT(*) FROM rollouts WHERE namespace=? AND kind IN "
            f"({','.join('?' * len(kinds))})", (namespace, *kinds))
        return int(row[0]) if row else 0

    def rollout_counts(self, namespace: str) -> dict[str, int]:
        """Rollouts by kind."""
        return {r[0]: int(r[1]) for r in self.db.query(
            "SELECT kind, COUNT(*) FROM rollouts WHERE namespace=? GROUP BY kind ORDER BY kind",
            (namespace,))}

    def rollouts(self, namespace: str, *, kinds: Sequence[str] = CONTRAST_KINDS,
                 correct: bool | None = None, problem_id: str | None = None) -> list[Rollout]:
        """Rollouts of ``kinds`` in recording order (only correct / failed ones, one problem)."""
        sql = (f"SELECT * FROM rollouts WHERE namespace=? AND kind IN "
               f"({','.join('?' * len(kinds))})")
        params: list[Any] = [namespace, *kinds]
        if correct is not None:
            sql += " AND reward >= 0.999999999" if correct else " AND reward < 0.999999999"
        if problem_id is not None:
            sql += " AND problem_id=?"
            params.append(problem_id)
        return [_rollout(r) for r in self.db.query(sql + " ORDER BY seq", params)]

    def recent_rewards(self, namespace: str) -> dict[str, list[float]]:
        """Problem id -> its training rewards, oldest first."""
        out: dict[str, list[float]] = {}
        for row in self.db.query("SELECT problem_id, reward FROM rollouts WHERE namespace=? "
                                 "AND kind='train' ORDER BY seq", (namespace,)):
            out.setdefault(row[0], []).append(float(row[1]))
        return out

    # ------------------------------------------------------------------ insights
    def add_insight(self, namespace: str, insight: Insight, vector: np.ndarray) -> str:
        """Insert or replace an insight: ``"added"``, ``"updated"`` (text changed: its uses
        are reset) or ``"unchanged"``. Inside an open transaction it joins it."""
        with self.db.transaction("store an insight") as tx:
            old = tx.execute("SELECT text, tags, metadata, label FROM insights WHERE "
                             "namespace=? AND id=?", (namespace, insight.id)).fetchone()
            now = time.time()
            values = (insight.text, insight.label, json.dumps(list(insight.tags)),
                      json.dumps(insight.metadata, sort_keys=True))
            if old is not None and (old[0], old[3], old[1], old[2]) == (
                    values[0], values[1], values[2], values[3]):
                return "unchanged"
            if old is not None:
                tx.execute("UPDATE insights SET text=?, label=?, tags=?, metadata=?, "
                           "embedding=?, updated_at=?, status='active' WHERE namespace=? AND "
                           "id=?", (*values, _blob(vector), now, namespace, insight.id))
                if old[0] != insight.text:
                    tx.execute("DELETE FROM insight_uses WHERE namespace=? AND insight_id=?",
                               (namespace, insight.id))
                self.invalidate(namespace)
                return "updated"
            seq = tx.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM insights").fetchone()[0]
            tx.execute(
                "INSERT INTO insights (namespace, id, text, label, tags, metadata, source, "
                "status, support, votes, embedding, created_at, updated_at, seq) VALUES "
                "(?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (namespace, insight.id, *values, json.dumps(insight.source, sort_keys=True),
                 insight.status, insight.support, insight.votes, _blob(vector),
                 insight.created_at or now, now, seq))
        self.invalidate(namespace)
        return "added"

    def insights(self, namespace: str, *, status: str | None = "active",
                 ids: Sequence[str] | None = None) -> list[Insight]:
        """Insights with their statistics (of one status, or these ids), in creation order."""
        sql = ("SELECT i.*, COALESCE(SUM(u.n), 0) AS uses, "
               "SUM(u.n * u.mean) / NULLIF(SUM(u.n), 0) AS utility FROM insights i "
               "LEFT JOIN insight_uses u ON u.namespace = i.namespace AND u.insight_id = i.id "
               "WHERE i.namespace=?")
        params: list[Any] = [namespace]
        if status is not None:
            sql += " AND i.status=?"
            params.append(status)
        if ids is not None:
            sql += f" AND i.id IN ({','.join('?' * len(ids))})"
            params.extend(ids)
        rows = self.db.query(sql + " GROUP BY i.id ORDER BY i.seq", params)
        found = [_insight(r) for r in rows]
        if ids is None:
            return found
        by_id = {i.id: i for i in found}
        return [by_id[i] for i in dict.fromkeys(ids) if i in by_id]

    def insight_matrix(self, namespace: str) -> tuple[list[str], np.ndarray]:
        """Ids and unit embedding rows of the active insights (cached)."""
        key = (namespace, "insights")
        with self._guard:
            if key not in self._cache:
                rows = self.db.query("SELECT id, embedding FROM insights WHERE namespace=? AND "
                                     "status='active' ORDER BY seq", (namespace,))
                self._cache[key] = _matrix(rows)
            return self._cache[key]

    def uses(self, namespace: str, insight_ids: Sequence[str] | None = None
             ) -> dict[str, dict[str, tuple[int, float]]]:
        """Insight id -> problem id -> ``(n(i,p), ū(i,p))`` (problems it was used on)."""
        out: dict[str, dict[str, tuple[int, float]]] = {}
        for row in self.db.query("SELECT insight_id, problem_id, n, mean FROM insight_uses "
                                 "WHERE namespace=? AND n > 0", (namespace,)):
            if insight_ids is None or row[0] in insight_ids:
                out.setdefault(row[0], {})[row[1]] = (int(row[2]), float(row[3]))
        return out

    def left_out(self, namespace: str) -> dict[str, dict[str, tuple[int, float]]]:
        """Insight id -> problem id -> ``(count, mean utility)`` of the training rollouts
        that left it out (contrast credit)."""
        out: dict[str, dict[str, tuple[int, float]]] = {}
        for row in self.db.query("SELECT insight_id, problem_id, n_out, mean_out FROM "
                                 "insight_uses WHERE namespace=? AND n_out > 0", (namespace,)):
            out.setdefault(row[0], {})[row[1]] = (int(row[2]), float(row[3]))
        return out

    def set_status(self, namespace: str, ids: Sequence[str], status: str,
                   merged_into: str | None = None) -> None:
        """Mark insights ``active`` or ``pruned`` (``merged_into``: the survivor)."""
        self.db.executemany("UPDATE insights SET status=?, merged_into=?, updated_at=? "
                            "WHERE namespace=? AND id=?",
                            [(status, merged_into, time.time(), namespace, i) for i in ids])
        self.invalidate(namespace)

    def adjust(self, namespace: str, insight_id: str, *, support: int = 0, votes: int = 0,
               conn: sqlite3.Connection | None = None) -> None:
        """Add to an insight's support and votes."""
        sql = ("UPDATE insights SET support = support + ?, votes = votes + ?, updated_at=? "
               "WHERE namespace=? AND id=?")
        params = (support, votes, time.time(), namespace, insight_id)
        if conn is not None:
            conn.execute(sql, params)
        else:
            self.db.execute(sql, params)

    def move_uses(self, namespace: str, source: str, target: str) -> None:
        """Fold ``source``'s per-problem uses into ``target``'s (consolidation)."""
        with self.db.transaction("merge insight uses") as tx:
            for pid, n, mean in tx.execute("SELECT problem_id, n, mean FROM insight_uses WHERE "
                                           "namespace=? AND insight_id=? AND n > 0",
                                           (namespace, source)).fetchall():
                tx.execute(
                    "INSERT INTO insight_uses (namespace, insight_id, problem_id, n, mean) "
                    "VALUES (?,?,?,?,?) ON CONFLICT(namespace, insight_id, problem_id) DO "
                    "UPDATE SET mean = (n * mean + excluded.n * excluded.mean) / "
                    "(n + excluded.n), n = n + excluded.n", (namespace, target, pid, n, mean))
            tx.execute("DELETE FROM insight_uses WHERE namespace=? AND insight_id=?",
                       (namespace, source))

    def delete_insights(self, namespace: str, ids: Sequence[str]) -> list[str]:
        """Delete insights and their uses; returns the ids that existed."""
        gone = []
        with self.db.transaction("delete insights") as tx:
            for i in dict.fromkeys(ids):
                if tx.execute("DELETE FROM insights WHERE namespace=? AND id=?",
                              (namespace, i)).rowcount:
                    gone.append(i)
                    tx.execute("DELETE FROM insight_uses WHERE namespace=? AND insight_id=?",
                               (namespace, i))
        self.invalidate(namespace)
        return gone


def _matrix(rows: Sequence[sqlite3.Row]) -> tuple[list[str], np.ndarray]:
    ids = [r[0] for r in rows]
    if not rows:
        return ids, np.zeros((0, 0), dtype=np.float32)
    return ids, np.vstack([_vec(r[1]) for r in rows])


def _problem(row: sqlite3.Row) -> Problem:
    verifier = json.loads(row["verifier"]) if row["verifier"] else None
    return Problem(id=row["id"], text=row["text"], answer=row["answer"], verifier=verifier,
                   tags=tuple(json.loads(row["tags"])))


def _rollout(row: sqlite3.Row) -> Rollout:
    return Rollout(id=row["id"], kind=row["kind"], step=row["step"],
                   problem_id=row["problem_id"], insight_ids=tuple(json.loads(row["insight_ids"])),
                   answer=row["answer"], trace=row["trace"], reward=float(row["reward"]),
                   error=row["error"], baseline=row["baseline"],
                   insight_tokens=int(row["insight_tokens"]),
                   held_out=tuple(json.loads(row["held_out"])))


def _insight(row: sqlite3.Row) -> Insight:
    source = json.loads(row["source"])
    if row["merged_into"]:
        source = {**source, "merged_into": row["merged_into"]}
    return Insight(id=row["id"], text=row["text"], namespace=row["namespace"],
                   label=row["label"], tags=tuple(json.loads(row["tags"])),
                   status=row["status"], source=source, support=int(row["support"]),
                   votes=int(row["votes"]), uses=int(row["uses"]),
                   utility=None if row["utility"] is None else round(float(row["utility"]), 6),
                   created_at=float(row["created_at"]), metadata=json.loads(row["metadata"]))
