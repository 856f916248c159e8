"""What the hosted search backends share: the httpx clients, the retry policy, error messages.

Retries reuse the model layer's machinery (:mod:`memagents.models._retry`): the same
:class:`~memagents.models.RetryPolicy` (``max_retries``, ``backoff_base``, ``backoff_max``
settings), the same classification of transient failures (HTTP 408/409/425/429/5xx, timeouts,
connection errors) with ``Retry-After`` honoured, and the same retry protocol run by ``drive``
(sync) and ``adrive`` (async), so the loop is written once. Only the requests differ: each
backend says how to ask for a page (:meth:`HttpSearchBackend._request`) and how to read the
answer (:meth:`HttpSearchBackend._parse`).

A JSON body that does not parse, or parses into the wrong shape, is not retried: it means the
URL points at something other than the API, which waiting does not fix.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from abc import abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx
from pydantic import SecretStr

from memagents.config import Settings, get_settings
from memagents.models import RetryPolicy
from memagents.models._retry import ErrorInfo, Protocol, Send, Sleep, adrive, classify_error, drive
from memagents.web.search.base import (
    ErrorKind,
    SearchBackend,
    SearchError,
    SearchResult,
    clean_text,
)

__all__ = ["HttpSearchBackend", "Request", "secret"]


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request to a search API (``params`` go to the query string, ``json`` to the body)."""

    method: str
    url: str
    params: dict[str, Any] | None = None
    json: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


class _Call:
    """The runnable the retry driver invokes: one request; a non-2xx answer raises."""

    def __init__(self, client: Any, defaults: dict[str, str]) -> None:
        self.client, self.defaults = client, defaults

    def _kwargs(self, req: Request) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"headers": {**self.defaults, **req.headers}}
        if req.params is not None:
            kwargs["params"] = req.params
        if req.json is not None:
            kwargs["json"] = req.json
        return kwargs

    def invoke(self, messages: list[Request]) -> httpx.Response:
        req = messages[0]
        response: httpx.Response = self.client.request(req.method, req.url, **self._kwargs(req))
        response.raise_for_status()
        return response

    async def ainvoke(self, messages: list[Request]) -> httpx.Response:
        req = messages[0]
        response: httpx.Response = await self.client.request(
            req.method, req.url, **self._kwargs(req)
        )
        response.raise_for_status()
        return response


class HttpSearchBackend(SearchBackend):
    """Base of the backends that call a search API over HTTP.

    Args:
        settings: Settings to read URLs, keys, the retry policy and the User-Agent from
            (default: :func:`memagents.config.get_settings`).
        client: An ``httpx.Client`` to send requests with (left open by :meth:`close`). When
            given without ``async_client``/``async_transport``, ``asearch`` runs the sync
            path in a worker thread so every request still goes through it.
        async_client: An ``httpx.AsyncClient`` for ``asearch`` (left open).
        transport: An httpx transport for the client this backend creates itself (e.g.
            ``httpx.MockTransport``, which serves async requests too).
        async_transport: A transport for the async clients this backend creates.
        timeout: Seconds per request for clients this backend creates.
        retry: Retry policy (default: from the settings).
        sleep: Sleep function between retries (tests pass a fake one).
        asleep: Async sleep function between retries.
        max_concurrency: Requests in flight at once from this backend (sync path).
    """

    label: ClassVar[str] = "search API"
    """Human name used in messages ("Brave Search")."""
    setting_hint: ClassVar[str] = ""
    """The setting a user fixes when the service refuses the key or is unreachable."""
    max_pages: ClassVar[int] = 5
    """Most pages fetched to collect ``k`` results."""

    def __init__(
        self,
        *,
        settings: Settings | None = None,
        client: httpx.Client | None = None,
        async_client: httpx.AsyncClient | None = None,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 20.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Any] = time.sleep,
        asleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        max_concurrency: int = 4,
    ) -> None:
        settings = settings or get_settings()
        self._client, self._owns_client = client, False
        self._sync_only = client is not None and async_client is None and (
            async_transport is None and not hasattr(transport, "handle_async_request")
        )
        self._async_client = async_client
        self._transport = transport
        if async_transport is None and hasattr(transport, "handle_async_request"):
            async_transport = transport  # type: ignore[assignment]
        self._async_transport = async_transport
        self.timeout = timeout
        self.retry = retry or RetryPolicy.from_settings(settings)
        self._sleep, self._asleep = sleep, asleep
        self._slots = threading.BoundedSemaphore(max(1, max_concurrency))
        self._lock = threading.Lock()
        self._headers = {"User-Agent": settings.web_user_agent, "Accept": "application/json"}

    # -- what each backend says -------------------------------------------------------------
    @property
    @abstractmethod
    def where(self) -> str:
        """The service's address, for messages."""

    @abstractmethod
    def _request(self, query: str, k: int, page: int) -> Request | None:
        """The request for result page ``page`` (from 0), or None when there is no such page."""

    @abstractmethod
    def _parse(self, payload: Any) -> list[SearchResult]:
        """Results of one decoded response; raise :class:`SearchError` on a wrong shape."""

    def _more(self, payload: Any) -> bool:
        """Whether the service says a next page exists (default: ask until a page adds nothing)."""
        return True

    def _detail(self, payload: Any, text: str) -> str:
        """The service's own explanation in an error response (empty if none)."""
        return "" if text.lstrip().startswith("<") else clean_text(text)[:200]

    def _advice(self, status: int, detail: str) -> tuple[ErrorKind, str]:
        """What an HTTP error status means for the user, and what to do."""
        said = f" ({detail})" if detail else ""
        if status == 401:
            return "auth", f"the API key was refused{said}: check {self.setting_hint}."
        if status == 403:
            return "forbidden", f"access denied{said}: check {self.setting_hint} and your plan."
        if status == 429:
            return "rate_limited", (
                f"rate limited{said}: wait and retry later, lower the request rate, or check "
                "your plan's quota."
            )
        if status >= 500:
            return "unavailable", f"the service failed{said}; try again later."
        return "rejected", f"the request was refused{said}."

    def _retry_after(self, response: httpx.Response) -> float | None:
        """A wait the service asks for beyond ``Retry-After`` (e.g. Brave's rate-limit reset)."""
        return None

    def _bad_response(self, why: str) -> SearchError:
        return SearchError(
            f"{self.label} at {self.where} returned {why}: check that the URL points at the "
            f"{self.label} API.", backend=self.name, kind="bad_response",
        )

    # -- the search loop, sync and async ------------------------------------------------------
    def _search(self, query: str, k: int) -> list[SearchResult]:
        call = _Call(self._sync_client(), self._headers)
        results: list[SearchResult] = []
        seen: set[str] = set()
        for page in range(self.max_pages):
            req = self._request(query, k, page)
            if req is None:
                break
            got, more = drive(self._protocol(call, req), sleep=self._sleep, slots=self._slots)
            if not _collect(got, seen, results) or len(results) >= k or not more:
                break
        return results[:k]

    async def _asearch(self, query: str, k: int) -> list[SearchResult]:
        if self._sync_only:
            return await super()._asearch(query, k)
        results: list[SearchResult] = []
        seen: set[str] = set()
        async with self._aclient() as client:
            call = _Call(client, self._headers)
            for page in range(self.max_pages):
                req = self._request(query, k, page)
                if req is None:
                    break
                got, more = await adrive(
                    self._protocol(call, req), asleep=self._asleep, timeout=None
                )
                if not _collect(got, seen, results) or len(results) >= k or not more:
                    break
        return results[:k]

    def _protocol(self, call: _Call, req: Request) -> Protocol:
        """One request with retries: yields Send/Sleep actions, returns (results, more pages)."""
        attempt = 0
        while True:
            response, error, _ = yield Send(call, [req])
            if error is None:
                payload = self._decode(response)
                return self._parse(payload), self._more(payload)
            info = classify_error(error)
            attempt += 1
            if not isinstance(error, httpx.HTTPError):
                raise error
            if not info.transient or attempt > self.retry.max_retries:
                raise self._failure(error, info, attempt) from error
            wait = info.retry_after
            if wait is None and isinstance(error, httpx.HTTPStatusError):
                wait = self._retry_after(error.response)
            yield Sleep(self.retry.delay(attempt, retry_after=wait))

    def _decode(self, response: httpx.Response) -> Any:
        try:
            return json.loads(response.content)
        except ValueError:
            kind = response.headers.get("content-type", "no content type")
            head = response.text[:80].replace("\n", " ")
            raise self._bad_response(f"a body that is not valid JSON ({kind}: {head!r})") from None

    def _failure(self, error: httpx.HTTPError, info: ErrorInfo, attempts: int) -> SearchError:
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        if isinstance(error, httpx.HTTPStatusError):
            response = error.response
            status = response.status_code
            try:
                payload: Any = response.json()
            except ValueError:
                payload = None
            kind, advice = self._advice(status, self._detail(payload, response.text))
            return SearchError(
                f"{self.label} returned {status}{tries}: {advice}",
                backend=self.name, kind=kind, status=status,
            )
        if isinstance(error, httpx.TimeoutException):
            return SearchError(
                f"{self.label} at {self.where} did not answer in time{tries} "
                f"({type(error).__name__}): it may be overloaded or down; try again later or "
                "pass a larger timeout=.", backend=self.name, kind="unavailable",
            )
        return SearchError(
            f"{self.label} at {self.where} is unreachable{tries} ({info.description}): check "
            f"that it is running and that {self.setting_hint} points at it.",
            backend=self.name, kind="unavailable",
        )

    # -- clients ------------------------------------------------------------------------------
    def _sync_client(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(
                    transport=self._transport, timeout=self.timeout, follow_redirects=True
                )
                self._owns_client = True
            return self._client

    @contextlib.asynccontextmanager
    async def _aclient(self) -> AsyncIterator[httpx.AsyncClient]:
        if self._async_client is not None:
            yield self._async_client
            return
        async with httpx.AsyncClient(
            transport=self._async_transport, timeout=self.timeout, follow_redirects=True
        ) as client:
            yield client

    def close(self) -> None:
        """Close the httpx client this backend created (an injected one stays open)."""
        with self._lock:
            client, owned = self._client, self._owns_client
            if owned:
                self._client, self._owns_client = None, False
        if owned and client is not None:
            client.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.where!r})"


def _collect(page: list[SearchResult], seen: set[str], out: list[SearchResult]) -> int:
    """Append the page's results whose URL is new; return how many were added."""
    added = 0
    for result in page:
        if result.url and result.url not in seen:
            seen.add(result.url)
            out.append(result)
            added += 1
    return added


def secret(value: str | SecretStr | None) -> str | None:
    """The plain text of an API key given as a string or a pydantic ``SecretStr``."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return value.strip() or None if isinstance(value, str) else None
