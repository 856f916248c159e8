"""The HTTP side of the offline web's loopback server: the socket server, the request handler,
and the reply to one request (see :mod:`memagents.sample.webserver`).

Example:
    >>> from memagents.sample import SampleWorld
    >>> site = SampleWorld.generate(0, size="tiny").website
    >>> status, headers, body = answer(site, site.domains[0], "GET", "/robots.txt", {})
    >>> status, headers["Content-Type"]
    (200, 'text/plain; charset=utf-8')
"""

from __future__ import annotations

import email.utils
import hashlib
import socketserver
from collections.abc import Mapping
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import urlsplit

from memagents.sample.website import Website

__all__ = ["Handler", "LoopbackServer", "Reply", "answer"]

_NOT_FOUND = b"<!DOCTYPE html><html><body><h1>404 Not Found</h1></body></html>"
#: ``(status, headers, body)``.
Reply = tuple[int, dict[str, str], bytes]


class _App(Protocol):
    def respond(self, host: str, method: str, path: str, headers: Mapping[str, str]
                ) -> Reply: ...


class LoopbackServer(ThreadingHTTPServer):
    """A threading server that skips ``HTTPServer.server_bind``'s reverse DNS lookup."""

    daemon_threads = True
    allow_reuse_address = False  # a port in use must fail, not be shared
    request_queue_size = 128  # the default 5 drops concurrent connects (1 s SYN retries)

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)


class Handler(BaseHTTPRequestHandler):
    """Hands each request to ``self.server.app.respond`` and writes its reply."""

    protocol_version = "HTTP/1.1"  # keep-alive: clients pool connections as on the real web
    server_version = "memagents-offline-web/1"
    timeout = 30
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stalls

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request log lines (the server keeps its own records)."""

    def do_GET(self) -> None:
        self._reply("GET")

    def do_HEAD(self) -> None:
        self._reply("HEAD")

    def do_POST(self) -> None:
        self._reply("POST")

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_POST

    def _reply(self, method: str) -> None:
        app: _App = self.server.app  # type: ignore[attr-defined]
        target = urlsplit(self.path)
        host = target.hostname if target.scheme in ("http", "https") else urlsplit(
            "//" + (self.headers.get("Host") or "")).hostname
        host = (host or "").rstrip(".").lower()
        if method not in ("GET", "HEAD") and int(self.headers.get("Content-Length") or 0):
            self.rfile.read(int(self.headers["Content-Length"]))
        try:
            status, headers, body = app.respond(host, method, target.path or "/", self.headers)
        except Exception as exc:  # noqa: BLE001 - an on_request hook failed: tell the client
            status, headers = 500, {"Content-Type": "text/plain; charset=utf-8"}
            body = f"The offline web failed: {exc!r}\n".encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(body)


def answer(site: Website, host: str, method: str, path: str, headers: Mapping[str, str]
           ) -> Reply:
    """The reply to one request for ``site``: ``(status, headers, body)``."""
    html = {"Content-Type": "text/html; charset=utf-8"}
    if host not in site.robots:
        served = ", ".join(site.domains)
        text = (f"Unknown host {host!r}: this offline web serves {served}; send one of them "
                "in the Host header.\n")
        return 404, {"Content-Type": "text/plain; charset=utf-8"}, text.encode()
    if method not in ("GET", "HEAD"):
        return 405, {"Allow": "GET, HEAD", **html}, b""
    if path == "/robots.txt":
        return 200, {"Content-Type": "text/plain; charset=utf-8"}, site.robots[host].encode()
    page = site.pages.get(f"https://{host}{path}")
    if page is None:
        return 404, html, _NOT_FOUND
    body = page.html.encode()
    stamp = datetime.fromisoformat(page.published).replace(tzinfo=timezone.utc)
    tag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
    out = {**html, "Last-Modified": email.utils.format_datetime(stamp, usegmt=True),
           "ETag": tag}
    if _not_modified(headers, tag, stamp):
        return 304, {k: v for k, v in out.items() if k != "Content-Type"}, b""
    return 200, out, body


def _not_modified(headers: Mapping[str, str], tag: str, stamp: datetime) -> bool:
    match = headers.get("If-None-Match")
    if match is not None:
        return tag in {t.strip() for t in match.split(",")} or match.strip() == "*"
    since = headers.get("If-Modified-Since")
    if since:
        try:
            when = email.utils.parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
        return when.tzinfo is not None and when >= stamp
    return False
