"""SearxNG: a self-hosted metasearch engine, through its JSON API.

``GET {url}/search?q=...&format=json&pageno=N`` answers ``{"query", "number_of_results",
"results": [{"url", "title", "content", "publishedDate", "engine", "engines", "score",
"category", ...}], "answers", "suggestions", "unresponsive_engines": [[engine, reason]]}``.
The JSON format must be enabled in the instance's ``settings.yml`` (``search: formats: [html,
json]``); otherwise SearxNG answers 403, which this backend explains. Public instances
usually disable it, and their limiter blocks scripts (429): run your own instance.

Example:
    >>> from memagents.testing import SearchServer
    >>> from memagents.web.search import SearxNGSearch
    >>> docs = [{"title": "Aeralla Mirith", "url": "https://wiki.firdoria.test/aeralla.html",
    ...          "content": "Aeralla Mirith is a keyboardist.", "published": "2021-04-01"}]
    >>> with SearchServer("searxng", documents=docs) as server:
    ...     hits = SearxNGSearch(server.base_url).search("keyboardist", k=5)
    >>> hits[0].title, hits[0].published, hits[0].backend
    ('Aeralla Mirith', '2021-04-01', 'searxng')
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from memagents.config import Settings, get_settings
from memagents.errors import ConfigError
from memagents.web.search._http import HttpSearchBackend, Request
from memagents.web.search.base import ErrorKind, SearchResult, clean_text, iso_date

__all__ = ["SearxNGSearch"]

logger = logging.getLogger(__name__)

TIME_RANGES = ("day", "week", "month", "year")


class SearxNGSearch(HttpSearchBackend):
    """Search through a SearxNG instance's JSON API.

    Args:
        url: The instance's root URL (``http://localhost:8080``); default: the
            ``searxng_url`` setting (``MEMAGENTS_SEARXNG_URL``).
        categories: Comma-separated SearxNG categories (``general``, ``news``, ``science``...).
        engines: Comma-separated engine names to use instead of the instance's defaults.
        language: Language code (``en``, ``de``...) or ``auto``.
        time_range: ``day``, ``week``, ``month`` or ``year``: only pages that recent.
        safesearch: 0 (off), 1 (moderate) or 2 (strict).
        settings: Settings to read ``searxng_url`` and the retry policy from.
        **http: Client, transport, timeout, retry and sleep options of
            :class:`~memagents.web.search._http.HttpSearchBackend`.

    Raises:
        ConfigError: no URL given or configured, or an option outside its accepted values.

    Example:
        >>> SearxNGSearch("http://localhost:8080", time_range="year")
        SearxNGSearch('http://localhost:8080')
    """

    name = "searxng"
    label = "SearxNG"
    setting_hint = "MEMAGENTS_SEARXNG_URL"

    def __init__(
        self,
        url: str | None = None,
        *,
        categories: str | None = None,
        engines: str | None = None,
        language: str | None = None,
        time_range: str | None = None,
        safesearch: int | None = None,
        settings: Settings | None = None,
        **http: Any,
    ) -> None:
        settings = settings or get_settings()
        url = url or settings.searxng_url
        if not url:
            raise ConfigError(
                "no SearxNG instance is configured: set MEMAGENTS_SEARXNG_URL (e.g. "
                "http://localhost:8080) or pass url=. Its settings.yml must list json in "
                "search.formats."
            )
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"the SearxNG URL {url!r} is not an http(s) URL: set MEMAGENTS_SEARXNG_URL to "
                "the instance's root, e.g. http://localhost:8080."
            )
        if time_range is not None and time_range not in TIME_RANGES:
            raise ConfigError(
                f"time_range={time_range!r} is not one of {', '.join(TIME_RANGES)}."
            )
        if safesearch is not None and safesearch not in (0, 1, 2):
            raise ConfigError(f"safesearch={safesearch!r} must be 0, 1 or 2.")
        super().__init__(settings=settings, **http)
        self.url = url.strip().rstrip("/")
        options = {"categories": categories, "engines": engines, "language": language,
                   "time_range": time_range, "safesearch": safesearch}
        self._options = {key: value for key, value in options.items() if value is not None}

    @property
    def where(self) -> str:
        return self.url

    def _request(self, query: str, k: int, page: int) -> Request:
        params = {"q": query, "format": "json", "pageno": page + 1, **self._options}
        return Request("GET", f"{self.url}/search", params=params)

    def _parse(self, payload: Any) -> list[SearchResult]:
        results = payload.get("results") if isinstance(payload, dict) else None
        if not isinstance(results, list):
            raise self._bad_response("JSON without a 'results' list")
        out = []
        for item in results:
            if not isinstance(item, dict) or not isinstance(item.get("url"), str):
                continue
            score = item.get("score")
            out.append(SearchResult(
                title=clean_text(item.get("title")) or item["url"],
                url=item["url"],
                snippet=clean_text(item.get("content")),
                published=iso_date(item.get("publishedDate") or item.get("pubdate")),
                backend=self.name,
                rank=len(out) + 1,
                score=float(score) if isinstance(score, (int, float)) else None,
            ))
        if not out and payload.get("unresponsive_engines"):
            failed = ", ".join(
                " ".join(str(x) for x in e) if isinstance(e, list) else str(e)
                for e in payload["unresponsive_engines"]
            )
            logger.warning("SearxNG found nothing; engines that did not answer: %s", failed)
        return out

    def _advice(self, status: int, detail: str) -> tuple[ErrorKind, str]:
        if status == 403:
            return "forbidden", (
                f"the instance at {self.url} refuses format=json. Enable its JSON API: add "
                "json to search.formats in its settings.yml (search: formats: [html, json]) "
                "and restart it."
            )
        if status == 401:
            return "auth", (
                f"the instance at {self.url} asks for a login (a proxy in front of it?): pass "
                "client=httpx.Client(auth=...) with its credentials, or set "
                "MEMAGENTS_SEARXNG_URL to an instance that needs none."
            )
        if status == 429:
            return "rate_limited", (
                f"the instance at {self.url} rate-limits or blocks scripted requests (its "
                "limiter): retry later, or use your own instance with server.limiter: false."
            )
        return super()._advice(status, detail)
