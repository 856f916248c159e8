"""Try several search backends in order, so a run goes on when one is down.

:class:`FallbackSearch` asks each backend in turn and returns the first answer; backends that
fail (down, rate limited past the retries, refusing the key, answering nonsense) are skipped
with the reason, reported in :class:`SearchReport` and logged at WARNING. Only when every
backend failed does it raise, with each one's reason.

Example:
    >>> from memagents.web.search import FallbackSearch, LocalSearch, SearxNGSearch
    >>> down = SearxNGSearch("http://127.0.0.1:9", sleep=lambda s: None)
    >>> local = LocalSearch.from_pages([{"url": "https://a.test/", "title": "Alpha",
    ...                                  "text": "alpha beta"}])
    >>> report = FallbackSearch([down, local]).run("alpha")
    >>> report.backend, [s.backend for s in report.skipped], report.skipped[0].kind
    ('local', ['searxng'], 'unavailable')
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from memagents.errors import BackendError, InputError
from memagents.web.search.base import (
    ErrorKind,
    SearchBackend,
    SearchError,
    SearchResult,
    check_query,
)

__all__ = ["FallbackSearch", "SearchReport", "Skipped"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class Skipped:
    """A backend :class:`FallbackSearch` passed over, and why.

    Attributes:
        backend: The backend's name.
        kind: :attr:`SearchError.kind` (``unavailable``, ``auth``...), ``empty`` when it found
            nothing and ``skip_empty`` is set, or ``error`` for other backend errors.
        reason: The error message.

    Example:
        >>> Skipped(backend="brave", kind="auth", reason="Brave Search returned 401").kind
        'auth'
    """

    backend: str
    kind: str
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class SearchReport:
    """What a :class:`FallbackSearch` did for one query.

    Attributes:
        results: The results of the backend that answered.
        backend: Name of the backend that answered (None if none did).
        skipped: The backends tried before it that failed, in order, with the reasons.

    Example:
        >>> SearchReport(results=[], backend="local").skipped
        ()
    """

    results: list[SearchResult] = field(default_factory=list)
    backend: str | None = None
    skipped: tuple[Skipped, ...] = ()


class FallbackSearch(SearchBackend):
    """Ask backends in order; the first that answers wins; failures are skipped and reported.

    Args:
        backends: The backends, most preferred first.
        skip_empty: Also move on when a backend answers with no results.

    Raises:
        InputError: no backends given.

    Example:
        >>> from memagents.web.search import LocalSearch
        >>> one = LocalSearch.from_pages([{"url": "https://a.test/", "title": "A", "text": "x"}])
        >>> FallbackSearch([one]).search("x")[0].backend
        'local'
    """

    name = "fallback"

    def __init__(self, backends: Sequence[SearchBackend], *, skip_empty: bool = False) -> None:
        backends = list(backends)
        if not backends:
            raise InputError("FallbackSearch needs at least one backend, e.g. [BraveSearch()].")
        for backend in backends:
            if not isinstance(backend, SearchBackend):
                raise InputError(
                    f"FallbackSearch takes SearchBackend objects, got {type(backend).__name__}."
                )
        self.backends = backends
        self.skip_empty = skip_empty

    def run(self, query: str, *, k: int = 10) -> SearchReport:
        """Search like :meth:`search`, and say which backend answered and which were skipped.

        Raises:
            InputError: empty query or ``k`` outside 1..100.
            SearchError: every backend failed (the message lists each reason).
        """
        text, k = check_query(query, k)
        skipped: list[Skipped] = []
        for backend in self.backends:
            try:
                results = backend.search(text, k=k)
            except BackendError as exc:
                skipped.append(_skip(backend, exc))
                continue
            if self._answered(backend, results, skipped):
                return SearchReport(results=results, backend=backend.name, skipped=tuple(skipped))
        raise _all_failed(skipped)

    async def arun(self, query: str, *, k: int = 10) -> SearchReport:
        """Async twin of :meth:`run`."""
        text, k = check_query(query, k)
        skipped: list[Skipped] = []
        for backend in self.backends:
            try:
                results = await backend.asearch(text, k=k)
            except BackendError as exc:
                skipped.append(_skip(backend, exc))
                continue
            if self._answered(backend, results, skipped):
                return SearchReport(results=results, backend=backend.name, skipped=tuple(skipped))
        raise _all_failed(skipped)

    def _answered(
        self, backend: SearchBackend, results: list[SearchResult], skipped: list[Skipped]
    ) -> bool:
        if results or not self.skip_empty:
            return True
        skipped.append(Skipped(backend=backend.name, kind="empty", reason="no results"))
        logger.warning("search backend %s found nothing; trying the next one", backend.name)
        return False

    def _search(self, query: str, k: int) -> list[SearchResult]:
        return self.run(query, k=k).results

    async def _asearch(self, query: str, k: int) -> list[SearchResult]:
        return (await self.arun(query, k=k)).results

    def close(self) -> None:
        """Close every backend."""
        for backend in self.backends:
            backend.close()

    def __repr__(self) -> str:
        return f"FallbackSearch({self.backends!r})"


def _skip(backend: SearchBackend, exc: BackendError) -> Skipped:
    kind = exc.kind if isinstance(exc, SearchError) else "error"
    logger.warning("search backend %s skipped (%s): %s", backend.name, kind, exc)
    return Skipped(backend=backend.name, kind=kind, reason=str(exc))


def _all_failed(skipped: list[Skipped]) -> SearchError:
    lines = "; ".join(f"{s.backend} ({s.kind}): {s.reason}" for s in skipped)
    kinds = {s.kind for s in skipped}
    kind: ErrorKind = "unavailable"
    if len(kinds) == 1 and not kinds & {"empty", "error"}:
        kind = kinds.pop()  # type: ignore[assignment]
    return SearchError(
        f"every search backend failed: {lines}", backend="fallback", kind=kind
    )
