"""Embedding ahead: the write path encodes a chunk's strings while the next chunk is extracted.

:meth:`GraphMemory.add <memagents.graphmem.GraphMemory.add>` extracts triples chunk by chunk
(model round trips, mostly waiting) and then updates the graph, which embeds every string
never seen (passage texts, phrases, facts; compute on a local model). :class:`Prefetch` runs
that embedding on one background thread as soon as a chunk's triples are known, into the
graph's vector cache (and, through the memory's embed function, its persistent vector table),
so the two overlap and the graph update finds every vector cached.

The background thread runs in a copy of the caller's context, so
:func:`~memagents.models.track_usage` counts its embedding calls for the add that made them.
An embedding failure is kept and raised by :meth:`Prefetch.wait`, where the graph update
would have raised it; nothing else is submitted after one.

Example:
    >>> import numpy as np
    >>> from memagents.graphmem.core.graph import GraphIndex
    >>> calls = []
    >>> def embed(texts):
    ...     calls.append(len(texts))
    ...     return np.ones((len(texts), 4), np.float32)
    >>> index = GraphIndex(embed=embed)
    >>> with Prefetch(lambda: index) as ahead:
    ...     ahead.submit([("p1", "Rome is in Italy.", [("Rome", "in", "Italy")])])
    ...     ahead.wait()
    >>> calls, len(index.vectors)
    ([4], 4)
    >>> delta = index.add([("p1", "Rome is in Italy.", [("Rome", "in", "Italy")])])
    >>> calls  # the graph update found every vector cached
    [4]
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any

from typing_extensions import Self

from memagents.graphmem.core.graph import GraphIndex
from memagents.graphmem.core.normalize import clean_triples, fact_text, normalize_triple

__all__ = ["Prefetch", "graph_strings"]


def graph_strings(passages: Iterable[tuple[str, str, Sequence[Any]]]) -> list[str]:
    """The strings :meth:`GraphIndex.add` embeds for ``(id, text, triples)`` passages:
    each text, the normalised phrases and the fact texts of the kept triples."""
    out: list[str] = []
    for _, text, triples in passages:
        norm = [normalize_triple(t) for t in clean_triples(triples)[0]]
        out.append(text)
        out.extend(p for s, _, o in norm for p in (s, o))
        out.extend(fact_text(t) for t in norm)
    return out


class Prefetch:
    """Embeds passages' graph strings into a graph's vector cache on a background thread.

    Args:
        graph: Returns the graph to fill; called (on the caller's thread) at the first
            :meth:`submit` with strings, so a call that submits nothing never loads a graph.
    """

    def __init__(self, graph: Callable[[], GraphIndex]) -> None:
        self._graph = graph
        self._index: GraphIndex | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._futures: list[Future[None]] = []
        self._failed = False

    def submit(self, passages: Iterable[tuple[str, str, Sequence[Any]]]) -> None:
        """Queue the strings of ``passages`` (``(id, text, triples)``) for embedding."""
        strings = graph_strings(passages)
        if not strings or self._failed:
            return
        if self._index is None:
            self._index = self._graph()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="memagents-prefetch")
        context = contextvars.copy_context()
        self._futures.append(self._pool.submit(context.run, self._embed, self._index, strings))

    def _embed(self, index: GraphIndex, strings: list[str]) -> None:
        if self._failed:  # an earlier chunk failed: wait() raises its error
            return
        try:
            index.vectors.ensure(strings, index.embed)
        except BaseException:
            self._failed = True
            raise

    def wait(self) -> None:
        """Wait for everything submitted; raise the first embedding error, if any."""
        try:
            for future in self._futures:
                future.result()
        finally:
            self._futures.clear()

    def close(self) -> None:
        """Drop what has not started and wait for what has."""
        for future in self._futures:
            future.cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
