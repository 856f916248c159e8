"""Calibration error of self-stated confidence, in the two incompatible published definitions,
and a reliability diagram.

BrowseComp reports "Calibration Error (%)" without a formula (spec
``shared/docs/methods/browse_benchmarks.md`` §2.3); two implementations are in use, and their
numbers do not compare. Both are here, under explicit names; confidences are percentages in
[0, 100] and results are percentages.

* :func:`rms_calib_err_beta100`: BrowseComp-Plus (``scripts_evaluation/evaluate_run.py``,
  ``calib_err`` from hendrycks/outlier-exposure, also used by HLE). Sort by confidence; bins of
  ``beta`` = 100 consecutive items, the last bin absorbing the remainder (``N // beta`` bins);
  CE = sqrt(sum_b (n_b / N) (mean_conf_b - acc_b)^2) x 100. **Quirk**: the reference loop runs
  over ``range(len(bins) - 1)``, so the last bin never counts (with 100-199 items the error is
  0; under 100 items the reference raises). ``mode="faithful"`` (the default, so numbers
  compare with published ones) keeps the quirk; ``mode="corrected"`` counts every bin (and
  makes one bin of fewer than ``beta`` items). Ties are ordered by numpy's default ``argsort``
  (both modes), as in the reference, so with tied confidences across a bin boundary the value
  depends on the input order there too.
* :func:`ece5`: BrowseComp-ZH (``run_acc_calibration_error.py``). Five fixed bins
  [0,20) [20,40) [40,60) [60,80) [80,101); L1: ECE = sum_b (n_b / N) |acc_b - conf_b| x 100;
  an unparsable confidence (``None``) counts as 0. (The reference reads confidences with
  ``int()``, so "85.5%" would become 0 there; we read 85.5.)

Example:
    >>> ece5([10, 90], [False, True])
    10.0
    >>> round(rms_calib_err_beta100([10, 90], [False, True], beta=1), 4)  # bins {10}, skipped {90}
    7.0711
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from xml.sax.saxutils import escape

from memagents.errors import ConfigError, InputError

__all__ = [
    "CALIBRATION_METRICS",
    "ECE5_BINS",
    "RMS_MODES",
    "ReliabilityBin",
    "ece5",
    "reliability_bins",
    "reliability_svg",
    "rms_calib_err_beta100",
    "write_reliability_diagram",
]

#: The metric names, as reports and the command line spell them.
CALIBRATION_METRICS = ("rms_calib_err_beta100", "ece5")
#: ``faithful``: the reference's loop, last bin skipped; ``corrected``: every bin counted.
RMS_MODES = ("faithful", "corrected")
RmsMode = Literal["faithful", "corrected"]
#: BrowseComp-ZH's confidence bins (percent; the last one closed at 100).
ECE5_BINS = ((0, 20), (20, 40), (40, 60), (60, 80), (80, 101))


def _percent(value: object, where: str) -> float:
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"{where}: confidence {value!r} is not a number.") from None
    if not 0.0 <= x <= 100.0:  # also NaN
        raise InputError(f"{where}: confidence {value!r} is outside [0, 100]; pass "
                         "percentages.")
    return x


def _check(confidences: Sequence[object], correct: Sequence[bool]) -> None:
    if len(confidences) != len(correct):
        raise InputError(f"{len(confidences)} confidences for {len(correct)} outcomes: pass "
                         "one confidence per graded item.")


def rms_calib_err_beta100(confidences: Sequence[float], correct: Sequence[bool], *,
                          beta: int = 100, mode: RmsMode = "faithful") -> float:
    """RMS calibration error over bins of ``beta`` items sorted by confidence (percent).

    Args:
        confidences: Percentages in [0, 100].
        correct: Whether each item was graded correct.
        beta: Items per bin (100 in every published number).
        mode: ``faithful`` (last bin skipped, as the reference) or ``corrected``.

    Returns:
        The error in percent; NaN when undefined (no items, or fewer than ``beta`` in
        ``faithful`` mode, where the reference raises an IndexError).

    >>> rms_calib_err_beta100([10, 90], [False, True], beta=1, mode="corrected")
    10.0
    """
    _check(confidences, correct)
    if mode not in RMS_MODES:
        raise InputError(f"mode {mode!r} is not one of {', '.join(RMS_MODES)}.")
    if beta < 1:
        raise InputError(f"beta must be >= 1, not {beta}.")
    conf = [_percent(c, f"item {i}") / 100.0 for i, c in enumerate(confidences)]
    n = len(conf)
    if n == 0 or (mode == "faithful" and n < beta):
        return math.nan
    import numpy as np

    # numpy's default argsort, as the reference: both modes share the bins
    order = [int(i) for i in np.argsort(np.asarray(conf, dtype=float))]
    count = max(n // beta, 1)
    bins = [[i * beta, (i + 1) * beta] for i in range(count)]
    bins[-1][1] = n
    used = bins[:-1] if mode == "faithful" else bins
    total = 0.0
    for lo, hi in used:
        members = order[lo:hi]
        mean_conf = sum(conf[i] for i in members) / len(members)
        accuracy = sum(bool(correct[i]) for i in members) / len(members)
        total += len(members) / n * (mean_conf - accuracy) ** 2
    return math.sqrt(total) * 100.0


def ece5(confidences: Sequence[float | None], correct: Sequence[bool]) -> float:
    """BrowseComp-ZH's L1 calibration error over five fixed confidence bins (percent).

    ``None`` (an unparsable confidence) counts as 0. NaN for no items.

    >>> ece5([None, 30], [False, True])  # bin [0,20): |0 - 0| ; bin [20,40): |1 - 0.3| / 2
    35.0
    """
    _check(confidences, correct)
    n = len(confidences)
    if n == 0:
        return math.nan
    sums = [[0, 0, 0.0] for _ in ECE5_BINS]  # items, correct, confidence sum
    for i, (c, ok) in enumerate(zip(confidences, correct, strict=True)):
        value = 0.0 if c is None else _percent(c, f"item {i}")
        slot = sums[min(int(value // 20), len(ECE5_BINS) - 1)]
        slot[0] += 1
        slot[1] += bool(ok)
        slot[2] += value
    error = 0.0
    for items, right, conf_sum in sums:
        if items:
            error += items / n * abs(right / items - conf_sum / items / 100.0)
    return error * 100.0


@dataclass(frozen=True, kw_only=True)
class ReliabilityBin:
    """One bar of a reliability diagram: items whose confidence lies in [low, high).

    Example:
        >>> ReliabilityBin(low=80, high=100, n=4, confidence=90.0, accuracy=0.5).gap
        40.0
    """

    low: float
    high: float
    n: int
    confidence: float
    accuracy: float

    @property
    def gap(self) -> float:
        """Mean confidence minus accuracy, in percentage points (positive: overconfident)."""
        return self.confidence - 100.0 * self.accuracy


def reliability_bins(confidences: Sequence[float], correct: Sequence[bool], *,
                     bins: int = 10) -> list[ReliabilityBin]:
    """Equal-width confidence bins (the last one closed at 100); empty bins are left out.

    >>> [(b.low, b.n, b.accuracy) for b in reliability_bins([5, 95, 99], [1, 1, 0], bins=2)]
    [(0.0, 1, 1.0), (50.0, 2, 0.5)]
    """
    _check(confidences, correct)
    if bins < 1:
        raise InputError(f"bins must be >= 1, not {bins}.")
    width = 100.0 / bins
    groups: list[list[tuple[float, bool]]] = [[] for _ in range(bins)]
    for i, (c, ok) in enumerate(zip(confidences, correct, strict=True)):
        value = _percent(c, f"item {i}")
        groups[min(int(value // width), bins - 1)].append((value, bool(ok)))
    return [ReliabilityBin(low=k * width, high=(k + 1) * width, n=len(g),
                           confidence=sum(v for v, _ in g) / len(g),
                           accuracy=sum(ok for _, ok in g) / len(g))
            for k, g in enumerate(groups) if g]


_W, _H = 560, 500
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 24, 64, 58
_BAR, _GAP, _DIAG = "#1f77b4", "#d62728", "#7f7f7f"


def reliability_svg(bins: Sequence[ReliabilityBin], *, title: str = "Reliability diagram",
                    notes: Sequence[str] = ()) -> str:
    """The diagram as an SVG document: accuracy per confidence bin (bars, item counts on top),
    each bin's mean confidence (red tick), the diagonal of perfect calibration.

    >>> import xml.etree.ElementTree as ET
    >>> svg = reliability_svg(reliability_bins([20, 80, 90], [0, 1, 0]), notes=["ece5: 40%"])
    >>> ET.fromstring(svg).tag
    '{http://www.w3.org/2000/svg}svg'
    """
    pw, ph = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM

    def sx(percent: float) -> float:
        return round(_LEFT + percent / 100.0 * pw, 2)

    def sy(fraction: float) -> float:
        return round(_TOP + ph - fraction * ph, 2)

    out = [
        (f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" '
         f'viewBox="0 0 {_W} {_H}" font-family="sans-serif" font-size="12">'),
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{_W}" height="{_H}" fill="white"/>',
        f'<text x="{_W / 2}" y="22" text-anchor="middle" font-size="15">{escape(title)}</text>',
    ]
    for j, note in enumerate(notes[:2]):
        out.append(f'<text x="{_W / 2}" y="{40 + 14 * j}" text-anchor="middle" '
                   f'font-size="11" fill="#444">{escape(note)}</text>')
    for k in range(6):
        p = 20 * k
        out.append(f'<line x1="{sx(p)}" y1="{_TOP}" x2="{sx(p)}" y2="{_TOP + ph}" '
                   'stroke="#e5e5e5"/>')
        out.append(f'<text x="{sx(p)}" y="{_TOP + ph + 18}" text-anchor="middle">{p}%</text>')
        out.append(f'<line x1="{_LEFT}" y1="{sy(p / 100)}" x2="{_LEFT + pw}" y2="{sy(p / 100)}"'
                   ' stroke="#e5e5e5"/>')
        out.append(f'<text x="{_LEFT - 8}" y="{sy(p / 100) + 4}" text-anchor="end">'
                   f"{p / 100:.1f}</text>")
    for b in bins:
        x0, x1 = sx(b.low) + 1, sx(b.high) - 1
        tip = (f"confidence {b.low:g}-{b.high:g}%: {b.n} item(s), accuracy {b.accuracy:.3f}, "
               f"mean confidence {b.confidence:.1f}%")
        out.append(f'<rect x="{x0}" y="{sy(b.accuracy)}" width="{round(x1 - x0, 2)}" '
                   f'height="{round(sy(0) - sy(b.accuracy), 2)}" fill="{_BAR}" '
                   f'fill-opacity="0.75"><title>{escape(tip)}</title></rect>')
        out.append(f'<line x1="{x0}" y1="{sy(b.confidence / 100)}" x2="{x1}" '
                   f'y2="{sy(b.confidence / 100)}" stroke="{_GAP}" stroke-width="2"/>')
        out.append(f'<text x="{round((x0 + x1) / 2, 2)}" y="{sy(b.accuracy) - 4}" '
                   f'text-anchor="middle" font-size="10">{b.n}</text>')
    out.append(f'<line x1="{sx(0)}" y1="{sy(0)}" x2="{sx(100)}" y2="{sy(1)}" '
               f'stroke="{_DIAG}" stroke-dasharray="5,4"/>')
    out.append(f'<rect x="{_LEFT}" y="{_TOP}" width="{pw}" height="{ph}" fill="none" '
               'stroke="black"/>')
    out.append(f'<text x="{_LEFT + pw / 2}" y="{_H - 14}" text-anchor="middle">'
               "stated confidence</text>")
    out.append(f'<text x="18" y="{_TOP + ph / 2}" text-anchor="middle" '
               f'transform="rotate(-90 18 {_TOP + ph / 2})">accuracy</text>')
    lx, ly = _LEFT + 10, _TOP + 16
    out.append(f'<rect x="{lx}" y="{ly - 9}" width="12" height="10" fill="{_BAR}"/>'
               f'<text x="{lx + 18}" y="{ly}">accuracy (count on top)</text>')
    out.append(f'<line x1="{lx}" y1="{ly + 12}" x2="{lx + 12}" y2="{ly + 12}" stroke="{_GAP}" '
               f'stroke-width="2"/><text x="{lx + 18}" y="{ly + 16}">mean confidence</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_reliability_diagram(path: str | Path, confidences: Sequence[float],
                              correct: Sequence[bool], *, bins: int = 10,
                              title: str = "Reliability diagram",
                              notes: Sequence[str] = ()) -> Path:
    """Write the diagram to ``path``: ``.svg`` needs nothing, ``.png`` needs matplotlib.

    Raises:
        InputError: another file extension, or confidences outside [0, 100].
        ConfigError: ``.png`` without matplotlib installed.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".svg", ".png"):
        raise InputError(f"cannot write a reliability diagram as {path.name!r}: use a .svg or "
                         ".png file name.")
    table = reliability_bins(confidences, correct, bins=bins)
    if suffix == ".svg":
        path.write_text(reliability_svg(table, title=title, notes=notes), encoding="utf-8")
        return path
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError("PNG reliability diagrams need matplotlib (pip install "
                          "'memagents[web]' or pip install matplotlib); write a .svg file "
                          "instead, which needs nothing.") from None
    fig, ax = plt.subplots(figsize=(5.6, 5.0), dpi=150)
    width = 100.0 / bins
    ax.bar([b.low for b in table], [b.accuracy for b in table], width=width * 0.96,
           align="edge", color=_BAR, alpha=0.75, label="accuracy")
    ax.hlines([b.confidence / 100 for b in table], [b.low for b in table],
              [b.high for b in table], colors=_GAP, linewidth=2, label="mean confidence")
    for b in table:
        ax.annotate(str(b.n), (b.low + width / 2, b.accuracy), ha="center", va="bottom",
                    fontsize=7)
    ax.plot([0, 100], [0, 1], "--", color=_DIAG, linewidth=1)
    ax.set(xlim=(0, 100), ylim=(0, 1.05), xlabel="stated confidence (%)", ylabel="accuracy")
    ax.set_title("\n".join(notes[:2]), fontsize=8, color="#444")
    fig.suptitle(title, fontsize=12)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
