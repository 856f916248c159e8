"""Loopback servers that speak the wire formats of SearxNG, Brave Search and Tavily.

A :class:`SearchServer` serves a list of documents on 127.0.0.1 in one service's real request
and response shapes, checks the key the way the service does, records every request and
plays injected faults (:class:`~memagents.testing.Fault`: 401/403/429 with a wait/500 statuses
in the service's error shape, delays, truncated or invalid JSON, disconnects). Point a real
client at ``server.base_url`` to test it without a key or network:

* ``searxng``: ``GET``/``POST /search?q=&format=json&pageno=`` (``page_size`` results a page);
  403 when ``json_enabled=False``, as when ``json`` is missing from ``search.formats``.
* ``brave``: ``GET /res/v1/web/search?q=&count=&offset=`` with ``X-Subscription-Token``
  (a wrong token gets 422 ``SUBSCRIPTION_TOKEN_INVALID``); 429 faults send
  ``X-RateLimit-Reset``.
* ``tavily``: ``POST /search`` with ``Authorization: Bearer KEY`` (or ``api_key`` in the
  body; else 401), ``max_results`` 0-20, ``topic="news"`` adds ``published_date``.

Relevance is simple and deterministic: a document matches when it shares a word with the query;
more shared words rank higher, then document order.

Example:
    >>> import httpx
    >>> from memagents.testing import Fault, SearchServer
    >>> docs = [{"title": "Owls", "url": "https://a.test/owl", "content": "Owls hunt at night."}]
    >>> with SearchServer("brave", documents=docs, api_key="k") as server:
    ...     server.inject(Fault.status(500))
    ...     url = server.base_url + "/res/v1/web/search"
    ...     first = httpx.get(url, params={"q": "owls"}, headers={"X-Subscription-Token": "k"})
    ...     again = httpx.get(url, params={"q": "owls"}, headers={"X-Subscription-Token": "k"})
    >>> first.status_code, again.json()["web"]["results"][0]["url"]
    (500, 'https://a.test/owl')
    >>> server.records[1].params["q"], len(server.records)
    ('owls', 2)
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from memagents.testing._search_wire import SearchHandler, words
from memagents.testing._wire import LoopbackService
from memagents.testing.faults import Fault

__all__ = ["SearchRequest", "SearchServer", "search_server"]

Flavor = Literal["searxng", "brave", "tavily"]
FLAVORS = ("searxng", "brave", "tavily")


@dataclass(frozen=True)
class SearchRequest:
    """One request a :class:`SearchServer` received.

    Attributes:
        method: ``GET`` or ``POST``.
        path: URL path.
        params: Query-string (and form) parameters.
        headers: Headers, names lowercased.
        body: The JSON body (POST), else None.
        authorised: Whether the key was right.
        fault: The fault played on it, if any.

    Example:
        >>> SearchRequest("GET", "/search", {"q": "x"}, {}, None).params["q"]
        'x'
    """

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: dict[str, Any] | None
    authorised: bool = True
    fault: Fault | None = field(default=None)


def _document(doc: Any) -> dict[str, Any]:
    get = doc.get if isinstance(doc, Mapping) else lambda key: getattr(doc, key, None)
    content = get("content")
    if content is None:
        content = get("text")
    url = get("url")
    if not isinstance(url, str) or not isinstance(content, str):
        raise TypeError(f"a search document needs 'url' and 'content' (or 'text'), got {doc!r}")
    published = get("published")
    return {"url": url, "title": str(get("title") or url), "content": " ".join(content.split()),
            "published": str(published)[:10] if published else None}


class SearchServer(LoopbackService):
    """A search API on 127.0.0.1 in the wire format of ``flavor``.

    Args:
        flavor: ``searxng``, ``brave`` or ``tavily``.
        documents: What the server finds: mappings or objects with ``url``, ``title``,
            ``content`` (or ``text``) and optionally ``published`` (``YYYY-MM-DD``), e.g. the
            pages of :class:`memagents.sample.Website`.
        api_key: The key Brave and Tavily clients must send.
        json_enabled: SearxNG only: False answers ``format=json`` with 403.
        page_size: SearxNG results per page.
        host: Loopback address to bind.
        port: Port; 0 picks a free one.

    Attributes:
        records: Every request received (:class:`SearchRequest`), in order.

    Example:
        >>> with SearchServer("tavily", api_key="tvly-k") as server:
        ...     server.base_url.startswith("http://127.0.0.1:")
        True
    """

    handler = SearchHandler

    @property
    def label(self) -> str:  # type: ignore[override]
        """Thread name prefix."""
        return f"SearchServer-{self.flavor}"

    def __init__(
        self,
        flavor: Flavor,
        *,
        documents: Iterable[Any] = (),
        api_key: str = "test-key",
        json_enabled: bool = True,
        page_size: int = 10,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if flavor not in FLAVORS:
            raise ValueError(f"flavor must be one of {', '.join(FLAVORS)}, not {flavor!r}")
        self.flavor, self.api_key = flavor, api_key
        self.json_enabled, self.page_size = json_enabled, max(1, page_size)
        self.host, self.port = host, port
        self._docs = [_document(d) for d in documents]
        self._lock = threading.Lock()
        self._init_service()
        self.reset()

    # -- lifecycle: start(), stop(), with (LoopbackService) ----------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``: the ``url``/``base_url`` to give a search client."""
        return self._address()

    # -- scripting ---------------------------------------------------------------------------
    def add_document(self, url: str, title: str, content: str,
                     published: str | None = None) -> None:
        """Add one document to what the server finds."""
        doc = _document({"url": url, "title": title, "content": content, "published": published})
        with self._lock:
            self._docs.append(doc)

    def inject(self, fault: Fault, *, times: int = 1) -> None:
        """Play ``fault`` on the next ``times`` requests with the right key (after others)."""
        with self._lock:
            self._faults.extend([fault] * times)

    def reset(self) -> None:
        """Forget recorded requests and pending faults (documents stay)."""
        with self._lock:
            self._faults: deque[Fault] = deque()
            self.records: list[SearchRequest] = []

    # -- the request handler calls these, from its threads ---------------------------------
    def admit(self, method: str, path: str, params: dict[str, str], headers: dict[str, str],
              body: dict[str, Any] | None, *, authorised: bool) -> Fault | None:
        with self._lock:
            fault = self._faults.popleft() if authorised and self._faults else None
            self.records.append(
                SearchRequest(method, path, dict(params), headers, body, authorised, fault)
            )
        return fault

    def wait_for(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def request_number(self) -> int:
        with self._lock:
            return len(self.records)

    def match(self, query: str) -> list[tuple[dict[str, Any], float]]:
        """Documents sharing a word with ``query``: most shared words first, then doc order."""
        terms = words(query)
        with self._lock:
            docs = list(self._docs)
        scored = []
        for index, doc in enumerate(docs):
            shared = len(terms & words(doc["title"] + " " + doc["content"]))
            if shared:
                scored.append((-shared, index, doc, shared / len(terms)))
        scored.sort(key=lambda row: (row[0], row[1]))
        return [(doc, score) for _, _, doc, score in scored]


@contextmanager
def search_server(flavor: Flavor, **kwargs: Any) -> Iterator[SearchServer]:
    """Run a :class:`SearchServer` for the duration of a ``with`` block (or a pytest fixture).

    Example:
        >>> with search_server("searxng", json_enabled=False) as server:
        ...     server.flavor
        'searxng'
    """
    with SearchServer(flavor, **kwargs) as server:
        yield server
