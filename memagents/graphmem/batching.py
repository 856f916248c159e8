"""Searches ranked together: one batched PageRank for many questions, and an async window.

A search is linking (question to facts, no PageRank), an optional recognition filter, then
ranking with one Personalized PageRank (:class:`~memagents.graphmem.core.search.GraphSearcher`).
:func:`rank_many` ranks several linked searches at once: the searches on one graph snapshot
with one PPR configuration share a multi-right-hand-side solve
(:func:`~memagents.graphmem.core.batched_ppr.solve_block`, bit-identical to one solve per
search), so each search gets exactly the hits it gets alone.
``GraphMemory.batch`` uses it for consecutive search operations.

:class:`WindowBatcher` makes it transparent for async callers: ``GraphMemory.asearch`` calls
arriving within ``window_ms`` of the first one are collected and ranked by one call of the
batch function in a worker thread (one batch in flight at a time: calls arriving while a batch
runs form the next one, so batches grow with the load). A failing search fails alone; a caller
that is cancelled while it waits is dropped from its batch (or, when the batch already runs,
its result is discarded) and the others are served. ``window_ms = 0`` turns batching off.

Example:
    >>> import asyncio
    >>> calls = []
    >>> def double_all(items):  # the batch function: one result (or exception) per item
    ...     calls.append(list(items))
    ...     return [ValueError("odd") if i % 2 else 2 * i for i in items]
    >>> batcher = WindowBatcher(double_all, window_ms=5)
    >>> async def main():
    ...     return await asyncio.gather(*(batcher.submit(i) for i in (0, 1, 2)),
    ...                                 return_exceptions=True)
    >>> asyncio.run(main())
    [0, ValueError('odd'), 4]
    >>> calls, batcher.batches
    ([[0, 1, 2]], 1)
"""

from __future__ import annotations

import asyncio
import itertools
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from memagents.errors import ConfigError
from memagents.graphmem.core.batched_ppr import solve_block
from memagents.graphmem.core.search import (
    GraphSearcher,
    LinkedFact,
    Linking,
    RankPlan,
    SearchResult,
)

__all__ = ["DEFAULT_WINDOW_MS", "RankRequest", "WindowBatcher", "rank_many"]

DEFAULT_WINDOW_MS = 2.0
"""Default batching window of ``GraphMemory.asearch``: short against a search's query
embedding and PageRank (milliseconds to a tenth of a second), long enough to gather the
searches a busy server starts together."""

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class RankRequest:
    """One search between linking and ranking: ``searcher.rank(linking, k, kept=kept)``."""

    searcher: GraphSearcher
    linking: Linking
    k: int = 10
    kept: Sequence[LinkedFact | Sequence[str]] | None = None


def rank_many(
    requests: Sequence[RankRequest], *, return_exceptions: bool = False
) -> list[Any]:
    """Rank several searches; those on one graph snapshot and PPR configuration share one
    batched PageRank. Each result equals ``searcher.rank(linking, k, kept=kept)``.

    Args:
        requests: The searches to rank.
        return_exceptions: Put a failing search's exception in its place (the others are
            ranked all the same); ``False`` raises the first one, in request order.
    """
    out: list[Any] = [None] * len(requests)
    groups: dict[int, list[tuple[int, RankRequest, RankPlan]]] = {}
    for i, req in enumerate(requests):
        try:
            plan = req.searcher.plan_rank(req.linking, req.k, kept=req.kept)
        except Exception as exc:  # noqa: BLE001 - it fails alone, the others are ranked
            out[i] = exc
            continue
        if isinstance(plan, SearchResult):
            out[i] = plan
        else:  # one solver object per graph snapshot and PPR configuration
            groups.setdefault(id(plan.solver), []).append((i, req, plan))
    for members in groups.values():
        _rank_group(members, out)
    if not return_exceptions:
        for item in out:
            if isinstance(item, BaseException):
                raise item
    return out


def _rank_group(members: list[tuple[int, RankRequest, RankPlan]], out: list[Any]) -> None:
    """Rank searches sharing one solver: one PPR solve for one, a batched solve for more."""
    if len(members) == 1:
        i, req, plan = members[0]
        try:
            probs, its = plan.solver.solve(plan.reset)
            out[i] = req.searcher.finish_rank(plan, probs[plan.n_phrases :], its)
        except Exception as exc:  # noqa: BLE001 - it fails alone, the others are ranked
            out[i] = exc
        return
    plan0 = members[0][2]
    try:
        probs, iterations = solve_block(
            plan0.solver, [plan.reset for _, _, plan in members], rows=slice(plan0.n_phrases, None)
        )
    except Exception:  # noqa: BLE001 - e.g. one reset without mass: one by one, it fails alone
        for member in members:
            _rank_group([member], out)
        return
    for c, (i, req, plan) in enumerate(members):
        try:
            out[i] = req.searcher.finish_rank(plan, probs[:, c], int(iterations[c]))
        except Exception as exc:  # noqa: BLE001 - it fails alone, the others are ranked
            out[i] = exc


@dataclass(eq=False)
class _LoopQueue:
    """The waiting calls of one event loop."""

    pending: list[tuple[Any, asyncio.Future[Any]]] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None
    due: bool = False  # the window of the pending calls is over
    running: bool = False  # a batch of this loop is in its worker thread
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class WindowBatcher(Generic[T, R]):
    """Collects async calls arriving close together and runs them as one batch.

    Args:
        run: ``run(items) -> results``, one result or exception per item, in order; called in
            a worker thread. When it raises, every item of the batch gets that exception.
        window_ms: How long the first call of a batch waits for others (milliseconds);
            ``0`` runs every call alone, at once.
        max_batch: A batch is started as soon as this many calls wait.

    Raises:
        ConfigError: ``window_ms`` negative or not a number, ``max_batch < 1``.
    """

    def __init__(
        self,
        run: Callable[[list[T]], Sequence[R | BaseException]],
        *,
        window_ms: float = DEFAULT_WINDOW_MS,
        max_batch: int = 64,
    ) -> None:
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise ConfigError(f"max_batch must be a positive integer, got {max_batch!r}.")
        self._run = run
        self.window_ms = window_ms
        self.max_batch = max_batch
        self._queues: dict[asyncio.AbstractEventLoop, _LoopQueue] = {}
        self._lock = threading.Lock()
        self._batches = itertools.count()
        self.batches = 0
        """Batches run so far (each is one call of ``run``)."""

    @property
    def window_ms(self) -> float:
        """The batching window in milliseconds (``0``: off)."""
        return self._window_ms

    @window_ms.setter
    def window_ms(self, value: float) -> None:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value < 0
        ):
            raise ConfigError(
                f"ppr_batch_window_ms must be a number of milliseconds >= 0 (0 turns "
                f"batching off), got {value!r}."
            )
        self._window_ms = float(value)

    def run_now(self, items: list[T]) -> list[R | BaseException]:
        """Run one batch in this thread (counted in :attr:`batches`)."""
        self.batches = next(self._batches) + 1
        results = list(self._run(items))
        if len(results) != len(items):
            raise RuntimeError(f"batch function returned {len(results)} results for "
                               f"{len(items)} items.")
        return results

    async def submit(self, item: T) -> R:
        """The result for ``item``, computed in a batch with the calls around it."""
        if self._window_ms == 0:
            result = (await asyncio.to_thread(self.run_now, [item]))[0]
            if isinstance(result, BaseException):
                raise result
            return result
        loop = asyncio.get_running_loop()
        with self._lock:
            queue = self._queues.setdefault(loop, _LoopQueue())
        future: asyncio.Future[Any] = loop.create_future()
        queue.pending.append((item, future))
        if len(queue.pending) >= self.max_batch:
            queue.due = True
            self._flush(loop, queue)
        elif queue.timer is None and not queue.due:
            queue.timer = loop.call_later(self._window_ms / 1000, self._window_over, loop, queue)
        return await future  # cancelling the caller cancels the future: _flush skips it

    def _window_over(self, loop: asyncio.AbstractEventLoop, queue: _LoopQueue) -> None:
        queue.timer = None
        queue.due = True
        self._flush(loop, queue)

    def _flush(self, loop: asyncio.AbstractEventLoop, queue: _LoopQueue) -> None:
        """Start the waiting calls as a batch, unless one runs (it restarts us when done)."""
        if queue.running or not queue.due:
            return
        if queue.timer is not None:
            queue.timer.cancel()
            queue.timer = None
        batch = [(i, f) for i, f in queue.pending[: self.max_batch] if not f.done()]
        del queue.pending[: self.max_batch]
        queue.due = bool(queue.pending)  # calls beyond max_batch have waited long enough
        if not batch:
            self._forget_if_idle(loop, queue)
            return
        queue.running = True
        task = loop.create_task(self._execute(loop, queue, batch))
        queue.tasks.add(task)
        task.add_done_callback(queue.tasks.discard)

    async def _execute(
        self,
        loop: asyncio.AbstractEventLoop,
        queue: _LoopQueue,
        batch: list[tuple[Any, asyncio.Future[Any]]],
    ) -> None:
        try:
            results: Sequence[Any] = await asyncio.to_thread(self.run_now, [i for i, _ in batch])
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - every caller of the batch gets it
            results = [exc] * len(batch)
        finally:
            queue.running = False
        for (_, future), result in zip(batch, results):
            if future.done():  # its caller was cancelled meanwhile
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
        if queue.pending and queue.timer is None:
            queue.due = True  # their window passed while this batch ran
        self._flush(loop, queue)
        self._forget_if_idle(loop, queue)

    def _forget_if_idle(self, loop: asyncio.AbstractEventLoop, queue: _LoopQueue) -> None:
        if not queue.pending and not queue.running and queue.timer is None:
            with self._lock:
                if self._queues.get(loop) is queue:
                    del self._queues[loop]
