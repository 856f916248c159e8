"""The HGMem loop as a compiled graph: routing, LLM outputs, merging, streaming, threads,
budget, no evidence, and one run through the real openai client on the loopback server."""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Collection, Sequence
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from memagents.base.knowledge import EntityHit, KnowledgeIndex, RelationHit
from memagents.base.results import Hit, SearchHits
from memagents.hypermem.agent import HypergraphAgent
from memagents.hypermem.workflow import build_hypergraph_rag
from memagents.models import Budget, StructuredLLM
from memagents.testing import OpenAIServer, ScriptedChatModel

# ------------------------------------------------------------------------- a small index

PASSAGES = {
    "p1": "Ada Korvin founded Velm Press in Orlen in 1901.",
    "p2": "Velm Press printed the Orlen Atlas in 1920.",
    "p3": "The Orlen Atlas was edited by Bram Tully.",
    "p4": "Bram Tully was born in Harrow.",
    "p5": "Tea grows in the hills of Quill.",
}
ENTITIES = {
    "ada korvin": ("person", "Founder of Velm Press.", ("p1",)),
    "velm press": ("organization", "A printing house in Orlen.", ("p1", "p2")),
    "orlen": ("geo", "A city.", ("p1",)),
    "orlen atlas": ("concept", "An atlas printed in 1920.", ("p2", "p3")),
    "bram tully": ("person", "Editor of the Orlen Atlas.", ("p3", "p4")),
    "harrow": ("geo", "A town.", ("p4",)),
    "tea": ("concept", "A plant.", ("p5",)),
    "quill": ("geo", "Hills.", ("p5",)),
}
RELATIONS = [
    ("ada korvin", "founded", "velm press", "p1"),
    ("velm press", "located in", "orlen", "p1"),
    ("velm press", "printed", "orlen atlas", "p2"),
    ("bram tully", "edited", "orlen atlas", "p3"),
    ("bram tully", "born in", "harrow", "p4"),
    ("tea", "grows in", "quill", "p5"),
]


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.casefold())) - {"the", "in", "of", "a", "was", "by"}


def _sim(query: str, text: str) -> float:
    q, t = _words(query), _words(text)
    return len(q & t) / math.sqrt(len(q) * len(t)) if q and t else 0.0


class FakeIndex:
    """A :class:`KnowledgeIndex` over the tables above: word-overlap similarity, nothing
    below a score of 0 returned (like the authors' 0.2 threshold); records every call."""

    def __init__(self, passages: dict[str, str] | None = None) -> None:
        self.passages = PASSAGES if passages is None else passages
        self.entities = ENTITIES if passages is None else {}
        self.relations = RELATIONS if passages is None else []
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def _entity(self, name: str, score: float | None = None) -> EntityHit:
        kind, desc, sources = self.entities[name]
        return EntityHit(name=name, score=score, description=desc, entity_type=kind,
                         sources=sources)

    def search_entities(self, query: str, k: int = 5, *, namespace: str | None = None,
                        within: Collection[str] | None = None,
                        exclude: Collection[str] | None = None) -> list[EntityHit]:
        self.calls.append(("search_entities", {"query": query, "within": within,
                                               "exclude": exclude}))
        scored = [(_sim(query, f"{n} {d[1]}"), n) for n, d in self.entities.items()
                  if (within is None or n in within) and not (exclude and n in exclude)]
        return [self._entity(n, s) for s, n in sorted(scored, key=lambda x: (-x[0], x[1]))
                if s > 0][:k]

    def get_entities(self, names: Sequence[str], *,
                     namespace: str | None = None) -> list[EntityHit]:
        keys = [n.casefold().strip() for n in names]
        return [self._entity(n) for n in keys if n in self.entities]

    def entity_neighbours(self, names: Collection[str], *, hops: int = 1,
                          namespace: str | None = None) -> list[str]:
        start = set(names)
        seen, frontier = set(start), set(start)
        for _ in range(hops):
            frontier = {b for s, _, o, _ in self.relations for a, b in ((s, o), (o, s))
                        if a in frontier} - seen
            seen |= frontier
        return sorted(seen - start)

    def search_relations(self, query: str, k: int = 5, *, namespace: str | None = None,
                         entities: Collection[str] | None = None) -> list[RelationHit]:
        hits = [RelationHit(subject=s, predicate=p, object=o, score=_sim(query, f"{s} {p} {o}"),
                            sources=(src,)) for s, p, o, src in self.relations
                if entities is None or s in entities or o in entities]
        return sorted(hits, key=lambda r: -(r.score or 0))[:k]

    def search_passages(self, query: str, k: int = 5, *, namespace: str | None = None,
                        within: Collection[str] | None = None) -> SearchHits:
        scored = [(_sim(query, t), i) for i, t in self.passages.items()
                  if within is None or i in within]
        ranked = [(s, i) for s, i in sorted(scored, key=lambda x: (-x[0], x[1])) if s > 0][:k]
        return SearchHits([Hit(id=i, text=self.passages[i], score=s, rank=r)
                           for r, (s, i) in enumerate(ranked, 1)])


def _retrievals(index: FakeIndex, question: str = "") -> list[dict[str, Any]]:
    """The retrieval node's entity searches (not the planner's hint searches, which ask the
    main question within the memory's neighbours)."""
    return [c for name, c in index.calls if name == "search_entities"
            and not (c["query"] == question and c["within"] is not None)]


def test_fake_index_implements_the_protocol() -> None:
    assert isinstance(FakeIndex(), KnowledgeIndex)
    assert FakeIndex().entity_neighbours(["ada korvin"], hops=2) == ["orlen", "orlen atlas",
                                                                   "velm press"]


# ------------------------------------------------------------------------- the script

KINDS = {
    "evolve": "You maintain the working memory",
    "merge": "You organise the working memory",
    "plan": "You plan the research",
    "answer": "You answer a question from",
}


class Script:
    """Replies per prompt kind, served in order (the last one repeats); counts calls."""

    def __init__(self, **replies: Any) -> None:
        self.replies = {k: list(v) if isinstance(v, list) else [v] for k, v in replies.items()}
        self.kinds: list[str] = []
        self.prompts: list[str] = []

    def kind(self, text: str) -> str:
        return next(k for k, marker in KINDS.items() if marker in text)

    def reply(self, text: str) -> Any:
        kind = self.kind(text)
        self.kinds.append(kind)
        self.prompts.append(text)
        queue = self.replies[kind]
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        return item if isinstance(item, str) else json.dumps(item)

    def model(self) -> ScriptedChatModel:
        def answer(messages: list[Any]) -> Any:
            return self.reply("\n".join(str(m.content) for m in messages))
        return ScriptedChatModel(rules=[(lambda _m: True, answer)])

    def count(self, kind: str) -> int:
        return self.kinds.count(kind)


QUESTION = "Who edited the atlas printed by the press that Ada Korvin founded?"
INSERT_ADA = {"inserts": [{"entities": ["Ada Korvin", "Velm Press"], "sources": ["p1"],
                           "description": "Ada Korvin founded Velm Press in 1901."}]}
INSERT_ATLAS = {"inserts": [{"entities": ["Velm Press", "Orlen Atlas", "Bram Tully"],
                             "description": "Velm Press printed the Orlen Atlas, which Bram "
                                            "Tully edited."}]}
ANSWER = {"answer": "Bram Tully", "explanation": "mp-0001 and mp-0002.", "known": True}
SUFFICIENT = {"judgement": "sufficient", "concerns": [], "single_fact": True}


def _graph(script: Script, index: FakeIndex | None = None, **kw: Any) -> Any:
    return build_hypergraph_rag(script.model(), index or FakeIndex(), **kw)


# ------------------------------------------------------------------------- routing

def test_stops_when_the_planner_judges_the_memory_sufficient() -> None:
    script = Script(evolve=INSERT_ADA, plan=SUFFICIENT, answer=ANSWER)
    out = _graph(script).invoke({"question": QUESTION})
    assert script.kinds == ["evolve", "plan", "answer"]
    assert (out["stop_reason"], out["step"], out["answer"]) == ("sufficient", 1, "Bram Tully")
    memory = out["memory"]
    assert [p["id"] for p in memory["points"]] == ["mp-0001"]
    assert memory["points"][0]["sources"] == ["p1"]
    ada = next(e for e in memory["entities"] if e["name"] == "ada korvin")
    assert ada["ref"] == "ada korvin", "an index entity is attached with its ref"
    assert "p1" in [d.id for d in out["documents"]]
    assert out["evidence"][0]["points"] == ["mp-0001"]
    assert out["usage"]["llm_calls"] == 3
    # the evolve prompt saw the retrieved tables with passage ids
    assert "[p1] Ada Korvin founded Velm Press" in script.prompts[0]


def test_local_and_global_sub_queries_are_scoped_per_sub_query() -> None:
    index = FakeIndex()
    plan = {"judgement": "dig_deeper", "single_fact": True, "concerns": [
        {"text": "What did Velm Press print?", "points": ["mp-0001"],
         "subquery": "What did Velm Press print?"},
        {"text": "Who edits atlases?", "points": [], "subquery": "Who edited the Orlen Atlas?"}]}
    script = Script(evolve=[INSERT_ADA, INSERT_ATLAS], plan=plan, answer=ANSWER)
    out = _graph(script, index, max_steps=2).invoke({"question": QUESTION})
    assert script.kinds == ["evolve", "plan", "evolve", "answer"], \
        "single-fact question: merge skipped (auto); no planning in the last round"
    first, local, global_ = _retrievals(index, QUESTION)
    assert first["within"] is None and first["exclude"] is None, "step 1: unfiltered"
    assert local["query"] == "What did Velm Press print?"
    assert {"ada korvin", "velm press", "orlen atlas", "orlen"} <= set(local["within"])
    assert "tea" not in local["within"] and "harrow" not in local["within"]
    assert global_["within"] is None and set(global_["exclude"]) == {"ada korvin",
                                                                     "velm press"}
    assert [s["mode"] for s in out["subqueries"]] == ["local", "global"]
    assert out["stop_reason"] == "max_steps"
    assert len(out["memory"]["points"]) == 2


def test_per_step_mode_uses_one_scope_for_the_step() -> None:
    index = FakeIndex()
    plan = {"judgement": "dig_deeper", "concerns": [
        {"text": "What did it print?", "points": ["mp-0001"],
         "subquery": "What did Velm Press print?"}], "single_fact": True}
    script = Script(evolve=[INSERT_ADA, INSERT_ATLAS], plan=plan, answer=ANSWER)
    _graph(script, index, max_steps=2, mode="per_step").invoke({"question": QUESTION})
    second = _retrievals(index, QUESTION)[1]
    assert second["within"] is not None and "velm press" in second["within"], \
        "the planner dug deeper: the step's scope is local even if the sub-query names no point"


def _explore_script() -> Script:
    """Plans that always explore with a new sub-query; merges that merge nothing."""
    evolves = [INSERT_ADA, INSERT_ATLAS] + [
        {"inserts": [{"entities": ["Orlen"], "description": f"Orlen fact {i}."}]}
        for i in range(5)]
    plans = [{"judgement": "explore", "single_fact": False, "concerns": [
        {"text": "more", "subquery": f"What else about Velm Press, angle {i}?"}]}
        for i in range(10)]
    return Script(evolve=evolves, plan=plans, merge={"merges": []}, answer=ANSWER)


@pytest.mark.parametrize("steps", [1, 2, 3, 4])
def test_step_limit_and_no_planning_call_in_the_last_round(steps: int) -> None:
    script = _explore_script()
    out = _graph(script, max_steps=steps, merge="always").invoke(
        {"question": "Summarise the history of Velm Press."})
    assert out["step"] == steps and out["stop_reason"] == "max_steps"
    assert script.count("plan") == steps - 1
    assert script.count("merge") == max(0, steps - 1)
    assert len(script.kinds) <= 2 + 3 * steps
    assert script.kinds[-1] == "answer" and "plan" not in script.kinds[-3:]


@pytest.mark.parametrize("steps", [1, 2, 3, 4, 5])
def test_worst_case_calls_stay_within_two_plus_three_per_step(steps: int) -> None:
    """merge="always", the planner never satisfied: every step runs every LLM node it may.
    The sub-queries come with the plan, so a question costs 3 × steps − 1 calls."""
    script = _explore_script()
    out = _graph(script, max_steps=steps, merge="always").invoke(
        {"question": "Summarise the history of Velm Press."})
    assert out["step"] == steps and out["stop_reason"] == "max_steps"
    assert out["usage"]["llm_calls"] == len(script.kinds) == 3 * steps - 1
    assert len(script.kinds) <= 2 + 3 * steps
    assert script.count("evolve") == steps and script.count("answer") == 1
    assert len(out["asked"]) == steps, "each step but the first asked the plan's sub-query"


def test_budget_hit_mid_step_stops_cleanly_with_a_note() -> None:
    script = Script(evolve=[INSERT_ADA, INSERT_ATLAS],
                    plan={"judgement": "explore", "concerns": [
                        {"text": "atlas?", "subquery": "Who edited the Orlen Atlas?"}]},
                    merge={"merges": []}, answer=ANSWER)
    out = _graph(script, budget=Budget(max_llm_calls=3), merge="always").invoke(
        {"question": "Describe the Orlen Atlas and its makers."})
    assert script.kinds == ["evolve", "plan", "evolve"]
    assert out["stop_reason"] == "budget" and out["step"] == 2
    assert any("budget exhausted before merging at step 2" in n for n in out["notes"])
    assert any("before the final answer" in n for n in out["notes"])
    assert "[mp-0001]" in out["answer"] and "[mp-0002]" in out["answer"], \
        "the best answer so far: what the memory holds"
    assert out["known"] is None and len(out["memory"]["points"]) == 2


def test_budget_left_for_the_answer_still_answers() -> None:
    script = Script(evolve=INSERT_ADA, plan={"judgement": "explore", "concerns": [
        {"text": "x", "subquery": "Who edited the Orlen Atlas?"}]}, answer=ANSWER)
    llm = StructuredLLM.coerce(script.model())
    graph = build_hypergraph_rag(llm, FakeIndex(), budget=Budget(max_llm_calls=2))
    out = graph.invoke({"question": QUESTION})
    assert script.kinds == ["evolve", "plan"] and out["stop_reason"] == "budget"
    assert out["answer"].startswith("Budget exhausted")


# ------------------------------------------------------------------------- LLM outputs

def test_malformed_reply_is_re_asked_not_restarted() -> None:
    index = FakeIndex()
    script = Script(evolve=["not json at all", '{"inserts": [{"entities": ["Ada Korvin"]',
                            INSERT_ADA], plan=SUFFICIENT, answer=ANSWER)
    out = _graph(script, index).invoke({"question": QUESTION})
    assert script.kinds == ["evolve"] * 3 + ["plan", "answer"]
    assert out["usage"]["retries"] == 2 and out["usage"]["llm_calls"] == 5
    assert len(_retrievals(index, QUESTION)) == 1, "no restart"
    assert "could not be used" in script.prompts[1]
    assert len(out["memory"]["points"]) == 1


def test_partial_and_lenient_outputs() -> None:
    plan = {"judgement": "2.2", "concerns": [  # a repeat of the question, then nothing
        {"text": "Who edited the Orlen Atlas?", "points": None,
         "query": "Which person edited the Orlen Atlas?"},
        {"text": "Where was the editor born?", "subquery": QUESTION},
        {"text": "c3", "subquery": None}, {"text": "c4"}]}
    script = Script(evolve=[INSERT_ADA, {"inserts": None, "updates": None}], plan=plan,
                    answer=ANSWER)
    out = _graph(script, max_steps=2).invoke({"question": QUESTION})
    assert [c["text"] for c in out["concerns"]] == ["Who edited the Orlen Atlas?",
                                                    "Where was the editor born?", "c3"]
    assert [s["query"] for s in out["subqueries"]] == ["Which person edited the Orlen Atlas?",
                                                       "c3"], \
        "repeat dropped; the missing third sub-query falls back to its concern"
    assert any("asked before" in n for n in out["notes"])
    assert any("using the concern itself" in n for n in out["notes"])
    assert out["answer"] == "Bram Tully"


def test_empty_evolve_reply_leaves_memory_unchanged_and_no_evidence_answer() -> None:
    script = Script(evolve={}, plan=SUFFICIENT, answer=ANSWER)
    out = _graph(script).invoke({"question": QUESTION})
    assert out["memory"]["points"] == [] and out["diff"]["added"] == []
    assert script.kinds == ["evolve", "plan"], "empty memory, no evidence: no answer call"
    assert out["known"] is False and "do not know" in out["answer"]


def test_refused_requests_are_fed_back_once() -> None:
    bad = {"updates": [{"id": "mp-0042", "description": "Ada founded it."}]}
    script = Script(evolve=[bad, INSERT_ADA], plan=SUFFICIENT, answer=ANSWER)
    out = _graph(script).invoke({"question": QUESTION})
    assert script.kinds == ["evolve", "evolve", "plan", "answer"]
    assert "were all refused" in script.prompts[1] and "mp-0042" in script.prompts[1]
    assert out["diff"]["rejected"][0]["ids"] == ["mp-0042"]
    assert [p["id"] for p in out["memory"]["points"]] == ["mp-0001"]


def test_unknown_points_in_concerns_are_dropped_and_merged_ids_resolved() -> None:
    plan = {"judgement": "dig_deeper", "concerns": [
        {"text": "more on Ada", "points": ["mp-0001", "mp-0099"],
         "subquery": "Ada Korvin's later life?"}]}
    script = Script(evolve=[INSERT_ADA, INSERT_ATLAS], plan=plan, answer=ANSWER)
    out = _graph(script, max_steps=2).invoke({"question": QUESTION})
    assert out["subqueries"][0]["points"] == ["mp-0001"]
    assert any("mp-0099" in n for n in out["notes"])


# ------------------------------------------------------------------------- merging

MERGE = {"merges": [{"ids": ["mp-0001", "mp-0002"],
                     "description": "Ada Korvin's Velm Press printed the Orlen Atlas, edited "
                                    "by Bram Tully."}]}
EXPLORE = {"judgement": "explore", "concerns": [
    {"text": "the atlas", "subquery": "Who edited the Orlen Atlas?"}]}


@pytest.mark.parametrize(("policy", "question", "single_fact", "merged"), [
    ("never", "Describe the Orlen Atlas and its makers.", False, False),
    ("always", QUESTION, True, True),
    ("auto", QUESTION, True, False),
    ("auto", QUESTION, None, False),
    ("auto", "Describe the Orlen Atlas and its makers.", None, True),
    ("auto", QUESTION, False, True),
])
def test_merge_option(policy: str, question: str, single_fact: bool | None,
                      merged: bool) -> None:
    script = Script(evolve=[INSERT_ADA, INSERT_ATLAS], plan={**EXPLORE,
                                                             "single_fact": single_fact},
                    merge=MERGE, answer=ANSWER)
    out = _graph(script, max_steps=2, merge=policy).invoke({"question": question})
    assert (script.count("merge") == 1) is merged
    ids = [p["id"] for p in out["memory"]["points"]]
    assert ids == (["mp-0003"] if merged else ["mp-0001", "mp-0002"])
    if merged:
        assert out["diff"]["removed"] == ["mp-0001", "mp-0002"]


def test_merge_with_stale_ids_is_refused_with_a_reason() -> None:
    stale = {"merges": [{"ids": ["mp-0001", "mp-0077"], "description": "x"}]}
    script = Script(evolve=[INSERT_ADA, INSERT_ATLAS], plan=EXPLORE, merge=stale, answer=ANSWER)
    out = _graph(script, max_steps=2, merge="always").invoke({"question": QUESTION})
    assert "mp-0077" in out["diff"]["rejected"][0]["reason"]
    assert len(out["memory"]["points"]) == 2


# ------------------------------------------------------------------------- streaming

def test_stream_updates_show_each_steps_memory_diff() -> None:
    script = Script(evolve=[INSERT_ADA, INSERT_ATLAS], plan=EXPLORE, merge=MERGE, answer=ANSWER)
    graph = _graph(script, max_steps=2, merge="always")
    seen = []
    for update in graph.stream({"question": QUESTION}, stream_mode="updates"):
        for node, change in update.items():
            if change and change.get("diff"):
                seen.append((node, change["diff"]["step"],
                             [p["id"] for p in change["diff"]["added"]],
                             change["diff"]["removed"]))
    assert seen == [("evolve", 1, ["mp-0001"], []), ("evolve", 2, ["mp-0002"], []),
                    ("merge", 2, ["mp-0003"], ["mp-0001", "mp-0002"])]


# ------------------------------------------------------------------------- threads

def test_memory_kept_across_turns_of_a_thread() -> None:
    second = {"inserts": [{"entities": ["Bram Tully", "Harrow"],
                           "description": "Bram Tully was born in Harrow."}]}
    script = Script(evolve=[INSERT_ADA, second, INSERT_ADA], plan=SUFFICIENT, answer=ANSWER)
    graph = _graph(script, checkpointer=InMemorySaver(), keep_memory=True)
    cfg = {"configurable": {"thread_id": "t1"}}
    first = graph.invoke({"question": "Who founded Velm Press?"}, cfg)
    assert [p["id"] for p in first["memory"]["points"]] == ["mp-0001"]
    out = graph.invoke({"question": "Where was Bram Tully born?"}, cfg)
    assert [p["id"] for p in out["memory"]["points"]] == ["mp-0001", "mp-0002"]
    assert "[mp-0001]" in script.prompts[3], "the follow-up's evolve prompt shows held memory"
    assert out["step"] == 1 and out["usage"]["llm_calls"] == 3, "usage counts this turn only"
    assert out["memory"]["step"] == 2, "memory steps keep growing across turns"
    other = graph.invoke({"question": "Who founded Velm Press?", "keep_memory": False},
                         {"configurable": {"thread_id": "t1"}})
    assert [p["id"] for p in other["memory"]["points"]] == ["mp-0001"], "a fresh memory"


def test_chat_thread_follow_up_by_message_is_the_new_question() -> None:
    """The stale-question trap: in a thread, ``question`` still holds turn 1's question when
    turn 2 arrives as a human message; the turn's question must be the new message."""
    second = {"inserts": [{"entities": ["Bram Tully", "Harrow"],
                           "description": "Bram Tully was born in Harrow."}]}
    script = Script(evolve=[INSERT_ADA, second, INSERT_ADA], plan=SUFFICIENT, answer=ANSWER)
    graph = _graph(script, checkpointer=InMemorySaver(), keep_memory=True)
    cfg = {"configurable": {"thread_id": "chat"}}
    first = graph.invoke({"messages": [("user", "Who founded Velm Press?")]}, cfg)
    assert first["question"] == "Who founded Velm Press?"
    assert [m.type for m in first["messages"]] == ["human", "ai"]
    assert first["messages"][-1].content == first["answer"]
    out = graph.invoke({"messages": [("user", "Where was Bram Tully born?")]}, cfg)
    assert out["question"] == "Where was Bram Tully born?", "not the checkpointed question"
    assert out["asked"][0] == "Where was Bram Tully born?"
    assert [p["id"] for p in out["memory"]["points"]] == ["mp-0001", "mp-0002"]
    assert [m.type for m in out["messages"]] == ["human", "ai", "human", "ai"]
    # a question given anew wins over the (answered) messages; a repeated one is honoured too
    again = graph.invoke({"question": "Who founded Velm Press?"}, cfg)
    assert again["question"] == "Who founded Velm Press?"


def test_question_input_stays_the_turn_question_beside_old_messages() -> None:
    script = Script(evolve=INSERT_ADA, plan=SUFFICIENT, answer=ANSWER)
    graph = _graph(script, checkpointer=InMemorySaver())
    cfg = {"configurable": {"thread_id": "mixed"}}
    graph.invoke({"messages": [("user", "Who founded Velm Press?")]}, cfg)
    out = graph.invoke({"question": "Where is Velm Press?",
                        "messages": [("user", "Where is Velm Press?")]}, cfg)
    assert out["question"] == "Where is Velm Press?"
    out = graph.invoke({"question": "When was it founded?",
                        "messages": [("user", "unrelated chatter")]}, cfg)
    assert out["question"] == "When was it founded?", "a question given anew wins"


def test_without_keep_memory_each_question_starts_fresh() -> None:
    script = Script(evolve=INSERT_ADA, plan=SUFFICIENT, answer=ANSWER)
    graph = _graph(script, checkpointer=InMemorySaver())
    cfg = {"configurable": {"thread_id": "t"}}
    graph.invoke({"question": "Who founded Velm Press?"}, cfg)
    out = graph.invoke({"question": "Who founded Velm Press again?"}, cfg)
    assert [p["id"] for p in out["memory"]["points"]] == ["mp-0001"]


# ------------------------------------------------------------------------- no evidence

def test_no_retrievable_evidence_answers_it_does_not_know() -> None:
    script = Script(answer=ANSWER)
    out = _graph(script).invoke({"question": "What colour is the moon of Zog?"})
    assert script.kinds == [] and out["stop_reason"] == "no_evidence"
    assert out["known"] is False and out["memory"]["points"] == []


def test_irrelevant_evidence_answers_unknown_with_the_memory_it_built() -> None:
    loose = {"inserts": [{"entities": ["Tea", "Quill"],
                          "description": "Tea grows in the hills of Quill."}]}
    unknown = {"answer": "I do not know.", "explanation": "Memory only holds tea.",
               "known": False}
    script = Script(evolve=loose, plan={"judgement": "explore", "concerns": [
        {"text": "Zog's tea?", "subquery": "Zog tea hills?"}]}, answer=unknown)
    out = _graph(script, max_steps=2).invoke({"question": "Where does the tea of Zog grow?"})
    assert out["known"] is False and out["answer"] == "I do not know."
    assert [p["description"] for p in out["memory"]["points"]] == [
        "Tea grows in the hills of Quill."]


def test_empty_corpus() -> None:
    out = _graph(Script(), FakeIndex(passages={})).invoke({"question": "Anything?"})
    assert out["stop_reason"] == "no_evidence" and out["known"] is False


# ------------------------------------------------------------------------- facade, async

def test_agent_facade_ask_and_aask() -> None:
    script = Script(evolve=INSERT_ADA, plan=SUFFICIENT, answer=ANSWER)
    agent = HypergraphAgent(index=FakeIndex(), llm=script.model(), budget=Budget(max_llm_calls=3))
    first = agent.ask(QUESTION)
    assert (first.answer, first.known, first.steps, first.stop_reason) == (
        "Bram Tully", True, 1, "sufficient")
    assert len(first.memory) == 1 and first.evidence[0].id == "p1"
    assert first.usage.llm_calls == 3 and first.subqueries == [QUESTION]
    second = asyncio.run(agent.aask(QUESTION))  # the budget applies per question
    assert second.answer == "Bram Tully" and second.usage.llm_calls == 3
    threaded = agent.ask("Who founded Velm Press?", thread_id="a", keep_memory=True)
    again = agent.ask("And who founded it?", thread_id="a", keep_memory=True)
    assert [p.id for p in threaded.memory.points] == ["mp-0001"]
    assert [p.id for p in again.memory.points] == ["mp-0001"], "the same point is not re-added"


def test_build_refuses_a_non_index_and_unknown_options() -> None:
    from memagents.errors import InputError

    with pytest.raises(InputError, match="KnowledgeIndex"):
        build_hypergraph_rag(ScriptedChatModel(default="{}"), object())
    with pytest.raises(InputError, match="unknown option"):
        build_hypergraph_rag(ScriptedChatModel(default="{}"), FakeIndex(), max_step=2)


# ------------------------------------------------------------------------- end to end

def test_end_to_end_through_the_openai_client(openai_server: OpenAIServer) -> None:
    script = Script(evolve=[INSERT_ADA, INSERT_ATLAS], plan=[
        {"judgement": "dig_deeper", "single_fact": True,
         "concerns": [{"text": "What did the press print?", "points": ["mp-0001"],
                       "subquery": "What did Velm Press print?"}]},
        SUFFICIENT], answer=ANSWER)

    def reply(body: dict[str, Any]) -> str:
        return script.reply("\n".join(str(m["content"]) for m in body["messages"]))

    openai_server.add_rule(lambda body: True, reply)
    graph = build_hypergraph_rag(openai_server.chat_model(max_retries=0), FakeIndex())
    out = graph.invoke({"question": QUESTION})
    assert out["answer"] == "Bram Tully" and out["stop_reason"] == "sufficient"
    assert script.kinds == ["evolve", "plan", "evolve", "plan", "answer"]
    assert len(openai_server.chat_requests) == 5 <= 2 + 3 * out["step"]
    assert out["usage"]["llm_calls"] == 5
    assert {d.id for d in out["documents"]} >= {"p1", "p2", "p3"}
    assert json.loads(json.dumps(out["memory"])) == out["memory"]


def test_llm_error_mid_loop_resumes_from_the_checkpoint_without_repeating_steps() -> None:
    from memagents.errors import LLMError

    script = Script(evolve=INSERT_ADA, plan=SUFFICIENT, answer=ANSWER)
    failures = ["plan"]

    def answer(messages: list[Any]) -> Any:
        text = "\n".join(str(m.content) for m in messages)
        if script.kind(text) in failures:
            failures.remove(script.kind(text))
            raise PermissionError("401 unauthorised")  # not transient: fails the node
        return script.reply(text)

    llm = StructuredLLM(ScriptedChatModel(rules=[(lambda _m: True, answer)]), sleep=lambda s: 0)
    graph = build_hypergraph_rag(llm, FakeIndex(), checkpointer=InMemorySaver())
    cfg = {"configurable": {"thread_id": "crash"}}
    with pytest.raises(LLMError):
        graph.invoke({"question": QUESTION}, cfg)
    out = graph.invoke(None, cfg)  # resume
    assert script.kinds == ["evolve", "plan", "answer"], "evolve is not run again"
    assert out["answer"] == "Bram Tully" and len(out["memory"]["points"]) == 1


# ------------------------------------------------------------- evidence attribution

CITE_P3_ATLAS = {"inserts": [{"entities": ["Velm Press", "Orlen Atlas", "Bram Tully"],
                              "sources": ["p3"],
                              "description": "Velm Press printed the Orlen Atlas, which Bram "
                                             "Tully edited."}]}
ATLAS_QUESTION = "Who edited the Orlen Atlas that Velm Press printed?"


def _attribution_run(attribution: bool, reply: dict[str, Any], **knobs: Any) -> dict[str, Any]:
    from memagents.hypermem.retrieval import RetrievalSettings

    script = Script(evolve=reply, plan=SUFFICIENT, answer=ANSWER)
    settings = RetrievalSettings(attribution=attribution, **knobs)
    return _graph(script, retrieval=settings).invoke({"question": ATLAS_QUESTION})


def test_attribution_adds_the_sources_of_relations_between_the_points_entities() -> None:
    on = _attribution_run(True, CITE_P3_ATLAS)
    relations = {(r["subject"], r["object"]): r["sources"] for r in on["context"]["relations"]}
    assert relations[("velm press", "orlen atlas")] == ["p2"], "the step retrieved the relation"
    assert relations[("bram tully", "orlen atlas")] == ["p3"]
    sources = on["memory"]["points"][0]["sources"]
    assert sources[0] == "p3", "what the reply cites comes first"
    assert set(sources) == {"p2", "p3"}, \
        "provenance of the relations between its entities, not of ada's founding (p1)"
    off = _attribution_run(False, CITE_P3_ATLAS)
    assert off["memory"]["points"][0]["sources"] == ["p3"], "off: the citation only"


def test_attribution_applies_when_the_reply_cites_nothing() -> None:
    on = _attribution_run(True, INSERT_ATLAS)
    assert set(on["memory"]["points"][0]["sources"]) == {"p2", "p3"}
    off = _attribution_run(False, INSERT_ATLAS)
    # off: a reply citing nothing gets the step's passages mentioning its entities
    assert {"p1", "p2", "p3"} <= set(off["memory"]["points"][0]["sources"])


def test_attribution_keeps_a_points_own_sources_outside_the_inner_cap() -> None:
    on = _attribution_run(True, CITE_P3_ATLAS, inner_k=1, outer_k=0)
    off = _attribution_run(False, CITE_P3_ATLAS, inner_k=1, outer_k=0)
    assert {"p2", "p3"} <= {p["id"] for p in on["evidence"]}
    assert all(p["points"] == ["mp-0001"] for p in on["evidence"])
    assert len(off["evidence"]) == 1, "off: sources and entity passages share inner_k"


def test_attribution_on_update_adds_provenance() -> None:
    from memagents.hypermem.retrieval import RetrievalSettings

    plan = {"judgement": "dig_deeper", "single_fact": True, "concerns": [
        {"text": "Who edited it?", "points": ["mp-0001"],
         "subquery": "Who edited the Orlen Atlas?"}]}
    first = {"inserts": [{"entities": ["Velm Press", "Orlen Atlas"],
                          "description": "Velm Press printed the Orlen Atlas."}]}
    update = {"updates": [{"id": "mp-0001", "entities": ["Velm Press", "Orlen Atlas",
                                                          "Bram Tully"],
                           "description": "Velm Press printed the Orlen Atlas; Bram Tully "
                                          "edited it."}]}
    script = Script(evolve=[first, update], plan=plan, answer=ANSWER)
    out = _graph(script, max_steps=2, retrieval=RetrievalSettings(attribution=True)).invoke(
        {"question": "What did Velm Press print?"})
    point = out["memory"]["points"][0]
    assert point["id"] == "mp-0001" and "p3" in point["sources"], \
        "the update's new relation (bram tully edited orlen atlas) brings its passage"


def test_relation_provenance_needs_both_entities() -> None:
    from memagents.hypermem.retrieval import relation_provenance

    rels = [RelationHit(subject=s, predicate=p, object=o, sources=(src, "p9"))
            for s, p, o, src in RELATIONS]
    assert relation_provenance(rels, ["Bram Tully", "Orlen Atlas"], key=str.casefold) == \
        ["p3", "p9"]
    assert relation_provenance(rels, ["bram tully"]) == [], "one entity states no relation"


def test_retrieval_settings_validate_the_new_knobs() -> None:
    from memagents.errors import InputError
    from memagents.hypermem.retrieval import RetrievalSettings

    assert RetrievalSettings().entity_linking == "entities"
    with pytest.raises(InputError):
        RetrievalSettings(entity_linking="nodes")  # type: ignore[arg-type]
    with pytest.raises(InputError):
        RetrievalSettings(attribution=1)  # type: ignore[arg-type]
    with pytest.raises(InputError):
        RetrievalSettings(entity_k=True)


# ------------------------------------------------------------ entity linking via relations

def _linked(linking: str, where: Any = None, query: str = "Where was he born?") -> list[str]:
    """Linked names; the fake index ranks every relation (no threshold): top 2 only."""
    from memagents.hypermem.retrieval import RetrievalSettings, Scope, link_entities

    settings = RetrievalSettings(entity_linking=linking, relation_k=2)  # type: ignore[arg-type]
    return [e.name for e in link_entities(FakeIndex(), query, where or Scope("open"),
                                          settings)]


def test_relations_linking_links_the_endpoints_of_the_top_relations() -> None:
    assert _linked("entities") == [], "no entity name or description says 'born'"
    assert _linked("relations")[:2] == ["bram tully", "harrow"], "bram tully born in harrow"
    hit = next(iter(FakeIndex().get_entities(["harrow"])))
    from memagents.hypermem.retrieval import RetrievalSettings, Scope, link_entities

    got = link_entities(FakeIndex(), "Where was he born?", Scope("open"),
                        RetrievalSettings(entity_linking="relations", relation_k=1))
    assert got[1].sources == hit.sources and (got[1].score or 0) > 0, \
        "index entities, scored by their relation"


def test_relations_linking_respects_the_scope_and_entity_k() -> None:
    from memagents.hypermem.retrieval import RetrievalSettings, Scope, link_entities

    local = Scope("local", within=frozenset({"bram tully", "orlen atlas"}))
    assert _linked("relations", local) == ["bram tully", "orlen atlas"], \
        "relations touching the neighbourhood, endpoints inside it (not harrow)"
    away = Scope("global", exclude=frozenset({"bram tully"}))
    assert _linked("relations", away)[0] == "harrow"
    assert "bram tully" not in _linked("relations", away)
    one = link_entities(FakeIndex(), "Velm Press printed the Orlen Atlas", Scope("open"),
                        RetrievalSettings(entity_linking="relations", entity_k=1))
    assert [e.name for e in one] == ["velm press"]


def test_both_linking_is_the_union() -> None:
    query = "Where was Ada Korvin born?"
    ents, rels, both = (_linked(m, query=query) for m in ("entities", "relations", "both"))
    assert ents == ["ada korvin"] and "harrow" in rels, "the two linkings differ here"
    assert set(both) == set(ents) | set(rels)


def test_relations_linking_drives_the_loops_retrieval() -> None:
    from memagents.hypermem.retrieval import RetrievalSettings

    script = Script(evolve={"inserts": [], "updates": []}, plan=SUFFICIENT, answer=ANSWER)
    index = FakeIndex()
    settings = RetrievalSettings(entity_linking="relations", relation_k=1)
    out = _graph(script, index, retrieval=settings).invoke({"question": "Where was he born?"})
    assert [e["name"] for e in out["context"]["entities"]] == ["bram tully", "harrow"]
    assert "- bram tully | born in | harrow" in script.prompts[0]
    assert not [c for c in index.calls if c[0] == "search_entities"
                and c[1]["query"] == "Where was he born?" and c[1]["within"] is None]
