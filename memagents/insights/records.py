"""The insight store's records: problems, attempts, rollouts, insights and search hits.

* :class:`Problem`: a single-turn problem with its expected answer and how to verify it;
* :class:`Attempt`: what a solver produced (the answer and its trace: text, or the messages
  and tool calls of a LangGraph run);
* :class:`Rollout`: one recorded attempt (the problem, the insights injected, the reward);
* :class:`Insight`: a stored insight with its provenance and use statistics;
* :class:`InsightHit`: a search hit of the contract, adding the utility it was ranked by.

Example:
    >>> p = Problem.from_dict({"problem": "2 + 2 = ?", "answer": "4", "verifier": "numeric"})
    >>> p.id, p.verifier
    ('p-d326b9edba', 'numeric')
    >>> Problem.from_dict(p.to_dict()) == p
    True
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from memagents.base.results import Hit
from memagents.errors import InputError

__all__ = ["Attempt", "Insight", "InsightHit", "Problem", "Rollout", "problem_id"]


def problem_id(text: str) -> str:
    """The id a problem gets from its text when none is given.

    >>> problem_id("2 + 2 = ?")
    'p-d326b9edba'
    """
    return "p-" + hashlib.sha256(text.strip().encode("utf-8")).hexdigest()[:10]


@dataclass(frozen=True, kw_only=True)
class Problem:
    """A problem with a verifiable answer.

    Attributes:
        id: Stable id (default: derived from the text).
        text: The problem as the solver sees it.
        answer: The expected answer the built-in verifiers compare with (``None`` when a
            callback verifies).
        verifier: How to verify: ``"exact"``, ``"numeric"``, ``{"kind": "regex", "pattern":
            ...}``, ``{"kind": "unit_tests", "tests": ...}`` (see
            :mod:`memagents.insights.verifiers`), or ``None`` (exact match, or the callback
            given to training).
        tags: Free labels (a task family, say).
    """

    id: str
    text: str
    answer: str | None = None
    verifier: str | dict[str, Any] | None = None
    tags: tuple[str, ...] = ()

    @classmethod
    def of(cls, value: Any) -> Problem:
        """A problem from a :class:`Problem`, a mapping (:meth:`from_dict`) or a text."""
        if isinstance(value, Problem):
            return value
        if isinstance(value, str):
            if not value.strip():
                raise InputError("a problem text must not be empty.")
            return cls(id=problem_id(value), text=value.strip())
        if isinstance(value, Mapping):
            return cls.from_dict(value)
        raise InputError(f"a problem must be a Problem, a dict or a text, not "
                         f"{type(value).__name__}.")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Problem:
        """From ``{"id"?, "problem" | "text", "answer"?, "verifier"?, "tags"?}``."""
        text = data.get("problem", data.get("text"))
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"problem {dict(data)!r:.120} has no 'problem' text: give each "
                             "problem as {\"problem\": \"...\", \"answer\": \"...\"}.")
        answer = data.get("answer")
        if answer is not None and not isinstance(answer, str):
            answer = json.dumps(answer) if isinstance(answer, (list, dict)) else str(answer)
        pid = data.get("id")
        tags = data.get("tags") or ()
        if isinstance(tags, str):
            tags = (tags,)
        verifier = data.get("verifier")
        if verifier is not None and not isinstance(verifier, (str, Mapping)):
            raise InputError(f"problem {pid or text[:40]!r}: 'verifier' must be a name such as "
                             "'numeric' or an object such as {\"kind\": \"regex\", ...}.")
        return cls(id=str(pid) if pid not in (None, "") else problem_id(text), text=text.strip(),
                   answer=answer, verifier=dict(verifier) if isinstance(verifier, Mapping)
                   else verifier, tags=tuple(str(t) for t in tags))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible data (the inverse of :meth:`from_dict`)."""
        out: dict[str, Any] = {"id": self.id, "problem": self.text}
        if self.answer is not None:
            out["answer"] = self.answer
        if self.verifier is not None:
            out["verifier"] = self.verifier
        if self.tags:
            out["tags"] = list(self.tags)
        return out


@dataclass(kw_only=True)
class Attempt:
    """What a solver produced for a problem.

    Attributes:
        answer: The final answer (what the verifier checks).
        trace: The reasoning: a text, or the messages of a multi-step run (langchain
            messages or dicts, tool calls included); the reflection reads it.
        prompt_tokens: Tokens of the injected insight block (0 without insights).

    Example:
        >>> Attempt(answer="11", trace="11 posts: gaps + 1").answer
        '11'
    """

    answer: str
    trace: Any = ""
    prompt_tokens: int = 0


@dataclass(frozen=True, kw_only=True)
class Rollout:
    """One recorded attempt.

    Attributes:
        id: Deterministic id (``b:<problem>:<i>`` baseline, ``t:<step>`` training,
            ``a:<step>:<candidate>:<i>`` admission, ``o:<n>`` recorded online).
        kind: ``baseline``, ``train``, ``admission`` or ``online``.
        step: Training step (``None`` outside training).
        problem_id: The problem.
        insight_ids: The insights injected, in prompt order.
        answer: The final answer.
        trace: The trace as text (multi-step traces rendered).
        reward: The verifier's reward (0 when it failed).
        error: Why the verifier or the solver failed, if it did.
        baseline: ``b_p`` when the rollout was credited.
        insight_tokens: Tokens of the injected insight block.
        held_out: Insights selected but left out of the prompt (contrast credit).

    Example:
        >>> Rollout(id="t:1", kind="train", problem_id="p1", reward=1.0).correct
        True
    """

    id: str
    kind: str
    problem_id: str
    step: int | None = None
    insight_ids: tuple[str, ...] = ()
    answer: str = ""
    trace: str = ""
    reward: float = 0.0
    error: str | None = None
    baseline: float | None = None
    insight_tokens: int = 0
    held_out: tuple[str, ...] = ()

    @property
    def correct(self) -> bool:
        """True for a full reward (contrast material)."""
        return self.reward >= 1.0 - 1e-9


@dataclass(frozen=True, kw_only=True)
class Insight:
    """A stored insight.

    Attributes:
        id: Insight id.
        text: The insight.
        namespace: Where it lives.
        label: ``specific`` (a strategy for problems like its source) or ``meta`` (general).
        tags: Free labels.
        status: ``active`` (retrieved) or ``pruned`` (kept for the record, never retrieved).
        source: Provenance: how it was made (``reflection``, ``manual``, ``expel``), the step,
            the problem, the failed and the contrasting rollout.
        support: How often reflection proposed it again (duplicates merged into it).
        votes: ExpeL importance (upvotes − downvotes + initial); 0 for CORE insights.
        uses: Times it was injected into a credited rollout.
        utility: Mean utility ``r − b_p`` over those uses (``None`` before any use).
        created_at: Creation time (Unix seconds).
        metadata: What the user stored with it.

    Example:
        >>> Insight(id="i1", text="Count both ends.", namespace="default").status
        'active'
    """

    id: str
    text: str
    namespace: str
    label: str = "specific"
    tags: tuple[str, ...] = ()
    status: str = "active"
    source: dict[str, Any] = field(default_factory=dict)
    support: int = 1
    votes: int = 0
    uses: int = 0
    utility: float | None = None
    created_at: float = 0.0
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible data."""
        return {"id": self.id, "text": self.text, "namespace": self.namespace,
                "label": self.label, "tags": list(self.tags), "status": self.status,
                "source": dict(self.source), "support": self.support, "votes": self.votes,
                "uses": self.uses, "utility": self.utility, "created_at": self.created_at,
                "metadata": dict(self.metadata)}


@dataclass(frozen=True, kw_only=True, slots=True)
class InsightHit(Hit):
    """A search hit: an insight ranked for a problem.

    ``score`` is the insight's mean utility ``r − b_p`` on training problems similar to the
    problem (weighted by uses and, by default, by a similarity kernel, shrunk toward 0; 0
    without evidence), plus the exploration bonus when the search explores; ``similarity`` (cosine of the insight and the problem) breaks ties.
    The utility means the same for every query, so it is the stable score.

    Example:
        >>> hit = InsightHit(id="i1", text="Round up.", score=0.4, similarity=0.2, uses=3)
        >>> hit.stable_score(), hit.merge_key(), hit.scores()["uses"]
        (0.4, (0.4, 0.2), 3)
    """

    utility: float = 0.0
    bonus: float = 0.0
    similarity: float = 0.0
    uses: int = 0
    evidence: int = 0

    def merge_key(self) -> tuple[float, ...]:
        return (float(self.score or 0.0), self.similarity)

    def scores(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "score": self.score, "rank": self.rank,
                "utility": self.utility, "bonus": self.bonus, "similarity": self.similarity,
                "uses": self.uses, "evidence": self.evidence}


def as_problems(items: Sequence[Any]) -> list[Problem]:
    """Problems from problems, dicts or texts; ids must be unique."""
    problems = [Problem.of(item) for item in items]
    seen: set[str] = set()
    for p in problems:
        if p.id in seen:
            raise InputError(f"problem id {p.id!r} appears twice: give each problem its own id.")
        seen.add(p.id)
    return problems
