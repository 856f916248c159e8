"""Web search behind one protocol: SearxNG, Brave, Tavily, a local index, and fallbacks.

Every backend is a :class:`SearchBackend` with ``search(query, *, k=10)`` and ``asearch``,
returning :class:`SearchResult` rows (title, url, snippet, published ISO date, backend, rank,
score). Hosted backends read their URL or key from settings (``MEMAGENTS_SEARXNG_URL``,
``MEMAGENTS_BRAVE_API_KEY``/``BRAVE_SEARCH_API_KEY``, ``MEMAGENTS_TAVILY_API_KEY``/
``TAVILY_API_KEY``), send through an injectable httpx client or transport, and share one retry
policy (429 and 5xx with backoff, ``Retry-After`` honoured). Failures raise
:class:`SearchError` (a :class:`~memagents.errors.BackendError`) saying what to fix;
:class:`FallbackSearch` tries backends in order and reports the ones it skipped.
:class:`LocalSearch` needs no key: BM25, optionally fused with dense embeddings.

Example:
    >>> from memagents.sample import SampleWorld
    >>> from memagents.web.search import LocalSearch
    >>> index = LocalSearch.from_website(SampleWorld.generate(0, size="tiny").website)
    >>> hit = index.search("Aestomyre", k=3)[0]
    >>> hit.url, hit.backend
    ('https://wiki.meindethra.test/wiki/aestomyre.html', 'local')
"""

from __future__ import annotations

from memagents.web.search._corpus import LocalDocument
from memagents.web.search.base import SearchBackend, SearchError, SearchResult
from memagents.web.search.brave import BraveSearch
from memagents.web.search.factory import configured_backends, open_search
from memagents.web.search.fallback import FallbackSearch, SearchReport, Skipped
from memagents.web.search.local import LocalSearch
from memagents.web.search.searxng import SearxNGSearch
from memagents.web.search.tavily import TavilySearch

__all__ = [
    "BraveSearch",
    "FallbackSearch",
    "LocalDocument",
    "LocalSearch",
    "SearchBackend",
    "SearchError",
    "SearchReport",
    "SearchResult",
    "SearxNGSearch",
    "Skipped",
    "TavilySearch",
    "configured_backends",
    "open_search",
]
