"""Evaluation helpers shared by tests, benchmarks and the demo: metrics and dataset loaders.

Example:
    >>> from memagents.eval import recall_at_k
    >>> recall_at_k(["a", "x", "b"], ["a", "b"], 2)
    0.5
"""

from __future__ import annotations

from memagents.eval.metrics import mean_recall, paired_wins, recall_at_k
from memagents.eval.musique import MusiqueData, load_musique
from memagents.eval.popqa import PopQAItem, load_popqa, relation_of

__all__ = [
    "MusiqueData",
    "PopQAItem",
    "load_musique",
    "load_popqa",
    "mean_recall",
    "paired_wins",
    "recall_at_k",
    "relation_of",
]
