"""Evaluation helpers shared by tests, benchmarks and the demo: metrics, dataset loaders and
PopQA's containment scoring.

Example:
    >>> from memagents.eval import recall_at_k
    >>> recall_at_k(["a", "x", "b"], ["a", "b"], 2)
    0.5
"""

from __future__ import annotations

from memagents.eval.metrics import mean_recall, paired_wins, recall_at_k
from memagents.eval.musique import MusiqueData, load_musique
from memagents.eval.popqa import PopQAItem, load_popqa, relation_of
from memagents.eval.scoring import has_answer, is_correct

__all__ = [
    "MusiqueData",
    "PopQAItem",
    "has_answer",
    "is_correct",
    "load_musique",
    "load_popqa",
    "mean_recall",
    "paired_wins",
    "recall_at_k",
    "relation_of",
]
