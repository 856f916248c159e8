"""From bytes to a page: charset decoding, main text, title, publication date and links.

Decoding (:func:`decode_body`) trusts evidence over declarations: a byte-order mark first, then
valid UTF-8 (a page served as ``latin-1`` that is really UTF-8 reads correctly), then the declared
charset (``Content-Type`` header or ``<meta charset>``) if the bytes decode under it, then a
guess (Windows-1252 when it reads cleanly, else ``charset_normalizer``'s best).

Extraction (:func:`extract_html`) keeps the main text with trafilatura (navigation, headers,
footers and sidebars dropped; tables kept; its fast mode first, the full mode with its
fallback extractors when the fast one kept too little of the visible text), the title, the publication date (htmldate, then
``<time datetime>`` and ``<meta>`` tags), and every outgoing http(s) link. Malformed HTML is
tolerated (lxml repairs it); a page with little or no main text (trafilatura then keeps the
whole page) falls back to its visible text without ``nav``, ``header``, ``footer`` and
``aside`` elements. Page text is data: nothing here interprets it.

Example:
    >>> from memagents.web.fetch.extract import decode_body, extract_html
    >>> decode_body("Café".encode("latin-1"), "utf-8")
    'Café'
    >>> page = extract_html("<html><head><title>T</title></head><body><nav>Menu</nav>"
    ...                     "<article><p>Body text here.</p><a href='/b'>b</a></article>"
    ...                     "</body></html>", "https://a.test/x")
    >>> page.title, page.links
    ('T', ('https://a.test/b',))
"""

from __future__ import annotations

import codecs
import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from memagents.errors import WebFetchError
from memagents.web.fetch.cache import HEADERS_KEPT, FetchedPage
from memagents.web.fetch.transport import Reply, media_type

__all__ = ["Extracted", "build_page", "decode_body", "extract_html", "extract_text"]

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_SHORT = 250  # trafilatura's minimum extracted size: shorter output is its whole-page baseline
_FALLBACK_RATIO = 0.15  # fast extraction kept less than this share of the visible text: retry
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"),
         (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))
_DATE_META = ("article:published_time", "datepublished", "date", "dc.date", "dc.date.issued",
              "pubdate", "publish-date", "og:published_time", "citation_publication_date")


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().strip("\"'")).name
    except LookupError:
        return None


def decode_body(body: bytes, declared: str | None = None) -> str:
    """Decode a page, tolerating missing and wrong charset declarations.

    Args:
        body: The (decompressed) body.
        declared: The charset of the ``Content-Type`` header, if any.

    Example:
        >>> decode_body("naïve".encode("utf-8"), "iso-8859-1")
        'naïve'
    """
    for bom, name in _BOMS:
        if body.startswith(bom):
            return body.decode(name, errors="replace")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    meta = _META_CHARSET.search(body[:4096])
    candidates = [_codec(declared), _codec(meta.group(1).decode("ascii") if meta else None)]
    for name in candidates:
        if name and name not in ("utf-8", "utf-8-sig"):
            try:
                return body.decode(name)
            except UnicodeDecodeError:
                continue
    return _guess(body)


def _guess(body: bytes) -> str:
    import charset_normalizer
    from charset_normalizer.md import mess_ratio

    best = charset_normalizer.from_bytes(body).best()
    try:
        western = body.decode("cp1252")
    except UnicodeDecodeError:
        western = None
    if western is not None and (best is None or mess_ratio(western, 1.0) <= best.chaos + 0.02):
        return western
    if best is not None:
        return str(best)
    return body.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Extracted:
    """What :func:`extract_html` found in a page."""

    title: str
    text: str
    published: str | None
    links: tuple[str, ...]


def extract_text(text: str) -> Extracted:
    """A ``text/plain`` page: its text (whitespace-trimmed), no title, date or links.

    Example:
        >>> extract_text("  hello\\n").text
        'hello'
    """
    return Extracted("", text.strip(), None, ())


def extract_html(html: str, url: str, *, today: date | None = None) -> Extracted:
    """Main text, title, publication date and outgoing links of an HTML page.

    Args:
        html: The decoded document.
        url: The page's final URL (relative links and dates in URLs resolve against it).
        today: Latest plausible publication date is a year after this (default: today).
    """
    import trafilatura
    from lxml import etree
    from lxml import html as lxml_html

    html = _XML_DECLARATION.sub("", html, count=1)  # lxml refuses str with an encoding decl
    tree = None
    if html.strip():
        try:
            tree = lxml_html.document_fromstring(html)
        except (etree.ParserError, ValueError):  # empty after parsing, or NUL bytes
            tree = None
    today = today or datetime.now(timezone.utc).date()
    horizon = date(today.year + 1, 12, 31)
    doc = None
    if tree is not None:
        doc = _trafilatura(trafilatura, html, url, horizon, fast=True)
        body = tree.find("body")
        visible = len(body.text_content()) if body is not None else 0
        if len(getattr(doc, "text", None) or "") < _FALLBACK_RATIO * visible:
            fuller = _trafilatura(trafilatura, html, url, horizon, fast=False)
            if len(getattr(fuller, "text", None) or "") > len(getattr(doc, "text", None) or ""):
                doc = fuller
    title = (getattr(doc, "title", None) or "").strip() or _title(tree)
    published = getattr(doc, "date", None) or _date_fallback(tree)
    links = _links(tree, url)
    text = (getattr(doc, "text", None) or "").strip()
    if len(text) < _SHORT and tree is not None:
        # trafilatura keeps whole short pages (its baseline): prefer the visible text without
        # nav, header, footer and aside elements, unless that is mostly other material
        pruned = _visible_text(tree)  # last: it prunes the tree
        if pruned and (not text or len(pruned) <= 2 * len(text)):
            text = pruned
    return Extracted(title, text, published, links)


def _trafilatura(trafilatura: Any, html: str, url: str, horizon: date, *, fast: bool) -> Any:
    try:
        return trafilatura.bare_extraction(
            html, url=url, include_comments=False, include_tables=True, favor_recall=True,
            fast=fast,
            with_metadata=True, date_extraction_params={
                "extensive_search": False, "original_date": True, "max_date": horizon.isoformat()})
    except Exception:  # noqa: BLE001 - a page trafilatura chokes on still yields its text
        return None


def _visible_text(tree: Any) -> str:
    for bad in tree.xpath("//script|//style|//noscript|//template|//nav|//header|//footer|//aside"):
        bad.drop_tree()
    body = tree.find("body")
    lines = (" ".join(t.split()) for t in (body if body is not None else tree).itertext())
    return "\n".join(line for line in lines if line)


def _title(tree: Any) -> str:
    if tree is None:
        return ""
    for path in ("//title", "//h1"):
        found = tree.xpath(path)
        if found:
            text = " ".join(found[0].text_content().split())
            if text:
                return text
    return ""


def _date_fallback(tree: Any) -> str | None:
    if tree is None:
        return None
    values = [str(v) for v in tree.xpath("//time/@datetime")]
    for meta in tree.xpath("//meta[@content]"):
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").lower()
        if key in _DATE_META:
            values.append(meta.get("content"))
    for value in values:
        match = re.match(r"\s*(\d{4}-\d{2}-\d{2})", value or "")
        if match:
            try:
                return date.fromisoformat(match.group(1)).isoformat()
            except ValueError:
                continue
    return None


def _links(tree: Any, url: str) -> tuple[str, ...]:
    if tree is None:
        return ()
    base = url
    bases = tree.xpath("//base/@href")
    if bases:
        base = urljoin(url, str(bases[0]).strip())
    out: dict[str, None] = {}
    for href in tree.xpath("//a/@href"):
        try:
            parts = urlsplit(urljoin(base, str(href).strip()))
        except ValueError:
            continue
        if parts.scheme in ("http", "https") and parts.netloc:
            out[urlunsplit(parts._replace(fragment=""))] = None
    return tuple(out)


def build_page(url: str, reply: Reply, redirects: tuple[str, ...], *,
               accept_types: tuple[str, ...], fetched_at: float) -> FetchedPage:
    """Turn a 2xx reply into a :class:`FetchedPage` (sniffing a missing content type).

    Args:
        url: The URL asked for.
        reply: The final answer, body read.
        redirects: The URLs that redirected to it.
        accept_types: Media types accepted.
        fetched_at: Wall-clock seconds of the fetch.

    Raises:
        WebFetchError: The body has no declared type and is binary, or its sniffed type is not
            accepted (reason ``'content_type'``).
    """
    kind, charset = media_type(reply.headers)
    body = reply.body
    if not kind:
        head = body[:1024]
        if b"\x00" in head:
            raise WebFetchError(f"refused {url}: no content type and the body is binary.",
                                url=url, reason="content_type")
        kind = "text/html" if head.lstrip()[:1] == b"<" else "text/plain"
    if kind not in accept_types:
        raise WebFetchError(f"refused {url}: its content type is {kind}, not one of "
                            f"{', '.join(accept_types)}.", url=url, reason="content_type")
    text = decode_body(body, charset)
    final = str(reply.url.copy_with(fragment=None))
    when = datetime.fromtimestamp(fetched_at, timezone.utc)
    if kind == "text/plain":
        found = extract_text(text)
    else:
        found = extract_html(text, final, today=when.date())
    kept = {k.lower(): v for k, v in reply.headers.items() if k.lower() in HEADERS_KEPT}
    return FetchedPage(
        url=url, final_url=final, status=reply.status, content_type=kind, title=found.title,
        text=found.text, published=found.published, links=found.links,
        fetched_at=when.isoformat(timespec="seconds"), sha256=hashlib.sha256(body).hexdigest(),
        from_cache=False, redirects=redirects, headers=kept)
