"""SSRF protection of the web fetcher: literal IPs in every spelling, DNS answers, redirects.

No request may reach a refused address: the MockTransport fails the test if it is called for
one. DNS goes through an injected resolver.
"""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from memagents.errors import WebAccessDenied, WebFetchError
from memagents.web.fetch import Fetcher, FetchSettings, HostPolicy, parse_ip_host
from memagents.web.fetch.addresses import address_problem

PUBLIC_IP = "93.184.215.14"
DNS = {
    "public.example": [PUBLIC_IP],
    "private.example": ["10.0.0.7"],
    "loop.example": ["127.0.0.1"],
    "mixed.example": [PUBLIC_IP, "192.168.1.20"],
    "meta.example": ["169.254.169.254"],
    "v6loop.example": ["::1"],
    "mapped.example": ["::ffff:10.1.2.3"],
    "intranet.corp": ["10.20.30.40"],
}


class Web:
    """A MockTransport that answers for public addresses only and counts DNS lookups."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.lookups: list[str] = []
        self.routes: dict[str, httpx.Response] = {}

    def handle(self, request: httpx.Request) -> httpx.Response:
        ip = ipaddress.ip_address(request.url.host)
        assert address_problem(ip) is None or request.url.host == "10.20.30.40", request.url
        self.requests.append(request)
        if request.url.path == "/robots.txt":
            return httpx.Response(404)
        route = self.routes.get(request.url.path)
        if route is not None:
            return route
        return httpx.Response(200, html="<title>ok</title><p>A public page with some text.</p>")

    async def resolve(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        if host not in DNS:
            raise OSError(f"NXDOMAIN {host}")
        return DNS[host]

    def fetcher(self, **settings: object) -> Fetcher:
        client = httpx.AsyncClient(transport=httpx.MockTransport(self.handle))
        return Fetcher(FetchSettings(**settings), client=client,  # type: ignore[arg-type]
                       resolver=self.resolve)


@pytest.fixture
def web() -> Web:
    return Web()


@pytest.mark.parametrize(("host", "expected"), [
    ("127.0.0.1", "127.0.0.1"), ("2130706433", "127.0.0.1"), ("0177.0.0.1", "127.0.0.1"),
    ("0x7f.1", "127.0.0.1"), ("127.1", "127.0.0.1"), ("0x7f000001", "127.0.0.1"),
    ("017700000001", "127.0.0.1"), ("0x7f.0.0.0x1", "127.0.0.1"), ("127.0.0.1.", "127.0.0.1"),
    ("10.1", "10.0.0.1"), ("0", "0.0.0.0"), ("[::1]", "::1"),
    ("[::ffff:127.0.0.1]", "::ffff:7f00:1"), ("fe80::1%25eth0", "fe80::1"),
    ("wiki.quessa.test", None), ("0x.example", None),
])
def test_literal_ips_are_read_in_every_spelling(host: str, expected: str | None) -> None:
    found = parse_ip_host(host)
    assert (None if found is None else str(found)) == expected


@pytest.mark.parametrize("host", ["1.2.3.4.5", "256.1.1.1", "1.2.3.0x100", "4294967296",
                                  "08.1.1.1", "[::g]"])
def test_invalid_numeric_hosts_are_errors(host: str) -> None:
    with pytest.raises(ValueError):
        parse_ip_host(host)


REFUSED = [
    "http://127.0.0.1/", "http://127.0.0.1:8080/admin", "http://10.0.0.1/", "http://172.16.5.4/",
    "http://192.168.0.1/", "http://169.254.169.254/latest/meta-data/", "http://100.64.0.1/",
    "http://100.100.100.200/", "http://192.0.0.192/", "http://0.0.0.0/", "http://0/",
    "http://224.0.0.1/", "http://239.255.255.250/", "http://240.0.0.1/",
    "http://255.255.255.255/", "http://198.18.0.1/", "http://192.0.2.1/",
    "http://[::1]/", "http://[::]/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/",
    "http://[::ffff:10.0.0.1]:80/", "http://[fe80::1]/", "http://[fe80::1%25eth0]/",
    "http://[fc00::1]/", "http://[fd00:ec2::254]/", "http://[ff02::1]/",
    "http://[2002:7f00:1::]/", "http://[64:ff9b::a00:1]/", "http://[::127.0.0.1]/",
    "http://2130706433/", "http://0177.0.0.1/", "http://0x7f.1/", "http://127.1/",
    "http://0x7f000001/", "http://017700000001/", "http://%31%32%37.0.0.1/",
    "https://127.0.0.1.:443/", "http://1.2.3.4.5/", "http://0x1ffffffff/",
]


@pytest.mark.parametrize("url", REFUSED)
async def test_literal_private_addresses_are_refused(web: Web, url: str) -> None:
    async with web.fetcher() as fetcher:
        with pytest.raises(WebAccessDenied, match="SSRF protection") as info:
            await fetcher.afetch(url)
    assert info.value.reason == "ssrf" and not web.requests and not web.lookups
    if "not a valid" not in str(info.value) and "range" not in str(info.value):
        assert "MEMAGENTS_WEB_ALLOW_HOSTS" in str(info.value)


@pytest.mark.parametrize("host", ["private.example", "loop.example", "mixed.example",
                                  "meta.example", "v6loop.example", "mapped.example"])
async def test_names_resolving_to_refused_addresses_are_refused(web: Web, host: str) -> None:
    async with web.fetcher() as fetcher:
        with pytest.raises(WebAccessDenied, match=f"{host} resolves to") as info:
            await fetcher.afetch(f"https://{host}/page")
    assert info.value.reason == "ssrf" and not web.requests and web.lookups == [host]


@pytest.mark.parametrize("host", ["metadata.google.internal", "metadata", "localhost",
                                  "app.localhost", "METADATA.GOOGLE.INTERNAL."])
async def test_metadata_and_local_names_are_refused_before_any_lookup(web: Web, host: str) -> None:
    async with web.fetcher() as fetcher:
        with pytest.raises(WebAccessDenied, match="SSRF"):
            await fetcher.afetch(f"http://{host}/computeMetadata/v1/")
    assert not web.lookups and not web.requests


async def test_public_hosts_pass_and_connect_to_the_checked_address(web: Web) -> None:
    async with web.fetcher() as fetcher:
        page = await fetcher.afetch("https://public.example/a")
        direct = await fetcher.afetch(f"http://{PUBLIC_IP}/b")
    assert page.title == direct.title == "ok"
    assert {r.url.host for r in web.requests} == {PUBLIC_IP}


@pytest.mark.parametrize("location", [
    "http://127.0.0.1/", "http://[::1]:8080/", "http://2130706433/", "https://private.example/",
    "http://169.254.169.254/latest/", "//10.0.0.1/x", "http://metadata.google.internal/",
])
async def test_redirects_to_refused_addresses_are_refused(web: Web, location: str) -> None:
    web.routes["/go"] = httpx.Response(302, headers={"location": location})
    async with web.fetcher() as fetcher:
        with pytest.raises(WebAccessDenied, match="SSRF") as info:
            await fetcher.afetch("https://public.example/go")
    assert info.value.reason == "ssrf"
    assert [r.url.path for r in web.requests] == ["/robots.txt", "/go"]


@pytest.mark.parametrize(("location", "reason"), [
    ("file:///etc/passwd", "scheme"), ("ftp://public.example/x", "scheme"),
    ("gopher://127.0.0.1:6379/_", "scheme"), ("http://user:pw@public.example/", "url"),
])
async def test_redirects_to_other_schemes_or_credentials_are_refused(
        web: Web, location: str, reason: str) -> None:
    web.routes["/go"] = httpx.Response(301, headers={"location": location})
    async with web.fetcher() as fetcher:
        with pytest.raises(WebAccessDenied) as info:
            await fetcher.afetch("https://public.example/go")
    assert info.value.reason == reason


@pytest.mark.parametrize(("url", "reason"), [
    ("file:///etc/passwd", "scheme"), ("ftp://public.example/", "scheme"),
    ("javascript:alert(1)", "scheme"), ("data:text/html,<p>x</p>", "scheme"),
    ("public.example/page", "scheme"), ("https://user:secret@public.example/", "url"),
    ("https://:80/", "url"), ("http://public.example:99999/", "url"), ("http://[::1/", "url"),
])
async def test_bad_schemes_and_urls_are_refused(web: Web, url: str, reason: str) -> None:
    async with web.fetcher() as fetcher:
        with pytest.raises(WebAccessDenied) as info:
            await fetcher.afetch(url)
    assert info.value.reason == reason and not web.requests
    assert "secret" not in str(info.value) and "secret" not in (info.value.url or "")


async def test_dns_rebinding_cannot_swap_the_checked_address(web: Web) -> None:
    answers = iter([[PUBLIC_IP], ["127.0.0.1"]])

    async def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    client = httpx.AsyncClient(transport=httpx.MockTransport(web.handle))
    settings = FetchSettings(respect_robots=False, cache_max_age=0)
    async with Fetcher(settings, client=client, resolver=rebinding) as fetcher:
        await fetcher.afetch("https://rebind.example/")
        assert web.requests[-1].url.host == PUBLIC_IP  # connected to what was checked
        with pytest.raises(WebAccessDenied, match="rebind.example resolves to 127.0.0.1"):
            await fetcher.afetch("https://rebind.example/")  # every request resolves again
    assert len(web.requests) == 1


async def test_allowlist_lets_named_hosts_and_networks_through(web: Web) -> None:
    async with web.fetcher(allow_hosts=("*.corp",)) as fetcher:
        assert (await fetcher.afetch("https://intranet.corp/")).title == "ok"
    async with web.fetcher(allow_hosts=("10.20.0.0/16",)) as fetcher:
        assert (await fetcher.afetch("https://intranet.corp/")).title == "ok"
    async with web.fetcher(allow_hosts=("10.99.0.0/16", "other.corp")) as fetcher:
        with pytest.raises(WebAccessDenied, match="SSRF"):
            await fetcher.afetch("https://intranet.corp/")


def test_metadata_addresses_need_an_exact_allowlist_entry() -> None:
    meta = ipaddress.ip_address("169.254.169.254")
    assert HostPolicy.from_entries(["169.254.0.0/16"]).address_problem(meta) is not None
    assert HostPolicy.from_entries(["169.254.169.254"]).address_problem(meta) is None
    assert HostPolicy.from_entries(["169.254.0.0/16"]).address_problem(
        ipaddress.ip_address("169.254.1.1")) is None
    assert HostPolicy.from_entries(["meta.example"]).address_problem(
        meta, host="meta.example") is not None


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111",
                                     "::ffff:8.8.8.8", "2002:808:808::1", "64:ff9b::808:808"])
def test_public_addresses_pass(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) is None


async def test_unresolvable_names_are_network_errors(web: Web) -> None:
    async with web.fetcher() as fetcher:
        with pytest.raises(WebFetchError, match="does not resolve") as info:
            await fetcher.afetch("https://nxdomain.example/")
    assert info.value.reason == "network" and not isinstance(info.value, WebAccessDenied)
