"""A picture of the memory: one self-contained HTML page (inline SVG, no script, no link).

Each live memory point is drawn as a hyperedge: a translucent rounded hull around the
entities it links, in the point's colour, with a labelled square (its id) joined to each of
them. Entities are circles coloured by status (linked to an index, attached in memory only,
absent: not yet described). Hovering shows the full descriptions, provenance and versions.
Below the picture: the live points and the retired (merged) ids with their successors.

The layout is ``networkx.spring_layout`` of the bipartite entity/point graph with a fixed
seed, so the same memory always gives the same page. Style (sizes, palette, fonts, page
frame) follows graph memory's export so the two pictures look alike.

Example:
    >>> from memagents.hypermem.core.model import Entity, MemoryPoint, MemorySnapshot
    >>> snap = MemorySnapshot(entities=(Entity(name="Rome"), Entity(name="Italy")),
    ...     points=(MemoryPoint(id="mp-0001", description="Rome <3 Italy",
    ...                         entities=("rome", "italy")),), next_number=2)
    >>> page = memory_html(snap, "demo")
    >>> "mp-0001" in page, "Rome &lt;3 Italy" in page, "<script" in page
    (True, True, False)
"""

from __future__ import annotations

import html
import math
import re

from memagents.hypermem.core.model import Entity, MemoryPoint, MemorySnapshot
from memagents.pictures import html_page

__all__ = ["PALETTE", "STATUS_COLORS", "layout", "memory_html"]

PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#eeca3b",
           "#ff9da6", "#9d755d", "#79706e")
"""Colours of the memory points, in turn."""
STATUS_COLORS = {"indexed": "#4c78a8", "attached": "#54a24b", "absent": "#bab0ac"}
"""Fill colour of an entity by :attr:`~memagents.hypermem.core.model.Entity.status`."""
_W, _H, _PAD, _LEFT, _RIGHT = 960.0, 640.0, 50.0, 200.0, 160.0
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _esc(text: str) -> str:
    """HTML-escaped, without the control characters XML 1.0 cannot hold (so the SVG parses)."""
    return html.escape(_XML_BAD.sub("", text))


def layout(snapshot: MemorySnapshot) -> dict[str, tuple[float, float]]:
    """Positions in ``[0, 1]^2`` of ``"p:ID"`` and ``"e:KEY"`` nodes (live points and the
    entities they link), deterministic (``spring_layout(seed=0)``).

    >>> from memagents.hypermem.core.model import MemoryPoint, MemorySnapshot
    >>> snap = MemorySnapshot(points=(MemoryPoint(id="mp-0001", description="x",
    ...                                           entities=("a",)),))
    >>> sorted(layout(snap)) == ["e:a", "p:mp-0001"] and layout(snap) == layout(snap)
    True
    """
    import networkx as nx

    g = nx.Graph()
    for p in snapshot.points:
        g.add_node(f"p:{p.id}")
        g.add_edges_from((f"p:{p.id}", f"e:{k}") for k in p.entities)
    if g.number_of_nodes() == 0:
        return {}
    if g.number_of_nodes() == 1:
        return {n: (0.5, 0.5) for n in g}
    raw = {n: (float(x), float(y)) for n, (x, y) in nx.spring_layout(g, seed=0).items()}
    lo = [min(p[i] for p in raw.values()) for i in (0, 1)]
    span = [(max(p[i] for p in raw.values()) - lo[i]) or 1.0 for i in (0, 1)]
    return {n: ((x - lo[0]) / span[0], (y - lo[1]) / span[1]) for n, (x, y) in raw.items()}


def _xy(p: tuple[float, float]) -> tuple[float, float]:
    return _LEFT + p[0] * (_W - _LEFT - _RIGHT), _PAD + p[1] * (_H - 2 * _PAD)


def _hull(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Convex hull (monotone chain), counter-clockwise; fewer than 3 points returned as is."""
    pts = sorted(set(points))
    if len(pts) < 3:
        return pts

    def cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple[float, float]] = []
    upper: list[tuple[float, float]] = []
    for seq, out in ((pts, lower), (reversed(pts), upper)):
        for p in seq:
            while len(out) >= 2 and cross(out[-2], out[-1], p) <= 0:
                out.pop()
            out.append(p)
    return lower[:-1] + upper[:-1]


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _point_tip(p: MemoryPoint, names: dict[str, str]) -> str:
    rows = [f"{p.id} (v{p.version}, created step {p.created_step}, updated step "
            + f"{p.updated_step})",
            "entities: " + ", ".join(names.get(k, k) for k in p.entities)]
    if p.merged_from:
        rows.append("merged from: " + ", ".join(p.merged_from))
    if p.sources:
        rows.append("sources: " + ", ".join(p.sources))
    rows.append(_short(p.description, 600))
    return "\n".join(rows)


def _entity_tip(e: Entity) -> str:
    rows = [e.name, f"status: {e.status}"]
    rows += [f"ref: {e.ref}"] if e.ref else []
    rows += [f"type: {e.entity_type}"] if e.entity_type else []
    rows += [_short(e.description, 400)] if e.description else []
    return "\n".join(rows)


def memory_html(snapshot: MemorySnapshot, title: str = "memagents hypergraph memory") -> str:
    """Draw a memory as one self-contained HTML page (inline SVG; hover for details)."""
    esc = _esc
    pos = {n: _xy(p) for n, p in layout(snapshot).items()}
    ents = {e.key: e for e in snapshot.entities}
    names = {k: e.name for k, e in ents.items()}
    color = {p.id: PALETTE[i % len(PALETTE)] for i, p in enumerate(snapshot.points)}
    hulls, links, nodes = [], [], []
    for p in snapshot.points:
        c, (px, py) = color[p.id], pos[f"p:{p.id}"]
        ring = _hull([pos[f"e:{k}"] for k in p.entities] + [(px, py)])
        coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in ring)
        hulls.append(
            f'<g class="hyperedge" opacity="0.16"><polygon points="{coords}" fill="{c}" '
            f'stroke="{c}" stroke-width="34" stroke-linejoin="round"><title>'
            f"{esc(_point_tip(p, names))}</title></polygon></g>")
        for k in p.entities:
            ex, ey = pos[f"e:{k}"]
            links.append(f'<line x1="{px:.1f}" y1="{py:.1f}" x2="{ex:.1f}" y2="{ey:.1f}" '
                         f'stroke="{c}" stroke-width="1.6" stroke-opacity="0.8"/>')
        nodes.append(
            f'<g class="point" id="{esc(p.id)}"><rect x="{px - 7:.1f}" y="{py - 7:.1f}" '
            f'width="14" height="14" rx="3" fill="{c}" stroke="#222222" stroke-width="1.5">'
            f"<title>{esc(_point_tip(p, names))}</title></rect>"
            f'<text x="{px + 10:.1f}" y="{py + 4:.1f}" font-weight="bold">{esc(p.id)}</text></g>')
    shown = dict.fromkeys(k for p in snapshot.points for k in p.entities)
    for k in shown:
        e = ents.get(k) or Entity(name=k)
        x, y = pos[f"e:{k}"]
        r = 5.0 + 2.0 * math.sqrt(sum(k in p.entities for p in snapshot.points))
        nodes.append(
            f'<g class="entity"><circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" '
            f'fill="{STATUS_COLORS[e.status]}" stroke="#ffffff" stroke-width="1">'
            f"<title>{esc(_entity_tip(e))}</title></circle>"
            f'<text x="{x + r + 3:.1f}" y="{y + 4:.1f}">{esc(_short(e.name, 36))}</text></g>')
    body = "\n".join(hulls + links + nodes + _legend())
    return _page(snapshot, title, body, names, len(ents) - len(shown))


def _legend() -> list[str]:
    rows = [(f'<circle cx="16" cy="{{y}}" r="6" fill="{c}"/>', f"entity: {s}")
            for s, c in STATUS_COLORS.items()]
    point_mark = ('<rect x="10" y="{y0}" width="12" height="12" rx="3" fill="#f58518" '
                  'stroke="#222222"/>')
    rows.append((point_mark, "memory point (hull: its entities)"))
    out = ['<g class="legend">']
    for i, (mark, text) in enumerate(rows):
        y = 18 + 18 * i
        out.append(mark.format(y=y, y0=y - 6) + f'<text x="32" y="{y + 4}">{_esc(text)}'
                   "</text>")
    return out + ["</g>"]


def _page(snapshot: MemorySnapshot, title: str, body: str, names: dict[str, str],
          unlinked: int) -> str:
    esc = _esc
    rows = "".join(
        "<tr>" + "".join(f"<td>{esc(str(v))}</td>" for v in (
            p.id, ", ".join(names.get(k, k) for k in p.entities), p.description,
            f"{p.created_step}/{p.updated_step}", p.version, ", ".join(p.merged_from),
            ", ".join(p.sources))) + "</tr>" for p in snapshot.points)
    retired = "".join(f"<tr><td>{esc(old)}</td><td>{esc(new)}</td></tr>"
                      for old, new in snapshot.merged_into)
    info = [f"step {snapshot.step}", f"{len(snapshot.points)} live points",
            f"{len(snapshot.entities)} entities", f"{len(snapshot.merged_into)} merged ids"]
    if unlinked:
        info.append(f"{unlinked} entities linked by no live point (not drawn)")
    return html_page(title, info, body, width=_W, height=_H, sections=[
        "<h2>Memory points</h2><table><tr><th>id</th><th>entities</th><th>description</th>"
        "<th>step created/updated</th><th>version</th><th>merged from</th><th>sources</th>"
        f"</tr>{rows}</table>" if snapshot.points else '<p class="dim">No memory points.</p>',
        "<h2>Merged ids</h2><table><tr><th>id</th><th>merged into</th></tr>"
        f"{retired}</table>" if retired else "",
    ])
