"""Verdicts and run reports of BrowseComp grading: pure data, no model.

A :class:`Verdict` is the grade of one response; a :class:`GradeReport` aggregates a run's
verdicts into accuracy (over every question: missing, unparsable and failed items count as
not correct), both calibration errors (:mod:`memagents.eval.calibration`), counts of missing
and malformed responses, and writes the reliability diagram. The judge that produces verdicts
is :class:`memagents.web.grading.BrowseCompGrader`; :meth:`GradeReport.from_dict` rebuilds a
report from its JSON (to recompute metrics of a saved run without calling the judge again).

Confidence per item: the judge's ``confidence:``, else the response's own ``Confidence:`` line,
100 when it states no number (the judge prompt's rule); ``None`` only without a response or a
judge call that failed. ``rms_calib_err_beta100`` is computed over the items with a verdict and
a confidence (as BrowseComp-Plus does); ``ece5`` over every item, an unknown confidence counting
0 and an unknown verdict as wrong (as BrowseComp-ZH does).

Example:
    >>> v = Verdict(correct=True, extracted_answer="Velmora", confidence=90.0)
    >>> GradeReport(verdicts=(v,)).accuracy
    1.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

from memagents.errors import InputError
from memagents.eval.calibration import (
    RMS_MODES,
    ece5,
    rms_calib_err_beta100,
    write_reliability_diagram,
)

__all__ = ["GradeReport", "Verdict", "VerdictStatus"]

VerdictStatus = Literal["judged", "exact_match", "missing", "unparsable", "error"]


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """The grade of one response.

    Attributes:
        id: The question's id (when graded from a run).
        correct: The judge's verdict; ``False`` for a missing response; ``None`` when the
            judge's reply had no verdict (``unparsable``) or the call failed (``error``).
        extracted_answer: The judge's ``extracted_final_answer`` (our parse of the
            ``Exact Answer`` line on the exact-match path), ``None`` when there is none.
        confidence: Percentage used for calibration (see the module), or ``None``.
        reasoning: The judge's reasoning.
        raw_reply: The judge's last reply, verbatim.
        status: ``judged``, ``exact_match``, ``missing``, ``unparsable`` or ``error``.
        reasks: Re-asks sent (0 or 1).
        response_answer: The response's own ``Exact Answer`` line (``None`` if absent).
        confidence_status: The response's confidence line: ``ok``, ``absent``,
            ``unparsable`` (``None`` for a missing response).
        confidence_source: ``judge`` or ``response`` (``None`` without a confidence).
        error: What failed, for ``error``.

    Example:
        >>> Verdict(correct=None, extracted_answer=None, confidence=None,
        ...         status="unparsable").counted_correct
        False
    """

    id: str | None = None
    correct: bool | None
    extracted_answer: str | None
    confidence: float | None
    reasoning: str | None = None
    raw_reply: str | None = None
    status: VerdictStatus = "judged"
    reasks: int = 0
    response_answer: str | None = None
    confidence_status: str | None = None
    confidence_source: str | None = None
    error: str | None = None

    @property
    def counted_correct(self) -> bool:
        """Whether the item counts towards accuracy (only an explicit ``yes`` does)."""
        return self.correct is True

    def to_dict(self) -> dict[str, Any]:
        """The verdict as a JSON-ready dict."""
        return asdict(self)



@dataclass(frozen=True, kw_only=True)
class GradeReport:
    """The grades of a run: accuracy, both calibration errors, counts, per-item verdicts.

    Example:
        >>> v = [Verdict(correct=True, extracted_answer="a", confidence=90.0),
        ...      Verdict(correct=False, extracted_answer=None, confidence=None,
        ...              status="missing")]
        >>> report = GradeReport(verdicts=tuple(v))
        >>> report.accuracy, report.missing_responses, round(report.ece5, 9)
        (0.5, 1, 5.0)
    """

    verdicts: tuple[Verdict, ...]
    rms_mode: str = "faithful"
    beta: int = 100
    unknown_answer_ids: tuple[str, ...] = ()
    judge: str | None = None
    llm_calls: int = 0

    def _count(self, **where: Any) -> int:
        return sum(all(getattr(v, k) == x for k, x in where.items()) for v in self.verdicts)

    def __post_init__(self) -> None:
        if self.rms_mode not in RMS_MODES:
            raise InputError(f"rms_mode {self.rms_mode!r} is not one of "
                             f"{', '.join(RMS_MODES)}.")
        object.__setattr__(self, "verdicts", tuple(self.verdicts))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GradeReport:
        """Rebuild a report from :meth:`to_dict` output (which must include the verdicts).

        >>> v = Verdict(correct=False, extracted_answer=None, confidence=40.0)
        >>> GradeReport.from_dict(GradeReport(verdicts=(v,)).to_dict()).ece5
        40.0
        """
        if not isinstance(data.get("verdicts"), list):
            raise InputError("the report has no verdicts: write it with to_dict(verdicts=True)"
                             " to rebuild it.")
        known = {f.name for f in fields(Verdict)}
        verdicts = tuple(Verdict(**{k: v for k, v in row.items() if k in known})
                         for row in data["verdicts"])
        rms = (data.get("calibration") or {}).get("rms_calib_err_beta100") or {}
        return cls(verdicts=verdicts, rms_mode=rms.get("mode", "faithful"),
                   beta=int(rms.get("beta", 100)),
                   unknown_answer_ids=tuple(data.get("unknown_answer_ids") or ()),
                   judge=data.get("judge"), llm_calls=int(data.get("llm_calls") or 0))

    @property
    def n(self) -> int:
        """Questions graded."""
        return len(self.verdicts)

    @property
    def correct(self) -> int:
        """Items graded correct."""
        return sum(v.counted_correct for v in self.verdicts)

    @property
    def accuracy(self) -> float:
        """Correct over all questions (NaN for none)."""
        return self.correct / self.n if self.n else math.nan

    @property
    def missing_responses(self) -> int:
        """Questions without a response."""
        return self._count(status="missing")

    @property
    def no_exact_answer(self) -> int:
        """Responses without an ``Exact Answer:`` line."""
        return sum(v.status != "missing" and v.response_answer is None for v in self.verdicts)

    @property
    def unparsable_confidence(self) -> int:
        """Responses whose ``Confidence:`` line holds no number."""
        return self._count(confidence_status="unparsable")

    @property
    def malformed_responses(self) -> int:
        """Responses with no ``Exact Answer:`` line or an unparsable confidence."""
        return sum(v.status != "missing" and (v.response_answer is None
                                              or v.confidence_status == "unparsable")
                   for v in self.verdicts)

    @property
    def unparsable_judge(self) -> int:
        """Judge replies without a verdict even after the re-ask (counted as not correct)."""
        return self._count(status="unparsable")

    @property
    def judge_errors(self) -> int:
        """Items whose judge call failed (counted as not correct)."""
        return self._count(status="error")

    @property
    def exact_matches(self) -> int:
        """Items graded by the exact-match fast path."""
        return self._count(status="exact_match")

    @property
    def reasks(self) -> int:
        """Re-asks sent to the judge."""
        return sum(v.reasks for v in self.verdicts)

    def _rms_items(self) -> tuple[list[float], list[bool]]:
        pairs = [(v.confidence, bool(v.correct)) for v in self.verdicts
                 if v.correct is not None and v.confidence is not None and v.status != "missing"]
        return [c for c, _ in pairs], [ok for _, ok in pairs]

    @property
    def rms_calib_err_beta100(self) -> float:
        """BrowseComp-Plus's calibration error in :attr:`rms_mode` (NaN when undefined)."""
        conf, ok = self._rms_items()
        return rms_calib_err_beta100(conf, ok, beta=self.beta,
                                     mode=self.rms_mode)  # type: ignore[arg-type]

    @property
    def ece5(self) -> float:
        """BrowseComp-ZH's five-bin calibration error over every item."""
        return ece5([v.confidence for v in self.verdicts],
                    [v.counted_correct for v in self.verdicts])

    def calibration(self) -> dict[str, dict[str, Any]]:
        """Both calibration errors, each with what it was computed over."""
        rms_n, rms = len(self._rms_items()[0]), self.rms_calib_err_beta100
        skipped = ("last bin skipped, as the reference" if self.rms_mode == "faithful"
                   else "every bin counted")
        rms_note = (f"{skipped}; bins of {self.beta} items by confidence; items with a verdict "
                    "and a confidence")
        if math.isnan(rms):
            rms_note += f"; undefined with {rms_n} item(s)"
        return {
            "rms_calib_err_beta100": {"value": rms, "mode": self.rms_mode,
                                      "beta": self.beta, "n": rms_n, "note": rms_note},
            "ece5": {"value": self.ece5, "n": self.n,
                     "note": "five fixed bins; every item, unknown confidence as 0"},
        }

    def to_dict(self, *, verdicts: bool = True) -> dict[str, Any]:
        """The report as a JSON-ready dict (NaN where a metric is undefined)."""
        out: dict[str, Any] = {
            "n": self.n, "correct": self.correct, "accuracy": self.accuracy,
            "calibration": self.calibration(),
            "counts": {"missing_responses": self.missing_responses,
                       "malformed_responses": self.malformed_responses,
                       "no_exact_answer": self.no_exact_answer,
                       "unparsable_confidence": self.unparsable_confidence,
                       "unparsable_judge": self.unparsable_judge,
                       "judge_errors": self.judge_errors, "exact_matches": self.exact_matches,
                       "reasks": self.reasks,
                       "unknown_answer_ids": len(self.unknown_answer_ids)},
            "judge": self.judge, "llm_calls": self.llm_calls,
        }
        if self.unknown_answer_ids:
            out["unknown_answer_ids"] = list(self.unknown_answer_ids)
        if verdicts:
            out["verdicts"] = [v.to_dict() for v in self.verdicts]
        return out

    def write_diagram(self, path: str | Path, *, bins: int = 10) -> Path:
        """Write the reliability diagram (``.svg`` or ``.png``) of the items with a verdict and
        a confidence, titled with both calibration errors."""
        conf, ok = self._rms_items()
        rms = _pct(self.rms_calib_err_beta100)
        notes = [(f"accuracy {self.accuracy:.3f} over {self.n} question(s); bars: the "
                  f"{len(conf)} with a verdict and a confidence"),
                 f"rms_calib_err_beta100 ({self.rms_mode}) {rms}; ece5 {_pct(self.ece5)}"]
        return write_reliability_diagram(path, conf, ok, bins=bins,
                                         title="BrowseComp reliability diagram", notes=notes)


def _pct(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}%"


