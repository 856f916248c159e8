"""ScriptedChatModel and FakeEmbeddings, the in-process doubles, plus langchain standard suites."""

from __future__ import annotations

import asyncio
import math
import operator
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any

import pytest
from langchain_core.exceptions import OutputParserException
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import ChatModelUnitTests
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from pydantic import BaseModel
from typing_extensions import TypedDict

from memagents.errors import EmbeddingError
from memagents.testing import (
    FakeEmbeddings,
    Reply,
    ScriptedChatModel,
    ToolCall,
    UnscriptedCallError,
    fake_vector,
)


class Answer(BaseModel):
    answer: str
    confidence: float


# -- ScriptedChatModel -----------------------------------------------------------------------
def test_rules_in_order_with_all_match_kinds() -> None:
    llm = ScriptedChatModel(
        rules=[
            (lambda msgs: len(msgs) > 1, "many messages"),
            (re.compile(r"^capital", re.MULTILINE), "Paris"),
            ("capital", "shadowed"),
            ("json", {"a": 1}),
            ("message", AIMessage(content="scripted message")),
            ("echo", lambda msgs: msgs[-1].content.upper()),
        ]
    )
    assert llm.invoke("capital of France").content == "Paris"
    assert llm.invoke("the capital").content == "shadowed"
    assert llm.invoke("json").content == '{"a": 1}'
    assert llm.invoke("message").content == "scripted message"
    assert llm.invoke("echo this").content == "ECHO THIS"
    assert llm.invoke([HumanMessage("a"), HumanMessage("b")]).content == "many messages"
    assert len(llm.calls) == 6 and isinstance(llm.calls[0][0], BaseMessage)


def test_responses_queue_then_rules_then_default() -> None:
    llm = ScriptedChatModel(responses=["first", "second"], rules=[("x", "rule")], default="dflt")
    assert [llm.invoke("x").content for _ in range(4)] == ["first", "second", "rule", "rule"]
    assert llm.invoke("y").content == "dflt"
    llm.add_rule("y", "added")
    assert llm.invoke("y").content == "added"


def test_unscripted_prompt_raises_with_prompt_and_hint() -> None:
    llm = ScriptedChatModel(rules=[("known", "ok")])
    with pytest.raises(UnscriptedCallError) as info:
        llm.invoke([HumanMessage("What is the meaning of life?")])
    message = str(info.value)
    assert isinstance(info.value, AssertionError)
    assert "[human] What is the meaning of life?" in message
    assert "call #1" in message and "add_rule" in message


def test_usage_metadata_and_logprobs() -> None:
    llm = ScriptedChatModel(responses=[Reply("Yes it is", logprobs=[-0.1, -0.2, -0.3]), "plain"])
    msg = llm.invoke("is it raining today")
    assert msg.usage_metadata == {"input_tokens": 4, "output_tokens": 3, "total_tokens": 7}
    content = msg.response_metadata["logprobs"]["content"]
    assert [(c["token"], c["logprob"]) for c in content] == [
        ("Yes", -0.1),
        (" it", -0.2),
        (" is", -0.3),
    ]
    plain = llm.invoke("x")
    assert "logprobs" not in plain.response_metadata
    assert plain.response_metadata["finish_reason"] == "stop"


def test_scripted_ai_message_is_not_shared() -> None:
    scripted = AIMessage(content="same")
    llm = ScriptedChatModel(default=scripted)
    first, second = llm.invoke("a"), llm.invoke("b")
    assert first is not scripted and first.content == second.content == "same"
    assert scripted.usage_metadata is None and first.usage_metadata is not None


def test_bind_tools_and_tool_call_replies() -> None:
    def search(query: str) -> str:
        """Search the memory."""
        return query

    llm = ScriptedChatModel(
        rules=[("find", [ToolCall("search", {"query": "Acme"})])], default="no tool"
    )
    bound = llm.bind_tools([search], tool_choice="auto")
    msg = bound.invoke("find Acme")
    assert msg.tool_calls == [
        {"name": "search", "args": {"query": "Acme"}, "id": "call_1_0", "type": "tool_call"}
    ]
    assert msg.response_metadata["finish_reason"] == "tool_calls"
    assert llm.call_kwargs[0]["tools"][0]["function"]["name"] == "search"
    assert llm.call_kwargs[0]["tool_choice"] == "auto"


@pytest.mark.parametrize("method", ["json_schema", "json_mode", "function_calling"])
def test_with_structured_output(method: str) -> None:
    llm = ScriptedChatModel(default={"answer": "Paris", "confidence": 0.9})
    structured = llm.with_structured_output(Answer, method=method)
    assert structured.invoke("capital?") == Answer(answer="Paris", confidence=0.9)
    as_dict = llm.with_structured_output(Answer.model_json_schema(), method=method)
    assert as_dict.invoke("capital?") == {"answer": "Paris", "confidence": 0.9}


def test_structured_output_errors_surface() -> None:
    llm = ScriptedChatModel(responses=['{"answer": "Par', '{"wrong": 1}', '{"answer": "P'])
    structured = llm.with_structured_output(Answer)
    with pytest.raises(OutputParserException):
        structured.invoke("q")
    with pytest.raises(OutputParserException):
        structured.invoke("q")
    raw = llm.with_structured_output(Answer, include_raw=True).invoke("q")
    assert raw["parsed"] is None and raw["parsing_error"] is not None
    assert isinstance(raw["raw"], AIMessage)
    assert llm.call_kwargs[0]["response_format"]["type"] == "json_schema"


async def test_async_and_streaming() -> None:
    llm = ScriptedChatModel(
        rules=[("story", "once upon a time"), ("tool", [ToolCall("f", {"x": 1})])]
    )
    assert (await llm.ainvoke("story")).content == "once upon a time"
    chunks = list(llm.stream("story"))
    assert [c.content for c in chunks[:4]] == ["once", " upon", " a", " time"]
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk
    assert isinstance(merged, AIMessageChunk) and merged.usage_metadata is not None
    achunks = [c async for c in llm.astream("tool")]
    merged = achunks[0]
    for chunk in achunks[1:]:
        merged = merged + chunk
    assert merged.tool_calls[0]["args"] == {"x": 1}  # type: ignore[attr-defined]
    results = await asyncio.gather(*(llm.ainvoke("story") for _ in range(5)))
    assert {r.content for r in results} == {"once upon a time"}


def test_thread_safe_queue() -> None:
    llm = ScriptedChatModel(responses=[str(i) for i in range(50)])
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda _: llm.invoke("x").content, range(50)))
    assert sorted(got, key=int) == [str(i) for i in range(50)] and len(llm.calls) == 50


class State(TypedDict):
    messages: Annotated[list[Any], add_messages]
    notes: Annotated[list[str], operator.add]


def test_inside_langgraph_nodes() -> None:
    llm = ScriptedChatModel(rules=[("step one", "done"), ("plan", "step one")])

    def planner(state: State) -> dict[str, Any]:
        return {"messages": [llm.invoke(state["messages"][-1].content)]}

    def executor(state: State) -> dict[str, Any]:
        return {"messages": [llm.invoke(state["messages"])], "notes": ["executed"]}

    builder = StateGraph(State)
    builder.add_node("planner", planner)
    builder.add_node("executor", executor)
    builder.add_edge(START, "planner")
    builder.add_edge("planner", "executor")
    builder.add_edge("executor", END)
    graph = builder.compile()
    out = graph.invoke({"messages": [HumanMessage("make a plan")], "notes": []})
    assert [m.content for m in out["messages"]] == ["make a plan", "step one", "done"]
    streamed = [
        chunk
        for chunk, _ in graph.stream(
            {"messages": [HumanMessage("make a plan")], "notes": []}, stream_mode="messages"
        )
    ]
    assert "".join(str(c.content) for c in streamed) == "step onedone"


class TestScriptedChatModelStandard(ChatModelUnitTests):
    """langchain-tests' standard unit suite for chat models."""

    @property
    def chat_model_class(self) -> type[ScriptedChatModel]:
        return ScriptedChatModel

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"default": "ok"}


# -- FakeEmbeddings --------------------------------------------------------------------------
def test_fake_embeddings_deterministic_normalised_and_counted() -> None:
    emb = FakeEmbeddings(size=32)
    docs = emb.embed_documents(["Alice founded Acme", "Bob likes tea", "alice acme founded"])
    assert all(len(v) == 32 and math.isclose(sum(x * x for x in v), 1.0) for v in docs)
    assert docs[0] == docs[2] == fake_vector("Alice founded Acme", 32)
    query = emb.embed_query("Who founded Acme?")
    score = [sum(a * b for a, b in zip(query, d)) for d in docs]
    assert score[0] > score[1]
    assert (emb.calls, emb.texts_embedded) == (2, 4)
    assert emb.inputs == [
        ["Alice founded Acme", "Bob likes tea", "alice acme founded"],
        ["Who founded Acme?"],
    ]
    assert fake_vector("", 8) == fake_vector("", 8) and len(fake_vector("!!", 8)) == 8
    emb.reset()
    assert emb.calls == 0 and emb.inputs == []


async def test_fake_embeddings_fail_on_and_async() -> None:
    emb = FakeEmbeddings(fail_on=lambda t: "bad" in t)
    with pytest.raises(EmbeddingError, match="fail_on"):
        emb.embed_documents(["good", "bad"])
    assert emb.calls == 1
    custom = FakeEmbeddings(fail_on=lambda t: True, error=TimeoutError("provider timeout"))
    with pytest.raises(TimeoutError, match="provider timeout"):
        await custom.aembed_query("x")
    assert await emb.aembed_documents(["good"]) == [fake_vector("good", 64)]
    with pytest.raises(ValueError):
        FakeEmbeddings(size=0)


class TestFakeEmbeddingsStandard(EmbeddingsIntegrationTests):
    """langchain-tests' standard suite for embeddings (offline with the fake)."""

    @property
    def embeddings_class(self) -> type[FakeEmbeddings]:
        return FakeEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"size": 16}
