"""OpenAIServer: wire format over raw HTTP, then the real openai SDK and ChatOpenAI against it."""

from __future__ import annotations

import base64
import json
import math
import re
import struct
import threading
import time
from typing import Any

import httpx
import openai
import pytest
from langchain_core.messages import AIMessageChunk
from langchain_openai import ChatOpenAI, OpenAIEmbeddings
from pydantic import BaseModel

from memagents.testing import Fault, OpenAIServer, Reply, ToolCall, fake_vector, openai_server


def chat(server: OpenAIServer, content: str = "hello", **body: Any) -> httpx.Response:
    payload = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}], **body}
    return httpx.post(f"{server.base_url}/chat/completions", json=payload, timeout=5)


def sse_chunks(response: httpx.Response) -> list[Any]:
    lines = [ln[len("data: ") :] for ln in response.text.splitlines() if ln.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    return [json.loads(ln) for ln in lines[:-1]]


# -- wire format -----------------------------------------------------------------------------
def test_chat_completion_shape_and_usage(openai_server: OpenAIServer) -> None:
    openai_server.add_rule("capital", "Paris is the capital")
    r = chat(openai_server, "What is the capital of France?")
    assert r.status_code == 200
    data = r.json()
    assert data["object"] == "chat.completion" and data["model"] == "gpt-4o-mini"
    assert data["id"].startswith("chatcmpl-") and isinstance(data["created"], int)
    choice = data["choices"][0]
    assert choice["message"] == {
        "role": "assistant",
        "content": "Paris is the capital",
        "refusal": None,
    }
    assert choice["finish_reason"] == "stop" and choice["logprobs"] is None
    assert data["usage"] == {"prompt_tokens": 6, "completion_tokens": 4, "total_tokens": 10}


def test_rules_first_match_wins_and_kinds(openai_server: OpenAIServer) -> None:
    openai_server.add_rule(lambda body: body.get("temperature") == 0.5, "by callable")
    openai_server.add_rule(re.compile(r"\bzebra\b"), "by regex")
    openai_server.add_rule("zebra", "by substring (shadowed)")
    openai_server.add_rule("json please", {"answer": 42})
    openai_server.add_rule("echo", lambda body: body["messages"][-1]["content"].upper())
    reply = lambda r: r.json()["choices"][0]["message"]["content"]
    assert reply(chat(openai_server, "a zebra", temperature=0.5)) == "by callable"
    assert reply(chat(openai_server, "a zebra")) == "by regex"
    assert json.loads(reply(chat(openai_server, "json please"))) == {"answer": 42}
    assert reply(chat(openai_server, "echo me")) == "ECHO ME"
    parts = [{"type": "text", "text": "multi"}, {"type": "text", "text": "part zebra"}]
    assert reply(chat(openai_server, parts)) == "by regex"  # type: ignore[arg-type]


def test_no_rule_is_a_400_that_explains(openai_server: OpenAIServer) -> None:
    r = chat(openai_server, "an unscripted question")
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "no_matching_rule"
    assert "an unscripted question" in error["message"] and "add_rule" in error["message"]
    openai_server.default_reply = "fallback"
    assert chat(openai_server, "anything").json()["choices"][0]["message"]["content"] == "fallback"


def test_n_choices_tools_and_logprobs(openai_server: OpenAIServer) -> None:
    openai_server.add_rule("weather", [ToolCall("get_weather", {"city": "Oslo"}, id="call_1")])
    openai_server.add_rule("sure", Reply("yes indeed", logprobs=[-0.1, ("x", -2.0)[1]]))
    data = chat(
        openai_server,
        "weather?",
        n=2,
        tools=[
            {
                "type": "function",
                "function": {"name": "get_weather", "parameters": {"type": "object"}},
            }
        ],
    ).json()
    assert len(data["choices"]) == 2
    first = data["choices"][0]
    assert first["finish_reason"] == "tool_calls" and first["message"]["content"] is None
    assert first["message"]["tool_calls"] == [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
        }
    ]
    lp = chat(openai_server, "sure?", logprobs=True, top_logprobs=3).json()
    content = lp["choices"][0]["logprobs"]["content"]
    assert [c["token"] for c in content] == ["yes", " indeed"]
    assert [c["logprob"] for c in content] == [-0.1, -2.0]
    top = content[0]["top_logprobs"]
    assert len(top) == 3 and top[0]["token"] == "yes"
    assert sum(math.exp(t["logprob"]) for t in top) == pytest.approx(1.0)
    default = chat(openai_server, "sure", logprobs=True).json()["choices"][0]["logprobs"]
    assert all(c["top_logprobs"] == [] for c in default["content"])


def test_reply_logprobs_are_validated() -> None:
    with pytest.raises(ValueError, match="one float per token"):
        Reply("two tokens", logprobs=[-0.5])
    assert Reply(logprobs=[("Yes", -0.01), ("!", -0.5)]).content_text == "Yes!"


def test_json_object_requires_the_word_json(openai_server: OpenAIServer) -> None:
    openai_server.default_reply = {"ok": True}
    fmt = {"response_format": {"type": "json_object"}}
    assert chat(openai_server, "answer", **fmt).status_code == 400
    r = chat(openai_server, "answer in JSON", **fmt)
    assert json.loads(r.json()["choices"][0]["message"]["content"]) == {"ok": True}
    assert openai_server.chat_requests[-1]["response_format"] == {"type": "json_object"}


def test_streaming_chunks_with_usage(openai_server: OpenAIServer) -> None:
    openai_server.add_rule("hi", "Hello there friend")
    r = chat(openai_server, "hi", stream=True, stream_options={"include_usage": True})
    assert r.headers["content-type"] == "text/event-stream"
    chunks = sse_chunks(r)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "Hello there friend"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 3


def test_embeddings_and_models(openai_server: OpenAIServer) -> None:
    url = f"{openai_server.base_url}/embeddings"
    data = httpx.post(url, json={"model": "emb", "input": ["a b", "c"], "dimensions": 8}).json()
    assert [d["index"] for d in data["data"]] == [0, 1]
    assert data["data"][0]["embedding"] == fake_vector("a b", 8)
    assert data["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    one = httpx.post(url, json={"input": "a b", "encoding_format": "base64"}).json()
    raw = base64.b64decode(one["data"][0]["embedding"])
    assert struct.unpack(f"<{len(raw) // 4}f", raw) == pytest.approx(fake_vector("a b", 64))
    models = httpx.get(f"{openai_server.base_url}/models").json()
    assert {"gpt-4o-mini", "emb"} <= {m["id"] for m in models["data"]}
    assert httpx.get(f"{openai_server.base_url}/models/emb").json()["id"] == "emb"
    assert httpx.post(url, json={"input": []}).status_code == 400
    assert len(openai_server.embedding_requests) == 3 and len(openai_server.requests) == 3


def test_unknown_path_and_api_key() -> None:
    with OpenAIServer(require_key=True) as server:
        assert httpx.get(server.base_url + "/nothing").json()["error"]["code"] == "unknown_url"
        r = chat(server)
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
        assert server.in_flight == 0 and len(server.records) == 1
        ok = httpx.post(
            f"{server.base_url}/embeddings",
            json={"input": "x"},
            headers={"Authorization": f"Bearer {server.api_key}"},
        )
        assert ok.status_code == 200
    with pytest.raises(RuntimeError, match="not running"):
        server.base_url  # noqa: B018


def test_fault_queue_order_and_headers(openai_server: OpenAIServer) -> None:
    openai_server.default_reply = '{"a": 1, "b": 2}'
    openai_server.inject(Fault.status(429, retry_after=0.25), times=2)
    openai_server.inject(Fault.status(500, message="boom"))
    openai_server.inject(Fault.truncated_json())
    openai_server.inject(Fault.invalid_json('{"wrong": 1}'))
    first = chat(openai_server)
    assert first.status_code == 429 and first.headers["retry-after"] == "0.25"
    assert first.json()["error"]["code"] == "rate_limit_exceeded"
    assert chat(openai_server).status_code == 429
    assert chat(openai_server).json()["error"] == {
        "message": "boom",
        "type": "server_error",
        "param": None,
        "code": None,
    }
    truncated = chat(openai_server).json()["choices"][0]["message"]["content"]
    assert truncated == '{"a": 1,'
    assert chat(openai_server).json()["choices"][0]["message"]["content"] == '{"wrong": 1}'
    assert chat(openai_server).json()["choices"][0]["message"]["content"] == '{"a": 1, "b": 2}'
    assert [r.fault.kind if r.fault else None for r in openai_server.records] == [
        "status",
        "status",
        "status",
        "truncated_json",
        "invalid_json",
        None,
    ]


def test_fault_on_tool_arguments_and_embeddings(openai_server: OpenAIServer) -> None:
    openai_server.add_rule("x", [ToolCall("f", {"q": "long argument"})])
    openai_server.inject(Fault.truncated_json())
    args = chat(openai_server, "x").json()["choices"][0]["message"]["tool_calls"][0]
    with pytest.raises(json.JSONDecodeError):
        json.loads(args["function"]["arguments"])
    openai_server.inject(Fault.truncated_json(), endpoint="embeddings")
    r = httpx.post(f"{openai_server.base_url}/embeddings", json={"input": "a"})
    with pytest.raises(json.JSONDecodeError):
        r.json()
    with pytest.raises(ValueError, match="endpoint"):
        openai_server.inject(Fault.delay(1), endpoint="nope")  # type: ignore[arg-type]


def test_disconnect_reset_and_concurrency() -> None:
    with openai_server(default_reply="ok", latency=0.2) as server:
        server.inject(Fault.disconnect())
        with pytest.raises(httpx.RemoteProtocolError):
            chat(server)
        threads = [threading.Thread(target=chat, args=(server,)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert server.max_in_flight == 4 and server.in_flight == 0
        server.add_rule("x", "y")
        server.inject(Fault.status(500))
        server.reset()
        assert server.records == [] and server.max_in_flight == 0
        assert chat(server, "x").json()["choices"][0]["message"]["content"] == "ok"


# -- real clients ----------------------------------------------------------------------------


@pytest.mark.integration
def test_openai_sdk_chat_retries_and_errors(openai_server: OpenAIServer) -> None:
    openai_server.add_rule("hello", "Hi!")
    client = openai_server.client(max_retries=2)
    openai_server.inject(Fault.status(429, retry_after=0.01), times=2)
    out = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}]
    )
    assert out.choices[0].message.content == "Hi!" and out.usage is not None
    assert len(openai_server.chat_requests) == 3
    assert openai_server.records[0].headers["authorization"] == "Bearer test-key"
    openai_server.inject(Fault.status(500))
    with pytest.raises(openai.InternalServerError):
        client.with_options(max_retries=0).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hello"}]
        )
    with pytest.raises(openai.BadRequestError, match="no rule matches"):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "?"}])


@pytest.mark.integration
def test_openai_sdk_timeout_stream_tools_embeddings(openai_server: OpenAIServer) -> None:
    client = openai_server.client(max_retries=0)
    openai_server.default_reply = "slow reply"
    openai_server.inject(Fault.delay(60.0))
    start = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        client.with_options(timeout=0.5).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}]
        )
    assert time.monotonic() - start < 30  # the client's timeout cut the 60 s delay
    stream = client.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "x"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces = list(stream)
    assert "".join(p.choices[0].delta.content or "" for p in pieces if p.choices) == "slow reply"
    assert pieces[-1].usage is not None and pieces[-1].usage.completion_tokens == 2
    openai_server.add_rule("tool", [ToolCall("lookup", {"k": 1})])
    out = client.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "tool"}],
        tools=[{"type": "function", "function": {"name": "lookup"}}],
    )
    call = out.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "lookup" and json.loads(call.function.arguments) == {"k": 1}
    emb = client.embeddings.create(model="text-embedding-3-small", input=["alpha beta"])
    assert emb.data[0].embedding == pytest.approx(fake_vector("alpha beta", 64), abs=1e-6)
    assert openai_server.embedding_requests[0]["encoding_format"] == "base64"


@pytest.mark.integration
async def test_openai_async_client(openai_server: OpenAIServer) -> None:
    openai_server.default_reply = "async ok"
    client = openai.AsyncOpenAI(base_url=openai_server.base_url, api_key=openai_server.api_key)
    out = await client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "x"}]
    )
    assert out.choices[0].message.content == "async ok"
    await client.close()


class Person(BaseModel):
    name: str
    age: int


@pytest.mark.integration
def test_chat_openai_invoke_structured_and_logprobs(openai_server: OpenAIServer) -> None:
    openai_server.add_rule("Who", {"name": "Ada", "age": 36})
    openai_server.add_rule("sure", Reply("Yes", logprobs=[-0.05]))
    llm = openai_server.chat_model(max_retries=0)
    msg = llm.invoke("sure?")
    assert msg.content == "Yes" and msg.usage_metadata["input_tokens"] == 1
    assert msg.response_metadata["finish_reason"] == "stop"
    logged = ChatOpenAI(
        base_url=openai_server.base_url, api_key=openai_server.api_key, model="m", logprobs=True
    ).invoke("sure?")
    assert logged.response_metadata["logprobs"]["content"][0]["logprob"] == -0.05
    json_mode = llm.with_structured_output(Person, method="json_mode")
    assert json_mode.invoke("Who is she? Answer in JSON.") == Person(name="Ada", age=36)
    assert openai_server.chat_requests[-1]["response_format"] == {"type": "json_object"}
    schema = llm.with_structured_output(Person, method="json_schema")
    assert schema.invoke("Who is she?") == Person(name="Ada", age=36)
    assert openai_server.chat_requests[-1]["response_format"]["type"] == "json_schema"
    openai_server.inject(Fault.truncated_json())
    with pytest.raises(Exception):  # noqa: B017 - the parser's exception type varies by method
        json_mode.invoke("Who is she? Answer in JSON.")


@pytest.mark.integration
def test_chat_openai_tools_and_streaming(openai_server: OpenAIServer) -> None:
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    openai_server.add_rule("2 + 3", [ToolCall("add", {"a": 2, "b": 3})])
    openai_server.add_rule("story", "once upon a time")
    llm = openai_server.chat_model(max_retries=0)
    msg = llm.bind_tools([add]).invoke("what is 2 + 3?")
    assert msg.tool_calls[0]["name"] == "add" and msg.tool_calls[0]["args"] == {"a": 2, "b": 3}
    assert openai_server.chat_requests[-1]["tools"][0]["function"]["name"] == "add"
    chunks = list(
        ChatOpenAI(
            base_url=openai_server.base_url, api_key="k", model="m", stream_usage=True
        ).stream("tell a story")
    )
    assert len(chunks) > 3
    merged = chunks[0]
    for c in chunks[1:]:
        merged = merged + c
    assert isinstance(merged, AIMessageChunk) and merged.content == "once upon a time"
    assert merged.usage_metadata is not None and merged.usage_metadata["output_tokens"] == 4
    streamed_tool = list(llm.bind_tools([add]).stream("2 + 3"))
    merged = streamed_tool[0]
    for c in streamed_tool[1:]:
        merged = merged + c
    assert merged.tool_calls[0]["args"] == {"a": 2, "b": 3}  # type: ignore[attr-defined]


@pytest.mark.integration
def test_langchain_openai_embeddings(openai_server: OpenAIServer) -> None:
    emb = OpenAIEmbeddings(
        base_url=openai_server.base_url,
        api_key=openai_server.api_key,
        model="text-embedding-3-small",
        dimensions=16,
        check_embedding_ctx_length=False,
    )
    assert emb.embed_query("hello world") == pytest.approx(fake_vector("hello world", 16), abs=1e-6)
