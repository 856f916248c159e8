"""Contrastive reflection, screening and deduplication of candidate insights.

After a failed rollout (``../shared/docs/methods/core.md`` §3-4, §7):

1. :func:`nearest_correct` pairs it with the most similar correct rollout in rollout memory
   (by problem embedding; the same problem when it was ever solved, since it is its own
   nearest neighbour);
2. :func:`reflect` asks the model (``insights.reflect``) to contrast the two traces and write
   at most ``max_candidates`` short insights;
3. :func:`screen` drops what is unusable (empty, too long, repeated);
4. :func:`duplicate_of` finds a stored insight the candidate repeats (cosine at or above
   ``dedup_threshold``, or the same normalised text): the stored one gains support instead.

The admission test itself runs in the training loop (it is a counted rollout).

Example:
    >>> screen([("Round up the quotient.", "specific"), ("", "meta"), ("x" * 500, "meta")],
    ...        max_chars=400, max_candidates=3)
    [('Round up the quotient.', 'specific', 'new', None), ('', 'meta', 'unusable', 'empty'), ('xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...', 'meta', 'unusable', 'longer than 400 characters')]
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from memagents.insights.db import CONTRAST_KINDS
from memagents.insights.parts import StoreParts
from memagents.insights.prompts import REFLECT_PROMPT, Draft, ReflectOutput
from memagents.insights.records import Problem, Rollout
from memagents.insights.scoring import cosine_top

__all__ = ["duplicate_of", "insight_id", "nearest_correct", "normalise", "reflect", "screen"]


def normalise(text: str) -> str:
    """An insight's text for comparisons: one line, single spaces, no end punctuation, folded.

    >>> normalise("  Round UP the quotient.  ")
    'round up the quotient'
    """
    return " ".join(str(text).split()).strip(" .;:!").casefold()


def insight_id(namespace: str, text: str) -> str:
    """The id of an insight made by the store (from its namespace and normalised text).

    >>> insight_id("default", "Round up.") == insight_id("default", "round up")
    True
    """
    digest = hashlib.sha256(f"{namespace}\x00{normalise(text)}".encode()).hexdigest()
    return "ins-" + digest[:10]


def nearest_correct(parts: StoreParts, namespace: str, vector: np.ndarray) -> Rollout | None:
    """The correct rollout (baseline or training) whose problem is most similar to
    ``vector``; the most recent one of that problem. ``None`` when none was ever correct."""
    correct = parts.db.rollouts(namespace, kinds=CONTRAST_KINDS, correct=True)
    if not correct:
        return None
    latest: dict[str, Rollout] = {r.problem_id: r for r in correct}
    ids, matrix = parts.db.problem_matrix(namespace, ("train", "online"))
    rows = [ids.index(pid) for pid in latest if pid in ids]
    if not rows:
        return None
    best = cosine_top(matrix[rows], vector, 1)[0][0]
    return latest[ids[rows[best]]]


def reflect(parts: StoreParts, failed: Rollout, failed_problem: Problem,
            success: Rollout | None, success_problem: Problem | None) -> list[Draft]:
    """One reflection call contrasting ``failed`` with ``success`` (``None``: the failure
    alone, the "latest failure only" ablation). Raises what the model path raises."""
    if success is None or success_problem is None:
        relation = "none available: reflect on the failure alone"
        success_text, success_trace, success_answer = "(none)", "(none)", "(none)"
    else:
        relation = ("same problem" if success.problem_id == failed.problem_id
                    else "a similar problem")
        success_text, success_trace = success_problem.text, success.trace or "(no trace)"
        success_answer = success.answer
    out = parts.llm.call(
        REFLECT_PROMPT, ReflectOutput, max_insights=parts.settings.max_candidates,
        failed_problem=failed_problem.text, failed_trace=failed.trace or "(no trace)",
        failed_answer=failed.answer or "(none)",
        failed_feedback=failed.error or f"reward {failed.reward:g}",
        relation=relation, success_problem=success_text, success_trace=success_trace,
        success_answer=success_answer)
    return list(out.insights)


def screen(drafts: Sequence[tuple[str, str]], *, max_chars: int,
           max_candidates: int) -> list[tuple[str, str, str, str | None]]:
    """``(text, label, status, reason)`` per draft: ``new``, or ``unusable`` (empty, longer
    than ``max_chars``, repeated in the reflection, beyond ``max_candidates``)."""
    out: list[tuple[str, str, str, str | None]] = []
    seen: set[str] = set()
    usable = 0
    for text, label in drafts:
        clean = " ".join(str(text).split())
        if not normalise(clean):
            out.append((clean, label, "unusable", "empty"))
        elif len(clean) > max_chars:
            out.append((clean[:72] + "...", label, "unusable",
                        f"longer than {max_chars} characters"))
        elif normalise(clean) in seen:
            out.append((clean, label, "unusable", "repeated in the same reflection"))
        elif usable >= max_candidates:
            out.append((clean, label, "unusable", f"beyond max_candidates={max_candidates}"))
        else:
            seen.add(normalise(clean))
            usable += 1
            out.append((clean, label, "new", None))
    return out


def duplicate_of(parts: StoreParts, namespace: str, text: str,
                 vector: np.ndarray) -> tuple[str, float] | None:
    """``(stored insight id, cosine)`` of the active insight ``text`` repeats, or ``None``."""
    ids, matrix = parts.db.insight_matrix(namespace)
    if not ids:
        return None
    same = insight_id(namespace, text)
    if same in ids:
        return same, 1.0
    row, sim = cosine_top(matrix, vector, 1)[0]
    return (ids[row], sim) if sim >= parts.settings.dedup_threshold else None
