"""The offline web of the sample world: pages, robots.txt, and an httpx transport serving them.

Pages live on a few fictional domains under the reserved ``.test`` top-level domain (an
encyclopedia, a news site, a company registry, a catalogue). Links to the reserved
``.example`` domain are intentionally external: the transport refuses them like an unreachable
host. Every domain's ``robots.txt`` disallows ``/private/``, and pages exist there (linked from
public pages) so crawlers can be tested for obeying it.

Example:
    >>> from memagents.sample import SampleWorld
    >>> site = SampleWorld.generate(0, size="tiny").website
    >>> home = site.home(site.domains[0])
    >>> site.get(home).kind
    'home'
    >>> site.is_allowed(home), site.get("https://nowhere.test/") is None
    (True, True)
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

from memagents.errors import InputError
from memagents.sample.schema import Fact

if TYPE_CHECKING:
    import httpx

__all__ = ["Page", "Website", "normalize_url"]


def normalize_url(url: str) -> str:
    """Canonical form used as a page key: ``https://host/path`` without query or fragment.

    Args:
        url: An absolute ``http`` or ``https`` URL.

    Raises:
        InputError: If ``url`` is not an absolute http(s) URL.
    """
    if not isinstance(url, str):
        raise InputError(f"A URL must be a string, got {type(url).__name__}.")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"Not an absolute http(s) URL: {url!r}; pass e.g. 'https://host/path'.")
    return f"https://{parts.hostname.lower()}{parts.path or '/'}"


@dataclass(frozen=True)
class Page:
    """One HTML page of the offline web.

    Attributes:
        url: Canonical URL (``https://domain/path``).
        domain: Host name.
        path: URL path (``/`` for a home page).
        title: Page title.
        html: The full HTML document.
        text: Its visible text.
        links: Absolute URLs of every ``<a href>`` in the page, in document order.
        published: Publication or revision date, ISO ``YYYY-MM-DD`` (also in ``<time>``).
        kind: ``home``, ``index``, ``article``, ``news``, ``registry``, ``catalog`` or
            ``private``.
        entity_ids: Entities the page is about or mentions.
        facts: Facts the page states.

    Example:
        >>> page = Page("https://wiki.quessa.test/", "wiki.quessa.test", "/", "Home",
        ...             "<html></html>", "Home", (), "2026-01-05", "home")
        >>> page.to_dict()["published"]
        '2026-01-05'
    """

    url: str
    domain: str
    path: str
    title: str
    html: str
    text: str
    links: tuple[str, ...]
    published: str
    kind: str
    entity_ids: tuple[str, ...] = ()
    facts: tuple[Fact, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON record of this page without its HTML (facts as keys)."""
        return {"url": self.url, "domain": self.domain, "path": self.path, "title": self.title,
                "published": self.published, "kind": self.kind, "links": list(self.links),
                "entity_ids": list(self.entity_ids), "facts": [f.key for f in self.facts],
                "text": self.text}


@dataclass(frozen=True)
class Website:
    """All pages of the offline web and the ``robots.txt`` of each domain.

    Attributes:
        pages: Canonical URL -> page.
        robots: Domain -> ``robots.txt`` text.

    Example:
        >>> from memagents.sample import SampleWorld
        >>> site = SampleWorld.generate(0, size="tiny").website
        >>> private = [u for u in site.pages if "/private/" in u]
        >>> bool(private) and not any(site.is_allowed(u) for u in private)
        True
    """

    pages: dict[str, Page]
    robots: dict[str, str]

    @property
    def domains(self) -> tuple[str, ...]:
        """The site's domains, sorted."""
        return tuple(sorted(self.robots))

    def home(self, domain: str) -> str:
        """URL of a domain's home page."""
        if domain not in self.robots:
            raise InputError(f"Unknown domain {domain!r}; use one of {', '.join(self.domains)}.")
        return f"https://{domain}/"

    def get(self, url: str) -> Page | None:
        """Return the page at ``url`` (query and fragment ignored), or None."""
        return self.pages.get(normalize_url(url))

    def is_external(self, url: str) -> bool:
        """Whether ``url`` points outside the offline web (an intentional external link)."""
        return urlsplit(normalize_url(url)).hostname not in self.robots

    def is_allowed(self, url: str, user_agent: str = "*") -> bool:
        """Whether the domain's ``robots.txt`` lets ``user_agent`` fetch ``url``."""
        canonical = normalize_url(url)
        host = urlsplit(canonical).hostname or ""
        if host not in self.robots:
            return True
        parser = RobotFileParser()
        parser.parse(self.robots[host].splitlines())
        return parser.can_fetch(user_agent, canonical)

    def pages_about(self, entity_id: str) -> list[Page]:
        """Pages that are about or mention an entity, sorted by URL."""
        return [p for _, p in sorted(self.pages.items()) if entity_id in p.entity_ids]

    def mock_transport(self) -> httpx.MockTransport:
        """An ``httpx.MockTransport`` serving this web (works for sync and async clients).

        ``GET``/``HEAD`` on a known domain return the page (``text/html; charset=utf-8``, with
        ``Last-Modified`` from the publication date), ``/robots.txt`` as ``text/plain``, and
        404 for anything else; other methods get 405. Hosts outside the site raise
        ``httpx.ConnectError``, as an unreachable external web would.

        Example:
            >>> import httpx
            >>> from memagents.sample import SampleWorld
            >>> site = SampleWorld.generate(0, size="tiny").website
            >>> with httpx.Client(transport=site.mock_transport()) as client:
            ...     ok = client.get(site.home(site.domains[0])).status_code
            ...     missing = client.get(site.home(site.domains[0]) + "nope.html").status_code
            >>> ok, missing
            (200, 404)
        """
        import httpx

        pages, robots = self.pages, self.robots

        def handle(request: httpx.Request) -> httpx.Response:
            host = request.url.host
            if host not in robots:
                raise httpx.ConnectError(f"{host} is outside the offline web", request=request)
            if request.method not in ("GET", "HEAD"):
                return httpx.Response(405, headers={"allow": "GET, HEAD"})
            head = request.method == "HEAD"
            path = request.url.path or "/"
            if path == "/robots.txt":
                body = robots[host].encode()
                return httpx.Response(200, content=b"" if head else body,
                                      headers={"content-type": "text/plain; charset=utf-8"})
            page = pages.get(f"https://{host}{path}")
            if page is None:
                body = b"<!DOCTYPE html><html><body><h1>404 Not Found</h1></body></html>"
                return httpx.Response(404, content=b"" if head else body,
                                      headers={"content-type": "text/html; charset=utf-8"})
            stamp = datetime.fromisoformat(page.published).replace(tzinfo=timezone.utc)
            headers = {"content-type": "text/html; charset=utf-8",
                       "last-modified": email.utils.format_datetime(stamp, usegmt=True)}
            return httpx.Response(200, content=b"" if head else page.html.encode(),
                                  headers=headers)

        return httpx.MockTransport(handle)
