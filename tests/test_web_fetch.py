"""The web fetcher over httpx.MockTransport: robots, politeness, retries, redirects, cache, text.

Sockets do not matter here: every request goes through a MockTransport that routes on the
``Host`` header (the fetcher connects to the checked address and keeps the name in ``Host``),
DNS goes through an injected resolver, and time through a ManualClock.
"""

from __future__ import annotations

import asyncio
import email.utils
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from memagents.config import get_settings
from memagents.errors import ConfigError, InputError, WebAccessDenied, WebFetchError
from memagents.web.fetch import FetchedPage, Fetcher, FetchSettings, ManualClock

PUBLIC = {"a.example": "93.184.215.14", "b.example": "93.184.215.15",
          "c.example": "93.184.215.16"}
PAGE = ("<!DOCTYPE html><html><head><title>Page {n}</title></head><body>"
        "<nav><a href='/'>Home</a> | <a href='/about'>About us</a></nav><main><article>"
        "<h1>Page {n}</h1><p>Published <time datetime='2024-03-05'>5 March 2024</time></p>"
        "<p>The river Oslan flows through Keth and feeds the northern lakes of the valley.</p>"
        "<p>It is long and slow, and its banks are lined with willows and old stone mills.</p>"
        "<a href='/p/{next}#top'>next</a> <a href='https://b.example/x'>elsewhere</a>"
        "</article></main><footer>Copyright Example Corp, all rights reserved</footer>"
        "</body></html>")

Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class Site:
    """A fake web: routes on (Host header, path); records every request with the fake time."""

    clock: ManualClock = field(default_factory=ManualClock)
    routes: dict[tuple[str, str], Handler | httpx.Response] = field(default_factory=dict)
    robots: dict[str, str | int] = field(default_factory=dict)
    seen: list[tuple[str, str, float]] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        host = request.headers["host"].split(":")[0]
        path = request.url.path
        self.seen.append((host, path, self.clock.monotonic()))
        self.requests.append(request)
        if path == "/robots.txt":
            robots = self.robots.get(host, 404)
            if isinstance(robots, int):
                return httpx.Response(robots)
            return httpx.Response(200, text=robots)
        route = self.routes.get((host, path))
        if route is None:
            n = path.rsplit("/", 1)[-1]
            if path.startswith("/p/"):
                return httpx.Response(200, html=PAGE.format(n=n, next=int(n) + 1))
            return httpx.Response(404, html="<h1>Not found</h1>")
        return route(request) if callable(route) else route

    def pages(self, host: str) -> list[tuple[str, str, float]]:
        return [s for s in self.seen if s[0] == host and s[1] != "/robots.txt"]

    def fetcher(self, **settings: object) -> Fetcher:
        client = httpx.AsyncClient(transport=httpx.MockTransport(self.handle))
        return Fetcher(FetchSettings(**settings), client=client,  # type: ignore[arg-type]
                       resolver=resolver, clock=self.clock)


async def resolver(host: str, port: int) -> list[str]:
    if host not in PUBLIC:
        raise OSError(f"unknown host {host}")
    return [PUBLIC[host]]


@pytest.fixture
def site() -> Site:
    return Site()


async def test_fetch_extracts_text_title_date_links_and_pins_the_address(site: Site) -> None:
    async with site.fetcher() as fetcher:
        page = await fetcher.afetch("https://A.example/p/1#frag")
    assert page.title == "Page 1" and page.status == 200 and page.content_type == "text/html"
    assert "river Oslan flows through Keth" in page.text
    assert "Copyright" not in page.text and "About us" not in page.text  # boilerplate dropped
    assert page.published == "2024-03-05"
    assert page.links == ("https://a.example/", "https://a.example/about",
                          "https://a.example/p/2", "https://b.example/x")
    assert page.final_url == "https://a.example/p/1" and page.redirects == ()
    assert page.fetched_at == "2026-01-01T00:00:00+00:00" and len(page.sha256) == 64
    request = site.requests[-1]
    assert request.url.host == "93.184.215.14" and request.headers["host"] == "a.example"
    assert request.extensions["sni_hostname"] == "a.example"  # TLS checks the real name
    assert request.headers["user-agent"].startswith("memagents-fetcher/")


async def test_the_clients_cookies_auth_and_headers_never_reach_a_site(site: Site) -> None:
    site.routes[("a.example", "/set")] = httpx.Response(
        200, headers={"set-cookie": "session=abc; Path=/"}, html="<p>Cookie page text.</p>")
    client = httpx.AsyncClient(transport=httpx.MockTransport(site.handle),
                               auth=("user", "secret"), headers={"X-Api-Key": "k"},
                               cookies={"tracking": "1"})
    async with Fetcher(FetchSettings(respect_robots=False), client=client, resolver=resolver,
                       clock=site.clock) as fetcher:
        await fetcher.afetch("https://a.example/set")
        await fetcher.afetch("https://b.example/p/1")
    for request in site.requests:
        assert "cookie" not in request.headers and "authorization" not in request.headers
        assert "x-api-key" not in request.headers


async def test_robots_disallow_is_obeyed_and_robots_is_fetched_once(site: Site) -> None:
    site.robots["a.example"] = "User-agent: *\nDisallow: /private/\n"
    async with site.fetcher() as fetcher:
        await fetcher.afetch("https://a.example/p/1")
        await fetcher.afetch("https://a.example/p/2")
        with pytest.raises(WebAccessDenied, match="robots.txt") as info:
            await fetcher.afetch("https://a.example/private/secret")
    assert info.value.reason == "robots" and "respect_robots=False" in str(info.value)
    assert [s[1] for s in site.seen].count("/robots.txt") == 1
    assert ("a.example", "/private/secret") not in {(h, p) for h, p, _ in site.seen}


async def test_robots_rules_match_our_user_agent(site: Site) -> None:
    site.robots["a.example"] = ("User-agent: memagents-fetcher\nDisallow: /p/\n\n"
                                "User-agent: *\nDisallow:\n")
    async with site.fetcher() as fetcher:
        with pytest.raises(WebAccessDenied):
            await fetcher.afetch("https://a.example/p/1")
    async with site.fetcher(user_agent="otherbot/2.0") as fetcher:
        assert (await fetcher.afetch("https://a.example/p/1")).status == 200


@pytest.mark.parametrize(("status", "allowed"), [(404, True), (410, True), (401, True),
                                                 (429, False), (500, False), (503, False)])
async def test_robots_status_follows_rfc_9309(site: Site, status: int, allowed: bool) -> None:
    site.robots["a.example"] = status
    async with site.fetcher(retries=0) as fetcher:
        if allowed:
            assert (await fetcher.afetch("https://a.example/p/1")).status == 200
        else:
            with pytest.raises(WebAccessDenied, match="everything disallowed"):
                await fetcher.afetch("https://a.example/p/1")


async def test_unreachable_robots_disallows_and_respect_robots_false_skips_it(site: Site) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(
        lambda r: down(r) if r.url.path == "/robots.txt" else site.handle(r)))
    async with Fetcher(FetchSettings(), client=client, resolver=resolver,
                       clock=site.clock) as fetcher:
        with pytest.raises(WebAccessDenied, match="unreachable"):
            await fetcher.afetch("https://a.example/p/1")
    async with site.fetcher(respect_robots=False) as fetcher:
        await fetcher.afetch("https://a.example/p/1")
    assert "/robots.txt" not in [p for _, p, _ in site.seen]


async def test_crawl_delay_spaces_requests_with_a_fake_clock(site: Site) -> None:
    site.robots["a.example"] = "User-agent: *\nCrawl-delay: 3\n"
    async with site.fetcher() as fetcher:
        results = await fetcher.afetch_many([f"https://a.example/p/{i}" for i in range(5)])
    assert all(isinstance(r, FetchedPage) for r in results)
    starts = sorted(t for _, _, t in site.pages("a.example"))
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert len(starts) == 5 and all(g >= 3 - 1e-9 for g in gaps), gaps
    assert fetcher.limiter.interval("a.example") == pytest.approx(3.0)


async def test_crawl_delay_is_capped_and_request_rate_counts(site: Site) -> None:
    site.robots["a.example"] = "User-agent: *\nCrawl-delay: 3600\n"
    site.robots["b.example"] = "User-agent: *\nRequest-rate: 1/4\n"
    async with site.fetcher(max_crawl_delay=10) as fetcher:
        await fetcher.afetch_many([f"https://a.example/p/{i}" for i in range(2)]
                                  + [f"https://b.example/p/{i}" for i in range(2)])
        assert fetcher.limiter.interval("a.example") == pytest.approx(10.0)
        assert fetcher.limiter.interval("b.example") == pytest.approx(4.0)


async def test_min_interval_per_host_with_a_fake_clock(site: Site) -> None:
    async with site.fetcher(min_interval=0.5) as fetcher:
        urls = [f"https://{h}/p/{i}" for i in range(4) for h in ("a.example", "b.example")]
        await fetcher.afetch_many(urls)
    for host in ("a.example", "b.example"):
        starts = sorted(t for _, _, t in site.pages(host))
        assert len(starts) == 4
        assert all(b - a >= 0.5 - 1e-9 for a, b in itertools.pairwise(starts)), (host, starts)


async def test_per_host_concurrency_is_capped(site: Site) -> None:
    in_flight: dict[str, int] = {}
    peak: dict[str, int] = {}

    async def slow(request: httpx.Request) -> httpx.Response:
        host = request.headers["host"]
        in_flight[host] = in_flight.get(host, 0) + 1
        peak[host] = max(peak.get(host, 0), in_flight[host])
        for _ in range(5):
            await asyncio.sleep(0)
        in_flight[host] -= 1
        return site.handle(request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(slow))
    settings = FetchSettings(per_host_concurrency=2, respect_robots=False)
    async with Fetcher(settings, client=client, resolver=resolver, clock=site.clock) as fetcher:
        urls = [f"https://{h}/p/{i}" for i in range(8) for h in ("a.example", "b.example")]
        results = await fetcher.afetch_many(urls)
        assert fetcher.limiter.peak("a.example") == 2
    assert all(isinstance(r, FetchedPage) for r in results)
    assert peak == {"a.example": 2, "b.example": 2}


async def test_429_retry_after_is_honoured_with_backoff(site: Site) -> None:
    answers = iter([httpx.Response(429, headers={"retry-after": "7"}),
                    httpx.Response(503, headers={"retry-after": email.utils.formatdate(
                        site.clock.time() + 12, usegmt=True)})])
    site.routes[("a.example", "/busy")] = lambda r: next(answers, None) or httpx.Response(
        200, html="<title>ok</title><p>Finally here, after waiting politely twice.</p>")
    async with site.fetcher(respect_robots=False) as fetcher:
        page = await fetcher.afetch("https://a.example/busy")
    assert page.title == "ok"
    assert site.clock.sleeps[0] == pytest.approx(7.0)
    assert site.clock.sleeps[1] == pytest.approx(12.0 - 7.0, abs=1.0)  # an HTTP date: 12 s
    assert [t for _, p, t in site.seen] == [0.0, pytest.approx(7.0), pytest.approx(12.0, abs=1)]


async def test_retries_are_bounded(site: Site) -> None:
    site.routes[("a.example", "/down")] = httpx.Response(503)
    site.routes[("a.example", "/later")] = httpx.Response(429, headers={"retry-after": "3600"})
    async with site.fetcher(respect_robots=False, retries=2, backoff=1.5) as fetcher:
        with pytest.raises(WebFetchError, match="HTTP 503") as info:
            await fetcher.afetch("https://a.example/down")
        assert info.value.reason == "status" and info.value.status == 503
        assert site.clock.sleeps == [1.5, 3.0]  # no Retry-After: doubling backoff
        with pytest.raises(WebFetchError, match="max_retry_wait") as info:
            await fetcher.afetch("https://a.example/later")
        assert info.value.status == 429 and len(site.clock.sleeps) == 2  # did not wait an hour


@pytest.mark.parametrize("status", [400, 403, 404, 410, 500, 502])
async def test_error_statuses_raise_with_the_status(site: Site, status: int) -> None:
    site.routes[("a.example", "/x")] = httpx.Response(status)
    async with site.fetcher(respect_robots=False) as fetcher:
        with pytest.raises(WebFetchError) as info:
            await fetcher.afetch("https://a.example/x")
    assert info.value.reason == "status" and info.value.status == status
    assert "https://a.example/x" in str(info.value) and f"HTTP {status}" in str(info.value)


async def test_redirects_are_followed_and_recorded(site: Site) -> None:
    site.routes[("a.example", "/old")] = httpx.Response(301, headers={"location": "/mid"})
    site.routes[("a.example", "/mid")] = httpx.Response(
        302, headers={"location": "https://b.example/p/7"})
    async with site.fetcher(respect_robots=False) as fetcher:
        page = await fetcher.afetch("https://a.example/old")
    assert page.final_url == "https://b.example/p/7" and page.title == "Page 7"
    assert page.redirects == ("https://a.example/old", "https://a.example/mid")
    assert page.links[0] == "https://b.example/"  # relative links resolve against the final URL


async def test_redirect_loop_and_limit(site: Site) -> None:
    site.routes[("a.example", "/ping")] = httpx.Response(302, headers={"location": "/pong"})
    site.routes[("a.example", "/pong")] = httpx.Response(302, headers={"location": "/ping"})
    for i in range(10):
        site.routes[("a.example", f"/hop{i}")] = httpx.Response(
            307, headers={"location": f"/hop{i + 1}"})
    async with site.fetcher(respect_robots=False, max_redirects=3) as fetcher:
        with pytest.raises(WebFetchError, match="redirect loop") as info:
            await fetcher.afetch("https://a.example/ping")
        assert info.value.reason == "redirects"
        with pytest.raises(WebFetchError, match="more than 3 redirects") as info:
            await fetcher.afetch("https://a.example/hop0")
    assert info.value.reason == "redirects"
    assert len([p for _, p, _ in site.seen if p.startswith("/hop")]) == 4


@pytest.mark.parametrize(("headers", "body"), [
    ({"content-type": "application/pdf"}, b"%PDF-1.7"),
    ({"content-type": "image/png"}, b"\x89PNG"),
    ({"content-type": "application/json"}, b"{}"),
    ({}, b"\x00\x01binary\x00"),
])
async def test_non_html_is_refused(site: Site, headers: dict[str, str], body: bytes) -> None:
    site.routes[("a.example", "/file")] = httpx.Response(200, headers=headers, content=body)
    async with site.fetcher(respect_robots=False) as fetcher:
        with pytest.raises(WebFetchError, match="content type") as info:
            await fetcher.afetch("https://a.example/file")
    assert info.value.reason == "content_type"


async def test_plain_text_and_xhtml_are_accepted(site: Site) -> None:
    site.routes[("a.example", "/t.txt")] = httpx.Response(200, text="  just words\n")
    site.routes[("a.example", "/x")] = httpx.Response(
        200, headers={"content-type": "application/xhtml+xml"},
        content=b"<html><head><title>X</title></head><body><p>XHTML body text here.</p>"
                b"</body></html>")
    async with site.fetcher(respect_robots=False) as fetcher:
        text = await fetcher.afetch("https://a.example/t.txt")
        xhtml = await fetcher.afetch("https://a.example/x")
    assert (text.content_type, text.text, text.title, text.links) == (
        "text/plain", "just words", "", ())
    assert xhtml.title == "X" and "XHTML body text" in xhtml.text


async def test_timeout_is_reported(site: Site) -> None:
    async def stuck(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return httpx.Response(200)

    def read_timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    for handler in (stuck, read_timeout):
        client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        settings = FetchSettings(timeout=0.05, respect_robots=False)
        async with Fetcher(settings, client=client, resolver=resolver) as fetcher:
            with pytest.raises(WebFetchError, match="timed out") as info:
                await fetcher.afetch("https://a.example/slow")
        assert info.value.reason == "timeout" and "timeout=" in str(info.value)


async def test_network_and_dns_failures(site: Site) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(refuse))
    async with Fetcher(FetchSettings(respect_robots=False), client=client,
                       resolver=resolver) as fetcher:
        with pytest.raises(WebFetchError, match="ConnectError") as info:
            await fetcher.afetch("https://a.example/")
        assert info.value.reason == "network"
        with pytest.raises(WebFetchError, match="does not resolve") as info:
            await fetcher.afetch("https://nowhere.example/")
        assert info.value.reason == "network"


async def test_size_cap_on_declared_and_undeclared_length(site: Site) -> None:
    big = "<p>" + "word " * 5000 + "</p>"
    site.routes[("a.example", "/big")] = httpx.Response(200, html=big)
    async with site.fetcher(respect_robots=False, max_bytes=10_000) as fetcher:
        with pytest.raises(WebFetchError, match="larger than 10,000 bytes") as info:
            await fetcher.afetch("https://a.example/big")
    assert info.value.reason == "too_large"


async def test_cache_hit_makes_no_request_and_expires(site: Site) -> None:
    async with site.fetcher(respect_robots=False, cache_max_age=60) as fetcher:
        first = await fetcher.afetch("https://a.example/p/1")
        second = await fetcher.afetch("https://A.EXAMPLE:443/p/1#again")
        assert len(site.seen) == 1 and fetcher.requests == 1
        assert not first.from_cache and second.from_cache
        assert second.text == first.text and second.sha256 == first.sha256
        site.clock.advance(61)
        third = await fetcher.afetch("https://a.example/p/1")
        assert not third.from_cache and len(site.seen) == 2
        assert third.fetched_at == "2026-01-01T00:01:01+00:00"


async def test_stale_entry_is_revalidated_with_etag(site: Site) -> None:
    def etagged(request: httpx.Request) -> httpx.Response:
        if request.headers.get("if-none-match") == '"v1"':
            return httpx.Response(304)
        return httpx.Response(200, headers={"etag": '"v1"'},
                              html="<title>E</title><p>Tagged page text here.</p>")

    site.routes[("a.example", "/e")] = etagged
    async with site.fetcher(respect_robots=False, cache_max_age=10) as fetcher:
        first = await fetcher.afetch("https://a.example/e")
        site.clock.advance(11)
        again = await fetcher.afetch("https://a.example/e")
    assert again.from_cache and again.text == first.text and again.title == "E"
    assert again.fetched_at > first.fetched_at and len(site.seen) == 2


async def test_cache_can_be_disabled_and_concurrent_duplicates_share_a_fetch(site: Site) -> None:
    async with site.fetcher(respect_robots=False, cache_max_age=0) as fetcher:
        await fetcher.afetch("https://a.example/p/1")
        await fetcher.afetch("https://a.example/p/1")
    assert len(site.seen) == 2
    site.seen.clear()
    async with site.fetcher(respect_robots=False) as fetcher:
        results = await fetcher.afetch_many(["https://a.example/p/3"] * 4)
    assert len(site.seen) == 1 and sum(not r.from_cache for r in results) == 1  # type: ignore[union-attr]


async def test_sqlite_cache_round_trip(site: Site, tmp_path: Path) -> None:
    async with site.fetcher(respect_robots=False, cache_dir=tmp_path) as fetcher:
        first = await fetcher.afetch("https://a.example/p/1")
    assert (tmp_path / "pages.sqlite").is_file()
    async with site.fetcher(respect_robots=False, cache_dir=tmp_path) as fetcher:
        again = await fetcher.afetch("https://a.example/p/1")
    assert len(site.seen) == 1 and again.from_cache
    from dataclasses import replace
    assert replace(again, from_cache=False) == first and again.headers == first.headers


@pytest.mark.parametrize(("body", "content_type"), [
    ("<p>Café crème brûlée à la française, déjà vu.</p>".encode("latin-1"),
     "text/html; charset=utf-8"),
    ("<p>Café crème brûlée à la française, déjà vu.</p>".encode(),
     "text/html; charset=iso-8859-1"),
    ("<meta charset='windows-1252'><p>Café crème brûlée à la française, déjà vu.</p>".encode(
        "cp1252"), "text/html"),
    ("<p>Café crème brûlée à la française, déjà vu.</p>".encode("latin-1"), "text/html"),
    ("<p>Café crème brûlée à la française, déjà vu.</p>".encode("utf-16"), "text/html"),
])
async def test_wrong_or_missing_charsets_decode_sensibly(site: Site, body: bytes,
                                                         content_type: str) -> None:
    site.routes[("a.example", "/enc")] = httpx.Response(
        200, headers={"content-type": content_type}, content=body)
    async with site.fetcher(respect_robots=False) as fetcher:
        page = await fetcher.afetch("https://a.example/enc")
    assert "Café crème brûlée à la française, déjà vu." in page.text


async def test_cyrillic_page_declared_only_in_meta(site: Site) -> None:
    text = "Привет, мир! Это тестовая страница на русском языке, и её текст длинный."
    body = f"<html><head><meta charset='windows-1251'></head><body><p>{text}</p></body></html>"
    site.routes[("a.example", "/ru")] = httpx.Response(
        200, headers={"content-type": "text/html"}, content=body.encode("cp1251"))
    async with site.fetcher(respect_robots=False) as fetcher:
        assert text in (await fetcher.afetch("https://a.example/ru")).text


@pytest.mark.parametrize("html", [
    ("<html><body><p>Unclosed paragraph <b>bold <div>inside</p></span></i> and the tail text "
    "goes on for a while so that it counts as content."),
    "<<<>>><p>Stray brackets before a real paragraph of reasonable length here.</p>",
    "<html><head><title>Only a title</title></head><body></body></html>",
    "",
    "<script>alert('x')</script><p>Short.</p>",
])
async def test_malformed_html_is_tolerated(site: Site, html: str) -> None:
    site.routes[("a.example", "/bad")] = httpx.Response(
        200, headers={"content-type": "text/html"}, content=html.encode())
    async with site.fetcher(respect_robots=False) as fetcher:
        page = await fetcher.afetch("https://a.example/bad")
    assert "alert" not in page.text
    if "paragraph" in html:
        assert "paragraph" in page.text
    if "Only a title" in html:
        assert page.title == "Only a title"


async def test_afetch_many_continues_past_failures(site: Site) -> None:
    site.robots["a.example"] = "User-agent: *\nDisallow: /private/\n"
    urls = ["https://a.example/p/1", "https://a.example/private/x", "ftp://a.example/",
            "https://a.example/missing", "http://10.0.0.1/", "https://b.example/p/2"]
    async with site.fetcher() as fetcher:
        results = await fetcher.afetch_many(urls)
        with pytest.raises(InputError):
            await fetcher.afetch_many(["https://a.example/", 42])  # type: ignore[list-item]
    reasons = [r.reason if isinstance(r, WebFetchError) else "ok" for r in results]
    assert reasons == ["ok", "robots", "scheme", "status", "ssrf", "ok"]


def test_sync_twin_and_loop_rules(site: Site) -> None:
    with site.fetcher(respect_robots=False) as fetcher:
        assert fetcher.fetch("https://a.example/p/1").title == "Page 1"
        assert fetcher.fetch("https://a.example/p/1").from_cache
        results = fetcher.fetch_many(["https://a.example/p/2", "https://a.example/missing"])
        assert isinstance(results[0], FetchedPage) and isinstance(results[1], WebFetchError)

        async def inside() -> None:
            fetcher.fetch("https://a.example/p/1")

        with pytest.raises(InputError, match="afetch"):
            asyncio.run(inside())
        with pytest.raises(InputError, match="another event loop"):
            asyncio.run(fetcher.afetch("https://a.example/p/1"))


def test_settings_from_project_settings_and_validation() -> None:
    settings = get_settings(web_allow_hosts="127.0.0.1, *.test", web_user_agent="bot/1",
                            web_resolve="wiki.q.test=127.0.0.1:8080", web_cache_dir="/tmp/c")
    fs = FetchSettings.from_settings(settings, max_bytes=1000)
    assert fs.allow_hosts == ("127.0.0.1", "*.test") and fs.user_agent == "bot/1"
    assert fs.resolve == {"wiki.q.test": ("127.0.0.1", 8080)} and fs.max_bytes == 1000
    assert str(fs.cache_dir) == "/tmp/c"
    with pytest.raises(ConfigError, match="MEMAGENTS_WEB_RESOLVE"):
        FetchSettings(resolve="wiki.q.test=localhost")
    with pytest.raises(ConfigError, match="MEMAGENTS_WEB_ALLOW_HOSTS"):
        FetchSettings(allow_hosts=("not a host!",))
    with pytest.raises(ConfigError, match="unknown FetchSettings"):
        FetchSettings.from_settings(settings, max_byte=3)
    with pytest.raises(ConfigError, match="per_host_concurrency"):
        FetchSettings(per_host_concurrency=0)


async def test_resolve_map_sends_https_as_http_to_the_mapped_address(site: Site) -> None:
    async with site.fetcher(resolve="a.example=203.0.113.9:8080", respect_robots=False) as f:
        with pytest.raises(WebAccessDenied, match="SSRF"):  # documentation range: not global
            await f.afetch("https://a.example/p/1")
    async with site.fetcher(resolve="a.example=203.0.113.9:8080", allow_hosts=("a.example",),
                            respect_robots=False) as fetcher:
        page = await fetcher.afetch("https://a.example/p/1")
    request = site.requests[-1]
    assert str(request.url) == "http://203.0.113.9:8080/p/1"
    assert request.headers["host"] == "a.example" and page.final_url == "https://a.example/p/1"
