"""Brave Search: the Brave Search API's web endpoint.

``GET https://api.search.brave.com/res/v1/web/search`` with the key in the
``X-Subscription-Token`` header and ``q``, ``count`` (at most 20), ``offset`` (page index in
units of ``count``, at most 9) and optional ``freshness`` (``pd``, ``pw``, ``pm``, ``py`` or
``YYYY-MM-DDtoYYYY-MM-DD``). It answers ``{"type": "search", "query": {...}, "web":
{"results": [{"title", "url", "description", "age", "page_age", ...}]}}``; descriptions carry
``<strong>`` highlights, removed here. Errors come as ``{"type": "ErrorResponse", "error":
{"status", "code", "detail"}}``; a wrong key is answered 401 or 422 with code
``SUBSCRIPTION_TOKEN_INVALID``. Rate limits send ``X-RateLimit-Reset`` (seconds per window),
honoured when there is no ``Retry-After``.

Example:
    >>> from memagents.testing import SearchServer
    >>> from memagents.web.search import BraveSearch
    >>> docs = [{"title": "Aeralla Mirith", "url": "https://wiki.firdoria.test/aeralla.html",
    ...          "content": "Aeralla Mirith is a keyboardist.", "published": "2021-04-01"}]
    >>> with SearchServer("brave", documents=docs, api_key="key") as server:
    ...     hits = BraveSearch("key", base_url=server.base_url).search("keyboardist")
    >>> hits[0].snippet, hits[0].published
    ('Aeralla Mirith is a keyboardist.', '2021-04-01')
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from pydantic import SecretStr

from memagents.config import Settings, get_settings
from memagents.errors import ConfigError
from memagents.web.search._http import HttpSearchBackend, Request, secret
from memagents.web.search.base import ErrorKind, SearchResult, clean_text, iso_date

__all__ = ["BraveSearch"]

DEFAULT_URL = "https://api.search.brave.com"
PATH = "/res/v1/web/search"
MAX_COUNT = 20
MAX_OFFSET = 9
_FRESHNESS = re.compile(r"^(pd|pw|pm|py|\d{4}-\d{2}-\d{2}to\d{4}-\d{2}-\d{2})$")


class BraveSearch(HttpSearchBackend):
    """Search the web through the Brave Search API.

    Args:
        api_key: The subscription token; default: the ``brave_api_key`` setting
            (``MEMAGENTS_BRAVE_API_KEY``, or ``BRAVE_SEARCH_API_KEY``).
        base_url: API root (tests point it at a loopback server).
        freshness: ``pd``, ``pw``, ``pm``, ``py`` (past day/week/month/year) or
            ``YYYY-MM-DDtoYYYY-MM-DD``.
        country: Two-letter country code of the results (``us``, ``de``...).
        search_lang: Language code of the results (``en``...).
        safesearch: ``off``, ``moderate`` or ``strict``.
        settings: Settings to read the key and the retry policy from.
        **http: Client, transport, timeout, retry and sleep options of
            :class:`~memagents.web.search._http.HttpSearchBackend`.

    Raises:
        ConfigError: no key given or configured, or an option outside its accepted values.

    Example:
        >>> BraveSearch("my-key", freshness="pw")
        BraveSearch('https://api.search.brave.com')
    """

    name = "brave"
    label = "Brave Search"
    setting_hint = "MEMAGENTS_BRAVE_API_KEY (or BRAVE_SEARCH_API_KEY)"

    def __init__(
        self,
        api_key: str | SecretStr | None = None,
        *,
        base_url: str = DEFAULT_URL,
        freshness: str | None = None,
        country: str | None = None,
        search_lang: str | None = None,
        safesearch: str | None = None,
        settings: Settings | None = None,
        **http: Any,
    ) -> None:
        settings = settings or get_settings()
        key = secret(api_key) or secret(settings.brave_api_key)
        if not key:
            raise ConfigError(
                "no Brave Search API key: set MEMAGENTS_BRAVE_API_KEY (or "
                "BRAVE_SEARCH_API_KEY), or pass api_key=. Keys: https://brave.com/search/api/"
            )
        if freshness is not None and not _FRESHNESS.match(freshness):
            raise ConfigError(
                f"freshness={freshness!r} is not pd, pw, pm, py or YYYY-MM-DDtoYYYY-MM-DD."
            )
        if safesearch is not None and safesearch not in ("off", "moderate", "strict"):
            raise ConfigError(f"safesearch={safesearch!r} must be off, moderate or strict.")
        super().__init__(settings=settings, **http)
        self._key = key
        self.base_url = base_url.rstrip("/")
        options = {"freshness": freshness, "country": country, "search_lang": search_lang,
                   "safesearch": safesearch}
        self._options = {name: value for name, value in options.items() if value is not None}

    @property
    def where(self) -> str:
        return self.base_url

    def _request(self, query: str, k: int, page: int) -> Request | None:
        if page > MAX_OFFSET:
            return None
        params = {"q": query, "count": min(k, MAX_COUNT), "offset": page, **self._options}
        return Request("GET", self.base_url + PATH, params=params,
                       headers={"X-Subscription-Token": self._key})

    def _parse(self, payload: Any) -> list[SearchResult]:
        if not isinstance(payload, dict) or not (
            payload.get("type") == "search" or "web" in payload
        ):
            raise self._bad_response("JSON that is not a web search response")
        web = payload.get("web") or {}
        items = web.get("results") if isinstance(web, dict) else None
        out: list[SearchResult] = []
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict) or not isinstance(item.get("url"), str):
                continue
            out.append(SearchResult(
                title=clean_text(item.get("title")) or item["url"],
                url=item["url"],
                snippet=clean_text(item.get("description")),
                published=iso_date(item.get("page_age")) or iso_date(item.get("age")),
                backend=self.name,
                rank=len(out) + 1,
            ))
        return out

    def _more(self, payload: Any) -> bool:
        query = payload.get("query") if isinstance(payload, dict) else None
        return not isinstance(query, dict) or query.get("more_results_available") is not False

    def _detail(self, payload: Any, text: str) -> str:
        error = payload.get("error") if isinstance(payload, dict) else None
        if isinstance(error, dict):
            parts = [str(error.get(key)) for key in ("code", "detail") if error.get(key)]
            return ": ".join(parts)
        return super()._detail(payload, text)

    def _advice(self, status: int, detail: str) -> tuple[ErrorKind, str]:
        if status in (401, 403) or "SUBSCRIPTION_TOKEN_INVALID" in detail:
            return "auth", (
                f"the subscription token was refused ({detail or 'no detail'}): check "
                f"{self.setting_hint}."
            )
        return super()._advice(status, detail)

    def _retry_after(self, response: httpx.Response) -> float | None:
        reset = response.headers.get("x-ratelimit-reset")
        if not reset:
            return None
        try:
            return max(0.0, float(reset.split(",")[0]))
        except ValueError:
            return None
