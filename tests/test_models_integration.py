"""The model layer over the real ``openai`` SDK (via ChatOpenAI / OpenAIEmbeddings) against the
loopback OpenAI-compatible server of ``memagents.testing``: faults, retries, re-asks, budgets,
usage and concurrency end to end."""

from __future__ import annotations

import time
from typing import Any

import httpx
import numpy as np
import pytest
from pydantic import BaseModel

from memagents.config import Settings
from memagents.errors import BudgetExceeded, EmbeddingError, LLMError
from memagents.models import (
    Budget,
    PromptTemplate,
    RetryPolicy,
    StructuredLLM,
    Usage,
    aembed_texts,
    embed_texts,
    resolve_chat_model,
    resolve_embeddings,
)
from memagents.testing import Fault, OpenAIServer, fake_vector

pytestmark = pytest.mark.integration

FAST = RetryPolicy(max_retries=3, backoff_base=0.001, backoff_max=0.01, jitter=0.0)
ASK = PromptTemplate("test_integration.ask", "You answer questions.", "Question: {question}")
GOOD = {"answer": "Paris"}


class Answer(BaseModel):
    answer: str


def settings_for(server: OpenAIServer, **kwargs: Any) -> Settings:
    return Settings(openai_base_url=server.base_url, openai_api_key=server.api_key, **kwargs)


def make(
    server: OpenAIServer, *, timeout: float = 10.0, **kwargs: Any
) -> tuple[StructuredLLM, list[float]]:
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)

    kwargs.setdefault("retry", FAST)
    llm = StructuredLLM("openai:gpt-4o-mini", settings=settings_for(server, timeout=timeout),
                        sleep=sleep, **kwargs)
    return llm, slept


@pytest.fixture
def server(openai_server: OpenAIServer) -> OpenAIServer:
    openai_server.default_reply = GOOD
    return openai_server


def test_happy_path_sends_json_mode_and_schema(server: OpenAIServer) -> None:
    llm, _ = make(server)
    assert llm.call(ASK, Answer, question="Capital of France?") == Answer(answer="Paris")
    (body,) = server.chat_requests
    assert body["response_format"] == {"type": "json_object"}
    assert body["model"] == "gpt-4o-mini" and body["temperature"] == 0
    assert '"answer"' in body["messages"][0]["content"]  # schema in the system message
    assert body["messages"][1] == {"role": "user", "content": "Question: Capital of France?"}


def test_json_mode_can_be_disabled(server: OpenAIServer) -> None:
    llm, _ = make(server, json_mode=False)
    llm.call(ASK, Answer, question="q")
    assert "response_format" not in server.chat_requests[0]


def test_429_with_retry_after_then_success(server: OpenAIServer) -> None:
    server.inject(Fault.status(429, retry_after=0.05), times=2)
    llm, slept = make(server)
    assert llm.call(ASK, Answer, question="q").answer == "Paris"
    assert slept == [pytest.approx(0.05), pytest.approx(0.05)]  # Retry-After, not the 1 ms backoff
    assert len(server.chat_requests) == 3
    assert (llm.usage.llm_calls, llm.usage.retries, llm.usage.failures) == (3, 2, 0)


def test_500_then_success(server: OpenAIServer) -> None:
    server.inject(Fault.status(500))
    llm, slept = make(server)
    assert llm.call(ASK, Answer, question="q").answer == "Paris"
    assert slept == [pytest.approx(0.001)] and llm.usage.retries == 1


def test_timeout_then_success(server: OpenAIServer) -> None:
    server.inject(Fault.delay(60.0))  # the timeout must cut it; the retry must fit in 2 s,
    llm, _ = make(server, timeout=2.0)  # also on a loaded machine (0.3 s was fragile)
    start = time.perf_counter()
    assert llm.call(ASK, Answer, question="q").answer == "Paris"
    assert time.perf_counter() - start < 30
    assert llm.usage.retries == 1 and len(server.chat_requests) == 2


def test_retry_policy_timeout_overrides_model_timeout(server: OpenAIServer) -> None:
    server.inject(Fault.delay(300.0))
    policy = RetryPolicy(max_retries=1, backoff_base=0.001, jitter=0.0, timeout=2.0)
    llm, _ = make(server, timeout=600.0, retry=policy)
    start = time.perf_counter()
    assert llm.call(ASK, Answer, question="q").answer == "Paris"
    assert time.perf_counter() - start < 60 and llm.usage.retries == 1


def test_disconnect_is_retried(server: OpenAIServer) -> None:
    server.inject(Fault.disconnect())
    llm, _ = make(server)
    assert llm.call(ASK, Answer, question="q").answer == "Paris"
    assert llm.usage.retries == 1


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Fault.truncated_json(), "incomplete"),
        (Fault.invalid_json('{"wrong": 1}'), "answer: Field required"),
        (Fault.invalid_json("Sorry, I cannot answer in JSON."), "no JSON object"),
    ],
)
def test_bad_json_is_reasked_with_error(server: OpenAIServer, fault: Fault, expected: str) -> None:
    server.inject(fault)
    llm, slept = make(server)
    assert llm.call(ASK, Answer, question="q").answer == "Paris"
    first, second = server.chat_requests
    assert second["messages"][: len(first["messages"])] == first["messages"]
    bad_reply, reask = second["messages"][-2:]
    assert bad_reply["role"] == "assistant"
    assert reask["role"] == "user" and expected in reask["content"]
    assert slept == []  # re-asks are immediate
    assert (llm.usage.llm_calls, llm.usage.retries) == (2, 1)


def test_persistent_500_raises_after_max_retries(server: OpenAIServer) -> None:
    server.inject(Fault.status(500, message="upstream exploded"), times=10)
    llm, slept = make(server)
    with pytest.raises(LLMError, match=r"after 3 retries.*HTTP 500.*upstream exploded"):
        llm.call(ASK, Answer, question="q")
    assert len(server.chat_requests) == 4 and len(slept) == 3
    assert llm.usage.failures == 1


def test_bad_key_fails_fast() -> None:
    with OpenAIServer(require_key=True, default_reply=GOOD) as srv:
        settings = Settings(openai_base_url=srv.base_url, openai_api_key="wrong")
        llm = StructuredLLM("openai:gpt-4o-mini", settings=settings, retry=FAST)
        with pytest.raises(LLMError, match="HTTP 401.*OPENAI_API_KEY"):
            llm.call(ASK, Answer, question="q")
        assert len(srv.chat_requests) == 1


def test_usage_totals_equal_server_reported_usage(server: OpenAIServer) -> None:
    reported: list[dict[str, int]] = []

    def capture(response: httpx.Response) -> None:  # sees exactly what the server sent back
        response.read()
        if response.status_code == 200:
            reported.append(response.json()["usage"])

    http_client = httpx.Client(event_hooks={"response": [capture]})
    model = server.chat_model(http_client=http_client, max_retries=0, temperature=0)
    server.add_rule("Question: q1", {"answer": "one two three"})
    server.inject(Fault.status(429, retry_after=0.001))  # no usage for failed requests
    server.inject(Fault.invalid_json('{"nope": true}'))  # a re-ask adds a billed request
    llm = StructuredLLM(model, retry=FAST, sleep=lambda s: None)
    for q in ("q1", "q2", "q3"):
        llm.call(ASK, Answer, question=q)
    http_client.close()
    assert len(reported) == 4 and len(server.chat_requests) == 5
    assert llm.usage.prompt_tokens == sum(u["prompt_tokens"] for u in reported)
    assert llm.usage.completion_tokens == sum(u["completion_tokens"] for u in reported)
    assert llm.usage.total_tokens == sum(u["total_tokens"] for u in reported)
    assert llm.usage.llm_calls == 5


def test_budget_stops_mid_batch(server: OpenAIServer) -> None:
    llm, _ = make(server, budget=Budget(max_llm_calls=3), max_concurrency=1)
    results = llm.batch(ASK, Answer, [{"question": f"q{i}"} for i in range(6)])
    assert [r.ok for r in results] == [True, True, True, False, False, False]
    assert all(isinstance(r.error, BudgetExceeded) for r in results[3:])
    assert len(server.chat_requests) == 3


def test_batch_concurrency_is_bounded(server: OpenAIServer) -> None:
    server.latency = 0.1
    llm, _ = make(server, max_concurrency=3)
    start = time.perf_counter()
    results = llm.batch(ASK, Answer, [{"question": f"q{i}"} for i in range(9)])
    elapsed = time.perf_counter() - start
    assert all(r.ok for r in results)
    assert server.max_in_flight == 3  # parallel, but never more than max_concurrency
    assert elapsed >= 0.28  # hence at least 3 waves of 0.1 s


async def test_async_twin_with_faults(server: OpenAIServer) -> None:
    server.inject(Fault.status(429, retry_after=0.02))
    server.inject(Fault.truncated_json())
    slept: list[float] = []

    async def asleep(seconds: float) -> None:
        slept.append(seconds)

    llm, _ = make(server, asleep=asleep)
    assert (await llm.acall(ASK, Answer, question="q")).answer == "Paris"
    assert slept == [pytest.approx(0.02)]
    assert (llm.usage.llm_calls, llm.usage.retries) == (3, 2)
    assert "incomplete" in server.chat_requests[-1]["messages"][-1]["content"]


async def test_abatch_bounded(server: OpenAIServer) -> None:
    server.latency = 0.1
    llm, _ = make(server, max_concurrency=2)
    results = await llm.abatch(ASK, Answer, [{"question": f"q{i}"} for i in range(6)])
    assert [r.unwrap().answer for r in results] == ["Paris"] * 6
    assert server.max_in_flight == 2


def test_environment_configuration(server: OpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in server.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MEMAGENTS_LLM", "openai:gpt-4o-mini")
    llm = StructuredLLM(retry=FAST)
    assert llm.chat([("human", "say hi")]).content == '{"answer": "Paris"}'
    assert resolve_chat_model(None).invoke("hello").content == '{"answer": "Paris"}'


def test_base_url_without_key_uses_placeholder(server: OpenAIServer) -> None:
    llm = StructuredLLM("openai:local-model", settings=Settings(openai_base_url=server.base_url))
    assert llm.call(ASK, Answer, question="q").answer == "Paris"
    assert server.chat_requests[0]["model"] == "local-model"


# -- embeddings ------------------------------------------------------------------------------


def test_openai_embeddings_through_server(server: OpenAIServer) -> None:
    emb = resolve_embeddings("openai:text-embedding-3-small", settings_for(server))
    usage = Usage()
    texts = ["Alice founded Acme", "Bob joined Acme", "unrelated words here"]
    arr = embed_texts(emb, texts, usage=usage, batch_size=2)
    assert arr.shape == (3, 64) and arr.dtype == np.float32
    assert np.allclose(arr, np.asarray([fake_vector(t, 64) for t in texts]), atol=1e-5)
    # requests go longest first (a padding model pads little); rows come back in input order
    assert [b["input"] for b in server.embedding_requests] == [[texts[2], texts[0]], [texts[1]]]
    assert (usage.embedding_calls, usage.embedding_texts) == (2, 3)


def test_openai_embeddings_retry_and_fatal(server: OpenAIServer) -> None:
    emb = resolve_embeddings("openai:text-embedding-3-small", settings_for(server))
    server.inject(Fault.status(503), endpoint="embeddings")
    server.inject(Fault.status(429, retry_after=0.01), endpoint="embeddings")
    slept: list[float] = []
    arr = embed_texts(emb, ["x y"], retry=FAST, sleep=slept.append)
    assert arr.shape == (1, 64) and len(slept) == 2 and slept[1] == pytest.approx(0.01)
    server.inject(Fault.status(404), endpoint="embeddings")
    with pytest.raises(EmbeddingError, match="HTTP 404.*MEMAGENTS_EMBEDDINGS"):
        embed_texts(emb, ["x"], retry=FAST, sleep=slept.append)


async def test_openai_embeddings_async(server: OpenAIServer) -> None:
    emb = resolve_embeddings("openai:text-embedding-3-small", settings_for(server))
    arr = await aembed_texts(emb, ["alpha beta", "gamma"])
    assert np.allclose(arr[1], fake_vector("gamma", 64), atol=1e-5)
