"""PopQA scoring: an answer is correct when any accepted answer occurs in it (containment).

Both Mallen et al. and the Adapt-LLM code score this way (case-insensitive substring match of
any possible answer), not by exact match; ``has_answer`` applies the same rule to a retrieved
passage.

Example:
    >>> is_correct("He was a Politician in Ontario.", ["politician", "statesman"])
    True
    >>> has_answer("Velmora is a port.", ["Quillmere"])
    False
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "accuracy",
    "answers_agree",
    "has_answer",
    "is_correct",
    "normalize_answer",
    "parse_answers",
]


def parse_answers(possible_answers: Any) -> list[str]:
    """Accepted answers from a list or PopQA's JSON-list string; blanks dropped.

    >>> parse_answers('["Paris", " "]')
    ['Paris']
    """
    if isinstance(possible_answers, str):
        text = possible_answers.strip()
        try:
            value = json.loads(text) if text.startswith("[") else [text]
        except json.JSONDecodeError:
            value = [text]
    else:
        value = list(possible_answers or [])
    return [str(a).strip() for a in value if str(a).strip()]


def is_correct(prediction: str | None, possible_answers: Sequence[str] | str) -> bool:
    """True when any accepted answer is a case-insensitive substring of ``prediction``."""
    if not prediction:
        return False
    low = prediction.lower()
    return any(a.lower() in low for a in parse_answers(possible_answers))


def has_answer(passage: str | None, possible_answers: Sequence[str] | str) -> bool:
    """Whether a retrieved passage contains an accepted answer (the same containment rule)."""
    return is_correct(passage, possible_answers)


def accuracy(flags: Iterable[bool]) -> float:
    """Mean of boolean outcomes (0.0 for none)."""
    values = list(flags)
    return sum(values) / len(values) if values else 0.0


def normalize_answer(text: str | None) -> str:
    """Lowercase, drop punctuation and articles, collapse whitespace (SQuAD-style).

    >>> normalize_answer("The  Eiffel-Tower!")
    'eiffel tower'
    """
    chars = [" " if not (c.isalnum() or c.isspace()) else c for c in str(text or "").lower()]
    return " ".join(w for w in "".join(chars).split() if w not in ("a", "an", "the"))


def answers_agree(first: str | None, second: str | None) -> bool:
    """Two answers agree when, normalised, they are equal or one contains the other as whole
    words; never when either is empty.

    >>> answers_agree("Paris", "Paris, France"), answers_agree("in", "Berlin")
    (True, False)
    """
    x, y = normalize_answer(first), normalize_answer(second)
    return bool(x and y) and (f" {x} " in f" {y} " or f" {y} " in f" {x} ")
