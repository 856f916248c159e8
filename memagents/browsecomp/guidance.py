"""The guidance agent's analysis: is the question unique, redundant, short-cut? What next?

:func:`analyze` formalizes a candidate as a :class:`~memagents.browsecomp.reasoning.
ReasoningGraph` and solves it against a :class:`~memagents.browsecomp.reasoning.FactBase`
(spec ``shared/docs/methods/browse_benchmarks.md`` §1.2, §6.4, §7):

- **uniqueness**: the solution set must be exactly the answer; more is underdetermination
  (``underdetermined``), none an inconsistency (``inconsistent``), another entity
  ``wrong_answer``;
- **redundancy**: drop each constraint; if the rest still pins the answer, it is redundant;
  :attr:`GuidanceReport.prunable` is a set that can go together without shortening the
  question (shallow branches first, so a shortcut goes, never the chain it short-cuts),
  which :func:`prune` removes;
- **shortcuts** (InfoSeek's overdetermination): a sub-question shallower than the whole
  (``constraint``: one clue; ``path``: one branch, possibly stopping early) that alone pins
  the answer, or a fact of the knowledge base linking a question's constant directly and
  uniquely to the answer although the question reaches it in several hops (``link``);
- **suggestions** for the next synthesis round, each with ready constraints: ``prune`` a
  redundant clue, ``obfuscate`` a constant into a variable with its own clue from the facts,
  ``add_constraint`` (or a complement) that restores uniqueness, ``fix`` a broken clue
  (the searches live in :mod:`memagents.browsecomp.steering`).

:func:`uniqueness_check` and :func:`shortcut_check` give the verdicts as
:class:`~memagents.browsecomp.candidate.CheckResult` (``reasoning_unique``, ``no_shortcut``).

Example:
    >>> from memagents.browsecomp.candidate import Constraint
    >>> from memagents.browsecomp.reasoning import FactBase
    >>> kb = FactBase([("Velm Press", "founded_by", "Ada"), ("Ada", "born_in", "Quessa"),
    ...                ("Ada", "occupation", "printer")])
    >>> c = Candidate(seed="Velm Press", question="Where was the printer who founded ...?",
    ...     answer="Ada", constraints=(
    ...     Constraint(id="c1", target=ANSWER, relation="founded_by", value="Velm Press",
    ...                inverse=True),
    ...     Constraint(id="c2", target=ANSWER, relation="occupation", value="printer")))
    >>> report = analyze(c, kb)
    >>> report.status, report.redundant, report.prunable
    ('unique', ('c1', 'c2'), ('c1',))
    >>> prune(c, report).constraints[0].id, uniqueness_check(c, kb, report).passed
    ('c2', True)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import networkx as nx

from memagents.browsecomp.candidate import ANSWER, Candidate, CheckResult
from memagents.browsecomp.reasoning import FactBase
from memagents.browsecomp.steering import Shortcut, Status, Steering, Suggestion

__all__ = [
    "GuidanceReport",
    "Shortcut",
    "Suggestion",
    "analyze",
    "prune",
    "shortcut_check",
    "uniqueness_check",
]

@dataclass(frozen=True, kw_only=True, slots=True)
class GuidanceReport:
    """What :func:`analyze` found.

    Attributes:
        answer: The candidate's answer.
        status: ``unique``, ``underdetermined``, ``inconsistent``, ``wrong_answer`` or
            ``invalid`` (see :attr:`problems`).
        answers: The entities satisfying every constraint (display names, sorted).
        redundant: Constraints whose removal still leaves exactly the answer.
        prunable: Redundant constraints that can be removed together (unique questions).
        shortcuts: Minimal shortcuts found.
        hops: The candidate's hop count.
        depth: The longest chain of constraints from ``?answer``.
        kinds: Each variable's operation (projection, intersection, complement).
        problems: Validation problems of the graph.
        suggestions: Steering for the next iteration.
    """

    answer: str
    status: Status
    answers: tuple[str, ...] = ()
    redundant: tuple[str, ...] = ()
    prunable: tuple[str, ...] = ()
    shortcuts: tuple[Shortcut, ...] = ()
    hops: int = 0
    depth: int = 0
    kinds: dict[str, str] = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    suggestions: tuple[Suggestion, ...] = ()

    @property
    def unique(self) -> bool:
        """Whether the constraints pin exactly the answer."""
        return self.status == "unique"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "unique": self.unique}

    def feedback(self) -> str:
        """The findings and suggestions as lines for the synthesis prompt."""
        head = (f"status: {self.status} ({len(self.answers)} answer(s)); depth {self.depth}, "
                f"{self.hops} hop(s)")
        lines = [head]
        lines += [f"problem: {p}" for p in self.problems]
        lines += [f"shortcut: {s.reason}" for s in self.shortcuts]
        lines += [f"redundant: {cid}" for cid in self.redundant]
        lines += [f"suggest {s.action}: {s.reason}" for s in self.suggestions]
        return "\n".join(lines)


def analyze(candidate: Candidate, kb: FactBase, *, limit: int = 3) -> GuidanceReport:
    """Formalize and solve a candidate; find redundancy and shortcuts; suggest the next step.

    Args:
        candidate: The candidate (its constraints are the graph).
        kb: The facts to solve against (exact: the sample world; or the hops' own facts).
        limit: Most suggestions of each kind (restoring uniqueness, obfuscating a constant).

    Returns:
        The report (status ``invalid`` with :attr:`~GuidanceReport.problems` when the graph
        is malformed; nothing else is computed then).
    """
    run = Steering(candidate, kb, limit)
    g = run.graph
    if not g.ok:
        return GuidanceReport(answer=candidate.answer, status="invalid", problems=g.problems,
                              hops=len(candidate.hops), suggestions=tuple(
                                  Suggestion(action="fix", reason=p) for p in g.problems))
    keys = run.solve()
    status = run.status(keys)
    redundant = tuple(cid for cid in run.ids if run.pins(run.solve([cid])))
    depth = g.depth()
    shortcuts = run.shortcuts(depth)
    prunable = run.prune_plan(redundant, depth) if status == "unique" else ()
    suggestions = run.suggest(status, keys, prunable, shortcuts)
    return GuidanceReport(answer=candidate.answer, status=status,
                          answers=tuple(sorted(kb.name(k) for k in keys)), redundant=redundant,
                          prunable=prunable, shortcuts=tuple(shortcuts),
                          hops=len(candidate.hops), depth=depth, kinds=g.kinds(),
                          suggestions=tuple(suggestions))


def prune(candidate: Candidate, report: GuidanceReport) -> Candidate:
    """The candidate without the report's prunable constraints (and the clues of variables
    only they reached). The question text stays as it is; a passed ``pruned`` check records
    what went, for the synthesis agent to rewrite the text."""
    if not report.prunable:
        return candidate
    kept = [c for c in candidate.constraints if c.id not in report.prunable]
    links = nx.DiGraph()
    links.add_node(ANSWER)
    links.add_edges_from((c.target, c.value) for c in kept)
    reach = nx.descendants(links, ANSWER) | {ANSWER}
    orphaned = tuple(c.id for c in kept if c.target not in reach)
    out = replace(candidate, constraints=tuple(c for c in kept if c.target in reach))
    return out.with_check(CheckResult(
        name="pruned", passed=True,
        reason=f"dropped {', '.join(report.prunable + orphaned)}; rewrite the question text "
        "without them",
        details={"dropped": list(report.prunable), "orphaned": list(orphaned)}))


_WHY = {
    "unique": "the constraints pin exactly the answer",
    "inconsistent": "no entity satisfies every constraint: a clue contradicts the facts",
}


def uniqueness_check(candidate: Candidate, kb: FactBase,
                     report: GuidanceReport | None = None) -> CheckResult:
    """``reasoning_unique``: the reasoning graph's solution is exactly the answer."""
    report = report or analyze(candidate, kb)
    shown = ", ".join(report.answers[:5])
    reason = _WHY.get(report.status) or {
        "underdetermined": f"{len(report.answers)} entities satisfy every constraint ({shown}"
                           f"{', ...' if len(report.answers) > 5 else ''}): add a clue that "
                           "tells the answer apart",
        "wrong_answer": f"the constraints pin {shown}, not the answer {candidate.answer!r}",
        "invalid": "the reasoning graph is invalid: " + " ".join(report.problems),
    }[report.status]
    return CheckResult(name="reasoning_unique", passed=report.unique, reason=reason, details={
        "status": report.status, "n_answers": len(report.answers),
        "answers": list(report.answers[:10]), "depth": report.depth, "hops": report.hops,
        "kinds": dict(report.kinds)})


def shortcut_check(candidate: Candidate, kb: FactBase, report: GuidanceReport | None = None,
                   *, allow_redundant: bool = False) -> CheckResult:
    """``no_shortcut``: no shallower sub-question or direct fact pins the answer, and (unless
    ``allow_redundant``) no constraint is redundant (a strict subset still pins it)."""
    report = report or analyze(candidate, kb)
    details = {"shortcuts": [asdict(s) for s in report.shortcuts],
               "redundant": list(report.redundant), "depth": report.depth}
    if report.status == "invalid":
        return CheckResult(name="no_shortcut", passed=False, details=details,
                           reason="the reasoning graph is invalid: " + " ".join(report.problems))
    if report.shortcuts:
        return CheckResult(name="no_shortcut", passed=False, details=details,
                           reason="shortcut: " + "; ".join(s.reason for s in report.shortcuts))
    if report.redundant and not allow_redundant:
        return CheckResult(name="no_shortcut", passed=False, details=details,
                           reason=f"redundant: without {', '.join(report.redundant)} the rest "
                           "still pins the answer; prune or rewrite")
    return CheckResult(name="no_shortcut", passed=True, details=details,
                       reason="no strict sub-question pins the answer")
