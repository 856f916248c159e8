"""Retrieval metrics: recall@k as the HippoRAG papers report it, and paired comparisons.

Example:
    >>> mean_recall([["a", "b"], ["c", "d"]], [["a"], ["d"]], (1, 2))
    {1: 0.5, 2: 1.0}
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

__all__ = ["mean_recall", "paired_wins", "recall_at_k"]


def recall_at_k(ranked: Sequence[Hashable], gold: Sequence[Hashable], k: int) -> float:
    """Fraction of the gold items found in the first ``k`` ranked items (0 without gold).

    >>> recall_at_k([3, 1, 2], [1, 2], 1)
    0.0
    """
    if not gold:
        return 0.0
    top = set(ranked[:k])
    return sum(1 for g in set(gold) if g in top) / len(set(gold))


def mean_recall(
    rankings: Sequence[Sequence[Hashable]],
    golds: Sequence[Sequence[Hashable]],
    ks: Sequence[int] = (1, 2, 5, 10),
) -> dict[int, float]:
    """Mean recall@k over questions, for each k."""
    if len(rankings) != len(golds):
        raise ValueError(f"{len(rankings)} rankings for {len(golds)} gold lists")
    n = max(len(golds), 1)
    return {k: sum(recall_at_k(r, g, k) for r, g in zip(rankings, golds)) / n for k in ks}


def paired_wins(
    a: Mapping[str, Sequence[Hashable]],
    b: Mapping[str, Sequence[Hashable]],
    gold: Mapping[str, Sequence[Hashable]],
    k: int,
) -> tuple[int, int]:
    """Questions where ``a`` finds more (wins) or fewer (losses) gold items than ``b`` in its top k.

    >>> paired_wins({"q": [1, 2]}, {"q": [3, 1]}, {"q": [1, 2]}, 2)
    (1, 0)
    """
    wins = losses = 0
    for q, top in a.items():
        x = len(set(gold[q]) & set(top[:k]))
        y = len(set(gold[q]) & set(b[q][:k]))
        wins += x > y
        losses += x < y
    return wins, losses
