"""The search protocol: results, the backend base class, errors and input checks.

Every backend (SearxNG, Brave, Tavily, the local index, :class:`FallbackSearch`) derives from
:class:`SearchBackend` and implements one method, ``_search(query, k)``; ``search`` and
``asearch`` check the arguments once, here. Results are :class:`SearchResult` rows ranked from
1; ``published`` is an ISO date (``YYYY-MM-DD``) when the backend knows one.

Example:
    >>> from memagents.web.search.base import SearchBackend, SearchResult
    >>> class Echo(SearchBackend):
    ...     name = "echo"
    ...     def _search(self, query, k):
    ...         return [SearchResult(title=query, url="https://a.test/", snippet="",
    ...                              backend=self.name, rank=1)]
    >>> Echo().search("hello", k=3)[0].title
    'hello'
    >>> Echo().search("  ")
    Traceback (most recent call last):
    ...
    memagents.errors.InputError: the search query is empty: pass the words to search for, e.g. search('Aeralla Mirith').
"""

from __future__ import annotations

import asyncio
import email.utils
import html
import re
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime
from typing import Any, ClassVar, Literal

from typing_extensions import Self

from memagents.errors import BackendError, InputError

__all__ = [
    "MAX_K",
    "MAX_QUERY_CHARS",
    "SearchBackend",
    "SearchError",
    "SearchResult",
    "check_query",
    "clean_text",
    "iso_date",
]

MAX_K = 100
"""Most results one search may ask for."""
MAX_QUERY_CHARS = 2_000
"""Longest query accepted (the hosted APIs refuse far shorter ones; Brave: 400 characters)."""

ErrorKind = Literal[
    "auth", "forbidden", "rate_limited", "unavailable", "bad_response", "rejected"
]


@dataclass(frozen=True, kw_only=True, slots=True)
class SearchResult:
    """One search hit.

    Attributes:
        title: Page title (plain text).
        url: Absolute URL of the page.
        snippet: A short plain-text excerpt (HTML tags and entities removed).
        published: Publication date as ``YYYY-MM-DD``, or None when unknown.
        backend: Name of the backend that found it (``searxng``, ``brave``, ``tavily``,
            ``local``).
        rank: Position in the result list, from 1.
        score: The backend's own relevance score, when it gives one (not comparable across
            backends).

    Example:
        >>> r = SearchResult(title="T", url="https://a.test/", snippet="s", backend="local",
        ...                  rank=1, score=2.5, published="2026-01-05")
        >>> r.to_dict()["published"], r.rank
        ('2026-01-05', 1)
    """

    title: str
    url: str
    snippet: str
    published: str | None = None
    backend: str
    rank: int
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The result as a plain JSON-ready dict."""
        return asdict(self)


class SearchError(BackendError):
    """A search backend failed (after retries for transient errors).

    Attributes:
        backend: The backend's name (``brave``, ``searxng``...).
        kind: ``auth`` (bad or missing key), ``forbidden`` (the service refuses this request,
            e.g. SearxNG without its JSON format), ``rate_limited``, ``unavailable`` (down,
            timing out or failing with 5xx), ``bad_response`` (not the expected JSON) or
            ``rejected`` (the service refused the request's parameters).
        status: The HTTP status, when there was a response.

    Example:
        >>> err = SearchError("Brave Search returned 401: check MEMAGENTS_BRAVE_API_KEY.",
        ...                   backend="brave", kind="auth", status=401)
        >>> err.kind, err.status, isinstance(err, BackendError)
        ('auth', 401, True)
    """

    def __init__(
        self, message: str, *, backend: str, kind: ErrorKind, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.backend, self.kind, self.status = backend, kind, status


def check_query(query: Any, k: Any) -> tuple[str, int]:
    """Validate a query and a result count; return the stripped query and ``k``.

    Raises:
        InputError: empty or non-string query, overlong query, ``k`` not in 1..100.
    """
    if not isinstance(query, str):
        raise InputError(
            f"the search query must be a string, got {type(query).__name__}: pass the words "
            "to search for, e.g. search('Aeralla Mirith')."
        )
    text = " ".join(query.split())
    if not text:
        raise InputError(
            "the search query is empty: pass the words to search for, "
            "e.g. search('Aeralla Mirith')."
        )
    if len(text) > MAX_QUERY_CHARS:
        raise InputError(
            f"the search query has {len(text)} characters (at most {MAX_QUERY_CHARS}): "
            "shorten it to the key words."
        )
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise InputError(f"k must be an integer from 1 to {MAX_K}, got {k!r}.")
    return text, k


_TAG = re.compile(r"<[^>]{0,500}>")


def clean_text(value: Any) -> str:
    """Plain text of a snippet or title: tags dropped, entities decoded, spaces collapsed.

    >>> clean_text("The <strong>Odalven</strong> Ferns &amp; co")
    'The Odalven Ferns & co'
    """
    if not isinstance(value, str):
        return ""
    return " ".join(html.unescape(_TAG.sub("", value)).split())


_DATE_FORMATS = ("%B %d, %Y", "%b %d, %Y", "%d %B %Y", "%d %b %Y", "%Y/%m/%d", "%d.%m.%Y")


def iso_date(value: Any) -> str | None:
    """An ISO date (``YYYY-MM-DD``) from the date forms search APIs return, else None.

    Understands ISO timestamps (``2024-05-01T12:00:00Z``), RFC 2822 dates (``Wed, 01 May
    2024 10:00:00 GMT``) and written dates (``May 1, 2024``, ``1 May 2024``). Relative ages
    such as ``2 days ago`` give None: they depend on when the page was crawled.

    >>> [iso_date(v) for v in ("2024-05-01T12:00:00Z", "Wed, 01 May 2024 10:00:00 GMT",
    ...                        "May 1, 2024", "2 days ago", None)]
    ['2024-05-01', '2024-05-01', '2024-05-01', None, None]
    """
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    iso = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        return datetime.fromisoformat(iso).date().isoformat()
    except ValueError:
        pass
    try:
        return email.utils.parsedate_to_datetime(text).date().isoformat()
    except (TypeError, ValueError, IndexError):
        pass
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    return None


class SearchBackend(ABC):
    """One way to search: implement ``_search(query, k)``; ``search``/``asearch`` are derived.

    ``asearch`` runs ``_search`` in a worker thread unless a subclass overrides ``_asearch``
    (the HTTP backends do, with an async httpx client). Backends holding connections close
    them in :meth:`close` and work as context managers.

    Example:
        >>> from memagents.web.search import LocalSearch
        >>> with LocalSearch.from_pages([{"url": "https://a.test/", "title": "Alpha",
        ...                               "text": "alpha beta"}]) as backend:
        ...     [r.url for r in backend.search("alpha")]
        ['https://a.test/']
    """

    name: ClassVar[str] = "search"
    """Short name reported in :attr:`SearchResult.backend` and in errors."""

    def search(self, query: str, *, k: int = 10) -> list[SearchResult]:
        """Search for ``query``; return at most ``k`` results, best first, ranked from 1.

        Raises:
            InputError: empty query or ``k`` outside 1..100.
            SearchError: the backend failed (after retries for transient errors).
        """
        text, k = check_query(query, k)
        return _ranked(self._search(text, k), k)

    async def asearch(self, query: str, *, k: int = 10) -> list[SearchResult]:
        """Async twin of :meth:`search`."""
        text, k = check_query(query, k)
        return _ranked(await self._asearch(text, k), k)

    @abstractmethod
    def _search(self, query: str, k: int) -> list[SearchResult]:
        """Return up to ``k`` results for a checked query (ranks are renumbered after)."""

    async def _asearch(self, query: str, k: int) -> list[SearchResult]:
        return await asyncio.to_thread(self._search, query, k)

    def close(self) -> None:
        """Release connections the backend opened itself (injected clients stay open)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _ranked(results: list[SearchResult], k: int) -> list[SearchResult]:
    """Keep the first ``k`` and number them 1..k (results are frozen: rebuilt when needed)."""
    return [r if r.rank == i else replace(r, rank=i) for i, r in enumerate(results[:k], 1)]
