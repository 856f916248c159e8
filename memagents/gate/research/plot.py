"""Accuracy vs retrieval rate: a self-contained SVG (no plotting library), PNG via matplotlib.

The curve is a sweep of a threshold (:func:`memagents.gate.research.tuning.sweep`, or any points with
``retrieval_rate`` and ``accuracy``); markers are single operating points (never / always
retrieve, a tuned policy with its 95% interval). ``.svg`` needs nothing; ``.png`` needs
matplotlib and says so when it is missing.

Example:
    >>> import xml.etree.ElementTree as ET
    >>> svg = tradeoff_svg([(0.0, 0.2), (0.5, 0.35), (1.0, 0.33)],
    ...                    markers=[Marker(label="tuned", retrieval_rate=0.5, accuracy=0.35)])
    >>> ET.fromstring(svg).tag
    '{http://www.w3.org/2000/svg}svg'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from memagents.errors import ConfigError, InputError

__all__ = ["Marker", "tradeoff_svg", "tuning_markers", "write_plot"]

_COLORS = ("#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2")
_CURVE = "#1f77b4"
_W, _H = 640, 440
_LEFT, _RIGHT, _TOP, _BOTTOM = 70, 24, 44, 58


@dataclass(frozen=True, kw_only=True)
class Marker:
    """One operating point, optionally with 95% intervals on each axis.

    Example:
        >>> Marker(label="always retrieve", retrieval_rate=1.0, accuracy=0.36).label
        'always retrieve'
    """

    label: str
    retrieval_rate: float
    accuracy: float
    accuracy_low: float | None = None
    accuracy_high: float | None = None
    rate_low: float | None = None
    rate_high: float | None = None


def tuning_markers(result: Any) -> list[Marker]:
    """Never / always / tuned markers of a :class:`~memagents.gate.research.tuning.TuningResult`.

    All three are bootstrap means over the same test splits, so they compare directly.
    """
    kind = "per-relation" if result.per_relation else "global"
    acc, rate = result.accuracy, result.retrieval_rate
    return [
        Marker(label="never retrieve", retrieval_rate=0.0, accuracy=result.never_accuracy.mean),
        Marker(label="always retrieve", retrieval_rate=1.0, accuracy=result.always_accuracy.mean),
        Marker(
            label=f"tuned ({kind} thresholds)",
            retrieval_rate=rate.mean,
            accuracy=acc.mean,
            accuracy_low=acc.low,
            accuracy_high=acc.high,
            rate_low=rate.low,
            rate_high=rate.high,
        ),
    ]


def _xy(point: Any) -> tuple[float, float]:
    if isinstance(point, tuple | list):
        rate, acc = point
    else:
        rate, acc = point.retrieval_rate, point.accuracy
    return _unit(rate, "retrieval rate"), _unit(acc, "accuracy")


def _unit(value: Any, what: str) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} {value!r} is not a number.") from None
    if not 0.0 <= x <= 1.0:  # also rejects NaN
        raise InputError(f"{what} {value!r} is outside [0, 1]; pass rates, not percentages.")
    return x


def _fmt(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".")


def tradeoff_svg(
    curve: Sequence[Any],
    *,
    markers: Sequence[Marker] = (),
    title: str = "Accuracy vs retrieval rate",
    curve_label: str = "popularity threshold sweep",
) -> str:
    """Render the plot as an SVG document (a string).

    Args:
        curve: Points with ``retrieval_rate`` and ``accuracy`` (e.g. ``SweepPoint``) or
            ``(retrieval_rate, accuracy)`` pairs; drawn in retrieval-rate order.
        markers: Operating points drawn on top, each with its legend entry.
        title: Title line.
        curve_label: Legend entry of the curve.
    """
    points = sorted(_xy(p) for p in curve)
    marks = [(m, *_xy(m)) for m in markers]
    values = [a for _, a in points] + [a for _, _, a in marks]
    values += [v for m in markers for v in (m.accuracy_high,) if v is not None]
    highest = max(values, default=0.0)
    step = 0.1 if highest <= 0.6 else 0.2
    top = min(1.0, max(step, math.ceil(highest / step - 1e-9) * step))
    pw, ph = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM

    def sx(r: float) -> float:
        return round(_LEFT + r * pw, 2)

    def sy(a: float) -> float:
        return round(_TOP + ph - a / top * ph, 2)

    out = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" '
            f'viewBox="0 0 {_W} {_H}" font-family="sans-serif" font-size="12">'
        ),
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{_W}" height="{_H}" fill="white"/>',
        f'<text x="{_W / 2}" y="24" text-anchor="middle" font-size="15">{escape(title)}</text>',
    ]
    for i in range(6):  # x ticks: 0%..100%
        r = i / 5
        out.append(
            f'<line x1="{sx(r)}" y1="{_TOP}" x2="{sx(r)}" y2="{_TOP + ph}" stroke="#e5e5e5"/>'
        )
        out.append(
            f'<text x="{sx(r)}" y="{_TOP + ph + 18}" text-anchor="middle">{round(r * 100)}%</text>'
        )
    for k in range(round(top / step) + 1):
        a = k * step
        out.append(
            f'<line x1="{_LEFT}" y1="{sy(a)}" x2="{_LEFT + pw}" y2="{sy(a)}" stroke="#e5e5e5"/>'
        )
        out.append(f'<text x="{_LEFT - 8}" y="{sy(a) + 4}" text-anchor="end">{_fmt(a)}</text>')
    out.append(
        f'<rect x="{_LEFT}" y="{_TOP}" width="{pw}" height="{ph}" fill="none" stroke="black"/>'
    )
    out.append(
        f'<text x="{_LEFT + pw / 2}" y="{_H - 14}" text-anchor="middle">retrieval rate</text>'
    )
    out.append(
        f'<text x="18" y="{_TOP + ph / 2}" text-anchor="middle" '
        f'transform="rotate(-90 18 {_TOP + ph / 2})">accuracy</text>'
    )
    legend: list[tuple[str, str, str]] = []
    if points:
        path = " ".join(f"{sx(r)},{sy(a)}" for r, a in points)
        out.append(f'<polyline points="{path}" fill="none" stroke="{_CURVE}" stroke-width="1.5"/>')
        for r, a in points:
            out.append(
                f'<circle cx="{sx(r)}" cy="{sy(a)}" r="2.5" fill="{_CURVE}">'
                f"<title>rate {r:.3f}, accuracy {a:.3f}</title></circle>"
            )
        legend.append((curve_label, _CURVE, "circle"))
    for i, (m, r, a) in enumerate(marks):
        color = _COLORS[i % len(_COLORS)]
        if m.accuracy_low is not None and m.accuracy_high is not None:
            lo, hi = _unit(m.accuracy_low, "accuracy"), _unit(m.accuracy_high, "accuracy")
            out.append(
                f'<line x1="{sx(r)}" y1="{sy(lo)}" x2="{sx(r)}" y2="{sy(hi)}" stroke="{color}"/>'
            )
        if m.rate_low is not None and m.rate_high is not None:
            lo, hi = _unit(m.rate_low, "retrieval rate"), _unit(m.rate_high, "retrieval rate")
            out.append(
                f'<line x1="{sx(lo)}" y1="{sy(a)}" x2="{sx(hi)}" y2="{sy(a)}" stroke="{color}"/>'
            )
        out.append(_shape(i, sx(r), sy(a), color, f"{m.label}: rate {r:.3f}, accuracy {a:.3f}"))
        legend.append((m.label, color, str(i)))
    for j, (label, color, shape) in enumerate(legend):  # legend box, lower right
        y = _TOP + ph - 16 * (len(legend) - j) - 4
        x = _LEFT + pw - 215
        icon = (
            f'<circle cx="{x + 6}" cy="{y - 4}" r="3" fill="{color}"/>'
            if shape == "circle"
            else _shape(int(shape), x + 6, y - 4, color, label)
        )
        out.append(icon + f'<text x="{x + 16}" y="{y}">{escape(label)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _shape(i: int, x: float, y: float, color: str, tip: str) -> str:
    """Marker ``i``: square, triangle, diamond, then repeating."""
    kind = i % 3
    if kind == 0:
        body = f'<rect x="{x - 5}" y="{y - 5}" width="10" height="10" fill="{color}">'
        end = "</rect>"
    else:
        pts = (
            [(x, y - 6), (x + 6, y + 5), (x - 6, y + 5)]
            if kind == 1
            else [(x, y - 6), (x + 6, y), (x, y + 6), (x - 6, y)]
        )
        body = (
            f'<polygon points="{" ".join(f"{px:.2f},{py:.2f}" for px, py in pts)}" fill="{color}">'
        )
        end = "</polygon>"
    return f"{body}<title>{escape(tip)}</title>{end}"


def write_plot(
    path: str | Path,
    curve: Sequence[Any],
    *,
    markers: Sequence[Marker] = (),
    title: str = "Accuracy vs retrieval rate",
    curve_label: str = "popularity threshold sweep",
) -> Path:
    """Write the plot to ``path``: ``.svg`` always works, ``.png`` needs matplotlib.

    Raises:
        InputError: For another file extension or out-of-range values.
        ConfigError: For ``.png`` when matplotlib is not installed.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".svg":
        svg = tradeoff_svg(curve, markers=markers, title=title, curve_label=curve_label)
        path.write_text(svg, encoding="utf-8")
        return path
    if suffix != ".png":
        raise InputError(f"cannot write a plot as {path.name!r}: use a .svg or .png file name.")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError(
            "PNG plots need matplotlib (pip install matplotlib); write a .svg "
            "file instead, which needs nothing."
        ) from None
    points = sorted(_xy(p) for p in curve)
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=150)
    if points:
        ax.plot(*zip(*points, strict=True), "o-", ms=3, color=_CURVE, label=curve_label)
    for i, m in enumerate(markers):
        r, a = _xy(m)
        yerr = (
            [[a - m.accuracy_low], [m.accuracy_high - a]]
            if m.accuracy_low is not None and m.accuracy_high is not None
            else None
        )
        xerr = (
            [[r - m.rate_low], [m.rate_high - r]]
            if m.rate_low is not None and m.rate_high is not None
            else None
        )
        ax.errorbar(
            [r],
            [a],
            yerr=yerr,
            xerr=xerr,
            fmt="s^D"[i % 3],
            capsize=3,
            color=_COLORS[i % len(_COLORS)],
            label=m.label,
        )
    ax.set(xlabel="retrieval rate", ylabel="accuracy", title=title, xlim=(-0.02, 1.02))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
