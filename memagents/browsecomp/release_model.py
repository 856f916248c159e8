"""The values of a benchmark release: canary, stage counts, manifest info, the clear view.

What :mod:`memagents.browsecomp.release` writes and reads, without the file handling.

**What stays in clear** in a release's ``metadata.jsonl`` (:func:`clear_view`; our decision,
spec §8): only what cannot reproduce a question or its answer: the id (a hash of the
normalized question and answer), the question key (a hash of the normalized question), the
anchor, status and guidance rounds, per hop the freshness flag and the number of distinct
domains, per evidence the publication and fetch dates, the check names and verdicts, and the
shape of each constraint (its variables, ``inverse``/``negated``, its hop, whether it touches
the answer). Everything written from the web or by the model is **sealed** (the whole
``Candidate.to_dict`` encrypted with the canary, :func:`sealed_line`): the seed, question,
answer and aliases, hop subjects, relations and objects, URLs and host names (a host can name
the answer), quotes, constant values, and the checks' reasons and details (a closed-book
sample can hold the answer).

Example:
    >>> from memagents.browsecomp.candidate import Candidate
    >>> c = Candidate(seed="Velm", question="Which press?", answer="Ada Korvin")
    >>> line = sealed_line(c, new_canary())
    >>> "Ada" in line, clear_view(c)["id"] == c.id
    (False, True)
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from memagents.browsecomp.candidate import ANSWER, Candidate, normalize_text
from memagents.errors import InputError
from memagents.eval.browsecomp import encrypt
from memagents.eval.browsecomp_files import BrowseQuestion

__all__ = [
    "CANARY_PREFIX",
    "Dropped",
    "EmptyReleaseError",
    "Release",
    "ReleaseError",
    "ReleaseInfo",
    "StageCount",
    "clear_view",
    "file_sha256",
    "iso_utc",
    "new_canary",
    "question_key",
    "sealed_line",
]

CANARY_PREFIX = "BENCHMARK DATA SHOULD NEVER APPEAR AS PLAIN TEXT ONLINE. canary GUID memagents:"


class ReleaseError(InputError):
    """A release folder is missing, damaged, tampered with, or would be overwritten."""


class EmptyReleaseError(ReleaseError):
    """Nothing is left to release (every candidate was rejected or a duplicate)."""

    def __init__(self, message: str, dropped: Sequence[Dropped] = ()) -> None:
        super().__init__(message)
        self.dropped = tuple(dropped)


def new_canary() -> str:
    """A BrowseComp-style canary string with a fresh GUID.

    >>> new_canary().startswith(CANARY_PREFIX), new_canary() != new_canary()
    (True, True)
    """
    return CANARY_PREFIX + str(uuid.uuid4())


def question_key(question: str) -> str:
    """Hash of the normalized question text (dedup of a question asked with another answer).

    >>> question_key("Which  PORT?") == question_key("which port?")
    True
    """
    return "k-" + hashlib.sha256(normalize_text(question).encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True, kw_only=True)
class StageCount:
    """How many candidates entered a stage (a check) and how many it rejected.

    Example:
        >>> StageCount.from_stats({"entered:quotes": 5, "rejected:quotes": 2})[0].passed
        3
    """

    stage: str
    entered: int
    rejected: int

    @property
    def passed(self) -> int:
        return self.entered - self.rejected

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "entered": self.entered, "rejected": self.rejected,
                "passed": self.passed}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StageCount:
        return cls(stage=str(data["stage"]), entered=int(data["entered"]),
                   rejected=int(data["rejected"]))

    @classmethod
    def from_stats(cls, stats: Mapping[str, int]) -> tuple[StageCount, ...]:
        """Stages from ``entered:<check>`` / ``rejected:<check>`` counters, in entry order."""
        names = [k.split(":", 1)[1] for k in stats if k.startswith("entered:")]
        return tuple(cls(stage=n, entered=int(stats[f"entered:{n}"]),
                         rejected=int(stats.get(f"rejected:{n}", 0))) for n in names)

    @classmethod
    def from_candidates(cls, candidates: Iterable[Candidate]) -> tuple[StageCount, ...]:
        """Stages from the candidates' own check verdicts (latest verdict per check)."""
        entered: dict[str, int] = {}
        rejected: dict[str, int] = {}
        for c in candidates:
            for check in {r.name: r for r in c.checks}.values():
                entered[check.name] = entered.get(check.name, 0) + 1
                rejected[check.name] = rejected.get(check.name, 0) + (not check.passed)
        return tuple(cls(stage=n, entered=k, rejected=rejected[n]) for n, k in entered.items())


@dataclass(frozen=True, kw_only=True)
class ReleaseInfo:
    """What the manifest says about how a release was made.

    Attributes:
        model: The model spec the agents used.
        settings: The run's settings (plain JSON).
        stages: Counts per filter stage; empty: derived from the candidates' checks.
        web: The web it was synthesized from (backends, an offline snapshot's index and date).
        extra: Anything else worth keeping (plain JSON).

    Example:
        >>> ReleaseInfo.coerce({"model": "openai:gpt-4o-mini", "stats": {"entered:x": 1}}).stages
        (StageCount(stage='x', entered=1, rejected=0),)
    """

    model: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    stages: tuple[StageCount, ...] = ()
    web: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def coerce(cls, info: ReleaseInfo | Mapping[str, Any] | None) -> ReleaseInfo:
        """From a :class:`ReleaseInfo`, ``None``, or a mapping (``stats`` counters accepted)."""
        if info is None or isinstance(info, ReleaseInfo):
            return info or cls()
        data = dict(info)
        stages = tuple(s if isinstance(s, StageCount) else StageCount.from_dict(s)
                       for s in data.pop("stages", ()) or ())
        stages = stages or StageCount.from_stats(data.pop("stats", {}) or {})
        data.pop("stats", None)
        known = {k: data.pop(k) for k in ("model", "settings", "web", "extra") if k in data}
        extra = {**dict(known.pop("extra", {}) or {}), **data}
        return cls(stages=stages, extra=extra, **known)


@dataclass(frozen=True, kw_only=True)
class Dropped:
    """A candidate left out of a release: why, and which release already has it.

    Example:
        >>> Dropped(id="q-1", reason="duplicate_question", release="v1").to_dict()["reason"]
        'duplicate_question'
    """

    id: str
    reason: str
    release: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "reason": self.reason, "release": self.release}


@dataclass(frozen=True, kw_only=True)
class Release:
    """A release read back (or just written): its candidates are decrypted, in memory only.

    Example:
        >>> Release(path=Path("v1"), version="v1", manifest={"canary": "c"}).canary
        'c'
    """

    path: Path
    version: str
    manifest: Mapping[str, Any]
    candidates: tuple[Candidate, ...] = ()
    dropped: tuple[Dropped, ...] = ()

    @property
    def canary(self) -> str:
        return str(self.manifest["canary"])

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self.manifest.get("ids", ()))

    def questions(self) -> list[BrowseQuestion]:
        """The questions as the grader reads them (id = the candidate id)."""
        return [BrowseQuestion(id=c.id, question=c.question, answer=c.answer)
                for c in self.candidates]


def clear_view(c: Candidate) -> dict[str, Any]:
    """The part of a candidate kept in clear (see the module docstring for the rule).

    >>> clear_view(Candidate(seed="s", question="q", answer="a"))["hops"]
    []
    """
    return {
        "id": c.id, "question_key": question_key(c.question), "anchor": c.anchor,
        "status": c.status, "iteration": c.iteration,
        "hops": [{"fresh": h.fresh, "domains": len(h.domains()),
                  "evidence": [{"published": e.published, "fetched_at": e.fetched_at}
                               for e in h.evidence]} for h in c.hops],
        "constraints": [{"id": k.id, "target": k.target, "inverse": k.inverse,
                         "negated": k.negated, "hop": k.hop,
                         "value": k.value if k.value.startswith("?") else None,
                         "answer": ANSWER in (k.target, k.value)} for k in c.constraints],
        "checks": [{"name": r.name, "passed": r.passed} for r in c.checks],
    }


def sealed_line(c: Candidate, canary: str) -> str:
    sealed = encrypt(json.dumps(c.to_dict(), ensure_ascii=False, sort_keys=True), canary)
    return json.dumps({"id": c.id, "clear": clear_view(c), "sealed": sealed},
                      ensure_ascii=False) + "\n"


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def iso_utc(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
