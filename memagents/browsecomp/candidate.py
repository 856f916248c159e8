"""The data a synthesized browse question carries through every stage: hops, evidence,
constraints and the verdicts of the checks.

A :class:`Candidate` is built by the synthesis agent from a seed entity: a chain of
:class:`Hop` facts, each supported by :class:`Evidence` (a verbatim quote of a page the agent
fetched, with the page's URL, domain, fetch time, publication date and content hash), and the
question's clues as :class:`Constraint` rows over entity variables (``?answer``, ``?x1``...)
and constants (named entities). The filtering and guidance agents and the final gates append
:class:`CheckResult` verdicts; a release keeps everything (spec:
``shared/docs/methods/browse_benchmarks.md`` §1, §7).

Everything is a frozen value with ``to_dict`` / ``from_dict`` (plain JSON), so candidates travel
through LangGraph state and checkpoints and into release files unchanged.

Example:
    >>> ev = Evidence(url="https://wiki.quessa.test/velm", quote="Velm Press was founded by Ada",
    ...               fetched_at="2026-12-03T10:00:00Z", published="2026-02-01")
    >>> hop = Hop(subject="Velm Press", relation="founded_by", object="Ada Korvin",
    ...           evidence=(ev,), fresh=True)
    >>> c = Candidate(seed="Velm Press", question="Which printer founded ...?",
    ...               answer="Ada Korvin", hops=(hop,), anchor="2026-01-01")
    >>> c = c.with_check(CheckResult(name="quotes", passed=True))
    >>> c.status, ev.domain, Candidate.from_dict(c.to_dict()) == c
    ('pending', 'wiki.quessa.test', True)
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal
from urllib.parse import urlsplit

__all__ = [
    "ANSWER",
    "Candidate",
    "CheckResult",
    "Constraint",
    "Evidence",
    "Hop",
    "normalize_text",
]

ANSWER = "?answer"
"""The variable of the answer in a question's constraints."""

Status = Literal["pending", "accepted", "rejected"]


def normalize_text(text: str) -> str:
    """Casefolded, accent-free, whitespace-collapsed text (for dedup and quote matching).

    >>> normalize_text("  Café  Velm\\n Press ")
    'cafe velm press'
    """
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(plain.casefold().split())


@dataclass(frozen=True, kw_only=True, slots=True)
class Evidence:
    """A verbatim quote of a fetched page supporting one fact.

    Attributes:
        url: The page's URL (after redirects).
        quote: Text copied from the page's extracted text.
        fetched_at: When the page was fetched (ISO 8601, UTC).
        published: The page's publication or revision date (``YYYY-MM-DD``), if known.
        sha256: Hash of the fetched content, to tell later whether the page changed.
        domain: The page's host (derived from ``url`` when not given).
    """

    url: str
    quote: str
    fetched_at: str = ""
    published: str | None = None
    sha256: str | None = None
    domain: str = ""

    def __post_init__(self) -> None:
        if not self.domain:
            object.__setattr__(self, "domain", (urlsplit(self.url).hostname or "").lower())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evidence:
        return cls(**data)


@dataclass(frozen=True, kw_only=True, slots=True)
class Hop:
    """One fact of the chain, ``subject --relation--> object``, with its evidence.

    Attributes:
        subject / relation / object: The fact (entity names; ``relation`` a short label).
        evidence: Quotes supporting it (credibility wants two independent domains).
        fresh: Whether the fact is new knowledge against the time anchor (its evidence was
            published on or after the anchor); ``None`` when no date is known.
    """

    subject: str
    relation: str
    object: str
    evidence: tuple[Evidence, ...] = ()
    fresh: bool | None = None

    def domains(self) -> tuple[str, ...]:
        """Distinct domains of the evidence, in order."""
        return tuple(dict.fromkeys(e.domain for e in self.evidence if e.domain))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["evidence"] = [e.to_dict() for e in self.evidence]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Hop:
        data = dict(data)
        data["evidence"] = tuple(Evidence.from_dict(e) for e in data.get("evidence") or ())
        return cls(**data)


@dataclass(frozen=True, kw_only=True, slots=True)
class Constraint:
    """A clue of the question: ``target --relation--> value`` (or its complement).

    ``target`` is a variable (``?answer``, ``?x1``...); ``value`` is a variable or an entity
    constant. ``inverse`` reads the fact the other way (``value --relation--> target``);
    ``negated`` makes it a complement ("not founded by ..."). ``hop`` is the index of the
    supporting hop, when the clue comes from one.
    """

    id: str
    target: str
    relation: str
    value: str
    inverse: bool = False
    negated: bool = False
    hop: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Constraint:
        return cls(**data)


@dataclass(frozen=True, kw_only=True, slots=True)
class CheckResult:
    """The verdict of one check on a candidate.

    Attributes:
        name: The check (``quotes``, ``credibility``, ``popularity``, ``closed_book``,
            ``shortcut``, ``uniqueness``, ``solvable``, ``freshness``...).
        passed: Whether the candidate passed.
        reason: Why it failed (or a short note).
        details: Numbers behind the verdict (counts, scores, samples).
    """

    name: str
    passed: bool
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        return cls(**data)


@dataclass(frozen=True, kw_only=True, slots=True)
class Candidate:
    """A browse question under construction, with everything needed to verify it again.

    Attributes:
        seed: The seed entity the synthesis started from.
        question: The (obfuscated) question text.
        answer: The short answer.
        aliases: Other accepted spellings of the answer.
        hops: The fact chain, in reasoning order.
        constraints: The question's clues (the reasoning graph's edges).
        anchor: The time anchor (``YYYY-MM-DD``) freshness is judged against.
        checks: Verdicts so far, in order.
        iteration: Guidance rounds spent on this seed.
        status: ``pending``, ``accepted`` or ``rejected``.
    """

    seed: str
    question: str
    answer: str
    aliases: tuple[str, ...] = ()
    hops: tuple[Hop, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    anchor: str = ""
    checks: tuple[CheckResult, ...] = ()
    iteration: int = 0
    status: Status = "pending"

    @property
    def id(self) -> str:
        """A stable id: hash of the normalized question and answer (dedup key)."""
        key = f"{normalize_text(self.question)}\x1f{normalize_text(self.answer)}"
        return "q-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]

    def check(self, name: str) -> CheckResult | None:
        """The last verdict of check ``name``, if it ran."""
        return next((c for c in reversed(self.checks) if c.name == name), None)

    @property
    def failed(self) -> tuple[CheckResult, ...]:
        """Checks that failed (latest verdict per check)."""
        latest = {c.name: c for c in self.checks}
        return tuple(c for c in latest.values() if not c.passed)

    def with_check(self, result: CheckResult) -> Candidate:
        """A copy with ``result`` appended (a failed check rejects the candidate)."""
        status: Status = "rejected" if not result.passed else self.status
        return replace(self, checks=(*self.checks, result), status=status)

    def evidence(self) -> tuple[Evidence, ...]:
        """Every evidence quote of every hop."""
        return tuple(e for h in self.hops for e in h.evidence)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "seed": self.seed, "question": self.question, "answer": self.answer,
            "aliases": list(self.aliases), "hops": [h.to_dict() for h in self.hops],
            "constraints": [c.to_dict() for c in self.constraints], "anchor": self.anchor,
            "checks": [c.to_dict() for c in self.checks], "iteration": self.iteration,
            "status": self.status,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Candidate:
        data = {k: v for k, v in data.items() if k != "id"}
        data["aliases"] = tuple(data.get("aliases") or ())
        data["hops"] = tuple(Hop.from_dict(h) for h in data.get("hops") or ())
        data["constraints"] = tuple(Constraint.from_dict(c)
                                    for c in data.get("constraints") or ())
        data["checks"] = tuple(CheckResult.from_dict(c) for c in data.get("checks") or ())
        return cls(**data)
