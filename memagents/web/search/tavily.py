"""Tavily: a search API made for agents.

``POST https://api.tavily.com/search`` with ``Authorization: Bearer <key>`` and a JSON body
``{"query", "max_results" (0-20), "search_depth" (basic, advanced, fast, ultra-fast), "topic"
(general, news, finance), "time_range", "include_answer", "include_raw_content",
"include_domains", "exclude_domains"}``. It answers ``{"query", "answer", "results":
[{"title", "url", "content", "score", "raw_content", "published_date"}], "response_time",
"request_id"}`` (``published_date`` comes with ``topic="news"``). Errors come as
``{"detail": {"error": "..."}}``: 401 bad key, 429 rate limit, 432/433 plan or spending limit.

**Why httpx and not the official ``tavily-python`` client** (0.8.5 checked): its sync
``TavilyClient`` sends through ``requests`` (no httpx client or transport can be injected,
so it cannot share the fetcher's transport, retry policy or the tests' loopback wiring); its
errors drop the response (a 429 becomes ``UsageLimitExceededError(detail)`` without the
``Retry-After`` header, a 5xx a bare ``requests.HTTPError``), so the shared retry policy cannot
honour the server's wait; and without a key it silently switches to a "keyless" mode instead of
telling the user which setting to set. The wire format is a single JSON POST, so it is spoken
here directly, with the same fields the official client sends.

Example:
    >>> from memagents.testing import SearchServer
    >>> from memagents.web.search import TavilySearch
    >>> docs = [{"title": "Aeralla Mirith", "url": "https://wiki.firdoria.test/aeralla.html",
    ...          "content": "Aeralla Mirith is a keyboardist."}]
    >>> with SearchServer("tavily", documents=docs, api_key="tvly-key") as server:
    ...     hits = TavilySearch("tvly-key", base_url=server.base_url).search("keyboardist")
    >>> hits[0].url, hits[0].score is not None
    ('https://wiki.firdoria.test/aeralla.html', True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import SecretStr

from memagents.config import Settings, get_settings
from memagents.errors import ConfigError
from memagents.web.search._http import HttpSearchBackend, Request, secret
from memagents.web.search.base import ErrorKind, SearchResult, clean_text, iso_date

__all__ = ["TavilySearch"]

DEFAULT_URL = "https://api.tavily.com"
MAX_RESULTS = 20
DEPTHS = ("basic", "advanced", "fast", "ultra-fast")
TOPICS = ("general", "news", "finance")
TIME_RANGES = ("day", "week", "month", "year")


class TavilySearch(HttpSearchBackend):
    """Search the web through the Tavily API (at most 20 results per search).

    Args:
        api_key: The API key (``tvly-...``); default: the ``tavily_api_key`` setting
            (``MEMAGENTS_TAVILY_API_KEY``, or ``TAVILY_API_KEY``).
        base_url: API root (tests point it at a loopback server).
        search_depth: ``basic`` (1 credit), ``advanced`` (2 credits), ``fast`` or
            ``ultra-fast``.
        topic: ``general``, ``news`` (results carry publication dates) or ``finance``.
        time_range: ``day``, ``week``, ``month`` or ``year``.
        include_domains: Only search these domains.
        exclude_domains: Never return these domains.
        settings: Settings to read the key and the retry policy from.
        **http: Client, transport, timeout, retry and sleep options of
            :class:`~memagents.web.search._http.HttpSearchBackend`.

    Raises:
        ConfigError: no key given or configured, or an option outside its accepted values.

    Example:
        >>> TavilySearch("tvly-key", topic="news")
        TavilySearch('https://api.tavily.com')
    """

    name = "tavily"
    label = "Tavily"
    setting_hint = "MEMAGENTS_TAVILY_API_KEY (or TAVILY_API_KEY)"
    max_pages = 1

    def __init__(
        self,
        api_key: str | SecretStr | None = None,
        *,
        base_url: str = DEFAULT_URL,
        search_depth: str = "basic",
        topic: str = "general",
        time_range: str | None = None,
        include_domains: Sequence[str] = (),
        exclude_domains: Sequence[str] = (),
        settings: Settings | None = None,
        **http: Any,
    ) -> None:
        settings = settings or get_settings()
        key = secret(api_key) or secret(settings.tavily_api_key)
        if not key:
            raise ConfigError(
                "no Tavily API key: set MEMAGENTS_TAVILY_API_KEY (or TAVILY_API_KEY), or pass "
                "api_key=. Keys: https://app.tavily.com"
            )
        for option, value, accepted in (("search_depth", search_depth, DEPTHS),
                                         ("topic", topic, TOPICS),
                                         ("time_range", time_range, (None, *TIME_RANGES))):
            if value not in accepted:
                choices = ", ".join(a for a in accepted if a)
                raise ConfigError(f"{option}={value!r} is not one of {choices}.")
        super().__init__(settings=settings, **http)
        self._key = key
        self.base_url = base_url.rstrip("/")
        self._body: dict[str, Any] = {"search_depth": search_depth, "topic": topic,
                                      "include_answer": False, "include_raw_content": False}
        if time_range:
            self._body["time_range"] = time_range
        if include_domains:
            self._body["include_domains"] = list(include_domains)
        if exclude_domains:
            self._body["exclude_domains"] = list(exclude_domains)

    @property
    def where(self) -> str:
        return self.base_url

    def _request(self, query: str, k: int, page: int) -> Request | None:
        if page > 0:
            return None
        body = {"query": query, "max_results": min(k, MAX_RESULTS), **self._body}
        return Request("POST", f"{self.base_url}/search", json=body,
                       headers={"Authorization": f"Bearer {self._key}"})

    def _parse(self, payload: Any) -> list[SearchResult]:
        results = payload.get("results") if isinstance(payload, dict) else None
        if not isinstance(results, list):
            raise self._bad_response("JSON without a 'results' list")
        out: list[SearchResult] = []
        for item in results:
            if not isinstance(item, dict) or not isinstance(item.get("url"), str):
                continue
            score = item.get("score")
            out.append(SearchResult(
                title=clean_text(item.get("title")) or item["url"],
                url=item["url"],
                snippet=clean_text(item.get("content")),
                published=iso_date(item.get("published_date")),
                backend=self.name,
                rank=len(out) + 1,
                score=float(score) if isinstance(score, (int, float)) else None,
            ))
        return out

    def _detail(self, payload: Any, text: str) -> str:
        detail = payload.get("detail") if isinstance(payload, dict) else None
        if isinstance(detail, dict):
            detail = detail.get("error") or detail.get("message")
        if isinstance(detail, str) and detail.strip():
            return clean_text(detail)[:200]
        return super()._detail(payload, text)

    def _advice(self, status: int, detail: str) -> tuple[ErrorKind, str]:
        if status in (432, 433):
            return "rate_limited", (
                f"the plan's credit or spending limit is reached ({detail or status}): "
                "upgrade the plan, raise the limit, or wait for the monthly reset."
            )
        return super()._advice(status, detail)
