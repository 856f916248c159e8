"""StructuredLLM with offline fake chat models: parsing, re-asks, retries, budgets, batches."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import httpx
import openai
import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import BaseModel, Field, PrivateAttr

from memagents.config import Settings
from memagents.errors import BudgetExceeded, ConfigError, InputError, LLMError
from memagents.models import (
    Budget,
    CallResult,
    PromptTemplate,
    RetryPolicy,
    StructuredLLM,
    Usage,
    count_message_tokens,
    get_tokenizer,
    register_prompt,
    structured_call,
)
from memagents.models import prompts as prompts_mod
from memagents.models._json import ParseProblem, extract_json
from memagents.models._retry import classify_error

FAST = RetryPolicy(max_retries=3, backoff_base=0.001, backoff_max=0.004, jitter=0.0)
QUESTION = PromptTemplate("test_structured.q", "You answer questions.", "Question: {question}")


class Answer(BaseModel):
    answer: str
    confidence: float = Field(ge=0, le=1)


class StatusError(Exception):
    def __init__(self, code: int, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"HTTP error {code}")
        self.status_code = code
        self.response = SimpleNamespace(status_code=code, headers=headers or {})


class Scripted(BaseChatModel):
    """Replies from a script (str, AIMessage or exception) or a responder callable."""

    script: list[Any] = Field(default_factory=list)
    responder: Callable[[list[BaseMessage]], Any] | None = None
    delay: float = 0.0
    _seen: list[list[BaseMessage]] = PrivateAttr(default_factory=list)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)
    _in_flight: int = PrivateAttr(default=0)
    _max_in_flight: int = PrivateAttr(default=0)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        with self._lock:
            self._seen.append(list(messages))
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            item = self.responder(messages) if self.responder else self.script.pop(0)
        try:
            if self.delay:
                time.sleep(self.delay)
            if isinstance(item, BaseException):
                raise item
            msg = item if isinstance(item, AIMessage) else AIMessage(content=item)
            return ChatResult(generations=[ChatGeneration(message=msg)])
        finally:
            with self._lock:
                self._in_flight -= 1


GOOD = '{"answer": "Paris", "confidence": 0.9}'


@pytest.fixture(autouse=True)
def _isolated_prompts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prompts_mod, "_registry", dict(prompts_mod._registry))
    monkeypatch.setattr(prompts_mod, "_overrides", dict(prompts_mod._overrides))


def make(model: BaseChatModel, **kwargs: Any) -> StructuredLLM:
    kwargs.setdefault("retry", FAST)
    kwargs.setdefault("sleep", lambda s: None)
    return StructuredLLM(model, **kwargs)


# -- happy path, instructions, usage --------------------------------------------------------


def test_call_validates_and_instructs_schema() -> None:
    model = Scripted(script=[GOOD])
    value = make(model).call(QUESTION, Answer, question="Capital of France?")
    assert value == Answer(answer="Paris", confidence=0.9)
    (sent,) = model._seen
    assert isinstance(sent[0], SystemMessage)
    assert sent[0].content.startswith("You answer questions.")
    assert '"confidence"' in sent[0].content and "JSON Schema" in sent[0].content
    assert sent[1].content == "Question: Capital of France?"


def test_template_without_system_gets_instructions() -> None:
    model = Scripted(script=[GOOD])
    make(model).call(PromptTemplate("test_structured.nosys", "", "{q}"), Answer, q="x")
    assert isinstance(model._seen[0][0], SystemMessage) and "JSON" in model._seen[0][0].content


@pytest.mark.parametrize(
    "reply",
    [f"```json\n{GOOD}\n```", f"Sure! Here it is: {GOOD} Anything else?", f"```\n{GOOD}```"],
)
def test_fences_and_prose_are_tolerated_without_reask(reply: str) -> None:
    model = Scripted(script=[reply])
    llm = make(model)
    assert llm.call(QUESTION, Answer, question="q").answer == "Paris"
    assert llm.usage.retries == 0 and llm.usage.llm_calls == 1


def test_content_block_replies_are_joined() -> None:
    blocks = [{"type": "text", "text": '{"answer": "Pa'}, {"type": "text", "text": 'ris", '},
              {"type": "text", "text": '"confidence": 1}'}]
    assert make(Scripted(script=[AIMessage(content=blocks)])).call(
        QUESTION, Answer, question="q"
    ) == Answer(answer="Paris", confidence=1)


def test_usage_from_usage_metadata() -> None:
    meta = {"input_tokens": 11, "output_tokens": 7, "total_tokens": 18}
    llm = make(Scripted(script=[AIMessage(content=GOOD, usage_metadata=meta)]))
    llm.call(QUESTION, Answer, question="q")
    u = llm.usage
    assert (u.llm_calls, u.prompt_tokens, u.completion_tokens, u.total_tokens) == (1, 11, 7, 18)
    assert u.latency_s > 0 and u._pending_tokens == 0


def test_usage_falls_back_to_tokenizer() -> None:
    model = Scripted(script=[GOOD])
    llm = make(model)
    llm.call(QUESTION, Answer, question="q")
    tok = get_tokenizer()
    assert llm.usage.prompt_tokens == count_message_tokens(model._seen[0], tok)
    assert llm.usage.completion_tokens == tok.count(GOOD)


def test_registered_name_and_structured_call() -> None:
    register_prompt(QUESTION)
    model = Scripted(script=[GOOD, GOOD])
    assert structured_call(model, "test_structured.q", Answer, question="q").answer == "Paris"
    shared = make(model)
    assert structured_call(shared, QUESTION, Answer, question="q").confidence == 0.9
    assert shared.usage.llm_calls == 1


def test_missing_variable_is_input_error_and_nothing_sent() -> None:
    model = Scripted(script=[GOOD])
    with pytest.raises(InputError, match="question"):
        make(model).call(QUESTION, Answer)
    assert model._seen == []


def test_unconfigured_llm_fails_at_call_time_naming_settings() -> None:
    llm = StructuredLLM(settings=Settings(llm=None))  # constructing is fine
    assert "unconfigured" in repr(llm)
    with pytest.raises(ConfigError, match="MEMAGENTS_LLM"):
        llm.call(QUESTION, Answer, question="q")


# -- re-asks ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "expected_in_reask"),
    [
        ("I think it's Paris.", "no JSON object"),
        ('{"answer": "Paris", "confid', "incomplete"),
        ('{"wrong": 1}', "answer: Field required"),
        ('{"answer": "Paris", "confidence": 7}', "confidence: Input should be less than or equal"),
    ],
)
def test_bad_output_is_reasked_with_the_problem(bad: str, expected_in_reask: str) -> None:
    model = Scripted(script=[bad, GOOD])
    llm = make(model)
    assert llm.call(QUESTION, Answer, question="q").answer == "Paris"
    first, second = model._seen
    assert second[: len(first)] == first  # same prompt, then the bad reply and the error
    assert isinstance(second[-2], AIMessage) and second[-2].content == bad
    assert isinstance(second[-1], HumanMessage) and expected_in_reask in second[-1].content
    assert (llm.usage.llm_calls, llm.usage.retries, llm.usage.failures) == (2, 1, 0)


def test_reasks_do_not_accumulate_history() -> None:
    model = Scripted(script=["nope", "still nope", GOOD])
    make(model).call(QUESTION, Answer, question="q")
    assert len(model._seen[2]) == len(model._seen[1]) == len(model._seen[0]) + 2
    assert model._seen[2][-2].content == "still nope"


def test_length_finish_reason_is_explained() -> None:
    cut = AIMessage(content='{"answer": "Par', response_metadata={"finish_reason": "length"})
    model = Scripted(script=[cut, GOOD])
    make(model).call(QUESTION, Answer, question="q")
    assert "output token limit" in model._seen[1][-1].content


def test_never_valid_raises_llm_error_after_max_retries() -> None:
    model = Scripted(script=['{"wrong": 1}'] * 4)
    llm = make(model)
    with pytest.raises(LLMError) as info:
        llm.call(QUESTION, Answer, question="q")
    msg = str(info.value)
    assert "Answer" in msg and "3 re-asks" in msg and "answer: Field required" in msg
    assert (llm.usage.llm_calls, llm.usage.retries, llm.usage.failures) == (4, 3, 1)


# -- transient and fatal errors -------------------------------------------------------------


def test_transient_errors_back_off_and_honour_retry_after() -> None:
    model = Scripted(script=[StatusError(429, {"retry-after": "0.5"}), StatusError(503),
                             ConnectionError("reset"), GOOD])
    slept: list[float] = []
    llm = make(model, sleep=slept.append)
    assert llm.call(QUESTION, Answer, question="q").answer == "Paris"
    assert slept == [0.5, pytest.approx(0.002), pytest.approx(0.004)]
    assert (llm.usage.llm_calls, llm.usage.retries, llm.usage.failures) == (4, 3, 0)


def test_persistent_500_gives_llm_error_naming_last_problem() -> None:
    model = Scripted(script=[StatusError(500)] * 4)
    llm = make(model)
    with pytest.raises(LLMError, match=r"after 3 retries.*HTTP 500"):
        llm.call(QUESTION, Answer, question="q")
    assert len(model._seen) == 4 and llm.usage.failures == 1


@pytest.mark.parametrize(
    ("code", "advice"),
    [(401, "OPENAI_API_KEY"), (404, "model name"), (400, "json_mode=False"), (403, "permission")],
)
def test_fatal_errors_fail_fast_with_advice(code: int, advice: str) -> None:
    model = Scripted(script=[StatusError(code), GOOD])
    llm = make(model)
    with pytest.raises(LLMError, match=advice) as info:
        llm.call(QUESTION, Answer, question="q")
    assert f"HTTP {code}" in str(info.value)
    assert len(model._seen) == 1 and llm.usage.retries == 0 and llm.usage.failures == 1


def test_unexpected_exception_is_wrapped_with_cause() -> None:
    boom = RuntimeError("kaboom")
    with pytest.raises(LLMError, match="kaboom") as info:
        make(Scripted(script=[boom])).call(QUESTION, Answer, question="q")
    assert info.value.__cause__ is boom


def _req() -> httpx.Request:
    return httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")


@pytest.mark.parametrize(
    ("exc", "transient", "retry_after"),
    [
        (openai.RateLimitError("slow down", response=httpx.Response(
            429, headers={"retry-after": "2"}, request=_req()), body=None), True, 2.0),
        (openai.RateLimitError("slow down", response=httpx.Response(
            429, headers={"retry-after-ms": "250"}, request=_req()), body=None), True, 0.25),
        (openai.InternalServerError("oops", response=httpx.Response(
            502, request=_req()), body=None), True, None),
        (openai.APITimeoutError(request=_req()), True, None),
        (openai.APIConnectionError(request=_req()), True, None),
        (openai.BadRequestError("bad", response=httpx.Response(400, request=_req()), body=None),
         False, None),
        (openai.AuthenticationError("key", response=httpx.Response(401, request=_req()),
                                    body=None), False, None),
        (httpx.ReadTimeout("slow"), True, None),
        (asyncio.TimeoutError(), True, None),
        (ValueError("bug"), False, None),
    ],
)
def test_classify_error(exc: Exception, transient: bool, retry_after: float | None) -> None:
    info = classify_error(exc)
    assert info.transient is transient
    assert info.retry_after == (pytest.approx(retry_after) if retry_after else None)


def test_retry_policy_delays_and_jitter() -> None:
    p = RetryPolicy(backoff_base=1.0, backoff_max=3.0, jitter=0.25)
    for n, base in [(1, 1.0), (2, 2.0), (3, 3.0), (8, 3.0)]:
        for _ in range(20):
            assert base * 0.75 <= p.delay(n) <= min(3.0, base * 1.25)
    assert p.delay(1, retry_after=100.0) == 60.0  # capped at max(backoff_max, 60)
    with pytest.raises(ConfigError):
        RetryPolicy(jitter=2)


def test_retry_policy_defaults_come_from_settings() -> None:
    llm = StructuredLLM(FakeListChatModel(responses=["x"]),
                        settings=Settings(max_retries=7, backoff_base=0.1, max_concurrency=3))
    assert (llm.retry.max_retries, llm.retry.backoff_base, llm.max_concurrency) == (7, 0.1, 3)


# -- budgets --------------------------------------------------------------------------------


def test_budget_stops_reask_before_overspending() -> None:
    model = Scripted(script=["not json", GOOD])
    llm = make(model, budget=Budget(max_llm_calls=1))
    with pytest.raises(BudgetExceeded, match="max_llm_calls=1"):
        llm.call(QUESTION, Answer, question="q")
    assert len(model._seen) == 1 and llm.usage.llm_calls == 1


def test_token_budget_refuses_oversized_prompt_unsent() -> None:
    model = Scripted(script=[GOOD])
    llm = make(model, budget=Budget(max_tokens=20))
    with pytest.raises(BudgetExceeded, match="max_tokens=20"):
        llm.call(QUESTION, Answer, question="q")
    assert model._seen == [] and llm.usage.llm_calls == 0


def test_shared_usage_and_budget_across_instances() -> None:
    usage, budget = Usage(), Budget(max_llm_calls=2)
    a = make(Scripted(script=[GOOD]), usage=usage, budget=budget)
    b = make(Scripted(script=[GOOD, GOOD]), usage=usage, budget=budget)
    a.call(QUESTION, Answer, question="q")
    b.call(QUESTION, Answer, question="q")
    with pytest.raises(BudgetExceeded):
        b.call(QUESTION, Answer, question="q")
    assert usage.llm_calls == 2


# -- raw chat ---------------------------------------------------------------------------------


def test_chat_raw_text_through_same_path() -> None:
    model = Scripted(script=[StatusError(503), "plain words"])
    llm = make(model)
    reply = llm.chat([("system", "be brief"), ("human", "hi")])
    assert isinstance(reply, AIMessage) and reply.content == "plain words"
    assert "JSON" not in model._seen[-1][0].content  # no schema instructions
    assert (llm.usage.llm_calls, llm.usage.retries) == (2, 1)
    assert make(Scripted(script=["t"])).chat(QUESTION, question="q").content == "t"
    with pytest.raises(InputError):
        llm.chat([])


# -- batches ----------------------------------------------------------------------------------


def _by_question(messages: list[BaseMessage]) -> Any:
    q = str(messages[-1].content)
    if "explode" in q:
        return StatusError(401)
    return json.dumps({"answer": q.split(": ", 1)[1], "confidence": 0.5})


def test_batch_order_isolation_and_bounded_concurrency() -> None:
    model = Scripted(responder=_by_question, delay=0.02)
    llm = make(model, max_concurrency=3)
    items = [{"question": f"q{i}"} for i in range(12)]
    items[4] = {"question": "explode"}
    items[7] = {}  # missing variable
    results = llm.batch(QUESTION, Answer, items)
    assert [r.index for r in results] == list(range(12))
    expected = [f"q{i}" for i in range(12) if i not in (4, 7)]
    assert [r.value.answer for r in results if r.ok] == expected
    assert isinstance(results[4].error, LLMError) and isinstance(results[7].error, InputError)
    with pytest.raises(LLMError):
        results[4].unwrap()
    assert 1 < model._max_in_flight <= 3


def test_batch_stops_sending_once_budget_exhausted() -> None:
    model = Scripted(responder=_by_question)
    llm = make(model, budget=Budget(max_llm_calls=3), max_concurrency=1)
    results = llm.batch(QUESTION, Answer, [{"question": f"q{i}"} for i in range(6)])
    assert [r.ok for r in results] == [True] * 3 + [False] * 3
    assert all(isinstance(r.error, BudgetExceeded) for r in results[3:])
    assert len(model._seen) == 3 and llm.usage.llm_calls == 3


def test_batch_rejects_non_mapping_items() -> None:
    with pytest.raises(InputError, match=r"items\[1\]"):
        items: list[Any] = [{"question": "a"}, "b"]
        make(Scripted()).batch(QUESTION, Answer, items)
    assert make(Scripted()).batch(QUESTION, Answer, []) == []


def test_concurrent_calls_from_threads_are_counted_exactly() -> None:
    model = Scripted(responder=_by_question)
    llm = make(model, max_concurrency=2)
    threads = [threading.Thread(target=lambda i=i: llm.call(QUESTION, Answer, question=f"t{i}"))
               for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert llm.usage.llm_calls == 16 == len(model._seen)
    assert model._max_in_flight <= 2


# -- async ------------------------------------------------------------------------------------


async def test_acall_reask_and_async_sleep() -> None:
    model = Scripted(script=[StatusError(429, {"retry-after": "0.01"}), "junk", GOOD])
    slept: list[float] = []

    async def asleep(s: float) -> None:
        slept.append(s)

    llm = make(model, asleep=asleep, sleep=lambda s: pytest.fail("sync sleep in async path"))
    assert (await llm.acall(QUESTION, Answer, question="q")).answer == "Paris"
    assert slept == [0.01] and llm.usage.retries == 2 and llm.usage.llm_calls == 3


async def test_abatch_bounded_and_budgeted() -> None:
    model = Scripted(responder=_by_question, delay=0.02)
    llm = make(model, max_concurrency=2)
    results = await llm.abatch(QUESTION, Answer, [{"question": f"q{i}"} for i in range(8)])
    assert [r.unwrap().answer for r in results] == [f"q{i}" for i in range(8)]
    assert model._max_in_flight == 2
    llm2 = make(Scripted(responder=_by_question), budget=Budget(max_llm_calls=2), max_concurrency=1)
    results = await llm2.abatch(QUESTION, Answer, [{"question": f"q{i}"} for i in range(4)])
    assert [type(r.error) for r in results] == [type(None)] * 2 + [BudgetExceeded] * 2


async def test_async_timeout_is_retried() -> None:
    class Slow(Scripted):
        async def _agenerate(self, messages: list[BaseMessage], stop: Any = None,
                             run_manager: Any = None, **kwargs: Any) -> ChatResult:
            if len(self._seen) == 0:
                self._seen.append(messages)
                await asyncio.sleep(120)
            return self._generate(messages)

    model = Slow(script=[GOOD])
    # the retry (an instant scripted reply) must fit in the timeout on a loaded machine too:
    # 0.05 s failed a CI run; the 120 s hang proves the timeout cut the first attempt
    policy = RetryPolicy(max_retries=1, backoff_base=0.001, jitter=0.0, timeout=2.0)
    llm = make(model, retry=policy)
    start = time.perf_counter()
    assert (await llm.acall(QUESTION, Answer, question="q")).answer == "Paris"
    assert time.perf_counter() - start < 60 and llm.usage.retries == 1


async def test_achat() -> None:
    llm = make(Scripted(script=["hello"]))
    assert (await llm.achat([HumanMessage(content="hi")])).content == "hello"


def test_call_result_helpers() -> None:
    ok = CallResult(0, value=Answer(answer="a", confidence=0))
    assert ok.ok and ok.unwrap().answer == "a"


# -- JSON extraction --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('{"a": 1}', {"a": 1}),
        ("[1, 2]", [1, 2]),
        ('prefix [note] then {"a": {"b": [1]}} suffix', {"a": {"b": [1]}}),
        ('```JSON\n{"a": "x}"}\n```', {"a": "x}"}),
    ],
)
def test_extract_json(text: str, value: Any) -> None:
    assert extract_json(text) == value


@pytest.mark.parametrize(("text", "match"), [("", "empty"), ("```json\n{\"a\": ", "incomplete"),
                                              ("{'a': 1}", "invalid JSON")])
def test_extract_json_problems(text: str, match: str) -> None:
    with pytest.raises(ParseProblem, match=match):
        extract_json(text)


async def test_cancelled_call_releases_its_token_reservation() -> None:
    class Hanging(Scripted):
        async def _agenerate(self, *args: Any, **kwargs: Any) -> ChatResult:
            await asyncio.sleep(10)
            raise AssertionError("unreachable")

    budget = Budget(max_tokens=10_000)
    llm = make(Hanging(), budget=budget)
    task = asyncio.ensure_future(llm.acall(QUESTION, Answer, question="q"))
    await asyncio.sleep(0.05)
    assert llm.usage._pending_tokens > 0  # in flight
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert llm.usage._pending_tokens == 0 and llm.usage.llm_calls == 1
