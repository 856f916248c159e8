"""Usage accounting and budgets for model calls.

:class:`Usage` is a thread-safe counter that every LLM and embedding call records into;
:class:`Budget` is a frozen value object that refuses a call *before* it would overspend.

Counting rules:

* ``llm_calls`` counts requests sent to the chat model, including retries and re-asks
  (each one costs a request against the provider's rate limit);
* ``prompt_tokens`` / ``completion_tokens`` come from the provider's reported usage when
  available, else from the tokenizer estimate;
* ``retries`` counts extra attempts (transient errors and schema re-asks);
* ``failures`` counts logical calls that ended in an error after all retries.

A budget is checked against what was already used *plus* what is in flight, so concurrent
callers sharing one :class:`Usage` cannot jointly overspend ``max_llm_calls``.

Per-call accounting: :func:`track_usage` opens a scope (a context variable, so it follows the
code into ``asyncio`` tasks, ``asyncio.to_thread`` and the library's worker pools) and every
request recorded into any :class:`Usage` inside it is also counted in the scope's own
:class:`Usage`. Concurrent calls sharing one memory therefore each see their own requests,
never each other's.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Any

from memagents.errors import BudgetExceeded, ConfigError

__all__ = ["Budget", "Usage", "track_usage"]

_COUNTERS = (
    "llm_calls",
    "prompt_tokens",
    "completion_tokens",
    "retries",
    "failures",
    "embedding_calls",
    "embedding_texts",
    "latency_s",
)


_SCOPES: contextvars.ContextVar[tuple[Usage, ...]] = contextvars.ContextVar(
    "memagents_usage_scopes", default=()
)


@contextmanager
def track_usage() -> Iterator[Usage]:
    """Count the model requests made by the code inside, and only those.

    Example:
        >>> shared = Usage()
        >>> with track_usage() as mine:
        ...     shared.record_llm(prompt_tokens=5)
        >>> shared.record_llm(prompt_tokens=7)      # outside the scope
        >>> (mine.llm_calls, mine.prompt_tokens, shared.llm_calls)
        (1, 5, 2)
    """
    scope = Usage()
    token = _SCOPES.set((*_SCOPES.get(), scope))
    try:
        yield scope
    finally:
        _SCOPES.reset(token)


def _to_scopes(origin: Usage, **deltas: Any) -> None:
    for scope in _SCOPES.get():
        if scope is not origin:
            scope._apply(**deltas)


@dataclass
class Usage:
    """Thread-safe running totals of model usage.

    Example:
        >>> u = Usage()
        >>> u.record_llm(prompt_tokens=12, completion_tokens=3, latency_s=0.5)
        >>> u.record_embedding(texts=4)
        >>> (u.llm_calls, u.total_tokens, u.embedding_calls, u.embedding_texts)
        (1, 15, 1, 4)
        >>> (u + u).total_tokens
        30
    """

    llm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retries: int = 0
    failures: int = 0
    embedding_calls: int = 0
    embedding_texts: int = 0
    latency_s: float = 0.0
    _lock: threading.RLock = field(
        default_factory=threading.RLock, init=False, repr=False, compare=False
    )
    _pending_tokens: int = field(default=0, init=False, repr=False, compare=False)

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    def record_llm(
        self,
        *,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        latency_s: float = 0.0,
        calls: int = 1,
        retries: int = 0,
        failures: int = 0,
    ) -> None:
        """Add one (or ``calls``) chat model request and its token counts."""
        deltas = {
            "llm_calls": calls,
            "prompt_tokens": int(prompt_tokens),
            "completion_tokens": int(completion_tokens),
            "latency_s": float(latency_s),
            "retries": retries,
            "failures": failures,
        }
        self._apply(**deltas)
        _to_scopes(self, **deltas)

    def _apply(self, **deltas: Any) -> None:
        """Add counters to this object only (no scope propagation)."""
        with self._lock:
            for name, value in deltas.items():
                if value:
                    setattr(self, name, getattr(self, name) + value)

    def record_embedding(self, *, texts: int, calls: int = 1, latency_s: float = 0.0) -> None:
        """Add ``calls`` embedding requests covering ``texts`` texts."""
        deltas = {"embedding_calls": calls, "embedding_texts": int(texts),
                  "latency_s": float(latency_s)}
        self._apply(**deltas)
        _to_scopes(self, **deltas)

    def reserve_llm_call(self, budget: Budget | None, *, prompt_tokens: int = 0) -> int:
        """Atomically check ``budget`` and count one request as sent.

        The estimated ``prompt_tokens`` are held as "in flight" until :meth:`settle_llm_call`,
        so parallel callers see each other's reservations. Returns the reserved token count.

        Raises:
            BudgetExceeded: if the request would overspend the budget (nothing is counted).
        """
        with self._lock:
            if budget is not None:
                budget.check(self, next_prompt_tokens=prompt_tokens)
            self.llm_calls += 1
            self._pending_tokens += prompt_tokens
        _to_scopes(self, llm_calls=1)
        return prompt_tokens

    def settle_llm_call(
        self,
        reserved: int,
        *,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        latency_s: float = 0.0,
    ) -> None:
        """Release a reservation made by :meth:`reserve_llm_call` and record the actual usage."""
        with self._lock:
            self._pending_tokens = max(0, self._pending_tokens - reserved)
            self.record_llm(
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                latency_s=latency_s,
                calls=0,
            )

    def as_dict(self) -> dict[str, int | float]:
        """Counters (and ``total_tokens``) as a plain dict, e.g. for logging or JSON."""
        with self._lock:
            out: dict[str, int | float] = {name: getattr(self, name) for name in _COUNTERS}
        out["total_tokens"] = int(out["prompt_tokens"]) + int(out["completion_tokens"])
        return out

    def merge(self, other: Usage) -> Usage:
        """Add ``other``'s counters into this object in place and return it."""
        snapshot = other.as_dict()
        with self._lock:
            for name in _COUNTERS:
                setattr(self, name, getattr(self, name) + snapshot[name])
        return self

    def __add__(self, other: object) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage().merge(self).merge(other)

    def reset(self) -> None:
        """Set every counter back to zero."""
        with self._lock:
            for f in fields(self):
                if f.name in _COUNTERS:
                    setattr(self, f.name, type(getattr(self, f.name))())
            self._pending_tokens = 0

    def copy(self) -> Usage:
        """An independent snapshot of the current totals."""
        return Usage().merge(self)

    def __getstate__(self) -> dict[str, Any]:
        return dict(self.as_dict())

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._lock = threading.RLock()
        self._pending_tokens = 0
        for name in _COUNTERS:
            setattr(self, name, state.get(name, 0))


@dataclass(frozen=True, kw_only=True, slots=True)
class Budget:
    """Hard limits on model usage; ``None`` means unlimited.

    ``max_tokens`` bounds prompt plus completion tokens. Checks happen before each request,
    using the tokenizer's estimate of the next prompt, so the limit is not overspent by the
    prompt side (a completion can still push the total past the limit once; the next call is
    then refused).

    Example:
        >>> from memagents.errors import BudgetExceeded
        >>> budget = Budget(max_llm_calls=1)
        >>> usage = Usage()
        >>> budget.check(usage)
        >>> usage.record_llm(prompt_tokens=10)
        >>> try:
        ...     budget.check(usage)
        ... except BudgetExceeded as exc:
        ...     print(str(exc).split(";")[0])
        LLM call budget exhausted: 1 of max_llm_calls=1 used
    """

    max_llm_calls: int | None = None
    max_tokens: int | None = None
    max_embedding_calls: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_llm_calls", "max_tokens", "max_embedding_calls"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ConfigError(
                    f"Budget({name}={value!r}) is invalid: use a non-negative integer, "
                    "or None for no limit."
                )

    def check(self, usage: Usage, *, next_prompt_tokens: int = 0, next_llm_calls: int = 1) -> None:
        """Raise :class:`BudgetExceeded` if ``next_llm_calls`` more requests would overspend.

        Args:
            usage: What has been used so far.
            next_prompt_tokens: Estimated prompt tokens of the request about to be sent.
            next_llm_calls: Number of requests about to be sent.
        """
        with usage._lock:
            calls = usage.llm_calls
            tokens = usage.total_tokens + usage._pending_tokens
        if self.max_llm_calls is not None and calls + next_llm_calls > self.max_llm_calls:
            raise BudgetExceeded(
                f"LLM call budget exhausted: {calls} of max_llm_calls={self.max_llm_calls} "
                f"used; raise it with Budget(max_llm_calls=...) or pass budget=None."
            )
        if self.max_tokens is not None and tokens + next_prompt_tokens > self.max_tokens:
            raise BudgetExceeded(
                f"token budget exhausted: {tokens} tokens used (+{next_prompt_tokens} for the "
                f"next prompt) of max_tokens={self.max_tokens}; raise it with "
                "Budget(max_tokens=...), shorten the inputs, or pass budget=None."
            )

    def check_embedding(self, usage: Usage, *, next_calls: int = 1) -> None:
        """Raise :class:`BudgetExceeded` if ``next_calls`` embedding requests would overspend."""
        if self.max_embedding_calls is None:
            return
        used = usage.embedding_calls
        if used + next_calls > self.max_embedding_calls:
            raise BudgetExceeded(
                f"embedding call budget exhausted: {used} of max_embedding_calls="
                f"{self.max_embedding_calls} used (+{next_calls} needed); raise it with "
                "Budget(max_embedding_calls=...), use a larger batch_size, or pass budget=None."
            )
