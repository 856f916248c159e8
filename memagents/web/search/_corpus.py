"""Documents of the local index: reading folders and pages, passages, tokens and snippets.

HTML text comes from trafilatura (main text without navigation and boilerplate, plus title and
date); when it finds nothing (tiny pages) or is not installed, a plain tag strip is used.
Markdown keeps its text; a leading ``---`` front matter gives ``title:`` and ``date:``, else
the first ``#`` heading is the title.

Example:
    >>> doc = document_from({"url": "https://a.test/x", "title": "X", "text": "Some words."})
    >>> doc.title, split_passages("one two three four", words=2)
    ('X', ['one two', 'three four'])
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from memagents.errors import InputError
from memagents.web.search.base import iso_date

__all__ = [
    "SUFFIXES",
    "LocalDocument",
    "document_from",
    "read_folder",
    "snippet",
    "split_passages",
    "tokenize",
]

logger = logging.getLogger(__name__)

SUFFIXES = (".html", ".htm", ".md", ".markdown", ".txt")
MAX_FILE_BYTES = 5_000_000
_WORD = re.compile(r"\w+")
STOPWORDS = frozenset(
    ["a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "have", "he", "her", "his", "in", "is", "it", "its", "of", "on", "or", "she", "that", "the", "their", "they", "this", "to", "was", "were", "which", "who", "with", "what", "when", "where", "how"]
)


@dataclass(frozen=True, kw_only=True, slots=True)
class LocalDocument:
    """One page of the local index.

    Attributes:
        url: Where the page lives (``https://...``, or a ``file://`` URI for a folder file).
        title: Its title.
        text: Its plain text.
        published: Publication date ``YYYY-MM-DD``, or None.

    Example:
        >>> LocalDocument(url="https://a.test/", title="A", text="alpha").published is None
        True
    """

    url: str
    title: str
    text: str
    published: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The document as a JSON-ready dict."""
        return {"url": self.url, "title": self.title, "text": self.text,
                "published": self.published}


def document_from(page: Any) -> LocalDocument:
    """A :class:`LocalDocument` from a mapping or an object with ``url``, ``title``, ``text``.

    ``content`` is accepted for ``text``; ``published`` may be any date form
    :func:`~memagents.web.search.base.iso_date` reads.

    Raises:
        InputError: no URL, or text that is not a string.
    """
    if isinstance(page, LocalDocument):
        return page
    get = page.get if isinstance(page, Mapping) else lambda key: getattr(page, key, None)
    url, title = get("url"), get("title")
    text = get("text")
    if text is None:
        text = get("content")
    if not isinstance(url, str) or not url.strip():
        raise InputError(
            f"a page for the local index needs a non-empty 'url' string, got {url!r}: pass "
            "pages with url, title, text (and optionally published)."
        )
    if not isinstance(text, str):
        raise InputError(f"the page {url} has no 'text' string (got {type(text).__name__}).")
    title = " ".join(title.split()) if isinstance(title, str) and title.strip() else url
    return LocalDocument(url=url.strip(), title=title, text=text,
                         published=iso_date(get("published")))


class _Strip(HTMLParser):
    """Visible text and ``<title>`` of an HTML page (script, style and head skipped)."""

    _SKIP = frozenset({"script", "style", "noscript", "template", "head"})
    _BLOCK = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6",
                        "article", "section", "header", "footer", "table", "ul", "ol"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in self._SKIP:
            self._skip += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in self._SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        elif not self._skip:
            self.parts.append(data)


def _strip_html(markup: str) -> tuple[str, str]:
    parser = _Strip()
    parser.feed(markup)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return " ".join("".join(parser.title).split()), "\n".join(line for line in lines if line)


def read_html(data: bytes) -> tuple[str, str, str | None]:
    """Title, main text and publication date of an HTML document."""
    markup = data.decode("utf-8", errors="replace")
    title, stripped = _strip_html(markup)
    try:
        import trafilatura
    except ImportError:  # pragma: no cover - a core dependency
        return title, stripped, None
    try:
        doc = trafilatura.bare_extraction(markup, with_metadata=True, include_comments=False)
    except Exception as exc:  # noqa: BLE001 - malformed HTML: keep the plain strip
        logger.debug("trafilatura failed (%s); using the plain text", exc)
        doc = None
    text = getattr(doc, "text", None) or ""
    if len(text) < len(stripped) // 4:
        text = stripped  # trafilatura dropped most of a tiny page: keep everything
    return (getattr(doc, "title", None) or title), text, iso_date(getattr(doc, "date", None))


_FRONT = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)


def read_markdown(text: str) -> tuple[str, str, str | None]:
    """Title, text and date of a Markdown file (front matter ``title:``/``date:`` if any)."""
    title = published = None
    match = _FRONT.match(text)
    if match:
        text = text[match.end():]
        for line in match.group(1).splitlines():
            key, _, value = line.partition(":")
            value = value.strip().strip("'\"")
            if key.strip() == "title" and value:
                title = value
            elif key.strip() == "date" and value:
                published = iso_date(value)
    if title is None:
        heading = re.search(r"^#\s+(.+)$", text, re.MULTILINE)
        title = heading.group(1).strip() if heading else None
    return title or "", text, published


def read_folder(folder: str | Path, *, base_url: str | None = None) -> list[LocalDocument]:
    """Read every ``.html``/``.htm``/``.md``/``.markdown``/``.txt`` file under ``folder``.

    Args:
        folder: The folder (searched recursively; hidden files, hidden folders and
            ``robots.txt`` skipped).
        base_url: URL prefix of the files (``https://docs.test/`` + relative path); default:
            their ``file://`` URIs.

    Raises:
        InputError: the folder does not exist or holds no such file.
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise InputError(
            f"{str(folder)!r} is not a folder: pass a folder holding .html, .md or .txt files."
        )
    docs = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.suffix.lower() not in SUFFIXES or path.name.lower() == "robots.txt" or (
            not path.is_file() or any(part.startswith(".") for part in rel.parts)
        ):
            continue
        if path.stat().st_size > MAX_FILE_BYTES:
            logger.warning("local index: %s skipped (larger than %d bytes)", path, MAX_FILE_BYTES)
            continue
        data = path.read_bytes()
        if path.suffix.lower() in (".html", ".htm"):
            title, text, published = read_html(data)
        elif path.suffix.lower() == ".txt":
            text = data.decode("utf-8", errors="replace")
            first = next((line.strip() for line in text.splitlines() if line.strip()), "")
            title, published = first[:120], None
        else:
            title, text, published = read_markdown(data.decode("utf-8", errors="replace"))
        url = base_url.rstrip("/") + "/" + rel.as_posix() if base_url else path.resolve().as_uri()
        docs.append(LocalDocument(url=url, title=title or path.stem, text=text,
                                  published=published))
    if not docs:
        raise InputError(
            f"no {', '.join(SUFFIXES)} files under {str(root)!r}: put the pages to search there."
        )
    return docs


def tokenize(text: str) -> list[str]:
    """Lowercased word tokens without common English stopwords.

    >>> tokenize("Who founded The Odalven Ferns?")
    ['founded', 'odalven', 'ferns']
    """
    return [t for t in _WORD.findall(text.lower()) if t not in STOPWORDS]


def split_passages(text: str, *, words: int = 80) -> list[str]:
    """Pack the text's lines into passages of at most ``words`` words (long lines are cut)."""
    units: list[str] = []
    for line in text.splitlines():
        tokens = line.split()
        units.extend(" ".join(tokens[i:i + words]) for i in range(0, len(tokens), words))
    passages: list[str] = []
    current: list[str] = []
    size = 0
    for unit in units:
        n = len(unit.split())
        if current and size + n > words:
            passages.append(" ".join(current))
            current, size = [], 0
        current.append(unit)
        size += n
    if current:
        passages.append(" ".join(current))
    return passages


def snippet(passage: str, terms: set[str], *, chars: int = 240) -> str:
    """About ``chars`` characters of ``passage`` around its first query term.

    >>> snippet("alpha beta gamma delta epsilon", {"gamma"}, chars=12)
    '… beta gamma …'
    """
    if len(passage) <= chars:
        return passage
    first = next((m.start() for m in _WORD.finditer(passage) if m.group().lower() in terms), 0)
    start = max(0, first - chars // 4)
    if start:
        start = passage.rfind(" ", 0, start) + 1
    end = min(len(passage), start + chars)
    if end < len(passage):
        cut = passage.rfind(" ", start, end)
        end = cut if cut > start else end
    text = passage[start:end].strip()
    return ("… " if start else "") + text + (" …" if end < len(passage) else "")
