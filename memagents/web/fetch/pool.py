"""One :class:`~memagents.web.fetch.Fetcher` per event loop, for graphs served on any loop.

A fetcher's per-host limits and HTTP connections belong to the event loop it first ran in.
A graph built once and run from several loops (LangGraph Server runs graphs on its loop,
scripts on theirs, ``graph.invoke`` from threads on fresh ones) needs one fetcher per loop:
:class:`FetcherPool` makes them on demand (built off the loop: a cache folder opens SQLite)
and drops a loop's fetcher with the loop. Synchronous :meth:`FetcherPool.fetch` calls share
one fetcher, one fetch at a time. Per-host limits are per fetcher, hence per loop.

Example:
    >>> import asyncio
    >>> from memagents.web.fetch import FetchSettings
    >>> pool = FetcherPool(FetchSettings())
    >>> async def same_twice():
    ...     return await pool.get() is await pool.get()
    >>> asyncio.run(same_twice()), asyncio.run(same_twice())  # a fetcher per loop, reused
    (True, True)
    >>> pool.loops
    0
    >>> pool.close()
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from contextlib import suppress

from memagents.errors import InputError
from memagents.web.fetch.cache import FetchedPage
from memagents.web.fetch.fetcher import Fetcher
from memagents.web.fetch.settings import FetchSettings

__all__ = ["FetcherPool"]


class FetcherPool:
    """Fetchers made from one :class:`FetchSettings`, one per running event loop.

    Use it where a single :class:`Fetcher` goes (``afetch`` and ``fetch`` have its
    signatures), e.g. ``create_web_tools(search, FetcherPool(settings))``; :meth:`close` it
    when done (``with contextlib.closing(FetcherPool(settings)) as pool:``).
    """

    def __init__(self, settings: FetchSettings | None = None) -> None:
        self.settings = settings or FetchSettings()
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Fetcher] = (
            weakref.WeakKeyDictionary())
        self._sync: Fetcher | None = None
        self._lock = threading.Lock()

    @property
    def loops(self) -> int:
        """How many live event loops have a fetcher."""
        return len(self._by_loop)

    async def get(self) -> Fetcher:
        """The running loop's fetcher (made on first use)."""
        loop = asyncio.get_running_loop()
        fetcher = self._by_loop.get(loop)
        if fetcher is None:
            made = await asyncio.to_thread(Fetcher, self.settings)
            fetcher = self._by_loop.setdefault(loop, made)
            if fetcher is not made:  # another task of this loop was first
                await made.aclose()
        return fetcher

    async def afetch(self, url: str) -> FetchedPage:
        """:meth:`Fetcher.afetch` on the running loop's fetcher."""
        return await (await self.get()).afetch(url)

    def fetch(self, url: str) -> FetchedPage:
        """:meth:`Fetcher.fetch` (outside any running loop), one call at a time."""
        with self._lock:
            if self._sync is None:
                self._sync = Fetcher(self.settings)
            return self._sync.fetch(url)

    def close(self) -> None:
        """Close every fetcher whose loop allows it (one running in another thread keeps its
        own until that loop ends)."""
        for fetcher in [*self._by_loop.values(), self._sync]:
            with suppress(InputError):
                if fetcher is not None:
                    fetcher.close()
        self._by_loop.clear()
        self._sync = None
