"""The offline web on loopback: virtual hosts, robots.txt, 404/405, HEAD, dates, snapshots, CLI."""

from __future__ import annotations

import asyncio
import email.utils
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from memagents.cli import main
from memagents.config import get_settings
from memagents.errors import InputError
from memagents.sample import SampleWorld, WebServer, serve_website
from memagents.sample.webserver import PortInUseError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def world() -> SampleWorld:
    return SampleWorld.generate(0)


@pytest.fixture
def server(world: SampleWorld) -> Iterator[WebServer]:
    with serve_website(world) as running:
        yield running


def last_modified(day: str) -> str:
    stamp = datetime.fromisoformat(day).replace(tzinfo=timezone.utc)
    return email.utils.format_datetime(stamp, usegmt=True)


def test_every_page_of_every_domain_is_served_by_host_header(world: SampleWorld,
                                                             server: WebServer) -> None:
    site = world.website
    assert server.hosts == site.domains and len(server.hosts) == 4
    seen: dict[str, int] = {}
    with httpx.Client() as client:  # plain loopback requests: 127.0.0.1:PORT + Host header
        for url, page in site.pages.items():
            response = client.get(server.url(url), headers=server.headers_for(url))
            assert response.status_code == 200, url
            assert response.text == page.html
            assert response.headers["content-type"] == "text/html; charset=utf-8"
            assert response.headers["last-modified"] == last_modified(page.published)
            assert response.headers["etag"].startswith('"')
            seen[page.domain] = seen.get(page.domain, 0) + 1
    assert sum(seen.values()) == len(site.pages) == 353
    assert server.counts() == dict(sorted(seen.items()))
    assert {r.status for r in server.requests} == {200}


def test_robots_404_405_and_head(world: SampleWorld, server: WebServer) -> None:
    site = world.website
    page = next(p for p in site.pages.values() if p.kind == "article")
    base = f"http://{server.address}"
    with httpx.Client() as client:
        for domain in server.hosts:
            robots = client.get(f"{base}/robots.txt", headers={"Host": domain})
            assert robots.status_code == 200 and robots.text == site.robots[domain]
            assert robots.headers["content-type"] == "text/plain; charset=utf-8"
            private = next(p for p in site.pages.values()
                           if p.domain == domain and p.kind == "private")
            assert "Disallow: /private/" in robots.text
            assert client.get(base + private.path, headers={"Host": domain}).status_code == 200
        missing = client.get(f"{base}/wiki/missing.html", headers={"Host": page.domain})
        assert missing.status_code == 404 and "404" in missing.text
        assert missing.headers["content-type"].startswith("text/html")
        unknown = client.get(f"{base}/", headers={"Host": "elsewhere.test"})
        assert unknown.status_code == 404 and all(d in unknown.text for d in server.hosts)
        direct = client.get(f"{base}/")  # Host: 127.0.0.1:PORT is no domain of the site
        assert direct.status_code == 404 and "Host header" in direct.text
        head = client.head(server.url(page.url), headers=server.headers_for(page.url))
        assert head.status_code == 200 and head.content == b""
        assert int(head.headers["content-length"]) == len(page.html.encode())
        assert head.headers["last-modified"] == last_modified(page.published)
        post = client.post(server.url(page.url), headers=server.headers_for(page.url),
                           content=b"x=1")
        assert post.status_code == 405 and post.headers["allow"] == "GET, HEAD"
        with_query = client.get(server.url(page.url) + "?q=1", headers={"Host": page.domain})
        assert with_query.status_code == 200
        port_in_host = client.get(server.url(page.url),
                                  headers={"Host": f"{page.domain.upper()}:{server.port}"})
        assert port_in_host.status_code == 200


def test_absolute_targets_and_requests_without_host(world: SampleWorld,
                                                    server: WebServer) -> None:
    page = next(iter(world.website.pages.values()))
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(f"GET http://{page.domain}{page.path} HTTP/1.0\r\n\r\n".encode())
        reply = b"".join(iter(lambda: sock.recv(65536), b""))
    assert reply.startswith(b"HTTP/1.1 200") and page.html.encode() in reply
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        reply = b"".join(iter(lambda: sock.recv(65536), b""))
    assert reply.startswith(b"HTTP/1.1 404") and b"Unknown host ''" in reply


def test_conditional_requests_get_304(world: SampleWorld, server: WebServer) -> None:
    page = next(p for p in world.website.pages.values() if p.kind == "news")
    url, headers = server.url(page.url), server.headers_for(page.url)
    with httpx.Client() as client:
        first = client.get(url, headers=headers)
        tag, modified = first.headers["etag"], first.headers["last-modified"]
        assert client.get(url, headers={**headers, "If-None-Match": tag}).status_code == 304
        assert client.get(url, headers={**headers, "If-None-Match": '"other"'}).status_code == 200
        assert client.get(url, headers={**headers, "If-Modified-Since": modified}
                          ).status_code == 304
        older = last_modified("2001-01-01")
        assert client.get(url, headers={**headers, "If-Modified-Since": older}
                          ).status_code == 200
        assert client.get(url, headers={**headers, "If-Modified-Since": "garbage"}
                          ).status_code == 200


def test_settings_lines_resolve_and_transports(world: SampleWorld, server: WebServer) -> None:
    address = f"127.0.0.1:{server.port}"
    assert server.resolve == {h: address for h in server.hosts}
    assert server.resolve_setting == ",".join(f"{h}={address}" for h in server.hosts)
    assert server.allow_hosts_setting.split(",") == [*server.hosts, "127.0.0.1"]
    assert server.environment == {"MEMAGENTS_WEB_RESOLVE": server.resolve_setting,
                                  "MEMAGENTS_WEB_ALLOW_HOSTS": server.allow_hosts_setting}
    settings = get_settings(web_resolve=server.resolve_setting,
                            web_allow_hosts=server.allow_hosts_setting)
    assert settings.web_resolve == server.resolve_setting
    home = world.website.home(server.hosts[-1])
    assert server.url(home + "#top") == f"http://{address}/"
    assert server.headers_for(home) == {"Host": server.hosts[-1]}
    with httpx.Client(transport=server.transport()) as client:
        assert client.get(home).text == world.website.pages[home].html
        with pytest.raises(httpx.ConnectError):
            client.get("https://archive.example/x")

    async def fetch_all() -> list[int]:
        async with httpx.AsyncClient(transport=server.async_transport()) as client:
            replies = await asyncio.gather(*(client.get(world.website.home(h))
                                             for h in server.hosts))
        return [r.status_code for r in replies]

    assert asyncio.run(fetch_all()) == [200, 200, 200, 200]


def test_switching_snapshots_while_running(world: SampleWorld, server: WebServer) -> None:
    later = world.snapshot(1)
    diff = later.changes_since(0)
    fresh, revised = diff.added_pages[0], diff.revised_pages[0]
    with httpx.Client(transport=server.transport()) as client:
        assert server.snapshot == 0
        assert client.get(fresh).status_code == 404
        before = client.get(revised)
        assert server.set_snapshot(1) == later and server.snapshot == 1
        assert server.website == later.website
        assert client.get(fresh).status_code == 200
        after = client.get(revised)
        assert after.text == later.website.pages[revised].html != before.text
        assert after.headers["last-modified"] != before.headers["last-modified"]
        assert after.headers["etag"] != before.headers["etag"]
        assert client.get(revised, headers={"If-None-Match": before.headers["etag"]}
                          ).status_code == 200
        server.use(world.website)
        assert server.snapshot is None and client.get(fresh).status_code == 404
        with pytest.raises(InputError, match="SampleWorld"):
            server.set_snapshot(1)
        server.use(later)
        assert server.snapshot == 1 and client.get(fresh).status_code == 200
    with pytest.raises(InputError, match="Website or a SampleWorld"):
        server.use("not a site")  # type: ignore[arg-type]


def test_counts_and_in_flight_peaks_per_host(world: SampleWorld) -> None:
    barrier = threading.Barrier(4, timeout=20)
    hosts = world.website.domains

    def hold(host: str, path: str) -> None:
        if path != "/robots.txt" and host == hosts[0]:
            barrier.wait()  # the four requests to hosts[0] are all in flight together

    with serve_website(world, on_request=hold) as server:
        urls = [world.website.home(hosts[0])] * 4 + [world.website.home(h) for h in hosts[1:]]

        async def crawl() -> list[int]:
            async with httpx.AsyncClient(transport=server.async_transport()) as client:
                return [r.status_code for r in await asyncio.gather(*(client.get(u)
                                                                      for u in urls))]

        assert asyncio.run(crawl()) == [200] * 7
        assert server.counts() == {hosts[0]: 4, hosts[1]: 1, hosts[2]: 1, hosts[3]: 1}
        assert server.max_in_flight() == {hosts[0]: 4, hosts[1]: 1, hosts[2]: 1, hosts[3]: 1}
        server.reset_stats()
        assert server.counts() == {} and server.requests == []
        assert server.max_in_flight() == {h: 0 for h in hosts}


def test_a_failing_hook_gives_500(world: SampleWorld) -> None:
    def boom(host: str, path: str) -> None:
        raise RuntimeError("planted failure")

    with serve_website(world.website, on_request=boom) as server:
        home = world.website.home(world.website.domains[0])
        with httpx.Client(transport=server.transport()) as client:
            response = client.get(home)
        assert response.status_code == 500 and "planted failure" in response.text
        assert [r.status for r in server.requests] == [500]


def test_port_in_use_and_bad_sites(world: SampleWorld,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortInUseError, match=f"port {port} .* is in use"):
            WebServer(world, port=port)
        assert main(["sample", "serve", "--size", "tiny", "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert f"--port {port} is in use; pick another or --port 0" in err
    assert main(["sample", "serve", "--size", "tiny", "--snapshot", "13"]) == 1
    assert "--snapshot 13 is out of range; use 0 to 12" in capsys.readouterr().err
    assert main(["sample", "serve", "--size", "huge", "--port", "0"]) == 1
    assert "--size huge: Unknown size 'huge'" in capsys.readouterr().err
    with pytest.raises(InputError, match="Website or a SampleWorld"):
        WebServer(object())  # type: ignore[arg-type]


def test_cli_serves_until_interrupted() -> None:
    code = "import sys; from memagents.cli import main; sys.exit(main(sys.argv[1:]))"
    args = ["sample", "serve", "--size", "tiny", "--snapshot", "1", "--port", "0"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("Press Ctrl-C"):
                break
        banner = "\n".join(lines)
        assert "snapshot=1 (2026-10-01)" in banner, banner
        resolve = next(x for x in lines if "MEMAGENTS_WEB_RESOLVE=" in x).split("=", 1)[1]
        allow = next(x for x in lines if "MEMAGENTS_WEB_ALLOW_HOSTS=" in x).split("=", 1)[1]
        pairs = dict(item.split("=") for item in resolve.split(","))
        world = SampleWorld.generate(0, size="tiny", snapshot=1)
        assert sorted(pairs) == list(world.website.domains)
        assert allow.split(",") == [*world.website.domains, "127.0.0.1"]
        address = next(iter(pairs.values()))
        fresh = world.changes_since(0).added_pages[0]
        page = world.website.pages[fresh]
        response = httpx.get(f"http://{address}{page.path}", headers={"Host": page.domain})
        assert response.status_code == 200 and response.text == page.html
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "stopped" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
