"""Bookkeeping tables of the insight store: counters, training steps, candidates and the
learning curve (a mixin of :class:`~memagents.insights.db.InsightDB`, which owns the schema).

* ``counters``: total retrievals ``T``, reflections, reflections that gave nothing usable,
  reflections without contrast, ExpeL edits...;
* ``steps``: each training step's problem and phase (``sampled``, ``reflected``, ``done``);
  online steps (learning from outcomes recorded outside training) are numbered below 0;
* ``candidates``: each reflection's candidate insights and their fate;
* ``curve``: learning-curve points (accuracy against rollouts used).

Example:
    >>> from memagents.insights.db import InsightDB
    >>> db = InsightDB(":memory:")
    >>> db.set_step("default", 0, problem_id="p1", phase="sampled")
    >>> db.step("default", 0)["phase"], db.steps_done("default")
    ('sampled', 1)
    >>> db.close()
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from memagents.stores import Database

__all__ = ["StepTables"]


class StepTables:
    """Counters, steps, candidates and curve points (needs ``self.db``, a
    :class:`~memagents.stores.Database` with the insight store's schema)."""

    db: Database

    # ------------------------------------------------------------------ counters
    def counter(self, namespace: str, name: str) -> int:
        """A counter's value (0 when never bumped)."""
        row = self.db.query_one("SELECT value FROM counters WHERE namespace=? AND name=?",
                                (namespace, name))
        return int(row[0]) if row else 0

    def bump(self, namespace: str, name: str, by: int = 1,
             conn: sqlite3.Connection | None = None) -> None:
        """Add ``by`` to a counter (inside ``conn``'s transaction when given)."""
        sql = ("INSERT INTO counters (namespace, name, value) VALUES (?, ?, ?) "
               "ON CONFLICT(namespace, name) DO UPDATE SET value = value + excluded.value")
        if conn is not None:
            conn.execute(sql, (namespace, name, by))
        else:
            self.db.execute(sql, (namespace, name, by))

    def counters(self, namespace: str) -> dict[str, int]:
        """Every counter of a namespace."""
        return {r[0]: int(r[1]) for r in self.db.query(
            "SELECT name, value FROM counters WHERE namespace=? ORDER BY name", (namespace,))}

    # ------------------------------------------------------------------ steps
    def step(self, namespace: str, step: int) -> sqlite3.Row | None:
        """A training step's row (``problem_id``, ``phase``, ``contrast_id``, ``note``)."""
        return self.db.query_one("SELECT * FROM steps WHERE namespace=? AND step=?",
                                 (namespace, step))

    def steps_done(self, namespace: str) -> int:
        """The number of training steps started (online steps, numbered below 0, aside)."""
        row = self.db.query_one("SELECT COUNT(*) FROM steps WHERE namespace=? AND step >= 0",
                                (namespace,))
        return int(row[0]) if row else 0

    def set_step(self, namespace: str, step: int, *, problem_id: str | None = None,
                 phase: str, contrast_id: str | None = None, note: str | None = None,
                 conn: sqlite3.Connection | None = None) -> None:
        """Create or advance a step's row."""
        sql = ("INSERT INTO steps (namespace, step, problem_id, phase, contrast_id, note) "
               "VALUES (?,?,?,?,?,?) ON CONFLICT(namespace, step) DO UPDATE SET "
               "phase=excluded.phase, contrast_id=COALESCE(excluded.contrast_id, contrast_id), "
               "note=COALESCE(excluded.note, note)")
        params = (namespace, step, problem_id or "", phase, contrast_id, note)
        if conn is not None:
            conn.execute(sql, params)
        else:
            self.db.execute(sql, params)

    def candidates(self, namespace: str, step: int) -> list[sqlite3.Row]:
        """A step's candidate insights, in order."""
        return self.db.query("SELECT * FROM candidates WHERE namespace=? AND step=? "
                             "ORDER BY idx", (namespace, step))

    def add_candidates(self, namespace: str, step: int,
                       drafts: Sequence[tuple[str, str, str, str | None]],
                       conn: sqlite3.Connection) -> None:
        """Record a reflection's candidates ``(text, label, status, reason)``."""
        conn.executemany(
            "INSERT OR IGNORE INTO candidates (namespace, step, idx, text, label, status, "
            "reason) VALUES (?,?,?,?,?,?,?)",
            [(namespace, step, i, *d) for i, d in enumerate(drafts)])

    def set_candidate(self, namespace: str, step: int, idx: int, status: str,
                      reason: str | None = None, insight_id: str | None = None,
                      conn: sqlite3.Connection | None = None) -> None:
        """Settle one candidate."""
        sql = ("UPDATE candidates SET status=?, reason=?, insight_id=? WHERE namespace=? "
               "AND step=? AND idx=?")
        params = (status, reason, insight_id, namespace, step, idx)
        if conn is not None:
            conn.execute(sql, params)
        else:
            self.db.execute(sql, params)

    def candidate_counts(self, namespace: str) -> dict[str, int]:
        """Candidates by status."""
        return {r[0]: int(r[1]) for r in self.db.query(
            "SELECT status, COUNT(*) FROM candidates WHERE namespace=? GROUP BY status",
            (namespace,))}

    # ------------------------------------------------------------------ curve
    def add_point(self, namespace: str, series: str, rollouts: int, accuracy: float,
                  low: float | None, high: float | None, n: int) -> None:
        """Record a learning-curve point (replacing one at the same rollouts)."""
        self.db.execute("INSERT OR REPLACE INTO curve VALUES (?,?,?,?,?,?,?)",
                        (namespace, series, rollouts, accuracy, low, high, n))

    def curve(self, namespace: str) -> dict[str, list[tuple[int, float, float | None,
                                                            float | None]]]:
        """Series -> ``(rollouts, accuracy, low, high)`` points, by rollouts."""
        out: dict[str, list[tuple[int, float, float | None, float | None]]] = {}
        for r in self.db.query("SELECT series, rollouts, accuracy, low, high FROM curve WHERE "
                               "namespace=? ORDER BY series, rollouts", (namespace,)):
            out.setdefault(r[0], []).append((int(r[1]), float(r[2]), r[3], r[4]))
        return out

    def namespaces(self) -> list[str]:
        """Namespaces holding problems or insights."""
        return [r[0] for r in self.db.query(
            "SELECT namespace FROM problems UNION SELECT namespace FROM insights ORDER BY 1")]
