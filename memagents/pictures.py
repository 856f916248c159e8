"""The frame of every self-contained HTML picture the package writes.

Graph memory's subgraph export, the hypergraph memory's picture and the plots of the
benchmarks are one page each: a title, a line of facts, an inline SVG, then tables. The page
frame (styles, escaping, the SVG element) lives here once, in the foundation, so the
capabilities that draw (which cannot import each other) share it.

Example:
    >>> page = html_page("demo", ["2 nodes"], '<circle cx="5" cy="5" r="4"/>',
    ...                  width=10, height=10, sections=["<h2>Hits</h2>"])
    >>> page.startswith("<!DOCTYPE html>") and "<h2>Hits</h2>" in page and "2 nodes" in page
    True
"""

from __future__ import annotations

import html
from collections.abc import Iterable

__all__ = ["STYLE", "esc", "html_page", "html_table"]

#: The pictures' shared stylesheet.
STYLE = (
    "body{font-family:system-ui,sans-serif;margin:24px;color:#222}"
    "svg{border:1px solid #ddd;background:#fff;max-width:100%;height:auto}"
    "svg text{font-size:11px;paint-order:stroke;stroke:#fff;stroke-width:3px}"
    "table{border-collapse:collapse;margin-top:12px}td,th{border:1px solid #ddd;"
    "padding:4px 8px;text-align:left;vertical-align:top}.dim{color:#777}"
)


def esc(text: object) -> str:
    """HTML-escape ``str(text)`` (quotes included)."""
    return html.escape(str(text))


def html_table(header: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    """A ``<table>`` with escaped cells.

    >>> html_table(["id"], [["a<b"]])
    '<table><tr><th>id</th></tr><tr><td>a&lt;b</td></tr></table>'
    """
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{esc(v)}</td>" for v in row) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def html_page(title: str, info: Iterable[str], svg_body: str, *, width: float, height: float,
              sections: Iterable[str] = ()) -> str:
    """A self-contained HTML page: ``title``, the ``info`` facts on one line, the SVG drawing
    (``svg_body`` holds its elements, already escaped), then ``sections`` (HTML, already
    escaped) in order."""
    facts = " · ".join(info)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{esc(title)}</h1>"
        f'<p class="dim">{esc(facts)}</p>'
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'width="{width:.0f}" height="{height:.0f}" role="img">{svg_body}</svg>'
        + "".join(sections)
        + "</body></html>\n"
    )
