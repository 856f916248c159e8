"""Settings of the web fetcher: limits, politeness, SSRF allowlist, resolve map and cache.

:class:`FetchSettings` is a frozen, keyword-only dataclass. Build it directly, or from the
project settings with :meth:`FetchSettings.from_settings` (``web_allow_hosts``, ``web_resolve``,
``web_user_agent``, ``web_cache_dir``).

Example:
    >>> from memagents.web.fetch import FetchSettings
    >>> s = FetchSettings(allow_hosts=("127.0.0.1",), resolve="wiki.q.test=127.0.0.1:8080")
    >>> s.resolve
    {'wiki.q.test': ('127.0.0.1', 8080)}
    >>> s.per_host_concurrency, s.respect_robots
    (4, True)
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memagents.errors import ConfigError
from memagents.web.fetch.addresses import HostPolicy

if TYPE_CHECKING:
    from memagents.config import Settings

__all__ = ["DEFAULT_USER_AGENT", "FetchSettings", "parse_allow_hosts", "parse_resolve"]

DEFAULT_USER_AGENT = "memagents-fetcher/0.1 (+https://github.com/memagents/memagents)"
_TYPES = ("text/html", "application/xhtml+xml", "text/plain")


def parse_allow_hosts(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """Split a ``"host,*.suffix,10.0.0.0/8"`` string (or a list) into checked entries.

    Raises:
        ConfigError: An entry is neither a host name nor an IP address or network.

    Example:
        >>> parse_allow_hosts("wiki.q.test, 127.0.0.1 ,")
        ('wiki.q.test', '127.0.0.1')
    """
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    entries = tuple(e.strip() for e in items if e and e.strip())
    HostPolicy.from_entries(entries)  # validates
    return entries


def parse_resolve(
    value: str | Mapping[str, str | tuple[str, int]] | None,
) -> dict[str, tuple[str, int]]:
    """Read a resolve map (``"HOST=IP:PORT,..."``, like curl ``--resolve``) into a dict.

    IPv6 addresses are bracketed: ``"wiki.q.test=[::1]:8080"``.

    Raises:
        ConfigError: An entry is not ``HOST=IP:PORT`` with a literal IP and a port in 1..65535.

    Example:
        >>> parse_resolve("a.test=127.0.0.1:8001, b.test=[::1]:8002")
        {'a.test': ('127.0.0.1', 8001), 'b.test': ('::1', 8002)}
    """
    if not value:
        return {}
    if isinstance(value, str):
        pairs: list[tuple[str, str | tuple[str, int]]] = []
        for item in value.split(","):
            if not item.strip():
                continue
            host, sep, target = item.partition("=")
            if not sep:
                raise _resolve_error(item)
            pairs.append((host, target))
    else:
        pairs = list(value.items())
    out: dict[str, tuple[str, int]] = {}
    for host, target in pairs:
        name = host.strip().lower().rstrip(".")
        if not name:
            raise _resolve_error(f"{host}={target}")
        out[name] = _address(target, f"{host}={target}")
    return out


def _address(target: str | tuple[str, int], item: str) -> tuple[str, int]:
    if isinstance(target, tuple):
        ip_text, port_value = target[0], target[1]
    else:
        text = target.strip()
        if text.startswith("["):
            ip_text, _, rest = text[1:].partition("]")
            port_text = rest[1:] if rest.startswith(":") else ""
        else:
            ip_text, _, port_text = text.rpartition(":")
        if not port_text.isdigit():
            raise _resolve_error(item)
        port_value = int(port_text)
    try:
        ip = ipaddress.ip_address(str(ip_text).strip("[]"))
    except ValueError:
        raise _resolve_error(item) from None
    if not 0 < int(port_value) < 65536:
        raise _resolve_error(item)
    return str(ip), int(port_value)


def _resolve_error(item: str) -> ConfigError:
    return ConfigError(
        f"web resolve entry {item.strip()!r} is not HOST=IP:PORT (e.g. "
        "'wiki.quessa.test=127.0.0.1:8080'); fix MEMAGENTS_WEB_RESOLVE or "
        "FetchSettings(resolve=...)."
    )


@dataclass(frozen=True, kw_only=True)
class FetchSettings:
    """How the :class:`~memagents.web.fetch.Fetcher` fetches: limits, politeness and safety.

    Attributes:
        timeout: Seconds one HTTP request may take in total (connect, headers and body).
        max_bytes: Largest body accepted, counted *after* decompression (a gzip bomb is
            stopped while it inflates).
        max_redirects: Redirects followed before giving up (a loop stops at once).
        per_host_concurrency: Requests in flight at once to one host.
        min_interval: Seconds between the starts of two requests to one host (``0``: none).
        respect_robots: Obey ``robots.txt`` (Disallow, Crawl-delay, Request-rate).
        max_crawl_delay: Cap on a site's Crawl-delay / Request-rate interval, in seconds.
        accept_types: Media types accepted; anything else is refused (reason
            ``'content_type'``).
        allow_hosts: SSRF allowlist: host names, ``*.suffix`` wildcards, IPs or networks that
            may be reached although private or loopback.
        resolve: Host -> ``(ip, port)`` to connect to instead of resolving the host (a string
            ``"HOST=IP:PORT,..."`` is accepted). https URLs of mapped hosts go over plain http;
            the address still passes the SSRF check.
        user_agent: ``User-Agent`` header; robots.txt groups are matched against it.
        cache_dir: Folder of the SQLite page cache, or None for an in-memory cache.
        cache_max_age: Seconds a cached page stays fresh (None: forever; ``0``: no caching).
        retries: Retries after a 429 or 503 answer.
        max_retry_wait: Longest wait for one retry; a longer ``Retry-After`` fails at once.
        backoff: First backoff in seconds when a 429/503 has no ``Retry-After`` (doubles).

    Raises:
        ConfigError: A value is out of range, or an allowlist / resolve entry is malformed.

    Example:
        >>> FetchSettings(max_bytes=0)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        memagents.errors.ConfigError: FetchSettings.max_bytes must be ...
    """

    timeout: float = 20.0
    max_bytes: int = 5_000_000
    max_redirects: int = 5
    per_host_concurrency: int = 4
    min_interval: float = 0.0
    respect_robots: bool = True
    max_crawl_delay: float = 30.0
    accept_types: tuple[str, ...] = _TYPES
    allow_hosts: tuple[str, ...] = ()
    resolve: Mapping[str, tuple[str, int]] = field(default_factory=dict)
    user_agent: str = DEFAULT_USER_AGENT
    cache_dir: Path | None = None
    cache_max_age: float | None = 86_400.0
    retries: int = 2
    max_retry_wait: float = 60.0
    backoff: float = 1.0

    def __post_init__(self) -> None:
        positive = {"timeout": self.timeout, "max_bytes": self.max_bytes,
                    "per_host_concurrency": self.per_host_concurrency}
        non_negative = {"max_redirects": self.max_redirects, "min_interval": self.min_interval,
                        "max_crawl_delay": self.max_crawl_delay, "retries": self.retries,
                        "max_retry_wait": self.max_retry_wait, "backoff": self.backoff,
                        "cache_max_age": self.cache_max_age or 0}
        for name, value in positive.items():
            if not value > 0:
                raise ConfigError(f"FetchSettings.{name} must be > 0, got {value!r}.")
        for name, value in non_negative.items():
            if not value >= 0:
                raise ConfigError(f"FetchSettings.{name} must be >= 0, got {value!r}.")
        if not self.user_agent.strip():
            raise ConfigError("FetchSettings.user_agent must not be empty; name your crawler.")
        types = tuple(t.strip().lower() for t in self.accept_types if t.strip())
        if not types:
            raise ConfigError("FetchSettings.accept_types is empty; accept at least text/html.")
        object.__setattr__(self, "accept_types", types)
        allow = self.allow_hosts
        object.__setattr__(self, "allow_hosts", parse_allow_hosts(
            allow if isinstance(allow, str) else tuple(allow)))
        object.__setattr__(self, "resolve", parse_resolve(self.resolve))  # type: ignore[arg-type]
        if self.cache_dir is not None:
            object.__setattr__(self, "cache_dir", Path(self.cache_dir))

    @property
    def policy(self) -> HostPolicy:
        """The SSRF allowlist as a :class:`~memagents.web.fetch.addresses.HostPolicy`."""
        return HostPolicy.from_entries(self.allow_hosts)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **overrides: Any) -> FetchSettings:
        """Fetch settings from the project settings, then keyword overrides.

        Reads ``web_allow_hosts``, ``web_resolve``, ``web_user_agent`` and ``web_cache_dir``
        (``MEMAGENTS_WEB_*`` environment variables).

        Example:
            >>> from memagents.config import get_settings
            >>> s = FetchSettings.from_settings(get_settings(web_allow_hosts="127.0.0.1"),
            ...                                 min_interval=0.5)
            >>> s.allow_hosts, s.min_interval
            (('127.0.0.1',), 0.5)
        """
        if settings is None:
            from memagents.config import get_settings

            settings = get_settings()
        values: dict[str, Any] = {
            "allow_hosts": parse_allow_hosts(settings.web_allow_hosts),
            "resolve": parse_resolve(settings.web_resolve),
            "user_agent": settings.web_user_agent,
            "cache_dir": settings.web_cache_dir,
        }
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ConfigError(
                f"unknown FetchSettings field(s) {', '.join(unknown)}; use one of "
                f"{', '.join(sorted(known))}."
            )
        return replace(cls(**values), **overrides)
