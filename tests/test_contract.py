"""The capability contract (memagents.base) and the adapters written once over it.

Everything here runs on the reference ``InMemoryMemory`` (no model, no folder) and on
``GraphMemory``, the first capability implementing the contract: the same adapters serve both.
"""

from __future__ import annotations

import asyncio
import logging
import operator
import threading
from pathlib import Path
from typing import Annotated, Any

import pytest
from langgraph.graph import START, MessagesState, StateGraph
from typing_extensions import TypedDict

from memagents.adapters import (
    Adaptable,
    MemoryRetriever,
    RecallNode,
    SaveNode,
    create_memory_tools,
)
from memagents.adapters.store import MemoryStore
from memagents.base import (
    AddOp,
    DeleteOp,
    GetOp,
    InMemoryMemory,
    Memory,
    SearchHits,
    SearchOp,
    check_ids,
)
from memagents.errors import ConfigError, InputError
from memagents.graphmem import GraphMemory
from memagents.models import StructuredLLM, Usage
from memagents.models.usage import track_usage
from memagents.testing import ScriptedChatModel


class Notes(InMemoryMemory, Adaptable):
    """The reference memory with the shared adapters mixed in."""


# ------------------------------------------------------------------------------ derived API
def test_memory_derives_every_method_from_batch() -> None:
    seen: list[list[Any]] = []

    class Spy(InMemoryMemory):
        def batch(self, ops):  # type: ignore[no-untyped-def]
            seen.append(list(ops))
            return super().batch(ops)

    memory = Spy()
    memory.add(["Ada was born in Velm."], ids=["a"])
    memory.search("Ada", k=1)
    memory.get("a")
    memory.delete(["a"])
    assert [type(ops[0]) for ops in seen] == [AddOp, SearchOp, GetOp, DeleteOp]
    assert seen[2][0].ids == ("a",)


async def test_async_twins_go_through_abatch() -> None:
    memory = InMemoryMemory()
    assert (await memory.aadd(["Bo lives in Tarn."], ids=["b"])).added == ["b"]
    assert (await memory.asearch("Where does Bo live?")).ids == ["b"]
    assert [h.id for h in await memory.aget(["b"])] == ["b"]
    assert (await memory.adelete("b")).deleted == ["b"]


def test_argument_checks_are_written_once() -> None:
    memory = InMemoryMemory()
    with pytest.raises(InputError, match="accepts: none"):
        memory.search("q", use_filter=True)
    with pytest.raises(InputError, match="positive integer"):
        memory.search("q", k=0)
    with pytest.raises(InputError, match="non-empty"):
        memory.search("   ")
    with pytest.raises(InputError, match="wrap a single text in a list"):
        memory.add("one text")
    with pytest.raises(InputError, match="one id per item"):
        memory.add(["a", "b"], ids=["x"])
    with pytest.raises(InputError, match="takes an id or a list of ids"):
        memory.get(None)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="must be strings"):
        memory.delete([3])  # type: ignore[list-item]
    assert check_ids("m0001", "get") == ("m0001",)  # one id, never its characters
    assert check_ids((i for i in ["a", "b"]), "get") == ("a", "b")


def test_graph_memory_is_a_memory_with_declared_options(tmp_path: Path) -> None:
    with GraphMemory.open(tmp_path, embeddings="hash") as memory:
        assert isinstance(memory, Memory)
        memory.add(["Ada lives in Velm."], ids=["a"], extract=False)  # no LLM: no triples
        results = memory.batch([
            SearchOp(query="Where does Ada live?", k=1, options={"use_filter": False}),
            GetOp(ids=("a", "nope")),
            DeleteOp(ids=("nope",)),
        ])
        assert isinstance(results[0], SearchHits) and results[0].ids == ["a"]
        assert [h.id for h in results[1]] == ["a"]
        assert results[2].unknown == ["nope"]
        with pytest.raises(InputError, match="accepts: preset, use_filter"):
            memory.search("q", rerank=True)


# ---------------------------------------------------------------------------------- adapters
def test_one_recall_node_serves_every_capability(tmp_path: Path) -> None:
    class State(MessagesState, total=False):
        documents: list
        notes: Annotated[list[str], operator.add]

    with GraphMemory.open(tmp_path, embeddings="hash") as graph:
        graph.add_triples([("Ada lives in Velm.", [("Ada", "lives in", "Velm")])], ids=["a"])
        notes = Notes()
        notes.add(["Ada lives in Velm."], ids=["a"])
        for memory in (graph, notes):
            node = memory.node(k=1)
            assert type(node) is RecallNode
            builder = StateGraph(State)
            builder.add_node("recall", node)
            builder.add_edge(START, "recall")
            out = builder.compile().invoke({"messages": [("user", "Where does Ada live?")]})
            assert [d.id for d in out["documents"]] == ["a"]
            assert out["documents"][0].metadata["source"] == "a"


def test_recall_node_surfaces_notes(caplog: pytest.LogCaptureFixture) -> None:
    class State(TypedDict, total=False):
        question: str
        documents: list
        notes: Annotated[list[str], operator.add]

    builder = StateGraph(State)
    builder.add_node("recall", RecallNode(InMemoryMemory(), namespace="users/{user_id}"))
    builder.add_edge(START, "recall")
    with caplog.at_level(logging.WARNING, logger="memagents"):
        out = builder.compile().invoke({"question": "Where?"},
                                       {"configurable": {"user_id": "alice"}})
    assert out["documents"] == [] and out["notes"] == ["namespace 'users/alice' holds no items"]
    assert "users/alice" in caplog.text


async def test_save_node_and_tools_work_on_any_memory() -> None:
    memory = Notes()
    out = await SaveNode(memory, output_key="saved").ainvoke(
        {"messages": [("user", "hi"), ("ai", "Bo likes tea.")]})
    assert [h.text for h in memory.get(out["saved"])] == ["Bo likes tea."]
    search, save = create_memory_tools(memory, k=1)
    assert "Bo likes tea." in await search.ainvoke({"query": "What does Bo like?"})
    assert save.invoke({"text": "Cy likes coffee."}).startswith("Saved to memory")


def test_retriever_passes_capability_options(tmp_path: Path) -> None:
    calls: list[dict[str, Any]] = []

    class Recording(InMemoryMemory):
        search_options = frozenset({"mode"})

        def batch(self, ops):  # type: ignore[no-untyped-def]
            calls.extend(dict(op.options) for op in ops if isinstance(op, SearchOp))
            return super().batch([SearchOp(query=o.query, k=o.k, namespace=o.namespace)
                                  if isinstance(o, SearchOp) else o for o in ops])

    memory = Recording()
    memory.add(["Ada lives in Velm."])
    docs = MemoryRetriever(memory=memory, k=1, search_options={"mode": "x"}).invoke("Ada")
    assert [d.page_content for d in docs] == ["Ada lives in Velm."]
    assert calls == [{"mode": "x"}]


def test_store_adapter_needs_a_folder() -> None:
    with pytest.raises(ConfigError, match="open the memory in a folder"):
        MemoryStore(InMemoryMemory())


# ------------------------------------------------------------------------ models and usage
def test_structured_llm_coerce_is_the_one_model_path() -> None:
    chat = ScriptedChatModel(default="hi")
    llm = StructuredLLM.coerce(chat)
    assert StructuredLLM.coerce(llm) is llm and llm.configured
    shared = Usage()
    sibling = StructuredLLM.coerce(llm, usage=shared)
    assert sibling is not llm and sibling.usage is shared and sibling.model is llm.model
    assert not StructuredLLM.coerce(None).configured
    with pytest.raises(ConfigError, match="the filter needs a chat model"):
        StructuredLLM.coerce(None, require="the filter")
    with pytest.raises(InputError, match="spec string"):
        StructuredLLM.coerce(42)


def test_usage_scopes_count_each_call_alone_across_threads_and_tasks() -> None:
    shared = Usage()
    counts: dict[str, int] = {}

    def worker(name: str, n: int) -> None:
        with track_usage() as mine:
            for _ in range(n):
                shared.record_llm(prompt_tokens=1)
        counts[name] = mine.llm_calls

    threads = [threading.Thread(target=worker, args=(f"t{n}", n)) for n in (3, 5, 7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    async def task(n: int) -> int:
        with track_usage() as mine:
            for _ in range(n):
                await asyncio.to_thread(shared.record_embedding, texts=1)
                await asyncio.sleep(0)
        return mine.embedding_calls

    async def both() -> list[int]:
        return await asyncio.gather(task(2), task(4))

    assert counts == {"t3": 3, "t5": 5, "t7": 7}
    assert asyncio.run(both()) == [2, 4]
    assert shared.llm_calls == 15 and shared.embedding_calls == 6
