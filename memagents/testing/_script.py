"""Scripting primitives shared by :class:`OpenAIServer` and :class:`ScriptedChatModel`.

A *rule* is ``(match, reply)``. ``match`` is a substring of the prompt text, a compiled regex
searched in it, or a callable of the request (the JSON body for the server, the message list for
the chat model). ``reply`` is a str, a dict or list (JSON-encoded as content), a
:class:`ToolCall` or list of them, a :class:`Reply`, or a callable of the request returning one
of those. Token counts are whitespace words, so usage numbers are deterministic.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

__all__ = [
    "LogprobEntry",
    "Reply",
    "ReplySpec",
    "ToolCall",
    "UnscriptedCallError",
    "apply_fault",
    "count_tokens",
    "find_spec",
    "logprobs_payload",
    "resolve",
    "split_tokens",
    "to_reply",
]

LogprobEntry = float | tuple[str, float] | tuple[str, float, dict[str, float]]
"""A float (for the matching token of :func:`split_tokens`), or ``(token, logprob)``, or
``(token, logprob, {alternative_token: logprob})``."""

ReplySpec = Any  # str | dict | list | ToolCall | list[ToolCall] | Reply | Callable[[Any], ...]

_TOKEN = re.compile(r"\s*\S+|\s+")
_FLOOR = -9999.0  # what OpenAI reports for negligible alternatives


def count_tokens(text: str) -> int:
    """Deterministic token count used for usage numbers: whitespace-separated words."""
    return len(text.split())


def split_tokens(text: str) -> list[str]:
    """Split ``text`` into tokens that concatenate back to it (words with leading spaces)."""
    return _TOKEN.findall(text)


class UnscriptedCallError(AssertionError):
    """A scripted model received a prompt that no rule matches and there is no default.

    Example:
        >>> from memagents.testing import UnscriptedCallError
        >>> issubclass(UnscriptedCallError, AssertionError)
        True
    """


@dataclass(frozen=True)
class ToolCall:
    """A tool call a scripted model should make.

    Args:
        name: Tool (function) name.
        args: Arguments, JSON-encoded on the wire.
        id: Call id; a deterministic ``call_...`` id is made when None.
        raw_arguments: Raw argument text overriding ``args`` (to script malformed tool calls).

    Example:
        >>> from memagents.testing import ToolCall
        >>> ToolCall("search", {"query": "Acme founder"}).arguments
        '{"query": "Acme founder"}'
    """

    name: str
    args: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    raw_arguments: str | None = None

    @property
    def arguments(self) -> str:
        """The arguments as sent by OpenAI: a JSON string (or ``raw_arguments``)."""
        return self.raw_arguments if self.raw_arguments is not None else json.dumps(self.args)


@dataclass(frozen=True)
class Reply:
    """A scripted reply with optional tool calls, per-token logprobs and finish reason.

    Args:
        content: Text; a dict or list is JSON-encoded. None with tool calls gives null content.
        tool_calls: Tool calls to make (``finish_reason`` becomes ``"tool_calls"``).
        logprobs: One float per token of :func:`split_tokens` of the content, or
            ``(token, logprob[, {alternative: logprob}])`` tuples whose tokens concatenate to the
            content (content may then be None). Unspecified logprobs default to 0.0.
        finish_reason: Override, e.g. ``"length"`` to script a truncated answer.

    Example:
        >>> from memagents.testing import Reply
        >>> r = Reply("yes it is", logprobs=[-0.1, -0.2, -0.3])
        >>> r.content_text, r.finish
        ('yes it is', 'stop')
    """

    content: str | dict[str, Any] | list[Any] | None = None
    _: KW_ONLY
    tool_calls: Sequence[ToolCall] = ()
    logprobs: Sequence[LogprobEntry] | None = None
    finish_reason: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "tool_calls", tuple(self.tool_calls))
        if self.logprobs is None:
            return
        entries = tuple(self.logprobs)
        object.__setattr__(self, "logprobs", entries)
        if entries and all(isinstance(e, tuple) for e in entries):
            joined = "".join(e[0] for e in entries)  # type: ignore[index]
            if self.content is None and not self.tool_calls:
                object.__setattr__(self, "content", joined)
            elif joined != self.content_text:
                raise ValueError(
                    f"logprob tokens concatenate to {joined!r}, not to the "
                    f"content {self.content_text!r}"
                )
        elif any(isinstance(e, tuple) for e in entries):
            raise ValueError("logprobs must be all floats or all (token, logprob) tuples")
        else:
            tokens = split_tokens(self.content_text or "")
            if len(tokens) != len(entries):
                raise ValueError(
                    f"{len(entries)} logprobs for {len(tokens)} tokens {tokens!r}: "
                    "give one float per token, or (token, logprob) tuples"
                )

    @property
    def content_text(self) -> str | None:
        """The content as sent on the wire (None only for a tool-call-only reply)."""
        if self.content is None:
            return None if self.tool_calls else ""
        if isinstance(self.content, str):
            return self.content
        return json.dumps(self.content)

    @property
    def finish(self) -> str:
        """The finish reason: the override, else ``"tool_calls"`` or ``"stop"``."""
        return self.finish_reason or ("tool_calls" if self.tool_calls else "stop")

    def token_logprobs(self) -> list[tuple[str, float, dict[str, float]]]:
        """``(token, logprob, alternatives)`` for every token of the content."""
        entries = self.logprobs or ()
        if entries and isinstance(entries[0], tuple):
            return [
                (e[0], float(e[1]), dict(e[2]) if len(e) > 2 else {})  # type: ignore
                for e in entries
            ]
        tokens = split_tokens(self.content_text or "")
        values = list(entries) or [0.0] * len(tokens)
        return [(t, float(v), {}) for t, v in zip(tokens, values)]  # type: ignore[arg-type]


def logprobs_payload(reply: Reply, top: int = 0) -> dict[str, Any]:
    """OpenAI's ``choices[i].logprobs`` object for ``reply`` with ``top`` alternatives a token.

    Missing alternatives are filled with ``<altN>`` tokens sharing the remaining probability.
    """
    content = []
    for token, logprob, alternatives in reply.token_logprobs():
        item: dict[str, Any] = {
            "token": token,
            "logprob": logprob,
            "bytes": list(token.encode()),
            "top_logprobs": [],
        }
        if top > 0:
            candidates = {**alternatives, token: logprob}
            missing = top - len(candidates)
            if missing > 0:
                rest = 1.0 - sum(math.exp(v) for v in candidates.values())
                filler = math.log(rest / missing) if rest > 1e-300 else _FLOOR
                candidates.update({f"<alt{i}>": max(filler, _FLOOR) for i in range(missing)})
            ranked = sorted(candidates.items(), key=lambda kv: -kv[1])[:top]
            item["top_logprobs"] = [
                {"token": t, "logprob": v, "bytes": list(t.encode())} for t, v in ranked
            ]
        content.append(item)
    return {"content": content, "refusal": None}


def _matches(match: Any, text: str, subject: Any) -> bool:
    if isinstance(match, str):
        return match in text
    if isinstance(match, re.Pattern):
        return match.search(text) is not None
    if callable(match):
        return bool(match(subject))
    raise TypeError(f"a rule's match must be a str, a compiled regex or a callable, not {match!r}")


def find_spec(
    rules: Sequence[tuple[Any, ReplySpec]],
    default: ReplySpec | None,
    text: str,
    subject: Any,
    *,
    owner: str,
) -> Any:
    """The reply spec of the first rule matching ``text``/``subject`` (callables resolved).

    Raises:
        UnscriptedCallError: Nothing matches and ``default`` is None; the message shows the
            prompt and how to add a rule.
    """
    for match, spec in rules:
        if _matches(match, text, subject):
            return resolve(spec, subject)
    if default is not None:
        return resolve(default, subject)
    shown = text if len(text) <= 2000 else text[:1000] + "\n[...]\n" + text[-1000:]
    raise UnscriptedCallError(
        f"{owner}: no rule matches this prompt and there is no default reply "
        f"({len(rules)} rule(s) configured).\n--- prompt ---\n{shown}\n--------------\n"
        f"Script it with {owner}.add_rule('<substring of the prompt>', '<reply>') (or a "
        "compiled regex / a callable as the match), or set a default reply."
    )


def resolve(spec: ReplySpec, subject: Any) -> Any:
    """Call ``spec`` with ``subject`` when it is a callable reply factory."""
    if callable(spec) and not isinstance(spec, (str, dict, list, ToolCall, Reply, type)):
        return spec(subject)
    return spec


def to_reply(spec: Any) -> Reply:
    """Normalise a resolved reply spec (str, dict, list, ToolCall(s), Reply) to a :class:`Reply`."""
    if isinstance(spec, Reply):
        return spec
    if isinstance(spec, ToolCall):
        return Reply(tool_calls=(spec,))
    if isinstance(spec, (list, tuple)) and spec and all(isinstance(s, ToolCall) for s in spec):
        return Reply(tool_calls=tuple(spec))
    if isinstance(spec, (str, dict, list)):
        return Reply(spec)
    raise TypeError(
        f"cannot use {spec!r} as a scripted reply: give a str, a dict or list (JSON content), "
        "ToolCall(s), a Reply, or a callable returning one of those"
    )


def apply_fault(reply: Reply, kind: str | None, text: str = "") -> Reply:
    """Corrupt ``reply`` for a ``truncated_json`` or ``invalid_json`` fault (else unchanged).

    The content is corrupted when there is some, otherwise the first tool call's arguments.
    """
    if kind not in ("truncated_json", "invalid_json"):
        return reply
    content = reply.content_text
    if content or not reply.tool_calls:
        content = content or ""
        new = content[: len(content) // 2] if kind == "truncated_json" else text
        return Reply(new, tool_calls=reply.tool_calls, finish_reason=reply.finish_reason)
    first, *rest = reply.tool_calls
    raw = first.arguments[: len(first.arguments) // 2] if kind == "truncated_json" else text
    broken = ToolCall(first.name, first.args, first.id, raw_arguments=raw)
    return Reply(None, tool_calls=(broken, *rest), finish_reason=reply.finish_reason)
