"""One HTTP exchange, safely: URL checks, a pinned and checked address, a capped body.

:func:`check_url` refuses what is not an absolute ``http``/``https`` URL without credentials
and rewrites literal IPs in any spelling to their canonical form. :func:`pin` decides where to
connect: the resolve map, the literal IP, or every address the resolver returns, each passing
the SSRF policy; the request then goes to that address (``Host`` header and TLS server name
keep the original host), so a later DNS answer cannot redirect it. :func:`exchange` sends one
request (never following redirects) and reads the body through :class:`BodyDecoder`, which
inflates ``gzip``/``deflate`` itself in bounded steps so the size cap holds *after*
decompression.

Example:
    >>> from memagents.web.fetch.transport import check_url, normalize_url
    >>> str(check_url("http://0177.0.0.1:8080/a#frag"))
    'http://127.0.0.1:8080/a#frag'
    >>> normalize_url("HTTP://Wiki.Q.test:80/a?b=1#top")
    'http://wiki.q.test/a?b=1'
"""

from __future__ import annotations

import asyncio
import email.utils
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timezone
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from memagents.errors import WebAccessDenied, WebFetchError
from memagents.web.fetch.addresses import HostPolicy, Resolver, parse_ip_host

__all__ = [
    "BodyDecoder",
    "Pinned",
    "Reply",
    "check_url",
    "exchange",
    "media_type",
    "normalize_url",
    "pin",
    "retry_after_seconds",
    "status_error",
]

_ALLOW_FIX = "add the host to MEMAGENTS_WEB_ALLOW_HOSTS / FetchSettings(allow_hosts=...)"


def check_url(url: str | httpx.URL) -> httpx.URL:
    """Validate an absolute http(s) URL and spell a literal IP host canonically.

    Raises:
        WebAccessDenied: Not http/https (reason ``'scheme'``); malformed, no host, or with
            credentials (``'url'``); a numeric host that is no valid IPv4 (``'ssrf'``).
    """
    text = str(url).strip()
    try:
        parts = urlsplit(text)
    except ValueError as exc:
        raise WebAccessDenied(f"refused {text!r}: malformed URL ({exc}); check the address.",
                              url=text, reason="url") from None
    if "@" in parts.netloc:
        text = parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]).geturl()
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise WebAccessDenied(
            f"refused {text!r}: scheme {scheme or '(none)'!r} is not fetched; only absolute "
            "http:// and https:// URLs are.", url=text, reason="scheme")
    if "@" in parts.netloc:
        raise WebAccessDenied(
            f"refused {text!r}: credentials in URLs are not sent; remove the 'user:password@' "
            "part (pages behind a login are out of scope).", url=text, reason="url")
    try:
        host = unquote(parts.hostname or "")
        port = parts.port
    except ValueError as exc:
        raise WebAccessDenied(f"refused {text!r}: malformed URL ({exc}); check the address.",
                              url=text, reason="url") from None
    if not host:
        raise WebAccessDenied(f"refused {text!r}: the URL has no host; pass e.g. "
                              "'https://site.example/page'.", url=text, reason="url")
    try:
        ip = parse_ip_host(host)
    except ValueError as exc:
        raise WebAccessDenied(f"refused {text!r}: {exc} (SSRF protection); spell the address "
                              "as a dotted quad or use a host name.", url=text,
                              reason="ssrf") from None
    if ip is not None:
        host = f"[{ip}]" if ip.version == 6 else str(ip)
    netloc = host if port is None else f"{host}:{port}"
    rebuilt = parts._replace(scheme=scheme, netloc=netloc).geturl()
    try:
        return httpx.URL(rebuilt)
    except (httpx.InvalidURL, ValueError) as exc:
        raise WebAccessDenied(f"refused {text!r}: malformed URL ({exc}); check the address.",
                              url=text, reason="url") from None


def normalize_url(url: str | httpx.URL) -> str:
    """The cache and loop-detection key of a URL: lower-case scheme and host, no default port,
    no fragment, ``/`` for an empty path.

    Raises:
        WebAccessDenied: As :func:`check_url`.
    """
    checked = check_url(url)
    host = checked.raw_host.decode("ascii").lower()
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}[checked.scheme]
    port = "" if checked.port in (None, default) else f":{checked.port}"
    query = f"?{checked.query.decode('ascii')}" if checked.query else ""
    return f"{checked.scheme}://{host}{port}{checked.raw_path.split(b'?')[0].decode('ascii') or '/'}{query}"


@dataclass(frozen=True)
class Pinned:
    """Where one request goes: the URL with the checked address, and the original host."""

    url: httpx.URL
    connect_url: httpx.URL
    host: str
    address: str
    host_header: str
    mapped: bool


async def pin(url: httpx.URL, *, policy: HostPolicy, resolve: Mapping[str, tuple[str, int]],
              resolver: Resolver, shown: str | None = None) -> Pinned:
    """Choose and check the address for ``url`` (resolve map, literal IP, or DNS).

    Args:
        shown: The URL as the caller spelled it, for error messages (default: ``url``).

    Raises:
        WebAccessDenied: A refused address or host name (reason ``'ssrf'``).
        WebFetchError: The name does not resolve (reason ``'network'``).
    """
    host = url.raw_host.decode("ascii").lower().rstrip(".")
    default = 443 if url.scheme == "https" else 80
    port = url.port or default
    scheme, mapped = url.scheme, host in resolve
    literal = parse_ip_host(host)
    if mapped:
        address, port = resolve[host]
        addresses, scheme = [address], "http"
    elif literal is not None:
        addresses = [str(literal)]
    else:
        problem = policy.host_problem(host)
        if problem:
            raise _ssrf(shown or url, f"{host} is {problem}")
        try:
            addresses = list(await resolver(host, port))
        except (OSError, UnicodeError) as exc:
            raise WebFetchError(f"cannot fetch {shown or url}: the host {host} does not resolve "
                                f"({exc}); check the spelling, or map it with "
                                "MEMAGENTS_WEB_RESOLVE.", url=str(shown or url),
                                reason="network") from None
        if not addresses:
            raise WebFetchError(f"cannot fetch {shown or url}: the host {host} has no address.",
                                url=str(shown or url), reason="network")
    for text in addresses:
        ip = parse_ip_host(text)
        if ip is None:
            raise _ssrf(shown or url, f"the resolver returned {text!r}, not an IP address")
        problem = policy.address_problem(ip, host=host)
        if problem:
            what = f"{ip} is" if literal is not None else f"{host} resolves to {ip},"
            raise _ssrf(shown or url, f"{what} {problem}")
    first = parse_ip_host(addresses[0])
    connect_host = f"[{first}]" if first is not None and first.version == 6 else str(first)
    connect_url = url.copy_with(scheme=scheme, host=connect_host.strip("[]"), port=port,
                                fragment=None)
    shown_host = f"[{host}]" if ":" in host else host
    host_header = shown_host if url.port in (None, default) else f"{shown_host}:{url.port}"
    return Pinned(url, connect_url, host, str(first), host_header, mapped)


def _ssrf(url: httpx.URL | str, why: str) -> WebAccessDenied:
    return WebAccessDenied(f"refused {url}: {why} (SSRF protection). If this site is meant to be "
                           f"reachable, {_ALLOW_FIX}.", url=str(url), reason="ssrf")


class BodyDecoder:
    """Inflates a ``Content-Encoding`` chain in bounded steps (output never exceeds ``room``).

    Example:
        >>> import gzip
        >>> decoder = BodyDecoder("gzip")
        >>> decoder.feed(gzip.compress(b"hello" * 3), room=100)
        b'hellohellohello'
    """

    def __init__(self, encoding: str | None) -> None:
        names = [e.strip().lower() for e in (encoding or "").split(",") if e.strip()]
        names = [n for n in names if n != "identity"]
        for name in names:
            if name not in ("gzip", "x-gzip", "deflate"):
                raise ValueError(f"unsupported Content-Encoding {name!r}")
        self._stages = [_Stage(n) for n in reversed(names)]

    def feed(self, data: bytes, room: int) -> bytes:
        """Decode ``data``; at most ``room + 1`` bytes come out (more would exceed the cap)."""
        for stage in self._stages:
            data = stage.inflate(data, room + 1)
        return data


class _Stage:
    """One ``gzip`` or ``deflate`` layer; a new decompressor per gzip member."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.inflater: zlib._Decompress | None = None

    def _new(self, data: bytes) -> zlib._Decompress:
        if self.name != "deflate":
            return zlib.decompressobj(31)
        wrapped = len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
        return zlib.decompressobj(15 if wrapped else -15)  # zlib-wrapped, else raw deflate

    def inflate(self, data: bytes, limit: int) -> bytes:
        out = bytearray()
        while data and len(out) < limit:
            if self.inflater is None:
                self.inflater = self._new(data)
            inflater = self.inflater
            out += inflater.decompress(data, limit - len(out))
            data = inflater.unconsumed_tail
            if inflater.eof:
                data = inflater.unused_data + data
                self.inflater = None  # a further gzip member, if any
        return bytes(out)


@dataclass(frozen=True)
class Reply:
    """A response: status, headers, and the decoded body (empty unless read)."""

    status: int
    headers: httpx.Headers
    body: bytes
    url: httpx.URL


def media_type(headers: httpx.Headers) -> tuple[str, str | None]:
    """The media type (lower case, no parameters) and charset of a ``Content-Type`` header.

    Example:
        >>> media_type(httpx.Headers({"content-type": 'Text/HTML; charset="ISO-8859-1"'}))
        ('text/html', 'ISO-8859-1')
    """
    value = headers.get("content-type", "")
    kind, *params = value.split(";")
    charset = None
    for param in params:
        name, _, arg = param.partition("=")
        if name.strip().lower() == "charset":
            charset = arg.strip().strip("\"'") or None
    return kind.strip().lower(), charset


async def exchange(client: httpx.AsyncClient, target: Pinned, *, headers: Mapping[str, str],
                   timeout: float, max_bytes: int,
                   accept_types: tuple[str, ...] | None = None,
                   on_send: Callable[[], None] | None = None) -> Reply:
    """Send one GET to the pinned address; read the body (capped) for 2xx answers.

    Args:
        accept_types: Media types whose bodies are read; a 2xx answer of another declared type
            is refused before its body is read (None: any type).
        on_send: Called right before the request goes to the client (politeness stamps).

    Raises:
        WebFetchError: ``'timeout'``, ``'too_large'``, ``'content_type'`` or ``'network'``.
    """
    request_headers = {**headers, "Host": target.host_header}
    extensions: dict[str, Any] = {"timeout": httpx.Timeout(timeout).as_dict()}
    if target.connect_url.scheme == "https":
        extensions["sni_hostname"] = target.host
        request_headers["Connection"] = "close"  # a pooled TLS connection is per address
    # built here, not by client.build_request: the client's cookies (kept per address, so
    # shared by every site behind one IP), default headers and auth never go to a crawled site
    request = httpx.Request("GET", target.connect_url, headers=request_headers,
                            extensions=extensions)
    url = str(target.url)

    async def run() -> Reply:
        if on_send is not None:
            on_send()
        response = await client.send(request, stream=True, follow_redirects=False, auth=None)
        try:
            if not 200 <= response.status_code < 300:
                return Reply(response.status_code, response.headers, b"", target.url)
            kind = media_type(response.headers)[0]
            if accept_types is not None and kind and kind not in accept_types:
                raise WebFetchError(
                    f"refused {url}: its content type is {kind}, not one of "
                    f"{', '.join(accept_types)}; widen FetchSettings(accept_types=...) only for "
                    "text formats.", url=url, reason="content_type")
            return Reply(response.status_code, response.headers,
                         await _read_capped(response, url, max_bytes), target.url)
        finally:
            await response.aclose()

    try:
        return await asyncio.wait_for(run(), timeout)
    except (asyncio.TimeoutError, httpx.TimeoutException):
        raise WebFetchError(f"timed out fetching {url} after {timeout:g} s; the site is slow or "
                            "unreachable: retry later or raise FetchSettings(timeout=...).",
                            url=url, reason="timeout") from None
    except httpx.HTTPError as exc:
        raise WebFetchError(f"cannot fetch {url}: {type(exc).__name__}: {exc or 'no details'}; "
                            "check that the site is up.", url=url, reason="network") from None


async def _read_capped(response: httpx.Response, url: str, max_bytes: int) -> bytes:
    too_large = WebFetchError(
        f"refused {url}: the body is larger than {max_bytes:,} bytes after decompression; "
        "raise FetchSettings(max_bytes=...) if the page is wanted.", url=url, reason="too_large")
    if response.is_stream_consumed:  # read already (httpx.MockTransport): decoded by httpx
        if len(response.content) > max_bytes:
            raise too_large
        return response.content
    length = response.headers.get("content-length", "")
    encoding = response.headers.get("content-encoding")
    if length.isdigit() and not encoding and int(length) > max_bytes:
        raise too_large
    try:
        decoder = BodyDecoder(encoding)
    except ValueError as exc:
        raise WebFetchError(f"cannot fetch {url}: {exc}; the fetcher asks for gzip or deflate "
                            "only.", url=url, reason="network") from None
    body = bytearray()
    try:
        async for chunk in response.aiter_raw():
            body += decoder.feed(chunk, max_bytes - len(body))
            if len(body) > max_bytes:
                raise too_large
    except zlib.error as exc:
        raise WebFetchError(f"cannot fetch {url}: corrupt {encoding} body ({exc}).", url=url,
                            reason="network") from None
    return bytes(body)


def retry_after_seconds(headers: httpx.Headers, now: float) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (delta or HTTP date), or None.

    Example:
        >>> retry_after_seconds(httpx.Headers({"retry-after": "7"}), 0.0)
        7.0
    """
    value = headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - now)


def status_error(at: str, status: int, url: str) -> WebFetchError:
    """The error for an HTTP error status at ``at`` while fetching ``url``, with a hint."""
    if status in (401, 403):
        hint = "the page needs a login or refuses crawlers"
    elif status in (404, 410):
        hint = "the page does not exist; check the URL"
    elif status in (429, 503):
        hint = "the site is rate-limiting or down; retry later"
    elif status >= 500:
        hint = "the site failed; retry later"
    else:
        hint = "the fetcher cannot use this answer"
    via = "" if at == url else f" (at {at})"
    return WebFetchError(f"cannot fetch {url}: HTTP {status}{via}; {hint}.", url=url,
                         reason="status", status=status)
