"""The fetch result and the page cache (in memory, or SQLite in a folder).

A cache entry is a :class:`FetchedPage` (final URL, status, headers of interest, content
SHA-256, extracted text, title, date, links) plus the wall-clock time it was stored, keyed by the
normalized URL that was asked for (:func:`~memagents.web.fetch.transport.normalize_url`). The
fetcher decides freshness (``FetchSettings.cache_max_age``); a fresh hit makes no request.

Example:
    >>> from memagents.web.fetch.cache import FetchedPage, MemoryPageCache
    >>> page = FetchedPage(url="https://a.test/", final_url="https://a.test/", status=200,
    ...                    content_type="text/html", title="A", text="Hello", published=None,
    ...                    links=(), fetched_at="2026-01-01T00:00:00+00:00", sha256="00")
    >>> cache = MemoryPageCache()
    >>> cache.put("https://a.test/", page, 1.0)
    >>> cache.get("https://a.test/")[0].title
    'A'
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from memagents.stores.sqlite import Database, Migration

__all__ = ["HEADERS_KEPT", "FetchedPage", "MemoryPageCache", "PageCache", "SQLitePageCache"]

HEADERS_KEPT = ("cache-control", "content-language", "date", "etag", "expires", "last-modified")
"""Response headers a :class:`FetchedPage` (and the cache) keeps."""


@dataclass(frozen=True, kw_only=True)
class FetchedPage:
    """A fetched page: where it came from and what it says.

    The text is data taken from the web: show it to a model as quoted material, never as
    instructions.

    Attributes:
        url: The URL asked for.
        final_url: The URL that answered, after redirects.
        status: HTTP status of the final answer.
        content_type: Media type without parameters (``text/html``).
        title: Page title (``""`` for plain text).
        text: Main text (boilerplate removed for HTML).
        published: Publication date ``YYYY-MM-DD``, or None.
        links: Absolute http(s) URLs of the page's links, in order, without fragments.
        fetched_at: When the page was fetched (UTC, ISO 8601).
        sha256: SHA-256 of the (decompressed) body.
        from_cache: Whether this result came from the cache without a full download.
        redirects: The URLs that redirected, in order (empty without redirects).
        headers: Response headers of interest (:data:`HEADERS_KEPT`), lower-case names.

    Example:
        >>> page = FetchedPage(url="https://a.test/", final_url="https://a.test/", status=200,
        ...                    content_type="text/plain", title="", text="hi", published=None,
        ...                    links=(), fetched_at="2026-01-01T00:00:00+00:00", sha256="ab")
        >>> FetchedPage.from_dict(page.to_dict()) == page
        True
    """

    url: str
    final_url: str
    status: int
    content_type: str
    title: str
    text: str
    published: str | None
    links: tuple[str, ...]
    fetched_at: str
    sha256: str
    from_cache: bool = False
    redirects: tuple[str, ...] = ()
    headers: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record."""
        out = asdict(self)
        out["links"], out["redirects"] = list(self.links), list(self.redirects)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FetchedPage:
        """Rebuild a page from :meth:`to_dict`'s record."""
        values = dict(data)
        values["links"] = tuple(values.get("links", ()))
        values["redirects"] = tuple(values.get("redirects", ()))
        values["headers"] = dict(values.get("headers") or {})
        return cls(**values)


class PageCache(Protocol):
    """Where the fetcher keeps pages. ``blocking`` caches are called from a worker thread."""

    blocking: bool

    def get(self, key: str) -> tuple[FetchedPage, float] | None:
        """The page stored under ``key`` and when it was stored (epoch seconds), or None."""
        ...

    def put(self, key: str, page: FetchedPage, stored_at: float) -> None:
        """Store (or replace) the page under ``key``."""
        ...

    def close(self) -> None:
        """Release resources."""
        ...


class MemoryPageCache:
    """An in-memory cache holding the most recently stored ``max_entries`` pages.

    Example:
        >>> MemoryPageCache(max_entries=1).blocking
        False
    """

    blocking = False

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[FetchedPage, float]] = OrderedDict()

    def get(self, key: str) -> tuple[FetchedPage, float] | None:
        """The stored page and time, or None."""
        return self._entries.get(key)

    def put(self, key: str, page: FetchedPage, stored_at: float) -> None:
        """Store the page, dropping the oldest entries beyond ``max_entries``."""
        self._entries[key] = (replace(page, from_cache=False), stored_at)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)

    def close(self) -> None:
        """Drop every entry."""
        self._entries.clear()


_SCHEMA = [Migration(1, """
    CREATE TABLE pages (
        key TEXT PRIMARY KEY,
        stored_at REAL NOT NULL,
        final_url TEXT NOT NULL,
        status INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        record TEXT NOT NULL
    );
    CREATE INDEX pages_sha256 ON pages (sha256);
""", "web page cache")]


class SQLitePageCache:
    """A persistent cache in ``<folder>/pages.sqlite`` (:class:`memagents.stores.Database`).

    Args:
        folder: The cache folder (created if missing), or ``":memory:"``.

    Example:
        >>> cache = SQLitePageCache(":memory:")
        >>> page = FetchedPage(url="u", final_url="u", status=200, content_type="text/plain",
        ...                    title="", text="hi", published=None, links=(),
        ...                    fetched_at="2026-01-01T00:00:00+00:00", sha256="ab")
        >>> cache.put("u", page, 5.0)
        >>> cache.get("u")[1], len(cache)
        (5.0, 1)
        >>> cache.close()
    """

    blocking = True

    def __init__(self, folder: str | Path) -> None:
        path = ":memory:" if str(folder) == ":memory:" else Path(folder) / "pages.sqlite"
        self.db = Database(path, migrations=_SCHEMA, name="web page cache")

    def get(self, key: str) -> tuple[FetchedPage, float] | None:
        """The stored page and time, or None."""
        row = self.db.query_one("SELECT stored_at, record FROM pages WHERE key = ?", (key,))
        if row is None:
            return None
        return FetchedPage.from_dict(json.loads(row["record"])), float(row["stored_at"])

    def put(self, key: str, page: FetchedPage, stored_at: float) -> None:
        """Store (or replace) the page."""
        record = json.dumps(replace(page, from_cache=False).to_dict(), ensure_ascii=False)
        with self.db.transaction("cache a web page") as conn:
            conn.execute(
                "INSERT OR REPLACE INTO pages (key, stored_at, final_url, status, sha256, record) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (key, stored_at, page.final_url, page.status, page.sha256, record))

    def __len__(self) -> int:
        row = self.db.query_one("SELECT COUNT(*) FROM pages")
        return int(row[0]) if row is not None else 0

    def close(self) -> None:
        """Close the database."""
        self.db.close()
