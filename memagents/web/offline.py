"""The offline web in one call: the sample world's website on loopback, a local search index
over it, and a safe fetcher allowed to reach it.

Everything the browse agent and benchmark synthesis need, with no network and no key: the
pages are served by :func:`memagents.sample.webserver.serve_website` (every domain on one
loopback port, by ``Host`` header), the fetcher reaches them through its resolve map and an
explicit allowlist of exactly those hosts (the SSRF guard stays on for everything else), and
the search backend is a :class:`~memagents.web.search.local.LocalSearch` over the same pages.
:meth:`OfflineWeb.set_snapshot` moves the served web forward in time (fresh pages, changed
facts); the index follows.

Example:
    >>> from memagents.sample import SampleWorld
    >>> with offline_web(SampleWorld.generate(0, size="tiny")) as web:
    ...     hit = web.search.search("robots", k=1)
    ...     page = web.fetcher.fetch(web.world.website.home(web.hosts[0]))
    >>> page.status, len(web.hosts)
    (200, 4)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from memagents.sample import SampleWorld
from memagents.sample.webserver import WebServer, serve_website
from memagents.web.fetch import Fetcher, FetchSettings
from memagents.web.search.local import LocalSearch

__all__ = ["OfflineWeb", "offline_web"]


@dataclass
class OfflineWeb:
    """A running offline web (see :func:`offline_web`).

    Attributes:
        world: The sample world whose website is served (the current snapshot).
        server: The loopback server.
        search: Local search over the served pages.
        fetcher: The safe fetcher, allowed to reach exactly the served hosts.
    """

    world: SampleWorld
    server: WebServer
    search: LocalSearch
    fetcher: Fetcher
    _closed: bool = field(default=False, repr=False)

    @property
    def hosts(self) -> tuple[str, ...]:
        """The served domains."""
        return tuple(self.server.hosts)

    def set_snapshot(self, index: int) -> SampleWorld:
        """Serve (and index) snapshot ``index`` of the world from now on; the fetcher's cache
        is bypassed by a fresh fetcher, so later fetches see the new pages."""
        self.world = self.server.set_snapshot(index)
        self.search = LocalSearch.from_website(self.world.website)
        old, self.fetcher = self.fetcher, Fetcher(self.fetcher.settings)
        old.close()
        return self.world

    def environment(self) -> dict[str, str]:
        """``MEMAGENTS_WEB_*`` variables that let a separate process reach this web."""
        return dict(self.server.environment())

    def close(self) -> None:
        """Close the fetcher (safe after ``await web.fetcher.afetch`` in an ``asyncio.run``
        that has returned, and from async code in the fetcher's own loop)."""
        if not self._closed:
            self._closed = True
            self.fetcher.close()

    async def aclose(self) -> None:
        """Close the fetcher from async code, in the loop that used it."""
        if not self._closed:
            self._closed = True
            await self.fetcher.aclose()


def fetch_settings_for(server: WebServer, **overrides: Any) -> FetchSettings:
    """Fetch settings that reach ``server``'s hosts (resolve map plus allowlist)."""
    return FetchSettings(resolve={h: ("127.0.0.1", server.port) for h in server.hosts},
                         allow_hosts=tuple(server.hosts), **overrides)


@contextmanager
def offline_web(world: SampleWorld | None = None, *, seed: int = 0, snapshot: int = 0,
                **fetch_overrides: Any) -> Iterator[OfflineWeb]:
    """Serve a sample world's website on loopback with a search index and a fetcher.

    Args:
        world: The world (default: ``SampleWorld.generate(seed)``, at ``snapshot``).
        seed / snapshot: Which world, when ``world`` is not given.
        **fetch_overrides: :class:`~memagents.web.fetch.FetchSettings` fields (limits,
            cache folder...).
    """
    world = world or SampleWorld.generate(seed, snapshot=snapshot)
    with serve_website(world) as server:
        web = OfflineWeb(world=world, server=server,
                         search=LocalSearch.from_website(world.website),
                         fetcher=Fetcher(fetch_settings_for(server, **fetch_overrides)))
        try:
            yield web
        finally:
            web.close()
