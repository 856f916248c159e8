"""Structured LLM calls: the one path every LLM step in memagents takes.

:class:`StructuredLLM` formats a named prompt, tells the model the JSON Schema of the expected
answer, checks the budget, sends the request, parses and validates the reply with pydantic,
and retries:

* transient errors (HTTP 429 honouring ``Retry-After``, 5xx, timeouts, connection errors)
  after exponential backoff with jitter;
* invalid, truncated or schema-violating JSON by *re-asking*: the bad reply and the
  validation error go back to the model, which counts as a retry.

Non-retryable errors (400, 401, 404...) fail fast as :class:`~memagents.errors.LLMError`
saying what to do. Every request is recorded in :class:`~memagents.models.Usage`.
The retry logic is one generator of *send*/*sleep* actions, run by the drivers in ``_retry``.
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import random
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, convert_to_messages
from pydantic import BaseModel

from memagents.config import Settings, get_settings
from memagents.errors import BudgetExceeded, ConfigError, InputError, LLMError, MemagentsError
from memagents.models._json import ParseProblem, add_schema_instructions, parse_structured
from memagents.models._retry import (
    Protocol,
    RetryPolicy,
    Send,
    Sleep,
    adrive,
    classify_error,
    drive,
    fatal_advice,
)
from memagents.models.chat import model_name, resolve_chat_model
from memagents.models.prompts import PromptTemplate, get_prompt
from memagents.models.tokens import Tokenizer, count_message_tokens, get_tokenizer
from memagents.models.usage import Budget, Usage

__all__ = ["CallResult", "RetryPolicy", "StructuredLLM", "structured_call"]

T = TypeVar("T", bound=BaseModel)
REASK = (
    "Your previous reply could not be used: {problem}. Reply again with only the corrected "
    "JSON, matching the JSON Schema given in the instructions."
)


@dataclass(frozen=True, slots=True)
class CallResult(Generic[T]):
    """Outcome of one item of a batch: a ``value`` or the ``error`` that stopped it.

    Example:
        >>> r = CallResult(0, error=ValueError("boom"))
        >>> r.ok, type(r.error).__name__
        (False, 'ValueError')
    """

    index: int
    value: T | None = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        """True when the item produced a value."""
        return self.error is None

    def unwrap(self) -> T:
        """The value, or raise the stored error."""
        if self.error is not None:
            raise self.error
        assert self.value is not None
        return self.value


class StructuredLLM:
    """Schema-validated, retried, budgeted and counted calls to a chat model.

    Args:
        model: A ``BaseChatModel``, an ``"openai:MODEL"`` spec, or ``None`` for
            ``MEMAGENTS_LLM``. With nothing configured, construction succeeds and each call
            raises :class:`~memagents.errors.ConfigError` naming the settings to set.
        settings: Settings (default: environment).
        usage: Shared usage counters (default: a fresh :class:`Usage`).
        budget: Limits checked before every request.
        retry: Retry policy (default: from settings).
        max_concurrency: Parallel requests in :meth:`batch` / :meth:`abatch` and across
            threads calling :meth:`call` (default: ``settings.max_concurrency``).
        json_mode: Ask OpenAI models for ``response_format={"type": "json_object"}``.
        tokenizer: Tokenizer or model/encoding name used to estimate prompt tokens.
        sleep: Synchronous sleep (injectable for tests).
        asleep: Asynchronous sleep (injectable for tests).

    Example:
        >>> from pydantic import BaseModel
        >>> from langchain_core.language_models.fake_chat_models import FakeListChatModel
        >>> class Answer(BaseModel):
        ...     answer: str
        >>> fake = FakeListChatModel(responses=['not json', '{"answer": "Paris"}'])
        >>> llm = StructuredLLM(fake, sleep=lambda s: None)
        >>> t = PromptTemplate("demo.capital", "You answer briefly.", "Capital of {country}?")
        >>> llm.call(t, Answer, country="France").answer
        'Paris'
        >>> llm.usage.llm_calls, llm.usage.retries
        (2, 1)
    """

    def __init__(
        self,
        model: str | BaseChatModel | None = None,
        *,
        settings: Settings | None = None,
        usage: Usage | None = None,
        budget: Budget | None = None,
        retry: RetryPolicy | None = None,
        max_concurrency: int | None = None,
        json_mode: bool = True,
        tokenizer: Tokenizer | str | None = None,
        sleep: Callable[[float], Any] = time.sleep,
        asleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.settings = settings or get_settings()
        self._spec = model
        self._model: BaseChatModel | None = None
        if model is not None or self.settings.llm is not None:
            self._model = resolve_chat_model(model, self.settings)
        self.usage = usage if usage is not None else Usage()
        self.budget = budget
        self.retry = retry or RetryPolicy.from_settings(self.settings)
        self.max_concurrency = int(max_concurrency or self.settings.max_concurrency)
        if self.max_concurrency < 1:
            raise InputError("max_concurrency must be >= 1.")
        self.json_mode = json_mode
        self._tokenizer = tokenizer
        if self._model is not None:
            # resolve now: the lookup touches the file system, which must not happen later
            # inside an event loop (LangGraph Server rejects blocking calls in async runs)
            _ = self.tokenizer
        self._sleep = sleep
        self._asleep = asleep
        self._slots = threading.BoundedSemaphore(self.max_concurrency)
        self._rng = random.Random()

    # -- configuration -------------------------------------------------------------------

    @classmethod
    def coerce(
        cls,
        llm: Any = None,
        *,
        settings: Settings | None = None,
        usage: Usage | None = None,
        budget: Budget | None = None,
        require: str | None = None,
    ) -> StructuredLLM:
        """The one way memagents turns "a model" into a :class:`StructuredLLM`.

        Accepts a ``StructuredLLM`` (returned as is, or as a sibling sharing its model when
        ``usage``/``budget`` differ), a langchain ``BaseChatModel`` (anything with
        ``invoke``), a spec string such as ``"openai:gpt-4o-mini"``, or ``None`` (the ``llm``
        setting, ``MEMAGENTS_LLM``; unconfigured when unset).

        Args:
            llm: The model, in any of the forms above.
            settings: Settings for specs and defaults.
            usage: Counters to record into (default: the StructuredLLM's own, or new ones).
            budget: Limits to respect.
            require: When set, raise :class:`ConfigError` if no model is configured, naming
                ``require`` as what needs one (e.g. ``"the recognition filter"``).

        Example:
            >>> from memagents.testing import ScriptedChatModel
            >>> llm = StructuredLLM.coerce(ScriptedChatModel(default="hi"))
            >>> StructuredLLM.coerce(llm) is llm, llm.configured
            (True, True)
        """
        if isinstance(llm, StructuredLLM):
            same_usage = usage is None or usage is llm.usage
            same_budget = budget is None or budget == llm.budget
            structured = llm
            if not (same_usage and same_budget):
                structured = copy.copy(llm)
                structured.usage = llm.usage if usage is None else usage
                structured.budget = llm.budget if budget is None else budget
        elif llm is None or isinstance(llm, str) or hasattr(llm, "invoke"):
            structured = cls(llm, settings=settings, usage=usage, budget=budget)
        else:
            raise InputError(
                "llm must be a spec string such as 'openai:gpt-4o-mini', a langchain chat model "
                f"or a StructuredLLM, not {type(llm).__name__}."
            )
        if require and not structured.configured:
            raise ConfigError(
                f"{require} needs a chat model: pass llm= (a spec such as "
                "'openai:gpt-4o-mini', a langchain chat model or a StructuredLLM) or set "
                "MEMAGENTS_LLM."
            )
        return structured

    def with_model(self, model: Any) -> StructuredLLM:
        """A sibling calling ``model`` (e.g. the same model bound to other sampling parameters)
        that shares this one's usage, budget, retry policy and concurrency slots.

        Example:
            >>> from memagents.testing import ScriptedChatModel
            >>> base = StructuredLLM(ScriptedChatModel(default="a"))
            >>> other = base.with_model(ScriptedChatModel(default="b"))
            >>> other.chat([("user", "hi")]).content, other.usage is base.usage
            ('b', True)
        """
        sibling = copy.copy(self)
        sibling._model = model
        sibling._tokenizer = self.tokenizer
        return sibling

    @property
    def configured(self) -> bool:
        """True when a chat model is set (calls can be made)."""
        return self._model is not None

    @property
    def model(self) -> BaseChatModel:
        """The resolved chat model (raises ConfigError if none is configured)."""
        if self._model is None:
            self._model = resolve_chat_model(self._spec, self.settings)
        return self._model

    @property
    def tokenizer(self) -> Tokenizer:
        """Tokenizer used for prompt estimates and usage fallbacks."""
        if not isinstance(self._tokenizer, Tokenizer):
            name = self._tokenizer or (model_name(self._model) if self._model else None)
            self._tokenizer = get_tokenizer(name)
        return self._tokenizer

    def _is_openai(self) -> bool:
        try:
            from langchain_openai.chat_models.base import BaseChatOpenAI
        except ImportError:  # pragma: no cover - dependency
            return False
        return isinstance(self.model, BaseChatOpenAI)

    def _runnable(self, structured: bool) -> Any:
        kwargs: dict[str, Any] = {}
        if self._is_openai():
            if structured and self.json_mode:
                kwargs["response_format"] = {"type": "json_object"}
            if self.retry.timeout is not None:
                kwargs["timeout"] = self.retry.timeout
        return self.model.bind(**kwargs) if kwargs else self.model

    def _name(self) -> str:
        return model_name(self._model) or type(self._model).__name__

    # -- the retry protocol (shared by sync and async drivers) ---------------------------

    def _protocol(self, messages: list[BaseMessage], schema: type[T] | None) -> Protocol:
        runnable = self._runnable(schema is not None)
        base = add_schema_instructions(messages, schema) if schema is not None else messages
        convo, retries, policy = base, 0, self.retry
        while True:
            estimate = count_message_tokens(convo, self.tokenizer)
            reserved = self.usage.reserve_llm_call(self.budget, prompt_tokens=estimate)
            try:
                outcome = yield Send(runnable, convo)
            except BaseException:  # cancelled or abandoned mid-request: release the reservation
                self.usage.settle_llm_call(reserved)
                raise
            assert outcome is not None
            reply, exc, latency = outcome
            if exc is not None or reply is None:
                self.usage.settle_llm_call(reserved, latency_s=latency)
                if isinstance(exc, MemagentsError):
                    self.usage.record_llm(calls=0, failures=1)
                    raise exc
                assert exc is not None
                info = classify_error(exc)
                if not info.transient:
                    self.usage.record_llm(calls=0, failures=1)
                    raise LLMError(
                        f"chat model {self._name()!r} request failed: {info.description}. "
                        f"{fatal_advice(info)}"
                    ) from exc
                if retries >= policy.max_retries:
                    self.usage.record_llm(calls=0, failures=1)
                    raise LLMError(
                        f"chat model {self._name()!r} failed after {retries} retries; last "
                        f"problem: {info.description}. The server may be overloaded or down: "
                        "try again later, raise max_retries, or check OPENAI_BASE_URL."
                    ) from exc
                retries += 1
                self.usage.record_llm(calls=0, retries=1)
                yield Sleep(policy.delay(retries, retry_after=info.retry_after, rng=self._rng))
                continue
            text = _text(reply)
            self.usage.settle_llm_call(
                reserved, latency_s=latency, **self._tokens(reply, estimate, text)
            )
            if schema is None:
                return reply
            try:
                return parse_structured(text, schema)
            except ParseProblem as problem:
                detail = str(problem)
                if (reply.response_metadata or {}).get("finish_reason") == "length":
                    detail += " (the reply hit the output token limit: answer more briefly)"
                if retries >= policy.max_retries:
                    self.usage.record_llm(calls=0, failures=1)
                    raise LLMError(
                        f"chat model {self._name()!r} never returned valid {schema.__name__} "
                        f"JSON after {retries} re-asks; last problem: {detail}. Last reply: "
                        f"{text[:200]!r}. Use a stronger model, simplify the schema, or raise "
                        "max_retries."
                    ) from None
                retries += 1
                self.usage.record_llm(calls=0, retries=1)
                convo = [
                    *base,
                    AIMessage(content=text),
                    HumanMessage(content=REASK.format(problem=detail)),
                ]

    def _tokens(self, reply: AIMessage, estimate: int, text: str) -> dict[str, int]:
        meta = reply.usage_metadata
        prompt = int(meta.get("input_tokens") or 0) if meta else 0
        completion = int(meta.get("output_tokens") or 0) if meta else 0
        if not prompt and not completion:
            prompt, completion = estimate, self.tokenizer.count(text)
        return {"prompt_tokens": prompt, "completion_tokens": completion}

    def _drive(self, protocol: Protocol) -> Any:
        return drive(protocol, sleep=self._sleep, slots=self._slots)

    async def _adrive(self, protocol: Protocol) -> Any:
        return await adrive(protocol, asleep=self._asleep, timeout=self.retry.timeout)

    # -- public API -----------------------------------------------------------------------

    def _messages(self, template: PromptTemplate | str, variables: dict[str, Any]) -> list[Any]:
        return self._template(template).format(**variables)

    def call(self, template: PromptTemplate | str, schema: type[T], /, **variables: Any) -> T:
        """Fill ``template`` with ``variables``, call the model, return a validated ``schema``.

        Raises:
            InputError: a template variable is missing.
            BudgetExceeded: the next request would overspend the budget.
            LLMError: a non-retryable error, or retries exhausted.
            ConfigError: no chat model is configured.
        """
        messages = self._messages(template, variables)
        return self._drive(self._protocol(messages, schema))  # type: ignore[no-any-return]

    async def acall(
        self, template: PromptTemplate | str, schema: type[T], /, **variables: Any
    ) -> T:
        """Async twin of :meth:`call` (uses ``model.ainvoke``)."""
        messages = self._messages(template, variables)
        return await self._adrive(self._protocol(messages, schema))  # type: ignore[no-any-return]

    def chat(
        self, messages: Sequence[Any] | PromptTemplate | str, /, **variables: Any
    ) -> AIMessage:
        """Raw text call through the same retry, budget and usage path (no JSON parsing).

        ``messages`` is a message list (langchain messages, ``(role, text)`` pairs, dicts), a
        :class:`PromptTemplate`, or a registered prompt name (then ``variables`` fill it).
        """
        protocol = self._protocol(self._chat_messages(messages, variables), None)
        return self._drive(protocol)  # type: ignore[no-any-return]

    async def achat(
        self, messages: Sequence[Any] | PromptTemplate | str, /, **variables: Any
    ) -> AIMessage:
        """Async twin of :meth:`chat`."""
        protocol = self._protocol(self._chat_messages(messages, variables), None)
        return await self._adrive(protocol)  # type: ignore[no-any-return]

    def _chat_messages(self, messages: Any, variables: dict[str, Any]) -> list[BaseMessage]:
        if isinstance(messages, (PromptTemplate, str)):
            return self._messages(messages, variables)
        converted = convert_to_messages(messages)
        if not converted:
            raise InputError("chat() needs at least one message.")
        return converted

    def batch(
        self, template: PromptTemplate | str, schema: type[T], items: Sequence[Mapping[str, Any]]
    ) -> list[CallResult[T]]:
        """Run :meth:`call` for each item (a dict of variables) with bounded concurrency.

        One failing item does not sink the batch: each :class:`CallResult` holds a value or
        an error. Once the budget is exhausted, the remaining items get that
        :class:`BudgetExceeded` instead of being sent. Results keep the input order.
        """
        tmpl = self._template(template)
        items = _check_items(items)
        stopped: list[BudgetExceeded] = []

        def run(index: int, variables: Mapping[str, Any]) -> CallResult[T]:
            if stopped:
                return CallResult(index, error=stopped[0])
            try:
                return CallResult(index, value=self.call(tmpl, schema, **variables))
            except BudgetExceeded as exc:
                stopped.append(exc)
                return CallResult(index, error=exc)
            except Exception as exc:  # noqa: BLE001 - reported per item
                return CallResult(index, error=exc)

        if not items:
            return []
        workers = min(self.max_concurrency, len(items))
        # worker threads do not inherit context variables: run each item in a copy of the
        # caller's context so per-call usage scopes (track_usage) see its requests
        contexts = [contextvars.copy_context() for _ in items]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="memagents-llm") as pool:
            return list(pool.map(lambda ctx, i, v: ctx.run(run, i, v), contexts,
                                 range(len(items)), items))

    async def abatch(
        self, template: PromptTemplate | str, schema: type[T], items: Sequence[Mapping[str, Any]]
    ) -> list[CallResult[T]]:
        """Async twin of :meth:`batch`, bounded by an ``asyncio.Semaphore``."""
        tmpl = self._template(template)
        items = _check_items(items)
        slots = asyncio.Semaphore(self.max_concurrency)
        stopped: list[BudgetExceeded] = []

        async def run(index: int, variables: Mapping[str, Any]) -> CallResult[T]:
            async with slots:
                if stopped:
                    return CallResult(index, error=stopped[0])
                try:
                    return CallResult(index, value=await self.acall(tmpl, schema, **variables))
                except BudgetExceeded as exc:
                    stopped.append(exc)
                    return CallResult(index, error=exc)
                except Exception as exc:  # noqa: BLE001 - reported per item
                    return CallResult(index, error=exc)

        return list(await asyncio.gather(*(run(i, v) for i, v in enumerate(items))))

    def _template(self, template: PromptTemplate | str) -> PromptTemplate:
        tmpl = get_prompt(template) if isinstance(template, str) else template
        if not isinstance(tmpl, PromptTemplate):
            raise InputError(
                f"expected a PromptTemplate or a registered prompt name, got {type(tmpl).__name__}."
            )
        return tmpl

    def __repr__(self) -> str:
        name = self._name() if self._model is not None else "unconfigured"
        return f"StructuredLLM({name!r}, max_concurrency={self.max_concurrency})"


def _check_items(items: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise InputError(f"items[{i}] is {type(item).__name__}; pass dicts of variables.")
    return list(items)


def _text(message: AIMessage) -> str:
    text = message.text  # a str subclass in langchain-core >= 0.3.x, a method before
    return str(text) if isinstance(text, str) else str(text())


def structured_call(
    model: str | BaseChatModel | StructuredLLM | None,
    template: PromptTemplate | str,
    schema: type[T],
    /,
    **variables: Any,
) -> T:
    """One-off :meth:`StructuredLLM.call` (pass a ``StructuredLLM`` to share usage/budget)."""
    return StructuredLLM.coerce(model).call(template, schema, **variables)
