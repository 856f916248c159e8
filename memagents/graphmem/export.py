"""Export a graph memory: GraphML of a namespace, or a picture of a query's neighbourhood.

:func:`export_graph` makes a GraphML-safe, string-keyed ``networkx.Graph`` of a namespace
(nodes ``"passage:ID"`` / ``"phrase:TEXT"``), :func:`to_graphml` writes it,
:func:`query_subgraph` keeps a query's seeds, hits and their neighbours, :func:`subgraph_html`
draws a graph as one self-contained HTML page (inline SVG, no script), :func:`write_png` as a
PNG with matplotlib.

Example:
    >>> import tempfile
    >>> from memagents.graphmem import GraphMemory
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     with GraphMemory.open(folder, embeddings="hash") as memory:
    ...         _ = memory.add_triples([("Rome is in Italy.", [("Rome", "in", "Italy")])],
    ...                                ids=["p1"])
    ...         sorted(export_graph(memory.index()).nodes(data="kind"))
    [('passage:p1', 'passage'), ('phrase:italy', 'phrase'), ('phrase:rome', 'phrase')]
"""

from __future__ import annotations

import html
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import networkx as nx

from memagents.errors import ConfigError, InputError
from memagents.graphmem.core.graph import PASSAGE, PHRASE, GraphIndex, NodeKey
from memagents.pictures import html_page

if TYPE_CHECKING:
    from memagents.graphmem.memory import GraphMemory

__all__ = [
    "EDGE_COLORS", "NODE_COLORS", "export_graph", "layout", "node_id", "query_subgraph",
    "subgraph_html", "to_graphml", "write_png", "xml_safe",
]

_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_safe(text: str) -> str:
    """Remove characters XML 1.0 cannot hold (control characters but tab and newlines).

    >>> xml_safe("a\\x0bb")
    'ab'
    """
    return _XML_BAD.sub("", text)


def node_id(key: NodeKey) -> str:
    """The string id of a graph node: ``"passage:ID"`` or ``"phrase:TEXT"``.

    >>> node_id(("phrase", "quillmere press"))
    'phrase:quillmere press'
    """
    return xml_safe(f"{key[0]}:{key[1]}")


def export_graph(index: GraphIndex) -> nx.Graph:
    """A string-keyed, GraphML-safe copy of a namespace graph.

    Nodes carry ``kind`` (``passage``/``phrase``) and ``label`` (passage id or phrase), plus
    ``text`` for passages and ``passages`` (how many mention it) for phrases. Edges carry
    ``weight`` and ``kind`` (``passage``, ``fact``, ``synonym``, ``fact+synonym``).

    >>> import numpy as np
    >>> onehot = lambda ts: np.eye(26, dtype=np.float32)[[ord(t.lower()[0]) % 26 for t in ts]]
    >>> index = GraphIndex(embed=onehot)
    >>> _ = index.add([("p1", "Rome is in Italy.", [("Rome", "in", "Italy")])])
    >>> export_graph(index).edges["phrase:italy", "phrase:rome"]
    {'weight': 2.0, 'kind': 'fact'}
    """
    source = index.to_networkx()
    graph = nx.Graph()
    for key in source.nodes:
        kind, name = key
        attrs: dict[str, Any] = {"kind": kind, "label": xml_safe(name)}
        if kind == PASSAGE:
            attrs["text"] = xml_safe(index.passage_text(name))
        else:
            attrs["passages"] = len(index.phrase_passages(name))
        graph.add_node(node_id(key), **attrs)
    for u, v, data in source.edges(data=True):
        graph.add_edge(node_id(u), node_id(v), weight=float(data["weight"]), kind=data["kind"])
    return graph


def to_graphml(source: GraphIndex | nx.Graph, path: str | Path) -> Path:
    """Write a namespace graph (or a graph from :func:`query_subgraph`) as GraphML.

    >>> import numpy as np, os, tempfile
    >>> onehot = lambda ts: np.eye(26, dtype=np.float32)[[ord(t.lower()[0]) % 26 for t in ts]]
    >>> index = GraphIndex(embed=onehot)
    >>> _ = index.add([("p1", "Rome is in Italy.", [("Rome", "in", "Italy")])])
    >>> with tempfile.TemporaryDirectory() as d:
    ...     back = nx.read_graphml(to_graphml(index, os.path.join(d, "g.graphml")))
    >>> back.number_of_nodes(), back.number_of_edges(), back.nodes["phrase:rome"]["kind"]
    (3, 3, 'phrase')
    """
    graph = export_graph(source) if isinstance(source, GraphIndex) else source
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    nx.write_graphml(graph, out)
    return out


def query_subgraph(
    memory: GraphMemory,
    query: str,
    k: int = 5,
    hops: int = 1,
    namespace: str | None = None,
    *,
    max_nodes: int = 150,
) -> nx.Graph:
    """A query's seed phrases and top ``k`` hits, with their neighbours within ``hops``.

    Core nodes get ``role`` ``"seed"`` (PPR seed phrase with a positive weight, and its
    ``seed_weight``) or ``"hit"`` (top-k passage, with ``rank``, ``score``, ``dense_score``,
    ``ppr_score``); the others are ``"neighbour"``. Every node has ``size`` in ``[0, 1]`` (hit
    score or seed weight over the largest). Edges between the phrases of a linked fact get
    ``linked=True``. Neighbours are added hop by hop, heavier edges first, up to ``max_nodes``;
    ``graph.graph`` holds the query, namespace, notes and whether the cap cut nodes off.

    Raises:
        InputError: ``hops`` or ``max_nodes`` is negative (or the query is invalid).

    >>> import tempfile
    >>> from memagents.graphmem import GraphMemory
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     with GraphMemory.open(folder, embeddings="hash") as memory:
    ...         _ = memory.add_triples([("Rome is in Italy.", [("Rome", "in", "Italy")])],
    ...                                ids=["p1"])
    ...         g = query_subgraph(memory, "Where is Rome?", k=1, hops=0)
    >>> g.nodes["passage:p1"]["role"], g.nodes["passage:p1"]["rank"]
    ('hit', 1)
    """
    if isinstance(hops, bool) or not isinstance(hops, int) or hops < 0:
        raise InputError(f"hops must be a non-negative integer, got {hops!r}.")
    if max_nodes < 1:
        raise InputError(f"max_nodes must be at least 1, got {max_nodes!r}.")
    ns = namespace if namespace is not None else memory.namespace
    hits = memory.search(query, k, namespace=ns)
    full = export_graph(memory.index(ns))
    expl = hits.explanation
    roles: dict[str, dict[str, Any]] = {}
    seeds = [sp for sp in (expl.seed_phrases if expl else ()) if sp.weight > 0]
    top_weight = max((sp.weight for sp in seeds), default=0.0) or 1.0
    for sp in seeds:
        nid = node_id((PHRASE, sp.phrase))
        if nid in full:
            roles[nid] = {"role": "seed", "seed_weight": float(sp.weight),
                          "size": float(sp.weight) / top_weight}
    top_score = max((abs(h.score or 0.0) for h in hits), default=0.0) or 1.0
    for h in hits:
        nid = node_id((PASSAGE, h.id))
        if nid in full:
            roles[nid] = {"role": "hit", "rank": int(h.rank or 0), "score": float(h.score or 0),
                          "dense_score": float(h.dense_score or 0),
                          "ppr_score": float(h.ppr_score or 0),
                          "size": abs(float(h.score or 0)) / top_score}
    keep, truncated = _neighbourhood(full, list(roles), hops, max_nodes)
    sub = full.subgraph(keep).copy()
    for nid, data in sub.nodes(data=True):
        data.update(roles.get(nid, {"role": "neighbour", "size": 0.0}))
    for fact in expl.kept_facts if expl else ():
        u, v = node_id((PHRASE, fact.triple[0])), node_id((PHRASE, fact.triple[2]))
        if sub.has_edge(u, v):
            sub.edges[u, v]["linked"] = True
    sub.graph.update(
        query=xml_safe(query), namespace=xml_safe(ns), k=int(k), hops=int(hops),
        notes=xml_safe("; ".join(hits.notes)), truncated=truncated,
    )
    return sub


def _neighbourhood(
    graph: nx.Graph, core: list[str], hops: int, max_nodes: int
) -> tuple[list[str], bool]:
    """Core nodes, then neighbours hop by hop (heavier edges, then ids, first) up to a cap;
    also whether the cap cut anything off."""
    keep = list(dict.fromkeys(core))
    seen = set(keep)
    frontier = list(keep)
    for _ in range(hops):
        ranked: dict[str, float] = {}
        for node in frontier:
            for nb, data in graph[node].items():
                if nb not in seen:
                    ranked[nb] = max(ranked.get(nb, 0.0), float(data.get("weight", 1.0)))
        frontier = []
        for nb in sorted(ranked, key=lambda n: (-ranked[n], n)):
            if len(keep) >= max_nodes:
                return keep, True
            keep.append(nb)
            seen.add(nb)
            frontier.append(nb)
    return keep, False


NODE_COLORS: dict[str, str] = {PASSAGE: "#4c78a8", PHRASE: "#f58518"}
"""Fill colour of each node kind."""
EDGE_COLORS: dict[str, str] = {
    "passage": "#9d9d9d", "fact": "#54a24b", "synonym": "#b279a2", "fact+synonym": "#e45756",
}
"""Stroke colour of each edge kind."""
_W, _H, _PAD, _LEFT, _RIGHT = 960.0, 640.0, 40.0, 200.0, 160.0


def layout(graph: nx.Graph) -> dict[str, tuple[float, float]]:
    """Deterministic positions in ``[0, 1]^2`` (``networkx.spring_layout(seed=0)``).

    >>> layout(nx.Graph([("a", "b")]))["a"] != layout(nx.Graph([("a", "b")]))["b"]
    True
    """
    if graph.number_of_nodes() == 0:
        return {}
    raw = {n: (float(p[0]), float(p[1])) for n, p in nx.spring_layout(graph, seed=0).items()}
    lo = [min(p[i] for p in raw.values()) for i in (0, 1)]
    span = [(max(p[i] for p in raw.values()) - lo[i]) or 1.0 for i in (0, 1)]
    if len(raw) == 1:
        return {n: (0.5, 0.5) for n in raw}
    return {n: ((p[0] - lo[0]) / span[0], (p[1] - lo[1]) / span[1]) for n, p in raw.items()}


def subgraph_html(graph: nx.Graph, title: str = "memagents graph") -> str:
    """Draw a graph as a self-contained HTML page: inline SVG, no script, no external file.

    Nodes are coloured by kind and sized by their ``size`` attribute (PPR/score from
    :func:`query_subgraph`); seeds and hits are outlined; edges are coloured by kind (legend in
    the corner), linked facts drawn thicker. Hovering shows full texts and scores. Below the
    picture: the hits, the seed phrases and the search notes.

    >>> page = subgraph_html(nx.Graph([("phrase:rome", "phrase:italy")]), "Rome")
    >>> "<svg" in page and "<script" not in page
    True
    """
    pos = layout(graph)
    esc = html.escape
    parts: list[str] = []
    for u, v, d in sorted(graph.edges(data=True), key=lambda e: (bool(e[2].get("linked")), e[:2])):
        (x1, y1), (x2, y2) = _xy(pos[u]), _xy(pos[v])
        weight, linked = float(d.get("weight", 1.0)), bool(d.get("linked"))
        width = 1.0 + min(3.0, math.log1p(weight)) + (2.0 if linked else 0.0)
        parts.append(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="'
            f'{EDGE_COLORS.get(str(d.get("kind")), "#cccccc")}" stroke-width="{width:.1f}" '
            f'stroke-opacity="{0.95 if linked else 0.55}"><title>{esc(str(d.get("kind", "")))}'
            f" edge, weight {weight:.3g}</title></line>"
        )
    for n, d in sorted(graph.nodes(data=True), key=lambda n: (n[1].get("role") in ("seed", "hit"),
                                                              n[0])):  # core nodes on top
        x, y = _xy(pos[n])
        radius = 5.0 + 13.0 * math.sqrt(max(0.0, min(1.0, float(d.get("size", 0.0)))))
        core = d.get("role") in ("seed", "hit")
        bold = ' font-weight="bold"' if core else ""
        tip = [str(d.get("label", n))] + [
            f"{key}: {d[key]:.4g}" if isinstance(d[key], float) else f"{key}: {d[key]}"
            for key in ("role", "rank", "score", "dense_score", "ppr_score", "seed_weight")
            if key in d
        ]
        if "text" in d:
            tip.append(_short(str(d["text"]), 400))
        parts.append(
            f'<g class="node {esc(str(d.get("kind", "")))}"><circle cx="{x:.1f}" cy="{y:.1f}" '
            f'r="{radius:.1f}" fill="{NODE_COLORS.get(str(d.get("kind")), "#999999")}" '
            f'stroke="{"#222222" if core else "#ffffff"}" stroke-width="{2.5 if core else 1}">'
            f'<title>{esc(chr(10).join(tip))}</title></circle><text x="{x + radius + 3:.1f}" '
            f'y="{y + 4:.1f}"{bold}>{esc(_short(_label(n, d), 36))}</text></g>'
        )
    return _page(graph, title, "\n".join(parts + _legend(graph)))


def _xy(p: tuple[float, float]) -> tuple[float, float]:
    """Into the drawing area: a legend strip on the left, room for labels on the right."""
    return _LEFT + p[0] * (_W - _LEFT - _RIGHT), _PAD + p[1] * (_H - 2 * _PAD)


def _label(node: str, data: dict[str, Any]) -> str:
    label = str(data.get("label", node))
    return f"#{data.get('rank')} {label}" if data.get("role") == "hit" else label


def _legend(graph: nx.Graph) -> list[str]:
    dot = '<circle cx="16" cy="{y}" r="6" fill="%s" stroke="%s" stroke-width="2.5"/>'
    bar = '<line x1="8" y1="{y}" x2="24" y2="{y}" stroke="%s" stroke-width="%d"/>'
    rows = [(dot % (c, c), f"{k} node") for k, c in NODE_COLORS.items()]
    rows.append((dot % ("#ffffff", "#222222"), "seed phrase / top hit"))
    present = {d.get("kind") for _, _, d in graph.edges(data=True)}
    rows += [(bar % (c, 3), f"{k} edge") for k, c in EDGE_COLORS.items() if k in present]
    if any(d.get("linked") for _, _, d in graph.edges(data=True)):
        rows.append((bar % ("#333333", 5), "linked fact"))
    return ['<g class="legend">'] + [
        mark.format(y=18 + 18 * i) + f'<text x="32" y="{22 + 18 * i}">{html.escape(text)}</text>'
        for i, (mark, text) in enumerate(rows)
    ] + ["</g>"]


def _page(graph: nx.Graph, title: str, body: str) -> str:
    esc = html.escape
    meta = graph.graph
    hits = sorted((d for _, d in graph.nodes(data=True) if d.get("role") == "hit"),
                  key=lambda d: d.get("rank", 0))
    seeds = sorted((d for _, d in graph.nodes(data=True) if d.get("role") == "seed"),
                   key=lambda d: -float(d.get("seed_weight", 0.0)))
    rows = "".join("<tr>" + "".join(f"<td>{esc(str(v))}</td>" for v in (
        d.get("rank"), d.get("label"), *(f"{float(d.get(key, 0)):.4f}" for key in
                                         ("score", "dense_score", "ppr_score")), d.get("text"),
    )) + "</tr>" for d in hits)
    info = ([f"query: {meta['query']}"] if meta.get("query") else []) + [
        f"{graph.number_of_nodes()} nodes, {graph.number_of_edges()} edges"
    ] + (["neighbourhood truncated"] if meta.get("truncated") else [])
    notes = "".join(f"<li>{esc(n)}</li>" for n in str(meta.get("notes", "")).split("; ") if n)
    seed_text = ", ".join(f"{d.get('label')} ({float(d.get('seed_weight', 0)):.3g})"
                          for d in seeds)
    return html_page(title, info, body, width=_W, height=_H, sections=[
        f"<h2>Seed phrases</h2><p>{esc(seed_text)}</p>" if seeds else "",
        "<h2>Top hits</h2><table><tr><th>rank</th><th>id</th><th>score</th><th>dense</th>"
        f"<th>ppr</th><th>text</th></tr>{rows}</table>" if hits else "",
        f'<ul class="dim">{notes}</ul>' if notes else "",
    ])


def write_png(graph: nx.Graph, path: str | Path, title: str = "") -> Path:
    """Draw a graph to a PNG with matplotlib (an optional dependency).

    Same layout, colours and sizes as :func:`subgraph_html`.

    Raises:
        ConfigError: matplotlib is not installed.

    >>> import importlib.util, tempfile, os
    >>> g = nx.Graph([("phrase:a", "phrase:b")])
    >>> with tempfile.TemporaryDirectory() as d:
    ...     try:
    ...         ok = write_png(g, os.path.join(d, "g.png")).stat().st_size > 0
    ...     except ConfigError:
    ...         ok = importlib.util.find_spec("matplotlib") is None
    >>> ok
    True
    """
    try:
        from matplotlib.figure import Figure  # type: ignore[import-not-found, unused-ignore]
        from matplotlib.lines import Line2D  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        raise ConfigError(
            "PNG export needs matplotlib, which is not installed: run `pip install matplotlib`, "
            "or export a self-contained picture with `--format html` (format='html')."
        ) from None
    pos = {n: (x, 1.0 - y) for n, (x, y) in layout(graph).items()}  # SVG's y axis points down
    nodes = list(graph.nodes)
    data = [graph.nodes[n] for n in nodes]
    fig = Figure(figsize=(12, 8), dpi=120)  # no pyplot: no global figure or backend state
    ax = fig.subplots()
    for kind, color in EDGE_COLORS.items():
        edges = [(u, v) for u, v, d in graph.edges(data=True) if d.get("kind") == kind]
        widths = [3.0 if graph.edges[e].get("linked") else 1.0 for e in edges]
        if edges:
            nx.draw_networkx_edges(graph, pos, edgelist=edges, edge_color=color, width=widths,
                                   alpha=0.7, ax=ax)
    nx.draw_networkx_nodes(
        graph, pos, nodelist=nodes, ax=ax, linewidths=1.5,
        node_color=[NODE_COLORS.get(str(d.get("kind")), "#999999") for d in data],
        node_size=[80 + 520 * float(d.get("size", 0.0)) for d in data],
        edgecolors=["#222222" if d.get("role") in ("seed", "hit") else "white" for d in data],
    )
    labels = {n: _short(_label(n, d), 28) for n, d in zip(nodes, data)}
    nx.draw_networkx_labels(graph, {n: (x + 0.015, y) for n, (x, y) in pos.items()}, ax=ax,
                            labels=labels, font_size=7, horizontalalignment="left")
    present = {d.get("kind") for _, _, d in graph.edges(data=True)}
    handles = [Line2D([0], [0], marker="o", color="w", markerfacecolor=c, markersize=9,
                      label=f"{kd} node") for kd, c in NODE_COLORS.items()]
    handles += [Line2D([0], [0], color=c, lw=2, label=f"{kd} edge")
                for kd, c in EDGE_COLORS.items() if kd in present]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8,
              frameon=False)
    ax.set_title(title, fontsize=11)
    ax.set_axis_off()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", bbox_inches="tight")
    return out


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
