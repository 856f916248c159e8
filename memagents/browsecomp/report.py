"""What a synthesis run did, as a table and three small plots.

* :func:`stage_rows`: per stage, how many candidates entered and how many it rejected (the
  pipeline's ``entered:<stage>`` / ``rejected:<stage>`` counters), in pipeline order;
* :func:`write_plots`: ``stages.svg`` (entered vs rejected per stage), ``hops.svg`` (hop
  counts of the accepted questions) and ``freshness.svg`` (fresh, stale and undated hops by
  position in the chain), self-contained SVG written by hand, readable in any browser.

Example:
    >>> rows = stage_rows({"entered:quotes": 5, "rejected:quotes": 1, "entered:compose": 6})
    >>> [(r["stage"], r["entered"], r["rejected"]) for r in rows]
    [('compose', 6, 0), ('quotes', 5, 1)]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from memagents.browsecomp.candidate import Candidate
from memagents.browsecomp.pipeline import CHECKS
from memagents.pictures import esc

__all__ = ["STAGES", "bar_svg", "stage_rows", "write_plots"]

#: Every stage a candidate can stop at, in order.
STAGES = ("explore", "compose", *CHECKS)


def stage_rows(stats: Mapping[str, int]) -> list[dict[str, Any]]:
    """Entered / rejected / passed per stage that saw a candidate, in pipeline order."""
    rows = []
    for stage in STAGES:
        entered = int(stats.get(f"entered:{stage}", 0))
        rejected = int(stats.get(f"rejected:{stage}", 0))
        if stage == "explore":
            entered = int(stats.get("seeds", 0)) if rejected else 0
        if entered or rejected:
            rows.append({"stage": stage, "entered": entered, "rejected": rejected,
                         "passed": max(0, entered - rejected)})
    return rows


def bar_svg(title: str, labels: Sequence[str], series: Mapping[str, Sequence[float]], *,
            colors: Sequence[str] = ("#4e79a7", "#e15759", "#9c9c9c")) -> str:
    """A grouped bar chart as a standalone SVG document.

    >>> svg = bar_svg("t", ["a", "b"], {"n": [1, 2]})
    >>> svg.startswith("<svg") and svg.count("<rect") == 4  # background, 2 bars, legend
    True
    """
    width, height, left, bottom, top = 640, 300, 48, 70, 34
    names = list(series)
    peak = max([1.0, *(v for values in series.values() for v in values)])
    slot = (width - left - 10) / max(1, len(labels))
    bar = slot * 0.8 / max(1, len(names))
    plot_h = height - bottom - top
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">'),
             f'<rect width="{width}" height="{height}" fill="#fff"/>',
             f'<text x="{left}" y="20" font-size="14">{esc(title)}</text>']
    for i, label in enumerate(labels):
        x0 = left + i * slot + slot * 0.1
        for j, name in enumerate(names):
            value = float(series[name][i])
            h = plot_h * value / peak
            x, y = x0 + j * bar, top + plot_h - h
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar - 1:.1f}" '
                         f'height="{h:.1f}" fill="{colors[j % len(colors)]}">'
                         f'<title>{esc(name)} {value:g}</title></rect>')
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{y - 3:.1f}" '
                         f'text-anchor="middle">{value:g}</text>')
        parts.append(f'<text x="{x0 + slot * 0.4:.1f}" y="{top + plot_h + 14}" '
                     f'text-anchor="end" transform="rotate(-30 {x0 + slot * 0.4:.1f} '
                     f'{top + plot_h + 14})">{esc(label)}</text>')
    parts.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 10}" '
                 f'y2="{top + plot_h}" stroke="#333"/>')
    for j, name in enumerate(names):
        parts.append(f'<rect x="{width - 150}" y="{10 + 14 * j}" width="10" height="10" '
                     f'fill="{colors[j % len(colors)]}"/><text x="{width - 135}" '
                     f'y="{19 + 14 * j}">{esc(name)}</text>')
    parts.append("</svg>\n")
    return "".join(parts)


def write_plots(folder: str | Path, candidates: Sequence[Candidate],
                stats: Mapping[str, int]) -> list[Path]:
    """Write ``stages.svg``, ``hops.svg`` and ``freshness.svg`` into ``folder``."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    rows = stage_rows(stats)
    accepted = [c for c in candidates if c.status == "accepted"]
    hop_counts = Counter(len(c.hops) for c in accepted)
    sizes = sorted(hop_counts) or [2, 3]
    depth = max((len(c.hops) for c in accepted), default=0)
    fresh = [[0, 0, 0] for _ in range(depth)]
    for c in accepted:
        for i, hop in enumerate(c.hops):
            fresh[i][0 if hop.fresh else 1 if hop.fresh is False else 2] += 1
    plots = {
        "stages.svg": bar_svg("Candidates per stage", [r["stage"] for r in rows],
                              {"entered": [r["entered"] for r in rows],
                               "rejected": [r["rejected"] for r in rows]}),
        "hops.svg": bar_svg("Accepted questions by hop count", [f"{k} hops" for k in sizes],
                            {"questions": [hop_counts.get(k, 0) for k in sizes]}),
        "freshness.svg": bar_svg("Hops of accepted questions by freshness",
                                 [f"hop {i + 1}" for i in range(depth)],
                                 {"fresh": [f[0] for f in fresh],
                                  "before the anchor": [f[1] for f in fresh],
                                  "undated": [f[2] for f in fresh]}),
    }
    paths = []
    for name, svg in plots.items():
        path = out / name
        path.write_text(svg, encoding="utf-8")
        paths.append(path)
    return paths
