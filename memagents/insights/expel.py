"""The ExpeL-style baseline: one insight list, edited by the model, injected by importance.

ExpeL (Zhao et al., 2023) keeps a list of rules that an LLM edits after comparing a failed
and a successful attempt, with four operations: ``add`` a rule (importance
``expel_initial_votes``, 2 in ExpeL), ``upvote`` (+1), ``downvote`` (−1; a rule at 0 is
removed) and ``edit`` (new wording, +1). At inference every rule goes into the prompt,
most important first (here: the first ``top_k`` within the token budget). Unlike CORE there
is no per-problem baseline, no utility, no neighbour retrieval and no admission test: the
model's own judgement decides what stays. Selected with ``InsightSettings(method="expel")``;
the trajectories ExpeL also retrieves as few-shot examples are left out, so the comparison is
between the two ways of keeping insights.

Example:
    >>> print(numbered([("ins-1", "Round up."), ("ins-2", "Count both ends.")]))
    1. Round up.
    2. Count both ends.
    >>> print(numbered([]))
    (no rules yet)
"""

from __future__ import annotations

from collections.abc import Sequence

from memagents.errors import BudgetExceeded, MemagentsError
from memagents.insights.parts import StoreParts
from memagents.insights.prompts import EXPEL_PROMPT, ExpelOutput
from memagents.insights.records import Insight, Problem, Rollout
from memagents.insights.reflection import duplicate_of, insight_id, normalise

__all__ = ["MAX_OPS", "expel_update", "numbered"]

MAX_OPS = 4
"""Most list edits applied per reflection."""


def numbered(rules: Sequence[tuple[str, str]]) -> str:
    """The rule list as the model sees it: ``1. text`` per rule."""
    if not rules:
        return "(no rules yet)"
    return "\n".join(f"{n}. {text}" for n, (_, text) in enumerate(rules, 1))


def expel_update(parts: StoreParts, namespace: str, step: int, problem: Problem,
                 failed: Rollout, success: Rollout | None,
                 success_problem: Problem | None) -> None:
    """One ExpeL reflection after a failed step: ask for list edits, apply them, and mark
    the step reflected, in one transaction (a killed run re-asks, never applies twice)."""
    db = parts.db
    settings = parts.settings
    if success is None and not settings.reflect_without_contrast:
        with db.db.transaction("no contrast") as tx:
            db.bump(namespace, "no_contrast", 1, tx)
            db.set_step(namespace, step, phase="reflected", note="no correct rollout yet",
                        conn=tx)
        return
    rules = sorted(db.insights(namespace), key=lambda i: (-i.votes, i.created_at))
    listed = [(i.id, i.text) for i in rules]
    relation = ("none available" if success is None else "same problem"
                if success.problem_id == failed.problem_id else "a similar problem")
    try:
        out = parts.llm.call(
            EXPEL_PROMPT, ExpelOutput, max_ops=MAX_OPS, rules=numbered(listed),
            failed_problem=problem.text, failed_trace=failed.trace or "(no trace)",
            failed_answer=failed.answer or "(none)", relation=relation,
            success_problem=success_problem.text if success_problem else "(none)",
            success_trace=(success.trace or "(no trace)") if success else "(none)",
            success_answer=success.answer if success else "(none)")
    except MemagentsError as exc:
        if isinstance(exc, BudgetExceeded):
            raise
        with db.db.transaction("reflection failed") as tx:
            db.bump(namespace, "reflection_errors", 1, tx)
            db.set_step(namespace, step, phase="reflected", note=f"reflection failed: {exc}",
                        conn=tx)
        return
    votes = {i.id: i.votes for i in rules}
    applied = 0
    with db.db.transaction("edit the ExpeL list") as tx:
        db.bump(namespace, "reflections", 1, tx)
        for op in out.operations[:MAX_OPS]:
            target = (listed[op.rule - 1][0] if op.rule is not None and 1 <= op.rule
                      <= len(listed) else None)
            text = " ".join((op.text or "").split())
            if op.op == "add":
                if not normalise(text) or len(text) > settings.max_insight_chars:
                    continue
                vector = parts.embed([text])[0]
                dup = duplicate_of(parts, namespace, text, vector)
                if dup is not None:
                    target, op_name = dup[0], "upvote"
                else:
                    iid = insight_id(namespace, text)
                    db.add_insight(namespace, Insight(
                        id=iid, text=text, namespace=namespace, votes=settings.expel_initial_votes,
                        source={"how": "expel", "step": step, "problem": problem.id}), vector)
                    votes[iid] = settings.expel_initial_votes
                    db.bump(namespace, "expel_add", 1, tx)
                    applied += 1
                    continue
            else:
                op_name = op.op
            if target is None or target not in votes:
                continue
            if op_name == "edit" and normalise(text) and len(text) <= settings.max_insight_chars:
                old = next(i for i in rules if i.id == target)
                db.add_insight(namespace, Insight(id=target, text=text, namespace=namespace,
                                                  label=old.label, tags=old.tags,
                                                  metadata=old.metadata),
                               parts.embed([text])[0])
            elif op_name == "edit":
                continue
            delta = -1 if op_name == "downvote" else 1
            db.adjust(namespace, target, votes=delta, conn=tx)
            votes[target] += delta
            db.bump(namespace, f"expel_{op_name}", 1, tx)
            applied += 1
            if votes[target] <= 0:
                tx.execute("UPDATE insights SET status='pruned' WHERE namespace=? AND id=?",
                           (namespace, target))
                db.bump(namespace, "expel_removed", 1, tx)
        if not applied:
            db.bump(namespace, "empty_reflections", 1, tx)
        db.set_step(namespace, step, phase="reflected",
                    contrast_id=success.id if success else None, conn=tx)
    db.invalidate(namespace)
