"""GraphMemory through LangGraph nodes, a langchain retriever and agent tools (offline)."""

from __future__ import annotations

import operator
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import pytest
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from typing_extensions import TypedDict

from memagents.adapters import MemoryRetriever, RecallNode, SaveNode, recall_node, save_node
from memagents.adapters.tools import create_memory_tools
from memagents.errors import ConfigError, InputError, NamespaceError
from memagents.graphmem import GraphMemory
from memagents.testing import ScriptedChatModel, ToolCall

QUESTION = "Where was the founder of Quillmere Press born?"
DEFAULT = [
    (
        "Oskar Thandrell founded Quillmere Press.",
        [("Oskar Thandrell", "founded", "Quillmere Press")],
    ),
    ("Oskar Thandrell was born in Velmora.", [("Oskar Thandrell", "born in", "Velmora")]),
    ("Velmora is a port city on the Ansel coast.", [("Velmora", "located on", "Ansel coast")]),
    ("Mira Tolland painted the Harbor Series.", [("Mira Tolland", "painted", "Harbor Series")]),
]
ADA = [
    ("Ada Korvin keeps bees in her garden.", [("Ada Korvin", "keeps", "bees")]),
    ("Ada Korvin plays the cello.", [("Ada Korvin", "plays", "cello")]),
]
BO = [
    ("Bo Tarrant collects old maps.", [("Bo Tarrant", "collects", "old maps")]),
    ("Bo Tarrant plays chess on Sundays.", [("Bo Tarrant", "plays", "chess")]),
]
HOBBY = "What hobbies does the user have?"
EXTRACTION = '{"entities": ["Lio Brant", "Sarn"], "triples": [["Lio Brant", "moved to", "Sarn"]]}'


class QState(TypedDict, total=False):
    question: str
    documents: list[Document]


class RecallMessages(MessagesState):
    documents: list[Document]


@dataclass
class UserContext:
    user_id: str


@dataclass
class NamespaceContext:
    namespace: str


@pytest.fixture
def memory(tmp_path: Path) -> Iterator[GraphMemory]:
    with GraphMemory.open(tmp_path / "mem", embeddings="hash") as mem:
        mem.add_triples(DEFAULT, ids=["oskar-founded", "oskar-born", "velmora", "mira"])
        mem.add_triples(ADA, ids=["ada-1", "ada-2"], namespace="users/ada")
        mem.add_triples(BO, ids=["bo-1", "bo-2"], namespace="users/bo")
        yield mem


@pytest.fixture
def llm_memory(tmp_path: Path) -> Iterator[GraphMemory]:
    llm = ScriptedChatModel(default=EXTRACTION)
    with GraphMemory.open(tmp_path / "llm", embeddings="hash", llm=llm, use_filter=False) as mem:
        yield mem


@pytest.fixture
def calls(memory: GraphMemory, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, Any]]:
    """Record (method, query, namespace) of every search and asearch on ``memory``."""
    seen: list[tuple[str, str, Any]] = []
    search, asearch = memory.search, memory.asearch

    def spy(query: str, k: int = 5, **kw: Any) -> Any:
        seen.append(("search", query, kw.get("namespace")))
        return search(query, k, **kw)

    async def aspy(query: str, k: int = 5, **kw: Any) -> Any:
        seen.append(("asearch", query, kw.get("namespace")))
        return await asearch(query, k, **kw)

    monkeypatch.setattr(memory, "search", spy)
    monkeypatch.setattr(memory, "asearch", aspy)
    return seen


def _qgraph(node: Any, context_schema: Any = None) -> Any:
    builder = StateGraph(QState, context_schema=context_schema)
    builder.add_node("recall", node)
    builder.add_edge(START, "recall")
    builder.add_edge("recall", END)
    return builder.compile()


def _ids(docs: list[Document]) -> set[str]:
    return {d.id for d in docs if d.id}


# ------------------------------------------------------------------------------------ nodes
def test_node_in_graph_sync_returns_ranked_documents(memory: GraphMemory, calls: list[Any]) -> None:
    out = _qgraph(memory.node(k=2)).invoke({"question": QUESTION})
    docs = out["documents"]
    assert len(docs) == 2 and all(isinstance(d, Document) for d in docs)
    assert _ids(docs) == {"oskar-founded", "oskar-born"}
    meta = docs[0].metadata["memagents"]
    assert meta["rank"] == 1 and meta["namespace"] == "default" and meta["score"] > 0
    assert [c[0] for c in calls] == ["search"]


async def test_node_in_graph_async_uses_asearch(memory: GraphMemory, calls: list[Any]) -> None:
    out = await _qgraph(recall_node(memory, k=2)).ainvoke({"question": QUESTION})
    assert _ids(out["documents"]) == {"oskar-founded", "oskar-born"}
    # asearch itself runs search in a worker thread: the node must enter through asearch
    assert calls[0][0] == "asearch", "ainvoke must take the native async path"


@pytest.mark.parametrize("user", ["ada", "bo"])
def test_namespace_from_configurable_does_not_leak(memory: GraphMemory, user: str) -> None:
    graph = _qgraph(memory.node(k=5))
    out = graph.invoke({"question": HOBBY}, {"configurable": {"namespace": f"users/{user}"}})
    assert _ids(out["documents"]) == {f"{user}-1", f"{user}-2"}


def test_namespace_template_filled_from_configurable(memory: GraphMemory) -> None:
    graph = _qgraph(memory.node(namespace="users/{langgraph_user_id}"))
    out = graph.invoke({"question": HOBBY}, {"configurable": {"langgraph_user_id": "bo"}})
    assert _ids(out["documents"]) == {"bo-1", "bo-2"}
    with pytest.raises(NamespaceError, match="langgraph_user_id"):
        graph.invoke({"question": HOBBY})


@pytest.mark.parametrize("use_async", [False, True])
async def test_namespace_from_context_schema(memory: GraphMemory, use_async: bool) -> None:
    by_user = _qgraph(memory.node(namespace="users/{user_id}"), context_schema=UserContext)
    by_ns = _qgraph(memory.node(), context_schema=NamespaceContext)
    for graph, ctx, want in (
        (by_user, UserContext(user_id="ada"), {"ada-1", "ada-2"}),
        (by_ns, NamespaceContext(namespace="users/bo"), {"bo-1", "bo-2"}),
    ):
        if use_async:
            out = await graph.ainvoke({"question": HOBBY}, context=ctx)
        else:
            out = graph.invoke({"question": HOBBY}, context=ctx)
        assert _ids(out["documents"]) == want


def test_explicit_namespace_beats_configurable(memory: GraphMemory) -> None:
    graph = _qgraph(memory.node(namespace="users/ada"))
    out = graph.invoke({"question": HOBBY}, {"configurable": {"namespace": "users/bo"}})
    assert _ids(out["documents"]) == {"ada-1", "ada-2"}


def test_node_reads_last_human_message(memory: GraphMemory, calls: list[Any]) -> None:
    builder = StateGraph(RecallMessages)
    builder.add_node("recall", memory.node(k=1))
    builder.add_edge(START, "recall")
    graph = builder.compile()
    messages = [
        HumanMessage("Who painted the Harbor Series?"),
        AIMessage("Mira Tolland."),
        HumanMessage([{"type": "text", "text": QUESTION}]),
    ]
    out = graph.invoke({"messages": messages})
    assert calls[-1][1] == QUESTION
    assert len(out["documents"]) == 1 and out["documents"][0].id in {"oskar-born", "oskar-founded"}
    assert len(out["messages"]) == 3  # the node only writes its output key


def test_node_query_key_and_missing_question(memory: GraphMemory) -> None:
    node = RecallNode(memory, k=1, query_key="q", output_key="hits")
    out = node.invoke({"q": "Who painted the Harbor Series?", "messages": [("user", "bees")]})
    assert set(out) <= {"hits", "notes"} and out["hits"][0].id == "mira"
    with pytest.raises(InputError, match="no question"):
        node.invoke({"messages": [("ai", "Hello!")]})
    with pytest.raises(InputError, match="must be a string"):
        node.invoke({"q": 42})
    with pytest.raises(InputError, match="positive integer"):
        RecallNode(memory, k=0)


def test_save_node_stores_last_ai_message_then_search_finds_it(llm_memory: GraphMemory) -> None:
    builder = StateGraph(RecallMessages)
    builder.add_node("remember", save_node(llm_memory, namespace="users/{user_id}"))
    builder.add_edge(START, "remember")
    graph = builder.compile()
    messages = [HumanMessage("Where did Lio go?"), AIMessage("Lio Brant moved to Sarn.")]
    graph.invoke({"messages": messages}, {"configurable": {"user_id": "lio"}})
    hits = llm_memory.search("Where did Lio Brant move?", k=1, namespace="users/lio")
    assert [h.text for h in hits] == ["Lio Brant moved to Sarn."]
    assert llm_memory.search("Lio", k=1).notes  # the default namespace stayed empty


async def test_save_node_async_text_key(llm_memory: GraphMemory) -> None:
    node = SaveNode(llm_memory, text_key="notes", output_key="saved")
    out = await node.ainvoke({"notes": ["Lio Brant moved to Sarn."]})
    assert [h.text for h in llm_memory.get(out["saved"])] == ["Lio Brant moved to Sarn."]
    with pytest.raises(InputError, match="nothing to store"):
        await node.ainvoke({"notes": []})
    assert SaveNode(llm_memory, output_key="saved").invoke({"messages": []}) == {"saved": []}


def test_save_node_without_llm_raises_config_error(memory: GraphMemory) -> None:
    with pytest.raises(ConfigError, match="chat model"):
        save_node(memory).invoke({"messages": [("ai", "Something to keep.")]})


# -------------------------------------------------------------------------------- retriever
def test_retriever_k_from_constructor_and_invoke(memory: GraphMemory) -> None:
    retriever = memory.as_retriever(k=3)
    assert isinstance(retriever, MemoryRetriever)
    assert len(retriever.invoke(QUESTION)) == 3
    docs = retriever.invoke(QUESTION, k=1)
    assert len(docs) == 1 and docs[0].id in {"oskar-born", "oskar-founded"}
    assert retriever.k == 3  # a per-call k does not stick
    with pytest.raises(InputError):
        retriever.invoke(QUESTION, k=0)
    with pytest.raises(ValueError):
        MemoryRetriever(memory=memory, k=0)


async def test_retriever_async_and_namespaces(memory: GraphMemory, calls: list[Any]) -> None:
    retriever = MemoryRetriever(memory=memory, k=5)
    docs = await retriever.ainvoke(HOBBY, {"configurable": {"namespace": "users/ada"}})
    assert _ids(docs) == {"ada-1", "ada-2"} and calls[0][0] == "asearch"
    fixed = MemoryRetriever(memory=memory, namespace="users/{who}")
    assert _ids(fixed.invoke(HOBBY, {"configurable": {"who": "bo"}})) == {"bo-1", "bo-2"}
    assert _ids(retriever.invoke(HOBBY, namespace="users/bo")) == {"bo-1", "bo-2"}
    assert _ids(
        retriever.batch([HOBBY, HOBBY], {"configurable": {"namespace": "users/bo"}})[0]
    ) == {"bo-1", "bo-2"}


def test_retriever_documents_are_fresh(memory: GraphMemory) -> None:
    retriever = memory.as_retriever(k=2)
    first = retriever.invoke(QUESTION)
    first[0].metadata["memagents"]["rank"] = 99
    first[0].page_content = "changed"
    second = retriever.invoke(QUESTION)
    assert second[0].metadata["memagents"]["rank"] == 1 and second[0].page_content != "changed"


# ------------------------------------------------------------------------------------ tools
def test_search_tool_direct_sync_and_async(memory: GraphMemory) -> None:
    search, save = memory.as_tools(k=2)
    assert (search.name, save.name) == ("search_memory", "save_memory")
    schema = search.tool_call_schema.model_json_schema()
    assert set(schema["properties"]) == {"query", "k"} and schema["required"] == ["query"]
    assert schema["properties"]["k"]["default"] == 2 and "config" not in schema["properties"]
    text = search.invoke({"query": QUESTION})
    assert text.count("] id=") == 2 and "id=oskar-born" in text and "born in Velmora" in text
    assert search.invoke({"query": QUESTION, "k": 1}).count("] id=") == 1
    assert "must be a non-empty string" in search.invoke({"query": "  "})
    assert "Invalid arguments" in search.invoke({"query": QUESTION, "k": 0})
    none = search.invoke({"query": HOBBY}, {"configurable": {"namespace": "users/nobody"}})
    assert none.startswith("No memories found")


async def test_search_tool_async_namespace_from_config(memory: GraphMemory) -> None:
    (search,) = create_memory_tools(memory, include=["search"])
    text = await search.ainvoke({"query": HOBBY}, {"configurable": {"namespace": "users/ada"}})
    assert "id=ada-1" in text and "id=ada-2" in text and "bo-" not in text and "oskar" not in text


def _agent_graph(tools: list[Any], llm: ScriptedChatModel) -> Any:
    bound = llm.bind_tools(tools)

    def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [bound.invoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_node("tools", ToolNode(tools))
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition)
    builder.add_edge("tools", "agent")
    return builder.compile()


def test_tools_through_toolnode_with_scripted_agent(memory: GraphMemory) -> None:
    llm = ScriptedChatModel(
        responses=[
            [
                ToolCall("search_memory", {"query": HOBBY, "k": 2}, id="c1"),
                ToolCall("save_memory", {"text": "Ada Korvin sings."}, id="c2"),
            ],
            "Ada keeps bees and plays the cello.",
        ]
    )
    graph = _agent_graph(memory.as_tools(), llm)
    out = graph.invoke(
        {"messages": [HumanMessage("What do I like?")]},
        {"configurable": {"namespace": "users/ada"}},
    )
    found, saved = [m for m in out["messages"] if isinstance(m, ToolMessage)]
    assert found.tool_call_id == "c1" and "id=ada-1" in found.content and "bo-" not in found.content
    assert saved.status == "error" and "no chat model" in saved.content
    assert out["messages"][-1].content == "Ada keeps bees and plays the cello."


async def test_save_tool_with_extractor_then_search_finds_it(llm_memory: GraphMemory) -> None:
    search, save = create_memory_tools(llm_memory, namespace="users/{user_id}")
    config = {"configurable": {"user_id": "lio"}}
    reply = save.invoke({"text": "Lio Brant moved to Sarn."}, config)
    assert reply.startswith("Saved to memory (id=p-") and "'users/lio'" in reply
    again = await save.ainvoke({"text": "Lio Brant moved to Sarn."}, config)
    assert again.startswith("Already in memory")
    found = await search.ainvoke({"query": "Where did Lio Brant move?"}, config)
    assert "Lio Brant moved to Sarn." in found
    assert "No memories found" in search.invoke(
        {"query": "Lio"}, {"configurable": {"user_id": "x"}}
    )


def test_save_tool_without_llm_returns_readable_error(memory: GraphMemory) -> None:
    save = memory.as_tools(include=["save"])[0]
    reply = save.invoke({"text": "Remember that I like tea."})
    assert isinstance(reply, str) and reply.startswith("Could not save to memory")
    assert "GraphMemory.open" in reply  # the developer hint survives
    message = save.invoke(
        {"name": "save_memory", "args": {"text": "tea"}, "id": "t1", "type": "tool_call"}
    )
    assert isinstance(message, ToolMessage) and message.status == "error"
    with pytest.raises(ConfigError):
        create_memory_tools(memory, include=["search", "nap"])


def test_parallel_nodes_share_one_memory(memory: GraphMemory) -> None:
    class FanState(TypedDict, total=False):
        question: str
        documents: Annotated[list[Document], operator.add]

    builder = StateGraph(FanState)
    for name, ns in (("ada", "users/ada"), ("bo", "users/bo"), ("all", None)):
        builder.add_node(name, memory.node(k=5, namespace=ns, name=name))
        builder.add_edge(START, name)
    out = builder.compile().invoke({"question": HOBBY})
    assert _ids(out["documents"]) == {"ada-1", "ada-2", "bo-1", "bo-2"} | {
        "oskar-founded",
        "oskar-born",
        "velmora",
        "mira",
    }
