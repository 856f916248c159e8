"""The web fetcher against a real threaded loopback HTTP server: gzip bombs, streaming size
caps, slow servers, and the allowlist that lets a local site through."""

from __future__ import annotations

import threading
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from memagents.errors import WebAccessDenied, WebFetchError
from memagents.web.fetch import Fetcher, FetchSettings, system_resolver

PAGE = (b"<html><head><title>Loopback</title></head><body><article><p>The loopback site "
        b"serves this paragraph about the river Oslan and the mills on its banks.</p>"
        b"</article></body></html>")
BOMB_SIZE = 64 * 1024 * 1024


def _gzip_bomb() -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1024 * 1024)
    parts = [packer.compress(block) for _ in range(BOMB_SIZE // len(block))]
    return b"".join(parts) + packer.flush()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    hosts: ClassVar[list[str]] = []
    bomb = b""

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _send(self, body: bytes, *, ctype: str = "text/html; charset=utf-8",
              encoding: str | None = None, length: bool = True, status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if encoding:
            self.send_header("Content-Encoding", encoding)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        type(self).hosts.append(self.headers.get("Host", ""))
        path = self.path
        if path == "/robots.txt":
            self._send(b"User-agent: *\nDisallow: /private/\n", ctype="text/plain")
        elif path == "/bomb":
            self._send(self.bomb, encoding="gzip")
        elif path == "/gz":
            self._send(_gz(PAGE), encoding="gzip")
        elif path == "/deflate":
            self._send(zlib.compress(PAGE), encoding="deflate")
        elif path == "/stream":  # no Content-Length: read until the server closes
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            try:
                for _ in range(200):
                    self.wfile.write(b"<p>" + b"x" * 10_000 + b"</p>")
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif path == "/slow":
            time.sleep(1.5)
            self._send(PAGE)
        else:
            self._send(PAGE)


def _gz(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    _Handler.bomb = _gzip_bomb()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.block_on_close = False  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _fetcher(server: str, **settings: object) -> Fetcher:
    values: dict[str, object] = {"resolve": f"site.test={server}", "allow_hosts": ("127.0.0.1",)}
    values.update(settings)
    return Fetcher(FetchSettings(**values))  # type: ignore[arg-type]


async def test_allowlist_lets_a_loopback_site_through(server: str) -> None:
    async with _fetcher(server) as fetcher:
        page = await fetcher.afetch("https://site.test/page")
        with pytest.raises(WebAccessDenied, match="robots.txt"):
            await fetcher.afetch("https://site.test/private/x")
    assert page.title == "Loopback" and page.final_url == "https://site.test/page"
    assert "river Oslan" in page.text and "site.test" in _Handler.hosts
    async with _fetcher(server, resolve=None, allow_hosts=("127.0.0.0/8",)) as fetcher:
        assert (await fetcher.afetch(f"http://{server}/page")).title == "Loopback"


async def test_loopback_is_refused_without_the_allowlist(server: str) -> None:
    for settings in ({"allow_hosts": ()}, {"allow_hosts": ("10.0.0.0/8",)}):
        async with _fetcher(server, **settings) as fetcher:
            with pytest.raises(WebAccessDenied, match="loopback") as info:
                await fetcher.afetch("https://site.test/page")
            assert info.value.reason == "ssrf"
    async with _fetcher(server, resolve=None, allow_hosts=()) as fetcher:
        with pytest.raises(WebAccessDenied, match="MEMAGENTS_WEB_ALLOW_HOSTS"):
            await fetcher.afetch(f"http://{server}/page")


async def test_gzip_bomb_is_stopped_while_inflating(server: str) -> None:
    assert len(_Handler.bomb) < 200_000  # a small body...
    tracemalloc.start()
    try:
        async with _fetcher(server, max_bytes=1_000_000, respect_robots=False) as fetcher:
            with pytest.raises(WebFetchError, match="after decompression") as info:
                await fetcher.afetch("https://site.test/bomb")  # ...inflating to 64 MiB
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.reason == "too_large"
    assert peak < 16 * 1024 * 1024, peak  # never inflated much past the cap


async def test_compressed_pages_decode(server: str) -> None:
    async with _fetcher(server, respect_robots=False) as fetcher:
        gz = await fetcher.afetch("https://site.test/gz")
        deflated = await fetcher.afetch("https://site.test/deflate")
    assert gz.text == deflated.text and "river Oslan" in gz.text
    assert gz.sha256 == deflated.sha256  # hash of the decoded body


async def test_streamed_body_without_length_is_capped(server: str) -> None:
    async with _fetcher(server, max_bytes=100_000, respect_robots=False) as fetcher:
        with pytest.raises(WebFetchError, match="larger than 100,000 bytes") as info:
            await fetcher.afetch("https://site.test/stream")
    assert info.value.reason == "too_large"


async def test_slow_server_times_out(server: str) -> None:
    async with _fetcher(server, timeout=0.3, respect_robots=False) as fetcher:
        with pytest.raises(WebFetchError, match="timed out") as info:
            await fetcher.afetch("https://site.test/slow")
    assert info.value.reason == "timeout"


async def test_system_resolver_returns_every_address() -> None:
    addresses = await system_resolver("127.0.0.1", 80)
    assert addresses == ["127.0.0.1"]


def test_a_pool_serves_a_graph_run_from_several_event_loops(server: str) -> None:
    """One Fetcher refuses a second loop (clear error naming the pool); FetcherPool gives
    each loop its own fetcher, and sync calls their shared one."""
    import asyncio

    from memagents.errors import InputError
    from memagents.web.fetch import FetcherPool

    single = _fetcher(server, respect_robots=False)
    asyncio.run(single.afetch("https://site.test/page"))
    with pytest.raises(InputError, match="FetcherPool"):
        asyncio.run(single.afetch("https://site.test/page"))
    single.close()
    settings = FetchSettings(resolve=f"site.test={server}", allow_hosts=("127.0.0.1",),
                             respect_robots=False)
    from contextlib import closing

    with closing(FetcherPool(settings)) as pool:
        titles = [asyncio.run(pool.afetch("https://site.test/page")).title for _ in range(3)]
        out: list[str] = []
        thread = threading.Thread(
            target=lambda: out.append(asyncio.run(pool.afetch("https://site.test/page")).title))
        thread.start()
        thread.join()
        assert titles == ["Loopback"] * 3 and out == ["Loopback"]
        assert pool.fetch("https://site.test/page").title == "Loopback"

        async def two_tasks() -> bool:
            a, b = await asyncio.gather(pool.get(), pool.get())
            return a is b

        assert asyncio.run(two_tasks()), "one fetcher per loop, even for racing tasks"
