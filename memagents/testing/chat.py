"""A scripted langchain chat model: deterministic replies chosen by rules, for tests and demos.

It accepts the same rules, :class:`Reply` and :class:`ToolCall` objects as
:class:`~memagents.testing.OpenAIServer`, so a test can move between the in-process double and
the loopback server without rewriting its script. Unlike the server, rules see langchain
messages: callables receive the message list, str and regex rules search the concatenated
message texts.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from operator import itemgetter
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.language_models.base import LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableMap, RunnablePassthrough
from langchain_core.utils.function_calling import convert_to_json_schema, convert_to_openai_tool
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from memagents.testing._script import (
    Reply,
    ReplySpec,
    UnscriptedCallError,
    count_tokens,
    find_spec,
    logprobs_payload,
    resolve,
    split_tokens,
    to_reply,
)

__all__ = ["ScriptedChatModel"]

_CHOICE_KEYWORDS = ("auto", "none", "any", "required")


def _text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(p if isinstance(p, str) else str(p.get("text", "")) for p in content)


class ScriptedChatModel(BaseChatModel):
    """A chat model answering from a script: a queue of responses, then rules, then a default.

    Each call takes the next item of ``responses`` if any is left, else the reply of the first
    rule whose match fits, else ``default``; with none of those it raises
    :class:`~memagents.testing.UnscriptedCallError` showing the prompt and how to script it.

    Replies may be a str, an ``AIMessage``, a dict or list (JSON-encoded content), a
    :class:`ToolCall` or list of them, a :class:`Reply` (logprobs, finish reason), or a callable
    of the message list returning one of those. Under a forced tool choice (as
    ``with_structured_output(method="function_calling")`` binds), a dict reply becomes the
    arguments of a call to that tool. Messages carry deterministic ``usage_metadata`` (whitespace
    words) and, when the reply sets logprobs, OpenAI-shaped ``response_metadata["logprobs"]``.

    ``with_structured_output`` defaults to ``method="json_schema"`` like ``ChatOpenAI``: the reply
    content is parsed as JSON (a dict reply works; a malformed one raises an
    ``OutputParserException``). Standard chat-model parameters (``model``, ``temperature``,
    ``max_tokens``, ``stop``, ...) are accepted and ignored. Every call is recorded in ``calls``
    (message lists) and ``call_kwargs`` (bound tools, ``response_format``, ...).

    Example:
        >>> import re
        >>> from memagents.testing import ScriptedChatModel
        >>> llm = ScriptedChatModel(rules=[(re.compile(r"capital of \\w+"), "Paris")],
        ...                         default="I don't know")
        >>> llm.invoke("What is the capital of France?").content
        'Paris'
        >>> msg = llm.invoke("Who are you?")
        >>> msg.content, msg.usage_metadata["total_tokens"], len(llm.calls)
        ("I don't know", 6, 2)
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, populate_by_name=True)

    rules: list[tuple[Any, Any]] = Field(default_factory=list)
    """``(match, reply)`` pairs, tried in order."""
    default: Any = None
    """Reply used when no response is queued and no rule matches."""
    responses: list[Any] = Field(default_factory=list)
    """Replies served first, in order, whatever the prompt."""
    model_name: str = Field(default="scripted", alias="model")
    temperature: float | None = None
    max_tokens: int | None = None
    stop: list[str] | None = None
    timeout: float | None = None
    max_retries: int | None = None
    api_key: str | None = None
    streaming: bool = False
    calls: list[list[BaseMessage]] = Field(default_factory=list, exclude=True)
    """The messages of every call, in order."""
    call_kwargs: list[dict[str, Any]] = Field(default_factory=list, exclude=True)
    """The keyword arguments of every call (``tools``, ``tool_choice``, ``response_format``)."""
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "scripted-chat"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = LangSmithParams(
            ls_provider="memagents-scripted",
            ls_model_type="chat",
            ls_model_name=kwargs.get("model", self.model_name),
        )
        if self.temperature is not None:
            params["ls_temperature"] = self.temperature
        if self.max_tokens is not None:
            params["ls_max_tokens"] = self.max_tokens
        if stop or self.stop:
            params["ls_stop"] = stop or self.stop
        return params

    def add_rule(self, match: Any, reply: ReplySpec) -> None:
        """Append a ``(match, reply)`` rule (see the class docstring)."""
        with self._lock:
            self.rules.append((match, reply))

    # -- replies ---------------------------------------------------------------------------
    def _reply(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> AIMessage:
        with self._lock:
            self.calls.append(list(messages))
            self.call_kwargs.append(dict(kwargs))
            queued = bool(self.responses)
            spec = self.responses.pop(0) if queued else None
            rules, default, number = list(self.rules), self.default, len(self.calls)
        prompt = "\n".join(f"[{m.type}] {_text(m)}" for m in messages)
        if queued:
            spec = resolve(spec, messages)
        else:
            text = "\n".join(_text(m) for m in messages)
            try:
                spec = find_spec(rules, default, text, messages, owner="ScriptedChatModel")
            except UnscriptedCallError as exc:
                shown = str(exc).replace(f"\n{text}\n", f"\n{prompt}\n", 1)
                raise UnscriptedCallError(f"call #{number}: {shown}") from None
        forced = self._forced_tool(kwargs)
        if forced and isinstance(spec, dict):
            spec = [_tool_call(forced, spec, f"call_{number}_0")]
        if isinstance(spec, AIMessage):  # a copy: callers must not mutate the script
            message = spec.model_copy(deep=True)
        else:
            message = self._to_message(spec, number, kwargs)
        return self._with_usage(message, messages)

    @staticmethod
    def _forced_tool(kwargs: dict[str, Any]) -> str | None:
        choice, tools = kwargs.get("tool_choice"), kwargs.get("tools") or []
        if isinstance(choice, dict):
            return (choice.get("function") or {}).get("name") or choice.get("name")
        if isinstance(choice, str) and choice not in _CHOICE_KEYWORDS:
            return choice
        if choice in ("any", "required", True) and len(tools) == 1:
            return str(tools[0]["function"]["name"])
        return None

    def _to_message(self, spec: Any, number: int, kwargs: dict[str, Any]) -> AIMessage:
        if (
            isinstance(spec, list)
            and spec
            and all(isinstance(s, dict) and "name" in s and "args" in s for s in spec)
        ):
            return AIMessage(content="", tool_calls=spec)  # langchain tool-call dicts
        reply: Reply = to_reply(spec)
        calls = [
            _tool_call(tc.name, tc.args, tc.id or f"call_{number}_{j}")
            for j, tc in enumerate(reply.tool_calls)
        ]
        metadata: dict[str, Any] = {"model_name": self.model_name, "finish_reason": reply.finish}
        if reply.logprobs is not None:
            metadata["logprobs"] = logprobs_payload(reply, int(kwargs.get("top_logprobs") or 0))
        return AIMessage(
            content=reply.content_text or "", tool_calls=calls, response_metadata=metadata
        )

    def _with_usage(self, message: AIMessage, messages: list[BaseMessage]) -> AIMessage:
        if message.usage_metadata is not None:
            return message
        prompt = sum(count_tokens(_text(m)) for m in messages)
        completion = count_tokens(_text(message)) + sum(
            count_tokens(json.dumps(tc["args"])) for tc in message.tool_calls
        )
        usage = {
            "input_tokens": prompt,
            "output_tokens": completion,
            "total_tokens": prompt + completion,
        }
        finish = "tool_calls" if message.tool_calls else "stop"
        metadata = {
            "model_name": self.model_name,
            "finish_reason": finish,
            **message.response_metadata,
        }
        return message.model_copy(update={"usage_metadata": usage, "response_metadata": metadata})

    # -- BaseChatModel hooks ---------------------------------------------------------------
    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._reply(messages, kwargs))])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._reply(messages, kwargs))])

    def _chunks(self, message: AIMessage) -> Iterator[ChatGenerationChunk]:
        tokens = split_tokens(message.content) if isinstance(message.content, str) else []
        for token in tokens:
            yield ChatGenerationChunk(message=AIMessageChunk(content=token, id=message.id))
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                id=message.id,
                usage_metadata=message.usage_metadata,
                response_metadata=message.response_metadata,
                chunk_position="last",
                tool_call_chunks=[
                    {
                        "name": tc["name"],
                        "args": json.dumps(tc["args"]),
                        "id": tc["id"],
                        "index": i,
                        "type": "tool_call_chunk",
                    }
                    for i, tc in enumerate(message.tool_calls)
                ],
            )
        )

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for chunk in self._chunks(self._reply(messages, kwargs)):
            if run_manager and chunk.text:
                run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in self._chunks(self._reply(messages, kwargs)):
            if run_manager and chunk.text:
                await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk

    # -- tools and structured output -------------------------------------------------------
    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | Any],
        *,
        tool_choice: str | dict[str, Any] | bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools (any format ``convert_to_openai_tool`` accepts); calls see ``tools``."""
        formatted = [convert_to_openai_tool(t) for t in tools]
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        return self.bind(tools=formatted, **kwargs)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type,
        *,
        include_raw: bool = False,
        method: str = "json_schema",
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, Any]:
        """Parse replies into ``schema`` like ``ChatOpenAI`` does.

        Args:
            schema: A pydantic class (parsed into an instance), a TypedDict or a JSON schema
                (parsed into a dict).
            include_raw: Return ``{"raw", "parsed", "parsing_error"}`` instead of raising.
            method: ``"json_schema"`` or ``"json_mode"`` parse the content as JSON;
                ``"function_calling"`` binds the schema as a forced tool.
            strict: Accepted for compatibility; ignored.
            **kwargs: Must be empty.
        """
        if method == "function_calling":
            return super().with_structured_output(schema, include_raw=include_raw, **kwargs)
        if method not in ("json_schema", "json_mode") or kwargs:
            raise ValueError(
                f"unsupported structured output options: method={method!r}, "
                f"{kwargs}; use 'json_schema', 'json_mode' or 'function_calling'"
            )
        pydantic = isinstance(schema, type) and issubclass(schema, BaseModel)
        parser: Runnable[Any, Any] = (
            PydanticOutputParser(pydantic_object=schema) if pydantic else JsonOutputParser()
        )
        response_format: dict[str, Any] = {"type": "json_object"}
        if method == "json_schema":
            json_schema = convert_to_json_schema(schema)
            response_format = {
                "type": "json_schema",
                "json_schema": {"name": json_schema.get("title", "output"), "schema": json_schema},
            }
        llm = self.bind(response_format=response_format)
        if not include_raw:
            return llm | parser
        parse = RunnablePassthrough.assign(
            parsed=itemgetter("raw") | parser, parsing_error=lambda _: None
        )
        fallback = RunnablePassthrough.assign(parsed=lambda _: None)
        return RunnableMap(raw=llm) | parse.with_fallbacks(
            [fallback], exception_key="parsing_error"
        )


def _tool_call(name: str, args: dict[str, Any], call_id: str) -> dict[str, Any]:
    return {"name": name, "args": args, "id": call_id, "type": "tool_call"}
