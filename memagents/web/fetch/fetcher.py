"""The polite and safe web fetcher: :class:`Fetcher`.

One fetch, step by step: check the URL (http/https, no credentials), answer from the cache if
fresh, then for each hop: pin and check the address (SSRF guard, resolve map), obey robots.txt,
wait for a per-host slot and interval, send one request (never letting httpx follow redirects),
retry a 429/503 after its ``Retry-After`` (bounded), follow a redirect ourselves (each target
checked again; loops and too many hops refused), refuse error statuses and unaccepted content
types, read the body under the size cap, decode and extract it, and cache the result.

Example:
    >>> import httpx
    >>> from memagents.web.fetch import Fetcher, FetchSettings
    >>> def site(request):
    ...     if request.url.path == "/robots.txt":
    ...         return httpx.Response(404)
    ...     return httpx.Response(200, html="<title>Hi</title><p>Hello, world.</p>")
    >>> async def resolver(host, port):
    ...     return ["93.184.215.14"]
    >>> client = httpx.AsyncClient(transport=httpx.MockTransport(site))
    >>> with Fetcher(FetchSettings(), client=client, resolver=resolver) as fetcher:
    ...     page = fetcher.fetch("https://site.example/hello")
    >>> page.title, page.text, page.status
    ('Hi', 'Hello, world.', 200)
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timezone
from types import TracebackType
from typing import Any, TypeVar

import httpx
from typing_extensions import Self

from memagents.errors import InputError, WebAccessDenied, WebFetchError
from memagents.web.fetch.addresses import Resolver, system_resolver
from memagents.web.fetch.cache import FetchedPage, MemoryPageCache, PageCache, SQLitePageCache
from memagents.web.fetch.extract import build_page
from memagents.web.fetch.politeness import Clock, HostLimiter, SystemClock
from memagents.web.fetch.robots import RobotsCache
from memagents.web.fetch.settings import FetchSettings
from memagents.web.fetch.transport import (
    Reply,
    check_url,
    exchange,
    normalize_url,
    pin,
    retry_after_seconds,
    status_error,
)

__all__ = ["Fetcher"]

T = TypeVar("T")
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_ROBOTS_MAX_BYTES = 512_000  # RFC 9309 asks crawlers to read at least 500 KiB
_ROBOTS_REDIRECTS = 5
_CLOSING: set[asyncio.Task[None]] = set()  # closings scheduled by close(), kept alive


class Fetcher:
    """Fetches web pages politely (robots.txt, per-host limits) and safely (SSRF guard, caps).

    Args:
        settings: Limits and policies (default: :meth:`FetchSettings.from_settings`).
        client: The ``httpx.AsyncClient`` to send requests with (default: one owned by the
            fetcher, closed by :meth:`aclose`). Its transport, limits, proxies and event hooks
            are used; its redirect setting, cookies, default headers and auth are not (redirects
            are followed by the fetcher, each target checked again; nothing private is sent
            to a crawled site).
        resolver: ``async (host, port) -> [ip, ...]`` (default: the event loop's
            ``getaddrinfo``). Every address must pass the SSRF check; the first is used.
        clock: Time source for waits, intervals and fetch times (default: the real clock).
        cache: Page cache (default: SQLite in ``settings.cache_dir``, else in memory).

    A fetcher belongs to one event loop: use either the async methods (``afetch``,
    ``afetch_many``, ``aclose``, ``async with``) from one loop, or the sync twins (``fetch``,
    ``fetch_many``, ``close``, ``with``), which run on a private loop and must not be called
    from inside a running loop.
    """

    def __init__(self, settings: FetchSettings | None = None, *,
                 client: httpx.AsyncClient | None = None, resolver: Resolver | None = None,
                 clock: Clock | None = None, cache: PageCache | None = None) -> None:
        self.settings = settings if settings is not None else FetchSettings.from_settings()
        s = self.settings
        self.clock: Clock = clock or SystemClock()
        self._client = client
        self._owns_client = client is None
        self._resolver: Resolver = resolver or system_resolver
        self._policy = s.policy
        if cache is None:
            cache = SQLitePageCache(s.cache_dir) if s.cache_dir else MemoryPageCache()
        self.cache: PageCache = cache
        self.limiter = HostLimiter(concurrency=s.per_host_concurrency,
                                   min_interval=s.min_interval, clock=self.clock)
        self.robots = RobotsCache(self._fetch_robots, s.user_agent, now=self.clock.time)
        self.requests = 0
        self.cache_hits = 0
        self._inflight: dict[str, asyncio.Future[FetchedPage]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sync_loop: asyncio.AbstractEventLoop | None = None
        self._worker: ThreadPoolExecutor | None = None
        self._headers = {
            "User-Agent": s.user_agent,
            "Accept": ", ".join(f"{t};q={1.0 if t != 'text/plain' else 0.8}"
                                for t in s.accept_types) + ", */*;q=0.1",
            "Accept-Encoding": "gzip, deflate",
        }

    # -- public API ------------------------------------------------------------------------

    async def afetch(self, url: str) -> FetchedPage:
        """Fetch one page (from the cache if fresh).

        Raises:
            WebAccessDenied: Refused by the SSRF guard, robots.txt, or as a bad URL/scheme.
            WebFetchError: Any other failure; ``reason`` says which.
            InputError: ``url`` is not a string.
        """
        self._bind()
        if not isinstance(url, str):
            raise InputError(f"a URL must be a string, got {type(url).__name__}.")
        key = normalize_url(url)
        stale = await self._cache_get(key)
        if stale is not None and self._fresh(stale[1]):
            self.cache_hits += 1
            return replace(stale[0], url=url, from_cache=True)
        running = self._inflight.get(key)
        if running is not None:
            page = await asyncio.shield(running)
            return replace(page, url=url, from_cache=True)
        future: asyncio.Future[FetchedPage] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            page = await self._download(url, stale[0] if stale else None)
            if self.settings.cache_max_age != 0:
                await self._cache_put(key, page)
            future.set_result(page)
            return page
        except BaseException as exc:
            if isinstance(exc, Exception):
                future.set_exception(exc)
                future.exception()  # retrieved: no "never retrieved" warning without waiters
            else:
                future.cancel()
            raise
        finally:
            del self._inflight[key]

    async def afetch_many(self, urls: Iterable[str], *, concurrency: int = 32
                          ) -> list[FetchedPage | WebFetchError]:
        """Fetch many pages concurrently; a failure is returned in its URL's place, not raised.

        Per-host limits apply across the whole run; ``concurrency`` caps fetches in flight.

        Raises:
            InputError: A URL is not a string (nothing is fetched).
        """
        todo = list(urls)
        bad = [u for u in todo if not isinstance(u, str)]
        if bad:
            raise InputError(f"URLs must be strings, got {type(bad[0]).__name__}.")
        gate = asyncio.Semaphore(max(1, concurrency))

        async def one(url: str) -> FetchedPage | WebFetchError:
            async with gate:
                try:
                    return await self.afetch(url)
                except WebFetchError as exc:
                    return exc

        return list(await asyncio.gather(*(one(u) for u in todo)))

    def fetch(self, url: str) -> FetchedPage:
        """Sync twin of :meth:`afetch` (not from inside a running event loop)."""
        return self._run(self.afetch(url))

    def fetch_many(self, urls: Iterable[str], *, concurrency: int = 32
                   ) -> list[FetchedPage | WebFetchError]:
        """Sync twin of :meth:`afetch_many`."""
        return self._run(self.afetch_many(urls, concurrency=concurrency))

    async def aclose(self) -> None:
        """Close the owned HTTP client, the worker thread and the cache."""
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None
        self._release()

    def close(self) -> None:
        """Sync twin of :meth:`aclose`; also closes the private loop of the sync methods.

        After ``await afetch`` in a loop that has closed (``asyncio.run`` returned), the owned
        client died with it and is dropped; in an open idle loop it is closed there; called
        from async code in that loop (a ``with`` block's exit), closing is scheduled on it.
        Raises :class:`InputError` when that loop runs in another thread.
        """
        loop = self._loop
        if loop is not None and loop is not self._sync_loop:  # used with `await afetch`
            try:
                here: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
            except RuntimeError:
                here = None
            if loop.is_closed():
                if self._owns_client:
                    self._client = None
                self._release()
            elif here is loop:
                task = loop.create_task(self.aclose())
                _CLOSING.add(task)
                task.add_done_callback(_CLOSING.discard)
            elif here is None and not loop.is_running():
                loop.run_until_complete(self.aclose())
            else:
                raise InputError("this Fetcher belongs to an event loop running in another "
                                 "thread; close it there with `await fetcher.aclose()`.")
            if self._sync_loop is not None:
                self._sync_loop.close()
                self._sync_loop = None
            return
        if self._sync_loop is None and not (self._owns_client and self._client is not None):
            self._release()
            return
        self._run(self.aclose())
        if self._sync_loop is not None:
            self._sync_loop.close()
            self._sync_loop = None

    def _release(self) -> None:
        if self._worker is not None:
            self._worker.shutdown(wait=False)
            self._worker = None
        self.cache.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- loops -----------------------------------------------------------------------------

    def _bind(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            raise InputError(
                "this Fetcher was first used in another event loop; its per-host limits and "
                "HTTP connections belong to that loop. Create one Fetcher per event loop, or "
                "use FetcherPool, which keeps one per loop (and do not mix fetch() with await "
                "afetch() on one fetcher).")

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            coro.close()
            raise InputError("Fetcher.fetch() cannot run inside a running event loop; use "
                             "`await fetcher.afetch(url)` there.")
        if self._sync_loop is None:
            self._sync_loop = asyncio.new_event_loop()
        return self._sync_loop.run_until_complete(coro)

    @property
    def client(self) -> httpx.AsyncClient:
        """The HTTP client (created on first use when none was injected)."""
        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=False, trust_env=False,
                                             timeout=self.settings.timeout)
        return self._client

    async def _in_worker(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run blocking work (extraction, SQLite) off the event loop, on one worker thread.

        One thread, not a pool: extraction is CPU-bound and holds the GIL, and several threads
        competing for it slow down the event loop's own socket work.
        """
        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1,
                                              thread_name_prefix="memagents-fetch")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker, functools.partial(fn, *args, **kwargs))

    # -- cache -----------------------------------------------------------------------------

    def _fresh(self, stored_at: float) -> bool:
        age = self.settings.cache_max_age
        return age is None or (age > 0 and self.clock.time() - stored_at < age)

    async def _cache_get(self, key: str) -> tuple[FetchedPage, float] | None:
        if self.settings.cache_max_age == 0:
            return None
        if self.cache.blocking:
            return await self._in_worker(self.cache.get, key)
        return self.cache.get(key)

    async def _cache_put(self, key: str, page: FetchedPage) -> None:
        if self.cache.blocking:
            await self._in_worker(self.cache.put, key, page, self.clock.time())
        else:
            self.cache.put(key, page, self.clock.time())

    # -- one fetch -------------------------------------------------------------------------

    async def _download(self, url: str, stale: FetchedPage | None) -> FetchedPage:
        s = self.settings
        current = check_url(url)
        seen = [normalize_url(current)]
        redirects: list[str] = []
        while True:
            conditional = _conditional(stale) if not redirects else {}
            reply = await self._request(current, extra=conditional,
                                        shown=str(current) if redirects else url)
            location = reply.headers.get("location")
            if reply.status in _REDIRECTS and location:
                target = check_url(current.join(location.strip()))
                key = normalize_url(target)
                redirects.append(str(current))
                if key in seen:
                    chain = " -> ".join([*redirects, str(target)])
                    raise WebFetchError(f"refused {url}: redirect loop ({chain}); the site is "
                                        "misconfigured.", url=url, reason="redirects")
                if len(redirects) > s.max_redirects:
                    raise WebFetchError(
                        f"refused {url}: more than {s.max_redirects} redirects (last: {target}); "
                        "the site is misconfigured, or raise FetchSettings(max_redirects=...).",
                        url=url, reason="redirects")
                seen.append(key)
                current = target
                continue
            if reply.status == 304 and stale is not None and not redirects:
                return replace(stale, url=url, from_cache=True, fetched_at=self._now_iso())
            if not 200 <= reply.status < 300:
                raise status_error(str(current), reply.status, url)
            return await self._in_worker(
                build_page, url, reply, tuple(redirects), accept_types=s.accept_types,
                fetched_at=self.clock.time())

    async def _request(self, url: httpx.URL, *, extra: dict[str, str] | None = None,
                       robots: bool = False, shown: str | None = None) -> Reply:
        """One hop: pin, robots, per-host slot, exchange, 429/503 retries."""
        s = self.settings
        target = await pin(url, policy=self._policy, resolve=s.resolve, resolver=self._resolver,
                           shown=shown)
        if not robots and s.respect_robots:
            rules = await self.robots.rules(url)
            if rules.delay:
                self.limiter.set_interval(target.host, min(rules.delay, s.max_crawl_delay))
            if not rules.allows(str(url)):
                why = "its rules disallow this path" if rules.parser is not None else rules.note
                raise WebAccessDenied(
                    f"refused {url}: robots.txt of {target.host} forbids it for user agent "
                    f"{s.user_agent!r} ({why}). Respect the site's wishes; for a site you run, "
                    "use FetchSettings(respect_robots=False).", url=str(url), reason="robots")
        headers = {**self._headers, **(extra or {})}
        attempt = 0
        while True:
            async with self.limiter.slot(target.host) as started:
                self.requests += 1
                reply = await exchange(
                    self.client, target, headers=headers, timeout=s.timeout,
                    max_bytes=_ROBOTS_MAX_BYTES if robots else s.max_bytes,
                    accept_types=None if robots else s.accept_types, on_send=started)
            if reply.status not in (429, 503) or attempt >= s.retries:
                return reply
            wait = retry_after_seconds(reply.headers, self.clock.time())
            if wait is None:
                wait = s.backoff * 2 ** attempt
            if wait > s.max_retry_wait:
                raise WebFetchError(
                    f"cannot fetch {url}: HTTP {reply.status} asks to retry after {wait:g} s, "
                    f"longer than FetchSettings(max_retry_wait={s.max_retry_wait:g}); try later.",
                    url=str(url), reason="status", status=reply.status)
            await self.clock.sleep(wait)
            attempt += 1

    async def _fetch_robots(self, robots_url: httpx.URL) -> tuple[int, bytes]:
        current = robots_url
        for _ in range(_ROBOTS_REDIRECTS + 1):
            reply = await self._request(current, robots=True)
            location = reply.headers.get("location")
            if reply.status in _REDIRECTS and location:
                current = check_url(current.join(location.strip()))
                continue
            return reply.status, reply.body
        raise WebFetchError(f"{robots_url}: too many redirects", url=str(robots_url),
                            reason="redirects")

    def _now_iso(self) -> str:
        return datetime.fromtimestamp(self.clock.time(), timezone.utc).isoformat(
            timespec="seconds")


def _conditional(stale: FetchedPage | None) -> dict[str, str]:
    if stale is None:
        return {}
    out = {}
    if stale.headers.get("etag"):
        out["If-None-Match"] = stale.headers["etag"]
    if stale.headers.get("last-modified"):
        out["If-Modified-Since"] = stale.headers["last-modified"]
    return out
