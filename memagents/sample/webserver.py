"""Serve the sample world's website on loopback: all its domains on one port, by ``Host`` header.

The offline web's pages keep their canonical ``https://domain/path`` URLs; this server speaks
plain HTTP on ``127.0.0.1`` and picks the domain from the request's ``Host`` header (or from an
absolute request target), so one port serves every domain. A client reaches a page by
connecting to ``127.0.0.1:PORT`` with ``Host: domain``: the fetcher does it through its resolve
map (``MEMAGENTS_WEB_RESOLVE``, :attr:`WebServer.resolve_setting`), httpx clients through
:meth:`WebServer.transport`.

Pages are ``text/html; charset=utf-8`` with ``Last-Modified`` (the page date) and an ``ETag``
(conditional requests get 304), ``/robots.txt`` is ``text/plain``, unknown paths and hosts get
404, methods other than GET and HEAD 405. :meth:`WebServer.use` / :meth:`WebServer.set_snapshot`
switch the served snapshot while running, and the server counts requests per host and the
most requests in flight at once per host, so a crawler's politeness can be measured.

Example:
    >>> import httpx
    >>> from memagents.sample import SampleWorld
    >>> world = SampleWorld.generate(0, size="tiny")
    >>> with serve_website(world) as server, httpx.Client(transport=server.transport()) as client:
    ...     home = client.get(world.website.home(server.hosts[0]))
    ...     robots = client.get(f"https://{server.hosts[0]}/robots.txt")
    >>> home.status_code, robots.text.splitlines()[1], server.counts()[server.hosts[0]]
    (200, 'Disallow: /private/', 2)
"""

from __future__ import annotations

import errno
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Self
from urllib.parse import urlsplit

from memagents.errors import InputError
from memagents.sample._webwire import Handler, LoopbackServer, Reply, answer
from memagents.sample.website import Website, normalize_url
from memagents.sample.world import SampleWorld

if TYPE_CHECKING:
    import httpx

__all__ = ["PortInUseError", "RequestRecord", "WebServer", "serve_website"]


class PortInUseError(InputError):
    """The port asked for is taken by another program."""


@dataclass(frozen=True)
class RequestRecord:
    """One request the server answered.

    Example:
        >>> RequestRecord("wiki.x.test", "GET", "/", 200).status
        200
    """

    host: str
    method: str
    path: str
    status: int


class WebServer:
    """A loopback HTTP server serving one :class:`Website` under all its domain names.

    Args:
        site: A website, or a world (whose snapshots :meth:`set_snapshot` can switch to).
        host: Address to listen on (loopback only, the default ``127.0.0.1``).
        port: Port; 0 picks a free one.
        latency: Seconds each request waits before its reply (to make requests overlap).
        on_request: Called as ``on_request(host, path)`` while each request is in flight, in
            the request's thread (tests use a barrier there to hold requests together).

    Raises:
        PortInUseError: If ``port`` is taken.
        InputError: If ``site`` is neither a website nor a world, or the port cannot be used.

    Example:
        >>> from memagents.sample import SampleWorld
        >>> with WebServer(SampleWorld.generate(0, size="tiny")) as server:
        ...     setting = server.resolve_setting
        >>> setting.count("=127.0.0.1:"), setting.startswith("catalog.")
        (4, True)
    """

    def __init__(self, site: Website | SampleWorld, *, host: str = "127.0.0.1", port: int = 0,
                 latency: float = 0.0, on_request: Callable[[str, str], None] | None = None
                 ) -> None:
        self.host = host
        self.latency = float(latency)
        self.on_request = on_request
        self._world: SampleWorld | None = None
        self._site = self._website(site)
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []
        self._in_flight: Counter[str] = Counter()
        self._peak: Counter[str] = Counter()
        try:
            self._httpd = LoopbackServer((host, port), Handler)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(f"port {port} on {host} is in use; pick another port, or 0 "
                                     "for a free one.") from None
            raise InputError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); pick a "
                             "port above 1023, or 0 for a free one.") from None
        self._httpd.app = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    def _website(self, site: Website | SampleWorld) -> Website:
        if isinstance(site, SampleWorld):
            self._world = site
            return site.website
        if isinstance(site, Website):
            return site
        raise InputError(f"serve a Website or a SampleWorld, got {type(site).__name__}; e.g. "
                         "serve_website(SampleWorld.generate(0)).")

    # -- life cycle -------------------------------------------------------------------------
    def start(self) -> Self:
        """Serve in a background thread (idempotent); returns the server."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,),
                                            name=f"offline-web:{self.port}", daemon=True)
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`close` is called from another one."""
        self._httpd.serve_forever(0.05)

    def close(self) -> None:
        """Stop serving and free the port."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- addresses --------------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The port served on."""
        return int(self._httpd.server_address[1])

    @property
    def address(self) -> str:
        """``"127.0.0.1:PORT"``."""
        return f"{self.host}:{self.port}"

    @property
    def hosts(self) -> tuple[str, ...]:
        """The domains served (sorted)."""
        return self._site.domains

    @property
    def resolve(self) -> dict[str, str]:
        """Domain -> ``"127.0.0.1:PORT"``."""
        return {h: self.address for h in self.hosts}

    @property
    def resolve_setting(self) -> str:
        """The ``web_resolve`` setting (``MEMAGENTS_WEB_RESOLVE``): ``"HOST=IP:PORT,..."``."""
        return ",".join(f"{h}={a}" for h, a in self.resolve.items())

    @property
    def allow_hosts_setting(self) -> str:
        """The ``web_allow_hosts`` setting: the domains and the loopback address they map to."""
        return ",".join((*self.hosts, self.host))

    @property
    def environment(self) -> dict[str, str]:
        """The environment variables a fetcher needs to reach this server."""
        return {"MEMAGENTS_WEB_RESOLVE": self.resolve_setting,
                "MEMAGENTS_WEB_ALLOW_HOSTS": self.allow_hosts_setting}

    def url(self, page_url: str) -> str:
        """The loopback URL of a page (send ``Host:`` its domain, see :meth:`headers_for`)."""
        return f"http://{self.address}{urlsplit(normalize_url(page_url)).path}"

    def headers_for(self, page_url: str) -> dict[str, str]:
        """``{"Host": domain}`` for a request to :meth:`url` of ``page_url``."""
        return {"Host": urlsplit(normalize_url(page_url)).hostname or ""}

    # -- what is served ---------------------------------------------------------------------
    @property
    def website(self) -> Website:
        """The website served now."""
        return self._site

    @property
    def snapshot(self) -> int | None:
        """The snapshot index served, or None when serving a bare website."""
        return self._world.snapshot_index if self._world is not None else None

    def use(self, site: Website | SampleWorld) -> None:
        """Serve another website or world from the next request on."""
        self._world = None
        self._site = self._website(site)

    def set_snapshot(self, index: int) -> SampleWorld:
        """Serve snapshot ``index`` of the world being served; returns that world.

        Raises:
            InputError: If a bare website is served (no world to take snapshots of).
        """
        if self._world is None:
            raise InputError("set_snapshot needs a world: start the server with a SampleWorld "
                             "(serve_website(world)), or call use(website) instead.")
        world = self._world.snapshot(index)
        self.use(world)
        return world

    # -- statistics -------------------------------------------------------------------------
    @property
    def requests(self) -> list[RequestRecord]:
        """Every request answered so far, in order."""
        with self._lock:
            return list(self._records)

    def counts(self) -> dict[str, int]:
        """Requests answered per host (the ``Host`` header as sent)."""
        with self._lock:
            return dict(sorted(Counter(r.host for r in self._records).items()))

    def max_in_flight(self) -> dict[str, int]:
        """The most requests being answered at once, per host."""
        with self._lock:
            return dict(sorted(self._peak.items()))

    def reset_stats(self) -> None:
        """Forget the requests and peaks recorded so far."""
        with self._lock:
            self._records.clear()
            self._peak = Counter(self._in_flight)

    # -- answering --------------------------------------------------------------------------
    def respond(self, host: str, method: str, path: str, headers: Mapping[str, str]) -> Reply:
        """Answer one request (status, headers, body); the HTTP handler calls it."""
        with self._lock:
            self._in_flight[host] += 1
            self._peak[host] = max(self._peak[host], self._in_flight[host])
        status = 500  # unless answered: an on_request hook failed
        try:
            if self.latency > 0:
                time.sleep(self.latency)
            if self.on_request is not None:
                self.on_request(host, path)
            reply = answer(self._site, host, method, path, headers)
            status = reply[0]
            return reply
        finally:
            with self._lock:
                self._in_flight[host] -= 1
                self._records.append(RequestRecord(host, method, path, status))

    # -- clients ----------------------------------------------------------------------------
    def transport(self) -> httpx.BaseTransport:
        """An httpx transport sending ``https://domain/...`` requests to this server.

        Requests for the served domains go over real loopback sockets as plain HTTP with the
        domain in ``Host``; other hosts raise ``httpx.ConnectError``.
        """
        import httpx

        inner, route = httpx.HTTPTransport(), self._route

        class _Transport(httpx.BaseTransport):
            def handle_request(self, request: httpx.Request) -> httpx.Response:
                return inner.handle_request(route(request))

            def close(self) -> None:
                inner.close()

        return _Transport()

    def async_transport(self) -> httpx.AsyncBaseTransport:
        """The asynchronous twin of :meth:`transport`."""
        import httpx

        inner, route = httpx.AsyncHTTPTransport(), self._route

        class _Transport(httpx.AsyncBaseTransport):
            async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
                return await inner.handle_async_request(route(request))

            async def aclose(self) -> None:
                await inner.aclose()

        return _Transport()

    def _route(self, request: httpx.Request) -> httpx.Request:
        import httpx

        host = request.url.host
        if host not in self._site.robots:
            raise httpx.ConnectError(f"{host} is outside the offline web", request=request)
        request.url = request.url.copy_with(scheme="http", host=self.host, port=self.port)
        request.headers["Host"] = host
        return request


@contextmanager
def serve_website(site: Website | SampleWorld, *, host: str = "127.0.0.1", port: int = 0,
                  latency: float = 0.0, on_request: Callable[[str, str], None] | None = None
                  ) -> Iterator[WebServer]:
    """Serve a website (or a world's) on loopback for the duration of a ``with`` block.

    Args:
        site: A website, or a world (then :meth:`WebServer.set_snapshot` works).
        host: Loopback address to listen on.
        port: Port; 0 (the default) picks a free one.
        latency: Seconds each request waits before its reply.
        on_request: Called as ``on_request(host, path)`` while each request is in flight.

    Yields:
        The running :class:`WebServer`.

    Example:
        >>> from memagents.sample import SampleWorld
        >>> with serve_website(SampleWorld.generate(0, size="tiny")) as server:
        ...     server.url("https://wiki.meindethra.test/") == f"http://127.0.0.1:{server.port}/"
        True
    """
    server = WebServer(site, host=host, port=port, latency=latency, on_request=on_request)
    with server:
        yield server
