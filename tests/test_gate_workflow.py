"""The gate's LangGraph nodes and the compiled adaptive-RAG workflow, on scripted models.

Prompts are told apart by their registered instructions: Adapt-LLM's parametric prompt ("If you
need help answer <RET>"), the context prompt ("given the context C") and the closed-book prompt
("Reply with the answer only").
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.graph import END, START, StateGraph
from pydantic import Field

from memagents.errors import InputError, NamespaceError
from memagents.gate.answering import Answerer
from memagents.gate.base import Decision, RetrievalPolicy
from memagents.gate.conflict import ConflictPolicy
from memagents.gate.gate import RetrievalGate
from memagents.gate.nodes import (
    answer_node,
    gate_node,
    make_router,
    retrieve_node,
    route_after_gate,
)
from memagents.gate.workflow import AdaptiveRAGContext, AdaptiveRAGState, build_adaptive_rag
from memagents.graphmem import GraphMemory
from memagents.sample import SampleWorld
from memagents.testing import OpenAIServer, ScriptedChatModel

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "adaptive_rag.py"
QUESTION = "Where is Hollin Bay?"
SUPPORT = Document("Hollin Bay lies in Quillmere.", id="p7")
NOISE = [Document(f"Tarn {i} is a village.", id=f"n{i}") for i in range(9)]
ADAPT = "If you need help"
CONTEXT = "given the context"
CLOSED = "Reply with the answer only"


class Docs(BaseRetriever):
    """A retriever returning fixed documents (first ``k``) and recording each call."""

    docs: list[Document]
    calls: list[tuple[str, int | None]] = Field(default_factory=list)

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, k: int | None = None
    ) -> list[Document]:
        self.calls.append((query, k))
        return self.docs[: k or 4]


class Fixed(RetrievalPolicy):
    """A policy with a fixed decision and closed-book answer."""

    name = "fixed"

    def __init__(self, retrieve: bool, answer: str | None = None) -> None:
        self.retrieve, self.answer = retrieve, answer

    def decide(self, question: str, *, metadata: Any = None) -> Decision:
        return Decision(retrieve=self.retrieve, policy=self.name, reason="scripted",
                        answer=self.answer)


def reader(messages: list[Any]) -> dict[str, Any]:
    """The context prompt: supported 'Quillmere' iff the support passage is in the context."""
    text = "\n".join(str(m.content) for m in messages)
    if SUPPORT.page_content in text:
        return {"answer": "Quillmere", "supported": True}
    return {"answer": "Tarn", "supported": False}


def model(**rules: Any) -> ScriptedChatModel:
    return ScriptedChatModel(rules=[(CONTEXT, reader), *rules.get("extra", [])])


def prompts(llm: ScriptedChatModel, marker: str) -> int:
    return sum(any(marker in str(m.content) for m in call) for call in llm.calls)


# ------------------------------------------------------------------------------ routing
def test_fast_path_answers_closed_book_without_retrieving() -> None:
    llm = model(extra=[(ADAPT, "Velmora")])
    docs = Docs(docs=[SUPPORT])
    out = build_adaptive_rag(llm, docs).invoke({"question": QUESTION})
    assert docs.calls == [], "the retriever is never called on the fast path"
    assert out["decision"]["retrieve"] is False and out["decision"]["policy"] == "adapt-llm"
    assert (out["answer"], out["answer_source"], out["conflict"]) == ("Velmora", "parametric",
                                                                      False)
    assert len(llm.calls) == 1, "the gate's own answer is reused: one model call in all"
    assert out.get("documents") is None and out["resolution"] is None


def test_retrieval_path_with_agreeing_evidence() -> None:
    llm = model()
    docs = Docs(docs=[SUPPORT, NOISE[0]])
    graph = build_adaptive_rag(llm, docs, gate=RetrievalGate(Fixed(True, "Quillmere")))
    out = graph.invoke({"question": QUESTION})
    assert docs.calls == [(QUESTION, 3)]
    assert [d.metadata["source"] for d in out["documents"]] == ["p7", "n0"]
    assert (out["answer"], out["answer_source"], out["conflict"]) == ("Quillmere", "evidence",
                                                                      False)
    assert out["resolution"]["parametric_answer"] == "Quillmere"
    assert [e["source"] for e in out["resolution"]["supporting"]] == ["p7"]
    serde = JsonPlusSerializer()
    assert serde.loads_typed(serde.dumps_typed(out)) == out, "the state is checkpoint-friendly"
    assert json.loads(json.dumps({k: v for k, v in out.items() if k != "documents"})) == {
        k: v for k, v in out.items() if k != "documents"}, "all else is plain JSON"


def test_adapt_llm_ret_token_retrieves_and_answers_from_evidence() -> None:
    llm = model(extra=[(ADAPT, "<RET>")])
    docs = Docs(docs=[SUPPORT])
    out = build_adaptive_rag(llm, docs).invoke({"question": QUESTION})
    assert out["decision"]["retrieve"] is True and out["parametric_answer"] is None
    assert (out["answer"], out["answer_source"], out["conflict"]) == ("Quillmere", "evidence",
                                                                      False)
    assert prompts(llm, ADAPT) == 1 and prompts(llm, CONTEXT) == 1


@pytest.mark.parametrize(("prefer_evidence", "answer", "source"),
                         [(True, "Quillmere", "evidence"), (False, "Velmora", "parametric")])
def test_conflicting_evidence_is_surfaced_and_resolved_by_policy(
    prefer_evidence: bool, answer: str, source: str
) -> None:
    graph = build_adaptive_rag(
        model(), Docs(docs=[SUPPORT]), gate=RetrievalGate(Fixed(True, "Velmora")),
        conflict_policy=ConflictPolicy(prefer_evidence_when_supported=prefer_evidence),
    )
    out = graph.invoke({"question": QUESTION})
    assert out["conflict"] is True
    assert (out["answer"], out["answer_source"]) == (answer, source)
    resolution = out["resolution"]
    assert (resolution["parametric_answer"], resolution["evidence_answer"]) == ("Velmora",
                                                                                "Quillmere")
    assert "conflict" in resolution["reason"] and resolution["supporting"][0]["source"] == "p7"


def test_evidence_lacking_the_answer_keeps_the_parametric_answer() -> None:
    llm = model()
    graph = build_adaptive_rag(llm, Docs(docs=NOISE[:3]), gate=RetrievalGate(Fixed(True, "Velmora")))
    out = graph.invoke({"question": QUESTION})
    assert (out["answer"], out["answer_source"], out["conflict"]) == ("Velmora", "parametric",
                                                                      True)
    assert out["resolution"]["evidence_answer"] == "Tarn"
    assert out["resolution"]["evidence_supported"] is False
    assert out["retrievals"] == 1, "no loop without ask_more_when_unsupported"


@pytest.mark.parametrize("max_retrievals", [1, 2, 3])
def test_need_more_retrieval_loop_is_bounded(max_retrievals: int) -> None:
    llm = model()
    docs = Docs(docs=NOISE)
    graph = build_adaptive_rag(
        llm, docs, gate=RetrievalGate(Fixed(True, "Velmora")), k=2,
        conflict_policy=ConflictPolicy(ask_more_when_unsupported=True),
        max_retrievals=max_retrievals,
    )
    out = graph.invoke({"question": QUESTION})
    assert [k for _, k in docs.calls] == [2 * n for n in range(1, max_retrievals + 1)]
    assert out["retrievals"] == max_retrievals and out["retrieval_k"] == 2 * max_retrievals
    assert (out["answer"], out["answer_source"]) == ("Velmora", "parametric"), (
        "the last round must answer, not ask for more")
    assert prompts(llm, CONTEXT) == max_retrievals


def test_second_round_with_larger_k_finds_the_support() -> None:
    docs = Docs(docs=[*NOISE[:3], SUPPORT])
    graph = build_adaptive_rag(
        model(), docs, gate=RetrievalGate(Fixed(True, None)), k=3,
        conflict_policy=ConflictPolicy(ask_more_when_unsupported=True), max_retrievals=3,
    )
    out = graph.invoke({"question": QUESTION})
    assert [k for _, k in docs.calls] == [3, 6]
    assert (out["answer"], out["answer_source"], out["retrievals"]) == ("Quillmere", "evidence", 2)


def test_context_k_reaches_the_retrieve_node() -> None:
    docs = Docs(docs=[SUPPORT, *NOISE])
    graph = build_adaptive_rag(model(), docs, gate=RetrievalGate(Fixed(True)), k=3)
    out = graph.invoke({"question": QUESTION}, context=AdaptiveRAGContext(k=1))
    assert docs.calls == [(QUESTION, 1)] and len(out["documents"]) == 1
    assert out["retrieval_k"] == 1
    graph.invoke({"question": QUESTION})
    assert docs.calls[-1] == (QUESTION, 3), "without context the graph's k applies"
    with pytest.raises(InputError, match="positive integer"):
        AdaptiveRAGContext(k=0)


def test_context_user_id_selects_the_graph_memory_namespace_through_a_template(
    tmp_path: Path,
) -> None:
    with GraphMemory.open(tmp_path / "mem", embeddings="hash") as memory:
        memory.add_triples([("Hollin Bay lies in Quillmere.",
                             [("Hollin Bay", "lies in", "Quillmere")])], namespace="users/ada")
        memory.add_triples([("Hollin Bay lies in Tarn.", [("Hollin Bay", "lies in", "Tarn")])],
                           namespace="users/bo")
        graph = build_adaptive_rag(model(), memory, gate=RetrievalGate(Fixed(True)),
                                   namespace="users/{user_id}")
        for user, text in (("ada", "Hollin Bay lies in Quillmere."),
                           ("bo", "Hollin Bay lies in Tarn.")):
            out = graph.invoke({"question": QUESTION}, context=AdaptiveRAGContext(user_id=user))
            assert [d.page_content for d in out["documents"]] == [text]
            assert out["documents"][0].metadata["score"] is not None
        by_config = graph.invoke({"question": QUESTION}, {"configurable": {"user_id": "bo"}})
        assert [d.page_content for d in by_config["documents"]] == ["Hollin Bay lies in Tarn."]
        with pytest.raises(NamespaceError, match="user_id"):
            graph.invoke({"question": QUESTION}, {"configurable": {"user_id": ""}})
        by_namespace = build_adaptive_rag(model(), memory, gate=RetrievalGate(Fixed(True)))
        out = by_namespace.invoke({"question": QUESTION},
                                  context=AdaptiveRAGContext(namespace="users/ada"))
        assert [d.page_content for d in out["documents"]] == ["Hollin Bay lies in Quillmere."]
        alone = by_namespace.invoke({"question": QUESTION}, context=AdaptiveRAGContext(user_id="bo"))
        assert alone["documents"] == [], "a user id alone is never a namespace"
        assert any("'default' holds no indexed passages" in n for n in alone["notes"])


def test_popularity_gate_reads_question_metadata() -> None:
    docs = Docs(docs=[SUPPORT])
    llm = model(extra=[(CLOSED, "Velmora")])
    graph = build_adaptive_rag(llm, docs, gate=RetrievalGate("popularity", threshold=100))
    popular = graph.invoke({"question": QUESTION, "metadata": {"s_pop": 5000}})
    assert (popular["answer"], popular["answer_source"]) == ("Velmora", "parametric")
    assert docs.calls == [] and prompts(llm, CLOSED) == 1, "closed-book answer when no gate answer"
    rare = graph.invoke({"question": QUESTION, "metadata": {"s_pop": 12}})
    assert rare["answer"] == "Quillmere" and len(docs.calls) == 1


def test_checkpointed_thread_clears_the_previous_turn() -> None:
    policy = Fixed(True, None)
    graph = build_adaptive_rag(model(), Docs(docs=[SUPPORT]), gate=RetrievalGate(policy),
                               checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t1"}}
    first = graph.invoke({"question": QUESTION}, config)
    assert first["documents"] and first["retrievals"] == 1
    policy.retrieve, policy.answer = False, "Velmora"
    second = graph.invoke({"question": "Where is Velm?"}, config)
    assert second["documents"] is None and second["retrievals"] is None
    assert (second["answer"], second["resolution"]) == ("Velmora", None)


async def test_ainvoke_runs_the_async_path() -> None:
    llm = model(extra=[(ADAPT, "<RET>")])
    docs = Docs(docs=[SUPPORT])
    out = await build_adaptive_rag(llm, docs).ainvoke(
        {"question": QUESTION}, context=AdaptiveRAGContext(k=2))
    assert (out["answer"], out["answer_source"]) == ("Quillmere", "evidence")
    assert docs.calls == [(QUESTION, 2)] and len(llm.calls) == 2


# ------------------------------------------------------------------------ nodes by hand
def test_router_with_custom_names_inside_a_hand_built_graph() -> None:
    builder = StateGraph(AdaptiveRAGState)
    builder.add_node("gate", gate_node(Fixed(False, "Velmora")))
    builder.add_node("search", retrieve_node(Docs(docs=[SUPPORT]), k=1))
    builder.add_node("respond", answer_node(Answerer(model())))
    builder.add_edge(START, "gate")
    builder.add_conditional_edges("gate", make_router("search", "respond"))
    builder.add_edge("search", "respond")
    builder.add_edge("respond", END)
    graph = builder.compile()
    mermaid = graph.get_graph().draw_mermaid()
    assert "gate -.-> search" in mermaid and "gate -.-> respond" in mermaid, mermaid
    assert graph.invoke({"question": QUESTION})["answer"] == "Velmora"


def test_adaptive_rag_draws_gate_retrieve_answer_and_the_loop() -> None:
    graph = build_adaptive_rag(model(), Docs(docs=[]), gate="always")
    drawing = graph.get_graph()
    edges = {(e.source, e.target, e.conditional) for e in drawing.edges}
    assert {("__start__", "gate", False), ("gate", "retrieve", True), ("gate", "answer", True),
            ("retrieve", "answer", False), ("answer", "retrieve", True),
            ("answer", "__end__", True)} == edges
    assert "retrieve" in drawing.draw_mermaid()


def test_empty_retrieval_result_keeps_the_parametric_answer() -> None:
    graph = build_adaptive_rag(model(), Docs(docs=[]), gate=RetrievalGate(Fixed(True, "Velmora")))
    out = graph.invoke({"question": QUESTION})
    assert (out["documents"], out["answer"], out["answer_source"]) == ([], "Velmora", "parametric")
    assert "no evidence" in out["resolution"]["reason"]


def test_bad_input_is_named() -> None:
    graph = build_adaptive_rag(model(), Docs(docs=[]), gate="always")
    with pytest.raises(InputError, match="question"):
        graph.invoke({"question": "  "})
    with pytest.raises(InputError, match="metadata"):
        graph.invoke({"question": QUESTION, "metadata": "popular"})
    with pytest.raises(InputError, match="BaseRetriever"):
        retrieve_node(object())
    with pytest.raises(InputError, match="decision"):
        route_after_gate({"question": QUESTION})
    with pytest.raises(InputError, match="max_retrievals"):
        build_adaptive_rag(model(), Docs(docs=[]), gate="always", max_retrievals=0)
    with pytest.raises(InputError, match="different node names"):
        make_router("same", "same")


# --------------------------------------------------------------- the example, end to end
def _load_example() -> Any:
    spec = importlib.util.spec_from_file_location("adaptive_rag_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def _script(server: OpenAIServer, world: SampleWorld, known: str) -> None:
    """A 'model' that knows the answer to ``known`` only, and reads contexts faithfully."""
    answers = {q.question: q.possible_answers[0] for q in world.popqa}

    def question_of(body: dict[str, Any]) -> str:
        user = body["messages"][-1]["content"]
        return user.split("Q: ", 1)[1].split("\n", 1)[0].strip()

    def adapt(body: dict[str, Any]) -> str:
        q = question_of(body)
        return answers[q] if q == known else "<RET>"

    def read(body: dict[str, Any]) -> dict[str, Any]:
        q = question_of(body)
        context = body["messages"][-1]["content"].split("C: ", 1)[1]
        if answers[q].lower() in context.lower():
            return {"answer": answers[q], "supported": True}
        return {"answer": "", "supported": False}

    server.add_rule(ADAPT, adapt)
    server.add_rule(CONTEXT, read)


@pytest.mark.integration
def test_example_runs_end_to_end_on_the_loopback_server(
    tmp_path: Path, openai_server: OpenAIServer
) -> None:
    example = _load_example()
    world = SampleWorld.generate(0, size="small")
    picked = example.pick_questions(world, 3)
    assert picked[0].s_pop >= picked[1].s_pop >= picked[2].s_pop
    _script(openai_server, world, known=picked[0].question)
    results = example.run(openai_server.chat_model(max_retries=0), str(tmp_path / "memory"))
    assert [r["question"] for r in results] == [q.question for q in picked]
    first, *rest = results
    assert (first["retrieved"], first["answer_source"], first["sources"]) == (False, "parametric",
                                                                               [])
    assert first["correct"]
    for r, q in zip(rest, picked[1:]):
        assert r["retrieved"] and len(r["sources"]) == 3
        assert q.gold_passage_id in r["sources"], "PPR over the world's triples finds the article"
        assert (r["answer_source"], r["correct"]) == ("evidence", True)
    prompts_sent = [b["messages"][-1]["content"] for b in openai_server.chat_requests]
    assert len(prompts_sent) == 5, "3 gate calls + 2 context reads; the fast path costs one"
    assert json.loads(json.dumps(results)) == results


def test_example_main_without_model_explains(capsys: pytest.CaptureFixture[str]) -> None:
    assert _load_example().main(["--folder", "unused"]) == 2
    assert "MEMAGENTS_LLM" in capsys.readouterr().out
