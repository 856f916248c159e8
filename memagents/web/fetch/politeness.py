"""Per-host politeness: a concurrency cap and a minimum interval between request starts.

Time comes from a :class:`Clock` (``monotonic``, ``time``, ``sleep``) so tests drive it with a
:class:`ManualClock` instead of waiting. :class:`HostLimiter` gives each host an
``asyncio.Semaphore`` (requests in flight) and a lock-protected "next start" slot: a request
waits until ``interval`` seconds have passed since the previous start to the same host. The
interval of a host is the larger of the configured minimum and the site's robots.txt
``Crawl-delay`` / ``Request-rate`` (capped).

Example:
    >>> import asyncio
    >>> from memagents.web.fetch.politeness import HostLimiter, ManualClock
    >>> clock = ManualClock()
    >>> limiter = HostLimiter(concurrency=2, min_interval=1.0, clock=clock)
    >>> async def three():
    ...     starts = []
    ...     for _ in range(3):
    ...         async with limiter.slot("a.test") as started:
    ...             started()  # right before sending
    ...             starts.append(clock.monotonic())
    ...     return starts
    >>> asyncio.run(three())
    [0.0, 1.0, 2.0]
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "HostLimiter", "ManualClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """Time source of the fetcher: a monotonic clock, wall time, and an async sleep."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (intervals, waits)."""
        ...

    def time(self) -> float:
        """Wall-clock seconds since the epoch (fetch times, cache age)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        ...


class SystemClock:
    """The real clock: :func:`time.monotonic`, :func:`time.time` and :func:`asyncio.sleep`.

    Example:
        >>> SystemClock().monotonic() > 0
        True
    """

    def monotonic(self) -> float:
        """Seconds of :func:`time.monotonic`."""
        return time.monotonic()

    def time(self) -> float:
        """Seconds of :func:`time.time`."""
        return time.time()

    async def sleep(self, seconds: float) -> None:
        """:func:`asyncio.sleep` (nothing for ``seconds <= 0``)."""
        if seconds > 0:
            await asyncio.sleep(seconds)


@dataclass
class ManualClock:
    """A virtual clock for tests: no real waiting, yet concurrent sleepers wake in time order.

    ``sleep(d)`` registers a wake-up at ``now + d``. A driver task lets every runnable task run
    (``settle`` rounds of the event loop), then moves ``now`` to the earliest wake-up and wakes
    that sleeper, and so on: what a task does right after waking is seen at its own wake-up
    time, as with a real clock.

    Attributes:
        now: Current monotonic time in seconds.
        epoch: Wall-clock time at ``now == 0`` (``time()`` is ``epoch + now``).
        sleeps: Every positive wait requested, in order.
        settle: Event-loop rounds run before time moves on.

    Example:
        >>> import asyncio
        >>> clock = ManualClock(epoch=1_700_000_000.0)
        >>> async def two():
        ...     await asyncio.gather(clock.sleep(2.5), clock.sleep(1.0))
        >>> asyncio.run(two())
        >>> clock.monotonic(), clock.time(), clock.sleeps
        (2.5, 1700000002.5, [2.5, 1.0])
    """

    now: float = 0.0
    epoch: float = 1_767_225_600.0  # 2026-01-01T00:00:00Z
    sleeps: list[float] = field(default_factory=list)
    settle: int = 50
    _timers: list[tuple[float, int, asyncio.Future[None]]] = field(
        default_factory=list, init=False, repr=False)
    _count: itertools.count[int] = field(default_factory=itertools.count, init=False, repr=False)
    _driver: asyncio.Task[None] | None = field(default=None, init=False, repr=False)

    def monotonic(self) -> float:
        """The virtual monotonic time."""
        return self.now

    def time(self) -> float:
        """The virtual wall-clock time."""
        return self.epoch + self.now

    async def sleep(self, seconds: float) -> None:
        """Wait until virtual time reaches ``now + seconds`` (yield once for ``<= 0``)."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        self.sleeps.append(seconds)
        loop = asyncio.get_running_loop()
        wake: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._timers, (self.now + seconds, next(self._count), wake))
        if self._driver is None or self._driver.done():
            self._driver = loop.create_task(self._drive())
        await wake

    async def _drive(self) -> None:
        while self._timers:
            for _ in range(self.settle):
                await asyncio.sleep(0)
            target, _, wake = heapq.heappop(self._timers)
            self.now = max(self.now, target)
            if not wake.done():
                wake.set_result(None)

    def advance(self, seconds: float) -> None:
        """Move time forward without sleeping (time passing elsewhere)."""
        self.now += seconds


@dataclass
class _HostState:
    semaphore: asyncio.Semaphore
    lock: asyncio.Lock
    last_start: float | None = None
    interval: float = 0.0
    in_flight: int = 0
    peak: int = 0


class HostLimiter:
    """Caps concurrent requests per host and spaces request starts per host.

    Args:
        concurrency: Requests in flight at once to one host.
        min_interval: Default seconds between two request starts to one host.
        clock: Time source (default :class:`SystemClock`).

    Create one per event loop: its semaphores and locks belong to the loop that first uses
    them.

    Example:
        >>> limiter = HostLimiter(concurrency=4)
        >>> limiter.set_interval("a.test", 2.0)
        >>> limiter.interval("a.test"), limiter.interval("b.test")
        (2.0, 0.0)
    """

    def __init__(self, *, concurrency: int = 4, min_interval: float = 0.0,
                 clock: Clock | None = None) -> None:
        self.concurrency = concurrency
        self.min_interval = min_interval
        self.clock: Clock = clock or SystemClock()
        self._hosts: dict[str, _HostState] = {}

    def _state(self, host: str) -> _HostState:
        key = host.lower()
        state = self._hosts.get(key)
        if state is None:
            state = _HostState(asyncio.Semaphore(self.concurrency), asyncio.Lock(),
                               interval=self.min_interval)
            self._hosts[key] = state
        return state

    def set_interval(self, host: str, seconds: float) -> None:
        """Space requests to ``host`` by at least ``seconds`` (never below ``min_interval``)."""
        self._state(host).interval = max(self.min_interval, seconds)

    def interval(self, host: str) -> float:
        """The current spacing of requests to ``host``."""
        state = self._hosts.get(host.lower())
        return state.interval if state is not None else self.min_interval

    def peak(self, host: str) -> int:
        """The most requests that were in flight at once to ``host``."""
        state = self._hosts.get(host.lower())
        return state.peak if state is not None else 0

    @asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[Callable[[], None]]:
        """Hold one of ``host``'s concurrency slots, starting no sooner than its interval.

        Yields a ``started()`` callback to call right before the request is handed to the
        network: the interval counts from that moment, and the next request to the host waits
        for it (calling it is optional; leaving the block counts as starting). So the spacing
        holds where requests leave, not only where they were scheduled.
        """
        state = self._state(host)
        async with state.semaphore:
            await state.lock.acquire()
            marked = False

            def started() -> None:
                nonlocal marked
                if not marked:
                    marked = True
                    state.last_start = self.clock.monotonic()
                    state.lock.release()

            try:
                if state.last_start is not None and state.interval > 0:
                    wait = state.last_start + state.interval - self.clock.monotonic()
                    if wait > 0:
                        await self.clock.sleep(wait)
                state.in_flight += 1
                state.peak = max(state.peak, state.in_flight)
                try:
                    yield started
                finally:
                    state.in_flight -= 1
            finally:
                started()
