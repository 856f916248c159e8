"""An OpenAI-compatible HTTP server on loopback, with scripted replies and injected faults.

Real clients (the ``openai`` SDK, ``langchain_openai.ChatOpenAI``, httpx) talk to it over
127.0.0.1, so the whole client stack (retries, timeouts, streaming, JSON parsing) is exercised
without any network. Replies are scripted with the same rules, :class:`Reply` and :class:`ToolCall`
objects as :class:`~memagents.testing.ScriptedChatModel`.

As a pytest fixture (``tests/conftest.py`` of memagents provides exactly this)::

    @pytest.fixture
    def openai_server():
        with memagents.testing.openai_server() as server:
            yield server

    def test_answer(openai_server):
        openai_server.add_rule("capital of France", "Paris")
        llm = ChatOpenAI(base_url=openai_server.base_url, api_key=openai_server.api_key,
                         model="gpt-4o-mini")
        assert llm.invoke("What is the capital of France?").content == "Paris"
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from memagents.testing._script import ReplySpec
from memagents.testing._wire import PATHS, Handler, HTTPError, LoopbackService
from memagents.testing.faults import Fault, RecordedRequest

__all__ = ["Fault", "OpenAIServer", "RecordedRequest", "openai_server"]

Endpoint = Literal["chat", "embeddings", "models"]


class OpenAIServer(LoopbackService):
    """An OpenAI-compatible server on 127.0.0.1 serving scripted replies and faults.

    Endpoints: ``POST /v1/chat/completions`` (``n``, ``tools``, ``response_format``, ``stream``
    with ``stream_options.include_usage``, ``logprobs``/``top_logprobs``), ``POST /v1/embeddings``
    (str or list input, ``dimensions``, float or base64 encoding) and ``GET /v1/models``. Errors
    use OpenAI's ``{"error": {"message", "type", "code"}}`` shape. Token counts are whitespace
    words, so they are deterministic.

    Args:
        host: Loopback address to bind.
        port: Port; 0 picks a free one.
        api_key: The key clients should send (``server.api_key``).
        require_key: Answer 401 when the ``Authorization: Bearer`` key differs from ``api_key``.
        default_reply: Reply when no rule matches; None answers 400 with an explanation.
        models: Model names listed by ``GET /v1/models`` (names seen in requests are added).
        embedding_dim: Embedding size when a request gives no ``dimensions``.
        latency: Seconds every request waits before replying (for concurrency tests).
        require_json_word: Like OpenAI, reject ``response_format: json_object`` when no message
            contains the word "json".

    Attributes:
        records: Every request received (:class:`RecordedRequest`: endpoint, headers, body,
            fault played); ``requests``, ``chat_requests`` and ``embedding_requests`` give bodies.
        in_flight: Requests being served now.
        max_in_flight: Most requests served at once since start or :meth:`reset`.

    Example:
        >>> import json, urllib.request
        >>> from memagents.testing import OpenAIServer
        >>> with OpenAIServer() as server:
        ...     server.add_rule("capital of France", "Paris")
        ...     question = {"role": "user", "content": "capital of France?"}
        ...     body = {"model": "m", "messages": [question]}
        ...     req = urllib.request.Request(server.base_url + "/chat/completions",
        ...         data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        ...     reply = json.load(urllib.request.urlopen(req))
        >>> reply["choices"][0]["message"]["content"], reply["usage"]["total_tokens"]
        ('Paris', 4)
    """

    handler = Handler
    label = "OpenAIServer"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str = "test-key",
        require_key: bool = False,
        default_reply: ReplySpec | None = None,
        models: tuple[str, ...] = ("gpt-4o-mini", "text-embedding-3-small"),
        embedding_dim: int = 64,
        latency: float = 0.0,
        require_json_word: bool = True,
    ) -> None:
        self.host, self.port = host, port
        self.api_key, self.require_key = api_key, require_key
        self.default_reply: ReplySpec | None = default_reply
        self.embedding_dim, self.latency = embedding_dim, latency
        self.require_json_word = require_json_word
        self._initial = (default_reply, tuple(models))
        self._lock = threading.Lock()
        self._init_service()
        self.reset()

    # -- lifecycle: start(), stop(), with (LoopbackService) ----------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``, for ``base_url=`` of OpenAI clients."""
        return f"{self._address()}/v1"

    # -- scripting -------------------------------------------------------------------------
    def add_rule(self, match: Any, reply: ReplySpec) -> None:
        """Reply with ``reply`` to chat requests matching ``match``; first match wins.

        Args:
            match: A substring of the concatenated message contents, a compiled regex searched
                in them, or a callable taking the request body (dict) and returning a bool.
            reply: A str, a dict or list (JSON-encoded as content), a list of
                :class:`ToolCall`, a :class:`Reply`, or a callable of the body returning one.
        """
        with self._lock:
            self._rules.append((match, reply))

    def inject(self, fault: Fault, *, times: int = 1, endpoint: Endpoint = "chat") -> None:
        """Play ``fault`` on the next ``times`` requests to ``endpoint`` (queued after others)."""
        if endpoint not in ("chat", "embeddings", "models"):
            raise ValueError(f"endpoint must be 'chat', 'embeddings' or 'models', not {endpoint!r}")
        with self._lock:
            self._faults[endpoint].extend([fault] * times)

    def reset(self) -> None:
        """Forget rules, pending faults, recorded requests and counters; restore the defaults."""
        with self._lock:
            self.default_reply = self._initial[0]
            self._models: dict[str, None] = dict.fromkeys(self._initial[1])
            self._rules: list[tuple[Any, ReplySpec]] = []
            self._faults: dict[str, deque[Fault]] = {e: deque() for e in PATHS.values()}
            self.records: list[RecordedRequest] = []
            self.in_flight = self.max_in_flight = 0

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Bodies of every POST received (chat and embeddings), in arrival order."""
        with self._lock:
            return [r.body for r in self.records if r.body is not None]

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        """Bodies of the chat completion requests."""
        with self._lock:
            return [r.body for r in self.records if r.endpoint == "chat" and r.body is not None]

    @property
    def embedding_requests(self) -> list[dict[str, Any]]:
        """Bodies of the embeddings requests."""
        with self._lock:
            return [r.body for r in self.records if r.endpoint == "embeddings" and r.body]

    # -- convenience clients ---------------------------------------------------------------
    def env(self) -> dict[str, str]:
        """``OPENAI_BASE_URL``/``OPENAI_API_KEY`` pointing here (for ``monkeypatch.setenv``)."""
        return {"OPENAI_BASE_URL": self.base_url, "OPENAI_API_KEY": self.api_key}

    def client(self, **kwargs: Any) -> Any:
        """An ``openai.OpenAI`` client for this server (kwargs passed through)."""
        import openai

        return openai.OpenAI(base_url=self.base_url, api_key=self.api_key, **kwargs)

    def chat_model(self, model: str = "gpt-4o-mini", **kwargs: Any) -> Any:
        """A ``langchain_openai.ChatOpenAI`` for this server (kwargs passed through)."""
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(base_url=self.base_url, api_key=self.api_key, model=model, **kwargs)

    # -- request handling (the HTTP handler in _wire calls these, from its threads) ---------
    def admit(
        self,
        endpoint: str,
        method: str,
        path: str,
        headers: dict[str, str],
        body: dict[str, Any] | None,
    ) -> Fault | None:
        fault = None
        with self._lock:
            if isinstance(body, dict) and isinstance(body.get("model"), str):
                self._models.setdefault(body["model"], None)
            authorised = not self.require_key or headers.get("authorization") == (
                f"Bearer {self.api_key}"
            )
            if authorised and self._faults[endpoint]:
                fault = self._faults[endpoint].popleft()
            self.records.append(RecordedRequest(endpoint, method, path, headers, body, fault))
            if authorised:  # only admitted requests count as in flight (and get released)
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
        if not authorised:
            raise HTTPError(
                401,
                "Incorrect API key provided. The loopback OpenAIServer "
                f"expects the key {self.api_key!r}.",
                "invalid_api_key",
            )
        return fault

    def release(self) -> None:
        with self._lock:
            self.in_flight = max(0, self.in_flight - 1)  # reset() may have zeroed it meanwhile

    def wait_for(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def snapshot(self) -> tuple[list[tuple[Any, ReplySpec]], ReplySpec | None, int, list[str]]:
        """Rules, default reply, number of requests so far and model names, read atomically."""
        with self._lock:
            return list(self._rules), self.default_reply, len(self.records), list(self._models)


@contextmanager
def openai_server(**kwargs: Any) -> Iterator[OpenAIServer]:
    """Run an :class:`OpenAIServer` for the duration of a ``with`` block (or a pytest fixture).

    Args:
        **kwargs: Passed to :class:`OpenAIServer`.

    Yields:
        The running server.
    """
    with OpenAIServer(**kwargs) as server:
        yield server
