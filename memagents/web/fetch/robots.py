"""robots.txt per origin, parsed with protego and cached, with RFC 9309's failure rules.

The fetcher fetches ``/robots.txt`` once per origin (scheme, host, port) through its own safe
path (SSRF check, resolve map, size cap, up to five redirects) and keeps the rules for a day.
What an answer means (RFC 9309, section 2.3.1):

* 2xx: the rules apply (matched against the fetcher's user agent);
* 4xx (but 429), or more than five redirects: "unavailable", everything is allowed;
* 429, 5xx, a network failure or timeout: "unreachable", everything is disallowed (and asked
  again after ``retry_after`` seconds, 5 minutes by default).

``Crawl-delay`` and ``Request-rate`` become the host's minimum interval between requests,
capped at ``FetchSettings.max_crawl_delay``.

Example:
    >>> from memagents.web.fetch.robots import RobotsRules
    >>> rules = RobotsRules.parse("User-agent: *\\nDisallow: /private/\\nCrawl-delay: 2\\n",
    ...                           "memagents-fetcher/0.1")
    >>> rules.allows("https://a.test/private/x"), rules.allows("https://a.test/"), rules.delay
    (False, True, 2.0)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from memagents.errors import WebFetchError

__all__ = ["RobotsCache", "RobotsRules", "origin_of"]

RobotsFetch = Callable[[httpx.URL], Awaitable[tuple[int, bytes]]]
"""``async (robots_url) -> (status, body)``; raises :class:`WebFetchError` when unreachable."""


def origin_of(url: httpx.URL) -> str:
    """``scheme://host:port`` of a URL (the unit robots.txt applies to).

    Example:
        >>> origin_of(httpx.URL("https://A.test/x?y"))
        'https://a.test:443'
    """
    port = url.port or (443 if url.scheme == "https" else 80)
    host = url.raw_host.decode("ascii").lower()
    return f"{url.scheme}://{host}:{port}"


@dataclass(frozen=True)
class RobotsRules:
    """The robots.txt rules of one origin for one user agent.

    Attributes:
        user_agent: The user agent rules are matched against.
        parser: The protego parser, or None when everything is allowed or disallowed.
        allow_all: With no parser: True if everything is allowed, False if nothing is.
        delay: Seconds between requests the site asks for (Crawl-delay / Request-rate), or 0.
        note: Why the rules are what they are (``'HTTP 404: allow all'``...).
    """

    user_agent: str
    parser: Any = None
    allow_all: bool = True
    delay: float = 0.0
    note: str = "rules"

    @classmethod
    def parse(cls, text: str, user_agent: str) -> RobotsRules:
        """Parse a robots.txt body."""
        from protego import Protego

        parser = Protego.parse(text)
        delay = parser.crawl_delay(user_agent) or 0.0
        rate = parser.request_rate(user_agent)
        if rate is not None and rate.requests:
            delay = max(delay, rate.seconds / rate.requests)
        return cls(user_agent, parser, True, float(delay), "rules")

    def allows(self, url: str) -> bool:
        """Whether the rules let this user agent fetch ``url``."""
        if self.parser is None:
            return self.allow_all
        return bool(self.parser.can_fetch(url, self.user_agent))


class RobotsCache:
    """Fetches, parses and caches robots.txt rules per origin (one fetch at a time per origin).

    Args:
        fetch: Downloads a robots.txt URL (see :data:`RobotsFetch`).
        user_agent: The user agent rules are matched against.
        now: Wall-clock seconds (for expiry).
        ttl: Seconds rules stay cached (RFC 9309 asks for at most a day).
        retry_after: Seconds an "unreachable" verdict stays cached.

    Example:
        >>> import asyncio
        >>> async def fetch(url):
        ...     return 404, b""
        >>> cache = RobotsCache(fetch, "bot/1", now=lambda: 0.0)
        >>> asyncio.run(cache.rules(httpx.URL("https://a.test/page"))).note
        'HTTP 404: no robots.txt, everything allowed'
    """

    def __init__(self, fetch: RobotsFetch, user_agent: str, *, now: Callable[[], float],
                 ttl: float = 86_400.0, retry_after: float = 300.0) -> None:
        self._fetch = fetch
        self.user_agent = user_agent
        self._now = now
        self.ttl = ttl
        self.retry_after = retry_after
        self._rules: dict[str, tuple[RobotsRules, float]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.fetches = 0

    async def rules(self, url: httpx.URL) -> RobotsRules:
        """The rules for ``url``'s origin, fetching robots.txt if not cached or expired."""
        origin = origin_of(url)
        cached = self._fresh(origin)
        if cached is not None:
            return cached
        lock = self._locks.setdefault(origin, asyncio.Lock())
        async with lock:
            cached = self._fresh(origin)
            if cached is not None:
                return cached
            rules = await self._load(url.copy_with(path="/robots.txt", query=None, fragment=None))
            ttl = self.retry_after if rules.parser is None and not rules.allow_all else self.ttl
            self._rules[origin] = (rules, self._now() + ttl)
            return rules

    def _fresh(self, origin: str) -> RobotsRules | None:
        entry = self._rules.get(origin)
        if entry is not None and entry[1] > self._now():
            return entry[0]
        return None

    async def _load(self, robots_url: httpx.URL) -> RobotsRules:
        self.fetches += 1
        ua = self.user_agent
        try:
            status, body = await self._fetch(robots_url)
        except WebFetchError as exc:
            if exc.reason == "redirects":
                return RobotsRules(ua, None, True, 0.0, "too many redirects: everything allowed")
            if exc.reason == "status" and exc.status is not None:
                status, body = exc.status, b""
            else:
                return RobotsRules(ua, None, False, 0.0,
                                   f"unreachable ({exc.reason}): everything disallowed")
        if 200 <= status < 300:
            return RobotsRules.parse(body.decode("utf-8", errors="replace"), ua)
        if 400 <= status < 500 and status != 429:
            return RobotsRules(ua, None, True, 0.0,
                               f"HTTP {status}: no robots.txt, everything allowed")
        return RobotsRules(ua, None, False, 0.0, f"HTTP {status}: everything disallowed")
