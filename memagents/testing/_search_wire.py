"""The HTTP side of :class:`~memagents.testing.SearchServer`: routes and wire-format payloads.

Each flavour answers in its service's shapes: SearxNG's JSON API (and its HTML 403 when the
JSON format is disabled), Brave Search's ``{"type": "search", "web": {"results": [...]}}`` and
``ErrorResponse`` errors, Tavily's ``{"results": [...]}`` and ``{"detail": {"error"}}``
errors. Responses use HTTP/1.0 framing like the loopback OpenAI server.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timezone
from email.utils import format_datetime
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from memagents.testing._wire import AppHandler
from memagents.testing.faults import Fault

__all__ = ["SearchHandler", "WireError"]

CREATED = 1_700_000_000
_WORD = re.compile(r"\w+")
BRAVE_PATH = "/res/v1/web/search"


class SearchApp(Protocol):
    """What the handler needs from :class:`~memagents.testing.SearchServer`."""

    flavor: str
    api_key: str
    json_enabled: bool
    page_size: int

    def admit(self, method: str, path: str, params: dict[str, str], headers: dict[str, str],
              body: dict[str, Any] | None, *, authorised: bool) -> Fault | None: ...

    def wait_for(self, seconds: float) -> None: ...

    def match(self, query: str) -> list[tuple[dict[str, Any], float]]: ...

    def request_number(self) -> int: ...


class WireError(Exception):
    """An error answered in the flavour's own error shape."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


def words(text: str) -> set[str]:
    """Lowercased word set, the server's whole notion of relevance."""
    return set(_WORD.findall(text.lower()))


def _highlight(text: str, terms: set[str]) -> str:
    return _WORD.sub(lambda m: f"<strong>{m.group()}</strong>" if m.group().lower() in terms
                     else m.group(), text)


def _long_date(iso: str | None) -> str | None:
    if not iso:
        return None
    day = date.fromisoformat(iso[:10])
    return f"{day.strftime('%B')} {day.day}, {day.year}"


def searxng_payload(app: SearchApp, params: dict[str, str]) -> dict[str, Any]:
    """``GET /search?format=json``: one page of ``page_size`` results."""
    query = params.get("q", "").strip()
    try:
        page = int(params.get("pageno", "1"))
    except ValueError:
        raise WireError(400, "pageno must be an integer") from None
    if page < 1:
        raise WireError(400, "pageno must be >= 1")
    hits = app.match(query)
    chunk = hits[(page - 1) * app.page_size: page * app.page_size]
    results = []
    for position, (doc, score) in enumerate(chunk, start=1):
        parts = urlsplit(doc["url"])
        results.append({
            "url": doc["url"], "title": doc["title"], "content": doc["content"][:300],
            "publishedDate": f"{doc['published']}T00:00:00" if doc["published"] else None,
            "engine": "loopback", "engines": ["loopback"], "positions": [position],
            "parsed_url": [parts.scheme, parts.netloc, parts.path, "", parts.query, ""],
            "template": "default.html", "score": score, "category": "general",
            "thumbnail": "", "img_src": "", "priority": "",
        })
    return {"query": query, "number_of_results": len(hits), "results": results,
            "answers": [], "corrections": [], "infoboxes": [], "suggestions": [],
            "unresponsive_engines": []}


def brave_payload(app: SearchApp, params: dict[str, str]) -> dict[str, Any]:
    """``GET /res/v1/web/search``: ``count`` results from page ``offset``."""
    query = params.get("q", "").strip()
    try:
        count, offset = int(params.get("count", "20")), int(params.get("offset", "0"))
    except ValueError:
        raise WireError(422, "count and offset must be integers", "VALIDATION") from None
    if not query or not 1 <= count <= 20 or not 0 <= offset <= 9:
        raise WireError(422, "Unable to validate request parameter(s)", "VALIDATION")
    hits = app.match(query)
    chunk = hits[offset * count: (offset + 1) * count]
    terms = words(query)
    results = []
    for doc, _ in chunk:
        parts = urlsplit(doc["url"])
        item: dict[str, Any] = {
            "type": "search_result", "subtype": "generic", "title": doc["title"],
            "url": doc["url"], "description": _highlight(doc["content"][:300], terms),
            "is_source_local": False, "is_source_both": False, "language": "en",
            "family_friendly": True,
            "meta_url": {"scheme": parts.scheme, "netloc": parts.netloc,
                         "hostname": parts.hostname, "path": parts.path or "/"},
        }
        if doc["published"]:
            item["age"] = _long_date(doc["published"])
            item["page_age"] = f"{doc['published']}T00:00:00"
        results.append(item)
    more = len(hits) > (offset + 1) * count
    payload: dict[str, Any] = {
        "type": "search",
        "query": {"original": query, "show_strict_warning": False, "is_navigational": False,
                  "is_news_breaking": False, "spellcheck_off": True, "country": "us",
                  "bad_results": False, "should_fallback": False, "postal_code": "",
                  "city": "", "header_country": "", "more_results_available": more},
        "mixed": {"type": "mixed", "main": [{"type": "web", "index": i, "all": False}
                                            for i in range(len(results))],
                  "top": [], "side": []},
    }
    if results:
        payload["web"] = {"type": "search", "results": results, "family_friendly": True}
    return payload


def tavily_payload(app: SearchApp, body: dict[str, Any]) -> dict[str, Any]:
    """``POST /search``: up to ``max_results`` results, an answer when asked."""
    query = body.get("query")
    if not isinstance(query, str) or not query.strip():
        raise WireError(400, "Query is missing.")
    max_results = body.get("max_results", 5)
    if isinstance(max_results, bool) or not isinstance(max_results, int) or not (
        0 <= max_results <= 20
    ):
        raise WireError(400, "max_results must be an integer between 0 and 20.")
    depth, topic = body.get("search_depth", "basic"), body.get("topic", "general")
    if depth not in ("basic", "advanced", "fast", "ultra-fast"):
        raise WireError(400, f"Invalid search_depth: {depth}.")
    if topic not in ("general", "news", "finance"):
        raise WireError(400, f"Invalid topic: {topic}.")
    hits = app.match(query)[:max_results]
    results = []
    for doc, score in hits:
        item = {"url": doc["url"], "title": doc["title"], "content": doc["content"][:300],
                "score": round(score, 6), "raw_content": None}
        if topic == "news" and doc["published"]:
            day = date.fromisoformat(doc["published"][:10])
            stamp = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
            item["published_date"] = format_datetime(stamp, usegmt=True)
        results.append(item)
    answer = None
    if body.get("include_answer") and results:
        answer = results[0]["content"].split(". ")[0].rstrip(".") + "."
    number = app.request_number()
    return {"query": query, "follow_up_questions": None, "answer": answer, "images": [],
            "results": results, "response_time": 0.01,
            "request_id": f"00000000-0000-4000-8000-{number:012d}"}


class SearchHandler(AppHandler):
    """Routes a request to the flavour of the :class:`SearchServer` in ``self.server.app``."""

    server_version = "memagents-SearchServer/1"
    app: SearchApp  # type: ignore[assignment]

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        headers = {k.lower(): v for k, v in self.headers.items()}
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)) if (
            method == "POST") else b""
        body: dict[str, Any] | None = None
        if raw and "json" in headers.get("content-type", ""):
            try:
                parsed = json.loads(raw)
                body = parsed if isinstance(parsed, dict) else {"_raw": parsed}
            except ValueError:
                body = {"_raw": raw.decode("utf-8", "replace")}
        elif raw:  # a form post (SearxNG accepts POST /search with form data)
            params.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        try:
            self._route(method, path, params, headers, body)
        except WireError as exc:
            self._error(exc.status, exc.message, exc.code)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _route(self, method: str, path: str, params: dict[str, str], headers: dict[str, str],
               body: dict[str, Any] | None) -> None:
        app, flavor = self.app, self.app.flavor
        known = {"searxng": path in ("/search", "/"), "brave": path == BRAVE_PATH and method ==
                 "GET", "tavily": path == "/search" and method == "POST"}[flavor]
        if not known:
            raise WireError(404, f"Not found: {method} {path} (this loopback server speaks "
                                 f"the {flavor} API).", "NOT_FOUND")
        refusal = self._refusal(headers, body)
        fault = app.admit(method, path, params, headers, body, authorised=refusal is None)
        if refusal is not None:
            raise refusal
        if fault is not None and fault.kind in ("delay", "status", "disconnect"):
            app.wait_for(fault.seconds if fault.kind == "delay" else 0.0)
            if fault.kind == "disconnect":
                self.close_connection = True
                return
            if fault.kind == "status":
                self._error(fault.status_code, fault.message or
                            f"Injected fault: HTTP {fault.status_code}.", None, fault.retry_after)
                return
        if flavor == "searxng":
            fmt = params.get("format", "html")
            if not params.get("q", "").strip():
                raise WireError(400, "No query")
            if fmt != "json" or not app.json_enabled:
                if fmt == "html":
                    self._send(200, b"<!DOCTYPE html><html><body>results</body></html>",
                               "text/html; charset=utf-8")
                    return
                raise WireError(403, "Forbidden")
            payload = searxng_payload(app, params)
        elif flavor == "brave":
            payload = brave_payload(app, params)
        else:
            payload = tavily_payload(app, body or {})
        text = json.dumps(payload)
        if fault is not None and fault.kind == "truncated_json":
            text = text[: len(text) // 2]
        elif fault is not None and fault.kind == "invalid_json":
            text = fault.text
        extra = {}
        if flavor == "brave":
            extra = {"X-RateLimit-Limit": "1, 15000", "X-RateLimit-Policy":
                     "1;w=1, 15000;w=2592000", "X-RateLimit-Remaining": "0, 14999",
                     "X-RateLimit-Reset": "1, 2592000"}
        self._send(200, text.encode(), "application/json", extra)

    def _refusal(self, headers: dict[str, str], body: dict[str, Any] | None) -> WireError | None:
        """The error a request without the right key gets (None when the key is right)."""
        app = self.app
        if app.flavor == "brave" and headers.get("x-subscription-token") != app.api_key:
            return WireError(422, "The provided subscription token is invalid.",
                             "SUBSCRIPTION_TOKEN_INVALID")
        if app.flavor == "tavily":
            bearer = headers.get("authorization", "")
            in_body = (body or {}).get("api_key")
            if bearer != f"Bearer {app.api_key}" and in_body != app.api_key:
                return WireError(401, "Unauthorized: missing or invalid API key.")
        return None

    def _error(self, status: int, message: str, code: str | None,
               retry_after: float | None = None) -> None:
        flavor, headers = self.app.flavor, {}
        if flavor == "searxng":
            reason = self.responses.get(status, ("Error",))[0]
            page = f"<!DOCTYPE html><html><body><h1>{status} {reason}</h1><p>{message}</p>" \
                   "</body></html>"
            if status == 400 and message == "No query":
                data, ctype = json.dumps({"error": message}).encode(), "application/json"
            else:
                data, ctype = page.encode(), "text/html; charset=utf-8"
        elif flavor == "brave":
            codes = {401: "UNAUTHORIZED", 403: "FORBIDDEN", 429: "RATE_LIMITED",
                     404: "NOT_FOUND"}
            payload = {"type": "ErrorResponse", "error": {
                "id": f"00000000-0000-4000-8000-{self.app.request_number():012d}",
                "status": status, "code": code or codes.get(status, "INTERNAL_ERROR"),
                "detail": message, "meta": {}}, "time": CREATED}
            data, ctype = json.dumps(payload).encode(), "application/json"
        else:
            data = json.dumps({"detail": {"error": message}}).encode()
            ctype = "application/json"
        if retry_after is not None:
            if flavor == "brave":  # Brave tells the wait per rate-limit window
                headers["X-RateLimit-Reset"] = f"{retry_after:g}, 2592000"
            else:
                headers["Retry-After"] = f"{retry_after:g}"
        self._send(status, data, ctype, headers)

    def _send(self, status: int, data: bytes, ctype: str,
              headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
