"""Data types of the loopback OpenAI server: injected faults and recorded requests.

Example:
    >>> Fault.status(500).kind
    'status'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Fault", "RecordedRequest"]


@dataclass(frozen=True)
class Fault:
    """A failure the server plays instead of (or on top of) a normal reply.

    Build faults with the class methods and queue them with :meth:`OpenAIServer.inject`.

    Example:
        >>> from memagents.testing import Fault
        >>> Fault.status(429, retry_after=0.01).status_code
        429
        >>> Fault.truncated_json().kind
        'truncated_json'
    """

    kind: Literal["status", "delay", "truncated_json", "invalid_json", "disconnect"]
    status_code: int = 0
    retry_after: float | None = None
    message: str | None = None
    seconds: float = 0.0
    text: str = ""

    @classmethod
    def status(
        cls, code: int, *, retry_after: float | None = None, message: str | None = None
    ) -> Fault:
        """An HTTP error in OpenAI's error shape; 429s send ``Retry-After`` (default 0.01 s)."""
        if code == 429 and retry_after is None:
            retry_after = 0.01
        return cls("status", status_code=code, retry_after=retry_after, message=message)

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Wait ``seconds`` before the normal reply (use with a client timeout)."""
        return cls("delay", seconds=seconds)

    @classmethod
    def truncated_json(cls) -> Fault:
        """Cut the reply content (or tool arguments, or an embeddings body) mid-way."""
        return cls("truncated_json")

    @classmethod
    def invalid_json(cls, text: str = '{"unexpected": true}') -> Fault:
        """Replace the reply content (or tool arguments, or an embeddings body) with ``text``."""
        return cls("invalid_json", text=text)

    @classmethod
    def disconnect(cls) -> Fault:
        """Close the connection without any response."""
        return cls("disconnect")


@dataclass
class RecordedRequest:
    """One request the server received.

    Example:
        >>> from memagents.testing import RecordedRequest
        >>> RecordedRequest("chat", "POST", "/v1/chat/completions", {}, {"model": "m"}).endpoint
        'chat'
    """

    endpoint: str
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    fault: Fault | None = field(default=None)
