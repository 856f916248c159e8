"""Pruning and consolidation (beyond the paper, whose store only grows).

Two passes over a namespace's active insights:

1. **Consolidation**: insights at least ``merge_threshold`` similar (cosine of their
   embeddings) are merged: the one with the better utility (then more uses, then the older)
   survives, takes the other's per-problem uses (weighted means) and support; the other is
   marked ``pruned`` with ``merged_into``.
2. **Pruning**: an insight used at least ``prune_min_uses`` times whose mean utility is
   still at or below ``prune_max_utility`` is marked ``pruned``.

Pruned insights stay in the database (``memagents insights show`` lists them), are never
retrieved, and never count as duplicates of new candidates, so reflection may propose a
better-worded version again.

Example:
    >>> PruneReport(pruned=[("ins-1", 12, -0.1)]).to_dict()["pruned"]
    [{'id': 'ins-1', 'uses': 12, 'utility': -0.1}]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from memagents.insights.parts import StoreParts

__all__ = ["PruneReport", "prune"]


@dataclass(kw_only=True)
class PruneReport:
    """What :func:`prune` did (or would do, with ``dry_run``).

    Attributes:
        merged: ``(merged id, survivor id, cosine)``.
        pruned: ``(id, uses, utility)``.
        dry_run: Nothing was written.
    """

    merged: list[tuple[str, str, float]] = field(default_factory=list)
    pruned: list[tuple[str, int, float | None]] = field(default_factory=list)
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible data."""
        return {"dry_run": self.dry_run,
                "merged": [{"id": a, "into": b, "cosine": c} for a, b, c in self.merged],
                "pruned": [{"id": a, "uses": n, "utility": u} for a, n, u in self.pruned]}


def prune(parts: StoreParts, namespace: str, *, min_uses: int | None = None,
          max_utility: float | None = None, merge_threshold: float | None = None,
          dry_run: bool = False) -> PruneReport:
    """Consolidate, then prune (see the module docstring); ``None`` takes the settings'
    value (``merge_threshold=1.0`` merges only identical embeddings)."""
    s = parts.settings
    min_uses = s.prune_min_uses if min_uses is None else min_uses
    max_utility = s.prune_max_utility if max_utility is None else max_utility
    threshold = s.merge_threshold if merge_threshold is None else merge_threshold
    report = PruneReport(dry_run=dry_run)
    db = parts.db
    insights = {i.id: i for i in db.insights(namespace)}
    ids, matrix = db.insight_matrix(namespace)
    order = sorted((i for i in ids if i in insights), key=lambda i: (
        -(insights[i].utility or 0.0), -insights[i].uses, insights[i].created_at, i))
    row = {i: n for n, i in enumerate(ids)}
    gone: set[str] = set()
    for n, keep in enumerate(order):
        if keep in gone:
            continue
        for other in order[n + 1:]:
            if other in gone:
                continue
            cosine = float(np.dot(matrix[row[keep]], matrix[row[other]]))
            if cosine >= threshold:
                gone.add(other)
                report.merged.append((other, keep, round(cosine, 4)))
    if not dry_run:
        for other, keep, _ in report.merged:
            db.move_uses(namespace, other, keep)
            db.adjust(namespace, keep, support=insights[other].support)
            db.set_status(namespace, [other], "pruned", merged_into=keep)
    for insight in db.insights(namespace) if not dry_run else insights.values():
        if insight.id in gone:
            continue
        if insight.uses >= min_uses and (insight.utility or 0.0) <= max_utility:
            report.pruned.append((insight.id, insight.uses, insight.utility))
    if not dry_run and report.pruned:
        db.set_status(namespace, [i for i, _, _ in report.pruned], "pruned")
    return report
