"""The memagents exception tree.

Every error the library raises on purpose derives from :class:`MemagentsError`, so callers can
catch at any level. Messages say what went wrong *and what to do about it*::

    MemagentsError
    ├── ConfigError (ValueError)        bad settings, unknown spec, missing API key
    ├── InputError (ValueError)         bad arguments: empty texts, wrong types, oversized input
    ├── NamespaceError (ValueError)     invalid or unknown namespace
    ├── BudgetExceeded                  a Budget would be overspent (raised *before* the call)
    ├── StorageError                    SQLite / vector store failures
    │   └── StoreLockedError            another process holds the memory folder
    └── BackendError                    a remote service failed after retries
        ├── LLMError                    chat model call failed / output never matched the schema
        ├── EmbeddingError              embedding model failed or is unavailable
        └── WebFetchError               page fetch failed: ``reason``, ``url``, ``status``
            └── WebAccessDenied         refused on purpose: SSRF guard, robots.txt, scheme, URL

Example:
    >>> from memagents.errors import ConfigError, MemagentsError
    >>> issubclass(ConfigError, MemagentsError) and issubclass(ConfigError, ValueError)
    True
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BackendError",
    "BudgetExceeded",
    "ConfigError",
    "EmbeddingError",
    "InputError",
    "LLMError",
    "MemagentsError",
    "NamespaceError",
    "StorageError",
    "StoreLockedError",
    "WebAccessDenied",
    "WebFetchError",
]


class MemagentsError(Exception):
    """Base class of every error memagents raises on purpose."""


class ConfigError(MemagentsError, ValueError):
    """A setting, model spec or provider is invalid or missing."""


class InputError(MemagentsError, ValueError):
    """An argument is invalid: empty or non-string text, wrong shape, oversized input."""


class NamespaceError(MemagentsError, ValueError):
    """A namespace is malformed or does not exist."""


class BudgetExceeded(MemagentsError):
    """A call would exceed the configured :class:`~memagents.models.Budget`.

    Raised before the call is made, so the budget is never overspent.
    """


class StorageError(MemagentsError):
    """The SQLite or vector store failed; the store was left as it was before the operation."""


class StoreLockedError(StorageError):
    """Another process holds the write lock of this memory folder."""


class BackendError(MemagentsError):
    """A remote backend (LLM, embeddings, web) failed after all retries."""


class LLMError(BackendError):
    """A chat model call failed, or its output never validated against the schema."""


class EmbeddingError(BackendError):
    """An embedding model failed or could not be loaded."""


class WebFetchError(BackendError):
    """A web page could not be fetched.

    Attributes:
        url: The URL that failed (the redirect hop that failed, if any), or None.
        reason: Why, as one word: ``'network'`` (connection or DNS failure), ``'timeout'``,
            ``'status'`` (an HTTP error status, see ``status``), ``'too_large'``,
            ``'redirects'`` (too many or a loop), ``'content_type'``, or one of the refusals
            of :class:`WebAccessDenied` (``'ssrf'``, ``'robots'``, ``'scheme'``, ``'url'``).
        status: The HTTP status for ``reason == 'status'``, else None.

    Example:
        >>> from memagents.errors import WebFetchError
        >>> err = WebFetchError("http://a.test/: HTTP 404", url="http://a.test/",
        ...                     reason="status", status=404)
        >>> err.reason, err.status
        ('status', 404)
    """

    def __init__(
        self,
        message: str = "",
        *,
        url: str | None = None,
        reason: str = "network",
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.url = url
        self.reason = reason
        self.status = status

    def __reduce__(self) -> tuple[Any, ...]:
        state = {"url": self.url, "reason": self.reason, "status": self.status}
        return (type(self), (str(self),), state)


class WebAccessDenied(WebFetchError):
    """The fetcher refused a URL on purpose (SSRF guard, robots.txt, scheme or malformed URL).

    Retrying does not help; the message names the setting that would allow the fetch, if any.

    Example:
        >>> from memagents.errors import WebAccessDenied, WebFetchError
        >>> err = WebAccessDenied("refused", url="http://10.0.0.1/", reason="ssrf")
        >>> isinstance(err, WebFetchError), err.reason
        (True, 'ssrf')
    """
