"""A polite and safe web page fetcher on an injected ``httpx.AsyncClient``.

* :class:`Fetcher`: ``await fetcher.afetch(url)`` / ``fetcher.fetch(url)``, ``afetch_many``;
  robots.txt (protego), per-host concurrency and interval, timeouts, size caps (after
  decompression), redirects followed and checked hop by hop, content-type and status handling,
  429/503 backoff, charset repair, extraction (trafilatura, htmldate) and a page cache.
* :class:`FetchSettings`: the limits and policies, from the project settings with
  :meth:`FetchSettings.from_settings` (``MEMAGENTS_WEB_ALLOW_HOSTS``, ``MEMAGENTS_WEB_RESOLVE``,
  ``MEMAGENTS_WEB_USER_AGENT``, ``MEMAGENTS_WEB_CACHE_DIR``).
* :class:`FetcherPool`: one fetcher per event loop, for a graph run from several loops
  (LangGraph Server's, scripts', threads').
* :class:`FetchedPage`: the result; its text is data from the web, never instructions.
* SSRF protection (:mod:`memagents.web.fetch.addresses`): private, loopback, link-local,
  CGNAT, multicast, reserved and metadata addresses are refused in every spelling, after DNS
  resolution and after every redirect, unless allowlisted.
* Failures raise :class:`~memagents.errors.WebFetchError` with a ``reason``
  (:class:`~memagents.errors.WebAccessDenied` for deliberate refusals).

Example:
    >>> from memagents.web.fetch import FetchSettings, parse_ip_host
    >>> str(parse_ip_host("2130706433")), FetchSettings().max_redirects
    ('127.0.0.1', 5)
"""

from __future__ import annotations

from memagents.errors import WebAccessDenied, WebFetchError
from memagents.web.fetch.addresses import HostPolicy, Resolver, parse_ip_host, system_resolver
from memagents.web.fetch.cache import FetchedPage, MemoryPageCache, PageCache, SQLitePageCache
from memagents.web.fetch.fetcher import Fetcher
from memagents.web.fetch.politeness import Clock, HostLimiter, ManualClock, SystemClock
from memagents.web.fetch.pool import FetcherPool
from memagents.web.fetch.robots import RobotsRules
from memagents.web.fetch.settings import FetchSettings
from memagents.web.fetch.transport import normalize_url

__all__ = [
    "Clock",
    "FetchSettings",
    "FetchedPage",
    "Fetcher",
    "FetcherPool",
    "HostLimiter",
    "HostPolicy",
    "ManualClock",
    "MemoryPageCache",
    "PageCache",
    "Resolver",
    "RobotsRules",
    "SQLitePageCache",
    "SystemClock",
    "WebAccessDenied",
    "WebFetchError",
    "normalize_url",
    "parse_ip_host",
    "system_resolver",
]
