"""Learning curves: held-out accuracy against rollouts used, one line per series.

A self-contained SVG (no plotting library; 95% intervals as shaded bands) or a PNG through
matplotlib (a clear error when it is missing), in the style of the gate's trade-off plot
(:mod:`memagents.gate.research.plot`).

Example:
    >>> import xml.etree.ElementTree as ET
    >>> svg = curve_svg({"CORE": [(100, 0.3, 0.2, 0.4), (350, 0.7, 0.6, 0.8)],
    ...                  "no insights": [(100, 0.3, None, None), (350, 0.3, None, None)]})
    >>> ET.fromstring(svg).tag
    '{http://www.w3.org/2000/svg}svg'
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from memagents.errors import ConfigError, InputError

__all__ = ["Series", "curve_svg", "write_curve"]

Series = Mapping[str, Sequence[tuple[float, float, Any, Any]]]
"""Label -> ``(rollouts, accuracy, low, high)`` points (``low``/``high`` may be ``None``)."""

_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2")
_W, _H = 680, 440
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 170, 44, 56


def _check(series: Series) -> dict[str, list[tuple[float, float, Any, Any]]]:
    out = {}
    for label, points in series.items():
        clean = []
        for x, y, lo, hi in sorted(points, key=lambda p: p[0]):
            for value in (y, lo, hi):
                if value is not None and not 0.0 <= float(value) <= 1.0:
                    raise InputError(f"series {label!r}: accuracy {value!r} is outside [0, 1].")
            if not math.isfinite(float(x)) or x < 0:
                raise InputError(f"series {label!r}: rollouts {x!r} must be >= 0.")
            clean.append((float(x), float(y), lo, hi))
        out[str(label)] = clean
    return out


def _ticks(top: float) -> list[float]:
    raw = top / 5 if top > 0 else 1
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    return [step * i for i in range(int(top // step) + 1)]


def curve_svg(series: Series, *, title: str = "Held-out accuracy vs rollouts",
              xlabel: str = "rollouts used (budget)") -> str:
    """The learning curves as an SVG document (a string)."""
    data = _check(series)
    xmax = max((p[0] for pts in data.values() for p in pts), default=1.0) or 1.0
    pw, ph = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM

    def sx(x: float) -> float:
        return round(_LEFT + x / xmax * pw, 2)

    def sy(y: float) -> float:
        return round(_TOP + ph - y * ph, 2)

    out = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" '
           f'viewBox="0 0 {_W} {_H}" font-family="sans-serif" font-size="12">'),
           f"<title>{escape(title)}</title>",
           f'<rect x="0" y="0" width="{_W}" height="{_H}" fill="white"/>',
           (f'<text x="{_LEFT + pw / 2}" y="24" text-anchor="middle" font-size="15">'
           f"{escape(title)}</text>")]
    for x in _ticks(xmax):
        out.append(f'<line x1="{sx(x)}" y1="{_TOP}" x2="{sx(x)}" y2="{_TOP + ph}" '
                   'stroke="#e5e5e5"/>')
        out.append(f'<text x="{sx(x)}" y="{_TOP + ph + 18}" text-anchor="middle">'
                   f"{x:g}</text>")
    for k in range(6):
        y = k / 5
        out.append(f'<line x1="{_LEFT}" y1="{sy(y)}" x2="{_LEFT + pw}" y2="{sy(y)}" '
                   'stroke="#e5e5e5"/>')
        out.append(f'<text x="{_LEFT - 8}" y="{sy(y) + 4}" text-anchor="end">{y:.1f}</text>')
    out.append(f'<rect x="{_LEFT}" y="{_TOP}" width="{pw}" height="{ph}" fill="none" '
               'stroke="black"/>')
    out.append(f'<text x="{_LEFT + pw / 2}" y="{_H - 14}" text-anchor="middle">'
               f"{escape(xlabel)}</text>")
    out.append(f'<text x="18" y="{_TOP + ph / 2}" text-anchor="middle" '
               f'transform="rotate(-90 18 {_TOP + ph / 2})">held-out accuracy</text>')
    for i, (label, pts) in enumerate(data.items()):
        color = _COLORS[i % len(_COLORS)]
        band = [(x, lo, hi) for x, _, lo, hi in pts if lo is not None and hi is not None]
        if len(band) >= 2:
            poly = [f"{sx(x)},{sy(float(hi))}" for x, _, hi in band]
            poly += [f"{sx(x)},{sy(float(lo))}" for x, lo, _ in reversed(band)]
            out.append(f'<polygon points="{" ".join(poly)}" fill="{color}" '
                       'fill-opacity="0.15" stroke="none"/>')
        if pts:
            path = " ".join(f"{sx(x)},{sy(y)}" for x, y, _, _ in pts)
            out.append(f'<polyline points="{path}" fill="none" stroke="{color}" '
                       'stroke-width="2"/>')
        for x, y, lo, hi in pts:
            tip = f"{label}: {x:g} rollouts, accuracy {y:.3f}" + (
                f" [{float(lo):.3f}, {float(hi):.3f}]" if lo is not None and hi is not None
                else "")
            out.append(f'<circle cx="{sx(x)}" cy="{sy(y)}" r="3" fill="{color}">'
                       f"<title>{escape(tip)}</title></circle>")
        ly = _TOP + 14 + 18 * i
        out.append(f'<line x1="{_LEFT + pw + 12}" y1="{ly - 4}" x2="{_LEFT + pw + 32}" '
                   f'y2="{ly - 4}" stroke="{color}" stroke-width="2"/>'
                   f'<text x="{_LEFT + pw + 38}" y="{ly}">{escape(label)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_curve(path: str | Path, series: Series, *,
                title: str = "Held-out accuracy vs rollouts",
                xlabel: str = "rollouts used (budget)") -> Path:
    """Write the curves to ``path``: ``.svg`` always works, ``.png`` needs matplotlib.

    Raises:
        InputError: Another file extension, or values out of range.
        ConfigError: ``.png`` without matplotlib.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".svg":
        path.write_text(curve_svg(series, title=title, xlabel=xlabel), encoding="utf-8")
        return path
    if suffix != ".png":
        raise InputError(f"cannot write a plot as {path.name!r}: use a .svg or .png file name.")
    data = _check(series)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError("PNG plots need matplotlib (pip install matplotlib); write a .svg "
                          "file instead, which needs nothing.") from None
    fig, ax = plt.subplots(figsize=(6.8, 4.4), dpi=150)
    for i, (label, pts) in enumerate(data.items()):
        color = _COLORS[i % len(_COLORS)]
        xs = [p[0] for p in pts]
        ax.plot(xs, [p[1] for p in pts], "o-", ms=3, color=color, label=label)
        band = [(x, lo, hi) for x, _, lo, hi in pts if lo is not None and hi is not None]
        if len(band) >= 2:
            ax.fill_between([b[0] for b in band], [float(b[1]) for b in band],
                            [float(b[2]) for b in band], color=color, alpha=0.15, lw=0)
    ax.set(xlabel=xlabel, ylabel="held-out accuracy", title=title, ylim=(0, 1))
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
