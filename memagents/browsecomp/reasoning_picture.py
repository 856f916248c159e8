"""A picture of a question's reasoning graph: one self-contained HTML page (inline SVG).

Columns are the distance from ``?answer`` (a constant drawn close to the answer is a short
way to it), variables are circles (the answer gold), constants grey boxes. Each constraint is
an arrow in the direction of its fact (subject to object), labelled ``id: relation``; a
negated one is red and dashed. With a :class:`~memagents.browsecomp.guidance.GuidanceReport`
the constraints of shortcuts are orange and thick, redundant ones grey and dashed, and the
analysis (status, answers, shortcuts, suggestions) is listed below the drawing.

Example:
    >>> from memagents.browsecomp.candidate import Candidate, Constraint
    >>> c = Candidate(seed="Velm", question="q?", answer="Ada", constraints=(
    ...     Constraint(id="c1", target="?answer", relation="founded_by", value="Velm <Press>",
    ...                inverse=True),))
    >>> page = reasoning_html(c)
    >>> "c1: founded_by" in page, "Velm &lt;Press&gt;" in page, "<script" in page
    (True, True, False)
"""

from __future__ import annotations

import math

import networkx as nx

from memagents.browsecomp.candidate import ANSWER, Candidate
from memagents.browsecomp.guidance import GuidanceReport
from memagents.browsecomp.reasoning import ReasoningGraph
from memagents.pictures import esc, html_page, html_table

__all__ = ["reasoning_html"]

_COL, _ROW, _PAD = 190.0, 80.0, 70.0
_BLUE, _RED, _ORANGE, _GREY = "#4c78a8", "#e45756", "#f58518", "#999999"


def _positions(g: ReasoningGraph) -> dict[str, tuple[float, float]]:
    level = dict(nx.single_source_shortest_path_length(g.graph, ANSWER)) \
        if ANSWER in g.graph else {}
    last = max(level.values(), default=0) + 1
    columns: dict[int, list[str]] = {}
    for node in g.graph:
        columns.setdefault(level.get(node, last), []).append(node)
    tallest = max(len(col) for col in columns.values())
    out = {}
    for x, col in columns.items():
        top = _PAD + (tallest - len(col)) * _ROW / 2
        out.update({n: (_PAD + 40 + x * _COL, top + i * _ROW) for i, n in enumerate(col)})
    return out


def reasoning_html(candidate: Candidate, report: GuidanceReport | None = None, *,
                   title: str = "memagents reasoning graph") -> str:
    """Draw a candidate's reasoning graph (and the guidance report, if given) as one page."""
    g = ReasoningGraph.from_candidate(candidate)
    pos = _positions(g) if len(g.graph) else {}
    short = {cid for s in (report.shortcuts if report else ()) for cid in s.constraints}
    redundant = set(report.redundant) if report else set()
    marker = ('<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
              'markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" '
              'fill="#555555"/></marker></defs>')
    body = [marker]
    seen: dict[frozenset[str], int] = {}
    for c in g.constraints:
        a, b = g.node(c.target), g.node(c.value)
        if c.inverse:
            a, b = b, a
        bend = seen.get(frozenset((a, b)), 0)
        seen[frozenset((a, b))] = bend + 1
        (x1, y1), (x2, y2) = pos[a], pos[b]
        mx, my = (x1 + x2) / 2, (y1 + y2) / 2 + (bend * 28 if bend % 2 else -bend * 28)
        mx += 30 if x1 == x2 and y1 != y2 else 0
        color = _ORANGE if c.id in short else _RED if c.negated else _GREY \
            if c.id in redundant else _BLUE
        dash = ' stroke-dasharray="6 4"' if c.negated or (
            c.id in redundant and c.id not in short) else ""
        dx, dy = x2 - mx, y2 - my
        norm = math.hypot(dx, dy) or 1.0
        x2, y2 = x2 - 13 * dx / norm, y2 - 13 * dy / norm  # the arrow stops at the node's rim
        label = f"{c.id}: {'not ' if c.negated else ''}{c.relation}"
        body.append(f'<g class="constraint"><path d="M{x1:.1f},{y1:.1f} Q{mx:.1f},{my:.1f} '
                    f'{x2:.1f},{y2:.1f}" fill="none" stroke="{color}" stroke-width='
                    f'"{3 if c.id in short else 1.6}"{dash} marker-end="url(#arrow)"><title>'
                    f"{esc(label)} (hop {c.hop})</title></path>"
                    f'<text x="{mx:.1f}" y="{my - 4:.1f}" text-anchor="middle">{esc(label)}'
                    "</text></g>")
    for node, data in g.graph.nodes(data=True):
        x, y = pos[node]
        text = f'<text x="{x:.1f}" y="{y + 26:.1f}" text-anchor="middle">{esc(data["label"])}'
        if data["kind"] == "constant":
            body.append(f'<g class="constant"><rect x="{x - 9:.1f}" y="{y - 9:.1f}" width="18" '
                        f'height="18" rx="3" fill="#bab0ac" stroke="#222222"/>{text}</text></g>')
        else:
            fill = "#eeca3b" if node == ANSWER else "#72b7b2"
            tip = ", ".join(report.answers) if report and node == ANSWER else data["label"]
            body.append(f'<g class="variable"><circle cx="{x:.1f}" cy="{y:.1f}" r="10" '
                        f'fill="{fill}" stroke="#222222"><title>{esc(tip)}</title></circle>'
                        f"{text}</text></g>")
    xs = [p[0] for p in pos.values()] or [0.0]
    ys = [p[1] for p in pos.values()] or [0.0]
    rows = [(c.id, c.target, ("not " if c.negated else "") + c.relation, c.value,
             "yes" if c.inverse else "", "" if c.hop is None else c.hop,
             "shortcut" if c.id in short else "redundant" if c.id in redundant else "")
            for c in g.constraints]
    sections = [f"<p>{esc(candidate.question)}</p><h2>Constraints</h2>" + html_table(
        ["id", "target", "relation", "value", "inverse", "hop", "flag"], rows)]
    info = [f"answer {candidate.answer}", f"{len(g.constraints)} constraints"]
    if report:
        info += [f"status {report.status}", f"depth {report.depth}", f"{report.hops} hops"]
        found = [("answers", ", ".join(report.answers) or "none")]
        found += [("problem", p) for p in report.problems]
        found += [(f"shortcut ({s.kind})", s.reason) for s in report.shortcuts]
        found += [(f"suggest {s.action}", s.reason) for s in report.suggestions]
        sections.append("<h2>Analysis</h2>" + html_table(["finding", "detail"], found))
    return html_page(title, info, "\n".join(body), width=max(xs) + _PAD + 60,
                     height=max(ys) + _PAD + 20, sections=sections)
