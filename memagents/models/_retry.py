"""Retry policy, provider-error classification, and drivers for retry protocols.

Transient (retried with backoff): HTTP 408/409/429/5xx, timeouts, connection errors, and any
langchain ``ModelError`` marked ``is_retryable``. Everything else fails fast with advice.

A *retry protocol* is a generator yielding :class:`Send` (invoke a runnable) and :class:`Sleep`
actions and receiving ``(reply, error, latency)`` outcomes; :func:`drive` and :func:`adrive`
execute it synchronously or asynchronously, so the retry logic itself is written once.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import threading
import time
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any

import httpx
import openai

from memagents.config import Settings
from memagents.errors import ConfigError

__all__ = [
    "ErrorInfo",
    "Protocol",
    "RetryPolicy",
    "Send",
    "Sleep",
    "adrive",
    "classify_error",
    "drive",
    "fatal_advice",
]

RETRY_AFTER_CAP = 60.0
"""Longest ``Retry-After`` honoured when it exceeds ``backoff_max`` (seconds)."""
_RNG = random.Random()
_TRANSIENT_STATUS = frozenset({408, 409, 425, 429})


@dataclass(frozen=True, kw_only=True, slots=True)
class RetryPolicy:
    """How often and how patiently to retry a model request.

    Attributes:
        max_retries: Extra attempts after the first (transient errors and schema re-asks).
        backoff_base: Delay before the first retry, in seconds; doubles each retry.
        backoff_max: Longest computed delay, in seconds.
        jitter: Relative random spread applied to each delay (0.25 = +/-25 %).
        timeout: Per-request timeout in seconds for this policy (None: the model's own).

    A server's ``Retry-After`` header replaces the computed delay (up to
    ``max(backoff_max, 60)`` seconds).

    Example:
        >>> p = RetryPolicy(backoff_base=1.0, backoff_max=5.0, jitter=0.0)
        >>> [p.delay(n) for n in (1, 2, 3, 4)], p.delay(1, retry_after=3.0)
        ([1.0, 2.0, 4.0, 5.0], 3.0)
    """

    max_retries: int = 4
    backoff_base: float = 0.5
    backoff_max: float = 20.0
    jitter: float = 0.25
    timeout: float | None = None

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.backoff_base < 0 or self.backoff_max < 0:
            raise ConfigError(
                "RetryPolicy values must be non-negative (max_retries, backoff_base, backoff_max)."
            )
        if not 0 <= self.jitter <= 1:
            raise ConfigError("RetryPolicy.jitter must be between 0 and 1 (0.25 = +/-25 %).")
        if self.timeout is not None and self.timeout <= 0:
            raise ConfigError("RetryPolicy.timeout must be positive seconds, or None.")

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        """The policy described by ``max_retries``, ``backoff_base``, ``backoff_max`` settings."""
        return cls(
            max_retries=settings.max_retries,
            backoff_base=settings.backoff_base,
            backoff_max=settings.backoff_max,
        )

    def delay(
        self, retry: int, *, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, max(self.backoff_max, RETRY_AFTER_CAP))
        base = min(self.backoff_max, self.backoff_base * 2.0 ** max(0, retry - 1))
        if self.jitter:
            spread: float = (rng or _RNG).uniform(-self.jitter, self.jitter)
            base *= 1.0 + spread
        return max(0.0, min(base, self.backoff_max))


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """What went wrong with one request, and whether retrying can help."""

    transient: bool
    status: int | None
    retry_after: float | None
    description: str


def _parse_retry_after(headers: Any) -> float | None:
    if headers is None:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(0.0, float(ms) / 1000.0)
        value = headers.get("retry-after")
    except Exception:  # noqa: BLE001 - exotic header containers
        return None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        pass
    try:
        when = email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _status_of(exc: BaseException) -> int | None:
    for obj in (exc, getattr(exc, "response", None)):
        status = getattr(obj, "status_code", None)
        if isinstance(status, int):
            return status
    return None


def classify_error(exc: BaseException) -> ErrorInfo:
    """Classify a provider exception (openai, httpx, langchain or generic).

    httpx and openai are imported at module load: a lazy import here, raced by worker
    threads, could see a partially initialised module and fail good requests.
    """
    message = str(exc).strip() or type(exc).__name__
    if len(message) > 300:
        message = message[:300] + "..."
    if isinstance(exc, openai.APITimeoutError):
        return ErrorInfo(True, None, None, f"request timed out ({type(exc).__name__})")
    if isinstance(exc, openai.APIConnectionError):
        return ErrorInfo(True, None, None, f"connection error: {message}")
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError, httpx.TimeoutException)):
        return ErrorInfo(True, None, None, f"request timed out ({type(exc).__name__})")
    if isinstance(exc, (ConnectionError, httpx.TransportError)):
        return ErrorInfo(True, None, None, f"connection error: {message}")

    status = _status_of(exc)
    if status is not None:
        response = getattr(exc, "response", None)
        retry_after = _parse_retry_after(getattr(response, "headers", None))
        transient = status in _TRANSIENT_STATUS or status >= 500
        if isinstance(exc, openai.RateLimitError):
            transient = True
        label = "rate limited" if status == 429 else ("server error" if status >= 500 else "")
        text = f"HTTP {status}{' ' + label if label else ''}: {message}"
        return ErrorInfo(transient, status, retry_after if transient else None, text)
    if getattr(exc, "is_retryable", False) is True:  # langchain_core ModelError subclasses
        return ErrorInfo(True, None, None, f"{type(exc).__name__}: {message}")
    return ErrorInfo(False, None, None, f"{type(exc).__name__}: {message}")


def fatal_advice(
    info: ErrorInfo, *, what: str = "chat model", setting: str = "MEMAGENTS_LLM"
) -> str:
    """What the user should do about a non-retryable error."""
    status = info.status
    if status == 401:
        return (
            "authentication failed: check OPENAI_API_KEY (or the api_key of your model) and "
            "OPENAI_BASE_URL."
        )
    if status == 403:
        return (
            f"permission denied: the API key has no access to this {what}; use another key "
            "or model."
        )
    if status == 404:
        return (
            f"not found: check the {what} name ({setting}) and that OPENAI_BASE_URL points at "
            "the API root (usually ending in /v1)."
        )
    if status in (400, 413, 422):
        hint = " If the model does not support JSON mode, pass json_mode=False." if (
            what == "chat model"
        ) else ""
        return f"the server rejected the request: shorten the input if it is too long.{hint}"
    if status is not None:
        return "the server refused the request; see the message above."
    return f"the {what} raised an unexpected error; see the chained exception."


@dataclass(frozen=True, slots=True)
class Send:
    """Action: invoke ``runnable`` with ``messages``."""

    runnable: Any
    messages: list[Any]


@dataclass(frozen=True, slots=True)
class Sleep:
    """Action: wait ``seconds`` before the next attempt."""

    seconds: float


Outcome = tuple[Any, "Exception | None", float]
Protocol = Generator["Send | Sleep", "Outcome | None", Any]


def drive(
    protocol: Protocol, *, sleep: Callable[[float], Any], slots: threading.BoundedSemaphore
) -> Any:
    """Run ``protocol`` synchronously; each request holds one of ``slots``."""
    try:
        action = next(protocol)
        while True:
            if isinstance(action, Sleep):
                sleep(action.seconds)
                action = protocol.send(None)
                continue
            began = time.perf_counter()
            with slots:
                try:
                    out: Outcome = (action.runnable.invoke(action.messages), None, 0.0)
                except Exception as exc:  # noqa: BLE001 - classified by the protocol
                    out = (None, exc, 0.0)
            action = protocol.send((out[0], out[1], time.perf_counter() - began))
    except StopIteration as stop:
        return stop.value
    finally:
        protocol.close()


async def adrive(
    protocol: Protocol, *, asleep: Callable[[float], Awaitable[Any]], timeout: float | None
) -> Any:
    """Run ``protocol`` on the event loop (``ainvoke``), with an optional per-request timeout."""
    try:
        action = next(protocol)
        while True:
            if isinstance(action, Sleep):
                await asleep(action.seconds)
                action = protocol.send(None)
                continue
            began = time.perf_counter()
            try:
                pending = action.runnable.ainvoke(action.messages)
                if timeout is not None:
                    pending = asyncio.wait_for(pending, timeout)
                out: Outcome = (await pending, None, 0.0)
            except Exception as exc:  # noqa: BLE001 - classified by the protocol
                out = (None, exc, 0.0)
            action = protocol.send((out[0], out[1], time.perf_counter() - began))
    except StopIteration as stop:
        return stop.value
    finally:
        protocol.close()
