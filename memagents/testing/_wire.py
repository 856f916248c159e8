"""The HTTP side of :class:`~memagents.testing.OpenAIServer`: request handler and OpenAI payloads.

Responses are written with HTTP/1.0 framing (one request per connection, streams end when the
connection closes), which every HTTP client handles and which never leaves a half-reused
keep-alive connection between tests.
"""

from __future__ import annotations

import base64
import json
import socketserver
import struct
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import urlsplit

from memagents.testing._script import (
    ReplySpec,
    UnscriptedCallError,
    apply_fault,
    count_tokens,
    find_spec,
    logprobs_payload,
    split_tokens,
    to_reply,
)
from memagents.testing.embeddings import fake_vector
from memagents.testing.faults import Fault


class ServerApp(Protocol):
    """What the request handler needs from :class:`~memagents.testing.OpenAIServer`."""

    require_json_word: bool
    latency: float
    embedding_dim: int

    def admit(self, endpoint: str, method: str, path: str, headers: dict[str, str],
              body: dict[str, Any] | None) -> Fault | None: ...

    def release(self) -> None: ...

    def wait_for(self, seconds: float) -> None: ...

    def snapshot(
        self,
    ) -> tuple[list[tuple[Any, ReplySpec]], ReplySpec | None, int, list[str]]: ...


__all__ = ["PATHS", "HTTPError", "Handler", "LoopbackHTTPServer"]

PATHS = {"/v1/chat/completions": "chat", "/v1/embeddings": "embeddings", "/v1/models": "models"}
CREATED = 1_700_000_000  # fixed timestamp: responses are reproducible


class HTTPError(Exception):
    """An error answered to the client in OpenAI's error shape."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


def error_body(status: int, message: str, code: str | None = None) -> dict[str, Any]:
    """OpenAI's ``{"error": {"message", "type", "param", "code"}}`` payload."""
    kind = (
        "requests"
        if status == 429
        else "server_error"
        if status >= 500
        else "invalid_request_error"
    )
    if code is None:
        code = {429: "rate_limit_exceeded", 404: "not_found"}.get(status)
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def prompt_text(messages: list[Any]) -> str:
    """The concatenated text contents of OpenAI chat messages (what str/regex rules search)."""
    parts: list[str] = []
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "\n".join(parts)


def models_payload(names: list[str], path: str) -> dict[str, Any]:
    """``GET /v1/models`` (a list) or ``GET /v1/models/{id}`` (one model, else 404)."""
    entries = [
        {"id": n, "object": "model", "created": CREATED, "owned_by": "memagents"} for n in names
    ]
    if path == "/v1/models":
        return {"object": "list", "data": entries}
    wanted = path.removeprefix("/v1/models/")
    for entry in entries:
        if entry["id"] == wanted:
            return entry
    raise HTTPError(404, f"The model {wanted!r} does not exist.", "model_not_found")


def chat_choices(
    app: ServerApp, body: dict[str, Any], fault: Fault | None
) -> tuple[list[dict[str, Any]], int]:
    """The ``choices`` of a chat completion and the prompt's token count."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise HTTPError(400, "'messages' must be a non-empty list.")
    prompt = prompt_text(messages)
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_object" and app.require_json_word and "json" not in prompt.lower():
        raise HTTPError(
            400,
            "'messages' must contain the word 'json' in some form, to use "
            "'response_format' of type 'json_object'.",
        )
    rules, default, number, _ = app.snapshot()
    try:
        reply = to_reply(find_spec(rules, default, prompt, body, owner="OpenAIServer"))
    except UnscriptedCallError as exc:
        raise HTTPError(400, str(exc), "no_matching_rule") from None
    reply = apply_fault(reply, fault.kind if fault else None, fault.text if fault else "")
    top = int(body.get("top_logprobs") or 0)
    choices = []
    for index in range(max(1, int(body.get("n") or 1))):
        calls = [
            {
                "id": tc.id or f"call_{number}_{index}_{j}",
                "type": "function",
                "function": {"name": tc.name, "arguments": tc.arguments},
            }
            for j, tc in enumerate(reply.tool_calls)
        ]
        message: dict[str, Any] = {
            "role": "assistant",
            "content": reply.content_text,
            "refusal": None,
        }
        if calls:
            message["tool_calls"] = calls
        choices.append(
            {
                "index": index,
                "message": message,
                "finish_reason": reply.finish,
                "logprobs": logprobs_payload(reply, top) if body.get("logprobs") else None,
            }
        )
    return choices, count_tokens(prompt)


def embeddings_payload(body: dict[str, Any], default_dim: int) -> dict[str, Any]:
    """``POST /v1/embeddings``: deterministic unit vectors, float or base64 encoded."""
    raw = body.get("input")
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise HTTPError(400, "'input' must be a non-empty string or list.")
    if all(isinstance(x, int) for x in raw):  # a single token array
        raw = [raw]
    texts = [x if isinstance(x, str) else " ".join(map(str, x)) for x in raw]
    dim = int(body.get("dimensions") or default_dim)
    data = []
    for i, text in enumerate(texts):
        vector: Any = fake_vector(text, dim)
        if body.get("encoding_format") == "base64":
            vector = base64.b64encode(struct.pack(f"<{dim}f", *vector)).decode()
        data.append({"object": "embedding", "index": i, "embedding": vector})
    tokens = sum(count_tokens(t) for t in texts)
    return {
        "object": "list",
        "data": data,
        "model": body.get("model", "fake-embedding"),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


class LoopbackHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that skips the reverse DNS lookup of ``HTTPServer.server_bind``."""

    daemon_threads = True

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)


class LoopbackService:
    """Start/stop/``with`` of a loopback server whose requests a handler class routes to it.

    Subclasses set :attr:`handler` and :attr:`label` and call :meth:`_init_service` from
    ``__init__``; ``self.host`` / ``self.port`` say where to bind (port 0: a free one).
    """

    handler: type[BaseHTTPRequestHandler]
    label: str = "LoopbackService"
    host: str
    port: int

    def _init_service(self) -> None:
        self._stopping = threading.Event()
        self._httpd: LoopbackHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Any:
        """Bind and serve in a daemon thread (no-op when already running)."""
        if self._httpd is None:
            self._stopping.clear()
            httpd = LoopbackHTTPServer((self.host, self.port), self.handler)
            httpd.app = self  # type: ignore[attr-defined]
            self._httpd = httpd
            self._thread = threading.Thread(
                target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
                name=f"{self.label}:{httpd.server_address[1]}")
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake delayed requests and close the socket."""
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            self._stopping.set()
            httpd.shutdown()
            httpd.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _address(self) -> str:
        """``http://HOST:PORT`` of the running server."""
        if self._httpd is None:
            raise RuntimeError(f"{type(self).__name__} is not running: call start() or use "
                               "`with`.")
        return f"http://{self.host}:{self._httpd.server_address[1]}"


class AppHandler(BaseHTTPRequestHandler):
    """A quiet request handler routing GET and POST to ``_handle`` of the service stored as
    ``self.server.app`` (:class:`LoopbackService` stores itself there)."""

    timeout = 30

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request log lines."""

    @property
    def app(self) -> Any:
        return self.server.app  # type: ignore[attr-defined]

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        raise NotImplementedError


class Handler(AppHandler):
    """Routes requests to the :class:`OpenAIServer` stored as ``self.server.app``."""

    server_version = "memagents-OpenAIServer/1"
    app: ServerApp  # type: ignore[assignment]

    def _handle(self, method: str) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        endpoint = PATHS.get(path) or ("models" if path.startswith("/v1/models/") else None)
        if endpoint is None or (method == "GET") != (endpoint == "models"):
            message = (
                f"Unknown request URL: {method} {path}. The loopback OpenAIServer serves "
                "POST /v1/chat/completions, POST /v1/embeddings and GET /v1/models."
            )
            self._send_json(404, error_body(404, message, "unknown_url"))
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        self._admitted = False
        try:
            body: dict[str, Any] | None = None
            if method == "POST":
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    parsed = json.loads(raw or b"null")
                except ValueError:
                    parsed = raw.decode("utf-8", "replace")
                body = parsed if isinstance(parsed, dict) else {"_raw": parsed}
            fault = self.app.admit(endpoint, method, path, headers, body)
            self._admitted = True
            self._serve(endpoint, path, body or {}, fault)
        except HTTPError as exc:
            self._send_json(exc.status, error_body(exc.status, exc.message, exc.code))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (e.g. its timeout fired): nothing left to tell it
        except Exception as exc:  # noqa: BLE001 - a callable reply raised: tell the client
            detail = "".join(traceback.format_exception(exc))
            self._send_json(500, error_body(500, f"OpenAIServer failed: {detail}"))
        finally:
            self._done()

    def _done(self) -> None:
        """Leave the in-flight count (once), before the last bytes reach the client."""
        if getattr(self, "_admitted", False):
            self._admitted = False
            self.app.release()

    def _serve(self, endpoint: str, path: str, body: dict[str, Any], fault: Fault | None) -> None:
        app = self.app
        app.wait_for(app.latency + (fault.seconds if fault and fault.kind == "delay" else 0.0))
        if fault and fault.kind == "disconnect":
            self.close_connection = True
            return
        if fault and fault.kind == "status":
            extra = {}
            if fault.retry_after is not None:
                extra = {
                    "Retry-After": f"{fault.retry_after:g}",
                    "retry-after-ms": f"{fault.retry_after * 1000:g}",
                }
            message = fault.message or f"Injected fault: HTTP {fault.status_code}."
            self._send_json(fault.status_code, error_body(fault.status_code, message), extra)
        elif endpoint == "models":
            self._send_json(200, models_payload(app.snapshot()[3], path))
        elif endpoint == "embeddings":
            text = json.dumps(embeddings_payload(body, app.embedding_dim))
            if fault and fault.kind == "truncated_json":
                text = text[: len(text) // 2]
            elif fault and fault.kind == "invalid_json":
                text = fault.text
            self._send_raw(200, text.encode(), "application/json")
        else:
            self._chat(body, fault)

    def _chat(self, body: dict[str, Any], fault: Fault | None) -> None:
        choices, prompt_tokens = chat_choices(self.app, body, fault)
        completion = sum(
            count_tokens(c["message"]["content"] or "")
            + sum(
                count_tokens(t["function"]["arguments"]) for t in c["message"].get("tool_calls", [])
            )
            for c in choices
        )
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": prompt_tokens + completion,
        }
        head = {
            "id": f"chatcmpl-{self.app.snapshot()[2]}",
            "created": CREATED,
            "model": body.get("model", "gpt-4o-mini"),
            "system_fingerprint": "fp_memagents",
        }
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            self._stream(head, choices, usage if include_usage else None)
        else:
            self._send_json(
                200,
                {
                    **head,
                    "object": "chat.completion",
                    "choices": choices,
                    "usage": usage,
                    "service_tier": "default",
                },
            )

    def _stream(
        self, head: dict[str, Any], choices: list[dict[str, Any]], usage: dict[str, int] | None
    ) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        extra = {"usage": None} if usage is not None else {}

        def emit(
            index: int | None,
            delta: dict[str, Any] | None = None,
            *,
            logprobs: Any = None,
            finish: str | None = None,
            **more: Any,
        ) -> None:
            choice = (
                []
                if index is None
                else [
                    {
                        "index": index,
                        "delta": delta or {},
                        "logprobs": logprobs,
                        "finish_reason": finish,
                    }
                ]
            )
            chunk = {**head, "object": "chat.completion.chunk", "choices": choice, **extra, **more}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()

        for c in choices:
            i, msg = c["index"], c["message"]
            token_logprobs = c["logprobs"]["content"] if c["logprobs"] else None
            emit(i, {"role": "assistant", "content": ""})
            for k, token in enumerate(split_tokens(msg["content"] or "")):
                lp = {"content": [token_logprobs[k]], "refusal": None} if token_logprobs else None
                emit(i, {"content": token}, logprobs=lp)
            for j, call in enumerate(msg.get("tool_calls", [])):
                fn = call["function"]
                emit(
                    i,
                    {
                        "tool_calls": [
                            {
                                "index": j,
                                "id": call["id"],
                                "type": "function",
                                "function": {"name": fn["name"], "arguments": ""},
                            }
                        ]
                    },
                )
                emit(i, {"tool_calls": [{"index": j, "function": {"arguments": fn["arguments"]}}]})
            emit(i, finish=c["finish_reason"])
        if usage is not None:
            emit(None, usage=usage)
        self._done()
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send_raw(status, json.dumps(payload).encode(), "application/json", headers)

    def _send_raw(
        self, status: int, data: bytes, ctype: str, headers: dict[str, str] | None = None
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self._done()
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
