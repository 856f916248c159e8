"""Regression tests for issue 7 (hardening): the nodes' state conventions, the namespace rule,
the gate in a MessagesState graph, malformed logprobs, and items of 13 (answerer errors, the
recognition filter's back-off, verbalized confidence)."""

from __future__ import annotations

import logging
import math
import operator
import random
from pathlib import Path
from typing import Annotated, Any

import pytest
from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langgraph.graph import END, START, MessagesState, StateGraph
from typing_extensions import TypedDict

from memagents.base.namespaces import resolve_namespace
from memagents.base.state import state_question
from memagents.errors import InputError, LLMError, NamespaceError
from memagents.gate.answering import Answerer
from memagents.gate.base import Decision, RetrievalPolicy
from memagents.gate.nodes import answer_node, gate_node, retrieve_node, route_after_gate
from memagents.gate.policies_blackbox import VerbalizedConfidence
from memagents.gate.policies_llm import TokenProbability, p_token
from memagents.graphmem import GraphMemory, recognition
from memagents.models import StructuredLLM
from memagents.testing import ScriptedChatModel

QUESTION = "Where is Hollin Bay?"
PASSAGE = "Hollin Bay lies in Quillmere."
CONTEXT = "given the context"


def reader(messages: list[Any]) -> dict[str, Any]:
    """The context prompt: 'Quillmere', supported, iff the passage is in the context."""
    text = "\n".join(str(m.content) for m in messages)
    if PASSAGE in text:
        return {"answer": "Quillmere", "supported": True}
    return {"answer": "", "supported": False}


class Recorder(RetrievalPolicy):
    """Always retrieves (or never) and records the questions it was asked."""

    name = "recorder"

    def __init__(self, retrieve: bool = True, answer: str | None = None) -> None:
        self.retrieve, self.answer, self.questions = retrieve, answer, []

    def decide(self, question: str, *, metadata: Any = None) -> Decision:
        self.questions.append(question)
        return Decision(retrieve=self.retrieve, policy=self.name, reason="scripted",
                        answer=self.answer)


@pytest.fixture
def memory(tmp_path: Path) -> Any:
    with GraphMemory.open(tmp_path / "mem", embeddings="hash") as mem:
        mem.add_triples([(PASSAGE, [("Hollin Bay", "lies in", "Quillmere")])], ids=["p7"],
                        namespace="users/ada")
        yield mem


class AppState(TypedDict, total=False):
    """What a newcomer writes: the package's keys, notes with an add reducer."""

    question: str
    documents: list[Document]
    decision: dict[str, Any]
    parametric_answer: str | None
    answer: str | None
    answer_source: str | None
    conflict: bool | None
    resolution: dict[str, Any] | None
    notes: Annotated[list[str], operator.add]


def _app(retrieval: Any, policy: RetrievalPolicy, llm: Any, state: Any = AppState) -> Any:
    builder = StateGraph(state)
    builder.add_node("gate", gate_node(policy))
    builder.add_node("retrieve", retrieval)
    builder.add_node("answer", answer_node(Answerer(llm)))
    builder.add_edge(START, "gate")
    builder.add_conditional_edges("gate", route_after_gate, ["retrieve", "answer"])
    builder.add_edge("retrieve", "answer")
    builder.add_edge("answer", END)
    return builder.compile()


# ------------------------------------------------------------- item 4: one state convention
def test_memory_node_gate_and_answer_node_share_documents(memory: GraphMemory) -> None:
    llm = ScriptedChatModel(rules=[(CONTEXT, reader)])
    app = _app(memory.node(namespace="users/{user_id}"), Recorder(True, "Velmora"), llm)
    out = app.invoke({"question": QUESTION}, {"configurable": {"user_id": "ada"}})
    assert [d.page_content for d in out["documents"]] == [PASSAGE]
    assert (out["answer"], out["answer_source"]) == ("Quillmere", "evidence"), (
        "the answer comes from the memory's documents, not from parametric memory")
    assert out["conflict"] is True and out["resolution"]["supporting"][0]["source"] == "p7"


def test_documents_follow_the_convention(memory: GraphMemory) -> None:
    state = {"question": QUESTION}
    config = {"configurable": {"namespace": "users/ada"}}
    by_memory = memory.node().invoke(state, config)["documents"]
    by_retrieve = retrieve_node(memory, k=1).invoke(state, config)["documents"]
    by_retriever = retrieve_node(memory.as_retriever(), k=1).invoke(state, config)["documents"]
    for docs in (by_memory, by_retrieve, by_retriever):
        assert all(isinstance(d, Document) for d in docs) and len(docs) == 1
        meta = docs[0].metadata
        assert (docs[0].id, meta["id"], meta["source"]) == ("p7", "p7", "p7")
        assert isinstance(meta["score"], float) and "memagents" in meta


def test_answer_node_notes_missing_documents_when_retrieval_was_decided(
    caplog: pytest.LogCaptureFixture,
) -> None:
    node = answer_node(Answerer(ScriptedChatModel(default="Velmora")))
    state = {"question": QUESTION, "decision": {"retrieve": True}, "parametric_answer": None,
             "evidence": [{"text": PASSAGE, "source": "p7", "score": 1.0}]}
    with caplog.at_level(logging.WARNING, logger="memagents"):
        out = node.invoke(state)
    assert out["answer"] == "Velmora" and out["answer_source"] == "parametric"
    assert len(out["notes"]) == 1 and "holds no documents" in out["notes"][0]
    assert "'evidence'" in out["notes"][0], "the old key is pointed out"
    assert any("holds no documents" in r.getMessage() for r in caplog.records
               if r.levelno == logging.WARNING and r.name == "memagents")
    closed = node.invoke({"question": QUESTION, "decision": {"retrieve": False}})
    assert "notes" not in closed, "no note when the gate did not retrieve"


def test_answer_node_reads_documents_and_legacy_dicts_and_rejects_other_types() -> None:
    node = answer_node(Answerer(ScriptedChatModel(rules=[(CONTEXT, reader)])))
    base = {"question": QUESTION, "decision": {"retrieve": True}}
    for docs in ([Document(PASSAGE, id="p7")], [{"text": PASSAGE, "source": "p7", "score": 1}]):
        out = node.invoke({**base, "documents": docs})
        assert (out["answer"], out["answer_source"]) == ("Quillmere", "evidence")
    for bad, what in ((PASSAGE, "str"), ({"text": PASSAGE}, "dict"), ([42], "int")):
        with pytest.raises(InputError, match=rf"state\['documents'\].*{what}"):
            node.invoke({**base, "documents": bad})


# ------------------------------------------------------------ item 5: the namespace rule
def test_user_id_alone_is_never_a_namespace() -> None:
    assert resolve_namespace(None, {"configurable": {"user_id": "ada"}}) is None
    assert resolve_namespace(None, None, {"user_id": "ada"}) is None
    assert resolve_namespace("users/{user_id}", {"configurable": {"user_id": "ada"}}) == "users/ada"
    assert resolve_namespace("users/{user_id}", {"configurable": {"user_id": " "}},
                             {"user_id": "bo"}) == "users/bo", "configurable, then context"
    assert resolve_namespace(None, {"configurable": {"namespace": "t"}}, {"namespace": "c"}) == "t"
    assert resolve_namespace(None, None, {"namespace": "c"}) == "c"
    with pytest.raises(NamespaceError, match="user_id"):
        resolve_namespace("users/{user_id}", {"configurable": {"user_id": ""}})


def test_memory_node_surfaces_notes_in_state_and_log(
    memory: GraphMemory, caplog: pytest.LogCaptureFixture
) -> None:
    class State(TypedDict, total=False):
        question: str
        documents: list[Document]
        notes: Annotated[list[str], operator.add]

    builder = StateGraph(State)
    builder.add_node("recall", memory.node())
    builder.add_edge(START, "recall")
    with caplog.at_level(logging.WARNING, logger="memagents"):
        out = builder.compile().invoke({"question": QUESTION},
                                       {"configurable": {"user_id": "alice"}})
    assert out["documents"] == []
    assert any("namespace 'default' holds no indexed passages" in n for n in out["notes"])
    assert any("holds no indexed passages" in r.getMessage() for r in caplog.records
               if r.levelno == logging.WARNING)


def test_nodes_work_in_states_without_notes(
    memory: GraphMemory, caplog: pytest.LogCaptureFixture
) -> None:
    class NoNotes(TypedDict, total=False):
        question: str
        documents: list[Document]

    config = {"configurable": {"namespace": "nobody"}}
    plain = StateGraph(NoNotes)
    plain.add_node("recall", memory.node())
    plain.add_edge(START, "recall")
    messages = StateGraph(MessagesState)
    messages.add_node("recall", memory.node())
    messages.add_edge(START, "recall")
    with caplog.at_level(logging.WARNING, logger="memagents"):
        out = plain.compile().invoke({"question": QUESTION}, config)
        chat = messages.compile().invoke({"messages": [("user", QUESTION)]}, config)
    assert out == {"question": QUESTION, "documents": []}
    assert [m.content for m in chat["messages"]] == [QUESTION]
    assert sum("'nobody' holds no indexed passages" in r.getMessage()
               for r in caplog.records) == 2, "the log keeps what the state cannot"


# --------------------------------------------------------- item 6: gate in MessagesState
def test_gate_and_answer_nodes_read_the_last_human_message(memory: GraphMemory) -> None:
    class ChatState(MessagesState, total=False):
        documents: list[Document]
        decision: dict[str, Any]
        parametric_answer: str | None
        answer: str | None
        answer_source: str | None
        conflict: bool | None
        resolution: dict[str, Any] | None
        notes: Annotated[list[str], operator.add]

    policy = Recorder(True)
    llm = ScriptedChatModel(rules=[(CONTEXT, reader)])
    app = _app(memory.node(namespace="users/ada"), policy, llm, state=ChatState)
    out = app.invoke({"messages": [("user", "hi"), ("ai", "Hello!"), ("user", QUESTION)]})
    assert policy.questions == [QUESTION]
    assert (out["answer"], out["answer_source"]) == ("Quillmere", "evidence")
    assert state_question({"question": " Q? ", "messages": [("user", "other")]}) == "Q?"
    with pytest.raises(InputError, match="no question"):
        gate_node(policy).invoke({"messages": [("ai", "Hello!")]})


# --------------------------------------------------------- item 11: malformed logprobs
class MetadataModel(BaseChatModel):
    """A chat model replying ``content`` with the given ``response_metadata``."""

    content: str = "Paris"
    payload: Any = None

    @property
    def _llm_type(self) -> str:
        return "metadata-test"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        message = AIMessage(content=self.content, response_metadata={"logprobs": self.payload})
        return ChatResult(generations=[ChatGeneration(message=message)])


def _malformed_positions(rng: random.Random) -> list[Any]:
    junk = [None, "x", 3, -0.5, float("nan"), float("inf"), True, [], {}, ["<", -1.0],
            {"token": "<"}, {"logprob": -1.0}, {"token": 5, "logprob": -1.0},
            {"token": "<", "logprob": "-1"}, {"token": "<", "logprob": float("nan")},
            {"token": "<", "logprob": True}, {"token": "<", "logprob": 2.0}]
    shapes = []
    for _ in range(300):
        top = rng.choice([rng.choice(junk), [rng.choice(junk) for _ in range(rng.randint(1, 4))]])
        good_first = {"token": rng.choice(["<", "Paris", " <RET>"]),
                      "logprob": math.log(rng.uniform(0.01, 1.0))}
        first = rng.choice([good_first, rng.choice(junk)])
        if first is good_first and (top is None or top == []):
            top = [rng.choice(junk[2:])]  # keep at least one malformed part
        entry = dict(first, top_logprobs=top) if isinstance(first, dict) else first
        shapes.append(rng.choice([{"content": [entry]}, {"content": entry}, entry, [entry]]))
    return shapes


def test_token_probability_falls_back_on_any_malformed_logprobs() -> None:
    rng = random.Random(7)
    failures = []
    for shape in _malformed_positions(rng):
        policy = TokenProbability(MetadataModel(payload=shape), request_logprobs=False)
        try:
            d = policy.decide("Capital of France?")
        except Exception as exc:  # noqa: BLE001 - collect them all
            failures.append((shape, repr(exc)))
            continue
        p = d.signals["p_ret"]
        if not d.fallback or p is not None or not isinstance(d.retrieve, bool):
            failures.append((shape, d))
    assert not failures, failures[:3]


def test_nan_logprob_is_not_confidence() -> None:
    shape = {"content": [{"token": "Paris", "logprob": float("nan"),
                          "top_logprobs": [{"token": "<", "logprob": -0.1}]}]}
    d = TokenProbability(MetadataModel(payload=shape), request_logprobs=False).decide("Q?")
    assert d.fallback and d.signals["p_ret"] is None and "malformed" in d.reason
    with pytest.raises(InputError, match="malformed logprobs"):
        p_token({"token": "<", "logprob": -0.1, "top_logprobs": [{"token": "<"}]}, "<RET>")
    good = {"content": [{"token": "Paris", "logprob": math.log(0.7),
                         "top_logprobs": [{"token": "<", "logprob": math.log(0.25)},
                                          {"token": "x", "logprob": float("-inf")}]}]}
    d = TokenProbability(MetadataModel(payload=good), request_logprobs=False).decide("Q?")
    assert not d.fallback and d.signals["p_ret"] == pytest.approx(0.25)


# ------------------------------------------------------------------------------ item 13
def test_answerer_error_names_the_expected_fields() -> None:
    model = ScriptedChatModel(default='{"unexpected": true}')
    answerer = Answerer(StructuredLLM(model, sleep=lambda s: None))
    with pytest.raises(LLMError) as info:
        answerer.with_evidence(QUESTION, [PASSAGE])
    message = str(info.value)
    assert '"answer" (string' in message and '"supported" (boolean' in message
    assert len(model.calls) == 5, "still re-asked"
    system = str(model.calls[0][0].content)
    assert '"answer"' in system and '"supported": true or false' in system


def test_failing_recognition_filter_backs_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(recognition, "_clock", lambda: now[0])
    llm = ScriptedChatModel(default="not json")
    with GraphMemory.open(tmp_path / "mem", embeddings="hash", llm=llm, use_filter=True) as mem:
        mem.add_triples([(PASSAGE, [("Hollin Bay", "lies in", "Quillmere")])])
        first = mem.search(QUESTION, k=1)
        calls = len(llm.calls)
        assert calls == 5 and first.ids and any("filter failed" in n for n in first.notes)
        for _ in range(3):
            now[0] += 10
            skipped = mem.search(QUESTION, k=1)
            assert skipped.ids == first.ids
            assert any("recognition filter skipped" in n and "until" in n
                       for n in skipped.notes), skipped.notes
        assert len(llm.calls) == calls, "no model call while backing off"
        now[0] += 31  # past the 60 s cooldown: try again
        mem.search(QUESTION, k=1)
        assert len(llm.calls) == 2 * calls


@pytest.mark.parametrize(("stated", "confidence", "retrieve"),
                         [(0.9, 0.9, False), (90, 0.9, False), ("0.9", 0.9, False),
                          (0.5, 0.5, True), ("85%", 0.85, False), (1, 1.0, False)])
def test_verbalized_confidence_reads_fractions_and_percentages(
    stated: Any, confidence: float, retrieve: bool
) -> None:
    llm = ScriptedChatModel(default={"answer": "Paris", "confidence": stated})
    d = VerbalizedConfidence(llm, threshold=0.7).decide("Capital of France?")
    assert (d.signals["confidence"], d.retrieve, d.fallback) == (
        pytest.approx(confidence), retrieve, False)


@pytest.mark.parametrize("stated", [True, False])
def test_verbalized_confidence_rejects_booleans(stated: bool) -> None:
    llm = ScriptedChatModel(default={"answer": "Paris", "confidence": stated})
    policy = VerbalizedConfidence(StructuredLLM(llm, sleep=lambda s: None), threshold=0.7)
    d = policy.decide("Capital of France?")
    assert d.fallback and d.retrieve and d.signals["confidence"] is None
    assert "boolean" in d.signals["error"]
