"""Answering (closed-book / with evidence), conflict resolution and the Adapt-LLM export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memagents.errors import ConfigError, InputError, LLMError
from memagents.gate.answering import Answer, Answerer, first_line, is_no_answer
from memagents.gate.conflict import (
    ConflictPolicy,
    Evidence,
    answers_agree,
    aresolve_conflict,
    normalize_answer,
    resolve_conflict,
)
from memagents.gate.research.training import (
    CONTEXT_INSTRUCTION,
    build_training_set,
    load_records,
    validate_openai_chat_jsonl,
    write_alpaca_json,
    write_openai_chat_jsonl,
)
from memagents.models import RetryPolicy, StructuredLLM, Usage, override_prompt, reset_prompt
from memagents.sample import SampleWorld
from memagents.testing import ScriptedChatModel

Q = "In what city was Ada Vell born?"
PARAMETRIC = "answer the question Q. If you need help answer <RET> to get the context"


def _llm(model: ScriptedChatModel, retries: int = 2) -> StructuredLLM:
    return StructuredLLM(model, retry=RetryPolicy(max_retries=retries, backoff_base=0, jitter=0),
                         sleep=lambda s: None)


def _text(call: list) -> str:
    return "\n".join(str(m.content) for m in call)


# -- answering ------------------------------------------------------------------------------


def test_closed_book_uses_the_named_prompt_and_keeps_the_first_line() -> None:
    model = ScriptedChatModel(default="\nA: Quillmere\nShe was born there in 1901.")
    answer = Answerer(model).closed_book(f"  {Q} ")
    assert answer == Answer("Quillmere", raw="\nA: Quillmere\nShe was born there in 1901.")
    sent = _text(model.calls[0])
    assert f"Q: {Q}\nA:" in sent and "no explanation" in sent
    assert model.call_kwargs[0].get("response_format") is None  # raw text, no JSON mode


def test_with_evidence_returns_answer_and_support_and_numbers_several_passages() -> None:
    model = ScriptedChatModel(default={"answer": "Quillmere", "supported": True})
    answerer = Answerer(model)
    answer = answerer.with_evidence(Q, ["Ada Vell was born in Quillmere.", "  ", "Velmora."])
    assert (answer.text, answer.supported) == ("Quillmere", True)
    sent = _text(model.calls[0])
    assert "answer the question Q given the context C" in sent
    assert f"Q: {Q}\nC: [1] Ada Vell was born in Quillmere.\n[2] Velmora." in sent
    assert answerer.usage.llm_calls == 1


def test_with_evidence_no_answer_is_never_supported_and_bad_json_is_reasked() -> None:
    model = ScriptedChatModel(responses=["not json", {"answer": "unknown", "supported": True}])
    answerer = Answerer(_llm(model))
    answer = answerer.with_evidence(Q, ["Velmora is a port."])
    assert answer.text == "unknown" and answer.supported is False and answer.empty
    assert (answerer.usage.llm_calls, answerer.usage.retries) == (2, 1)


@pytest.mark.parametrize("passages", [[], ["", "  "], "Ada Vell was born in Quillmere."])
def test_with_evidence_rejects_missing_passages_without_calling(passages: object) -> None:
    model = ScriptedChatModel(default="never used")
    with pytest.raises(InputError, match="passage"):
        Answerer(model).with_evidence(Q, passages)  # type: ignore[arg-type]
    assert model.calls == []


def test_answerer_rejects_blank_question_and_reports_model_failures() -> None:
    with pytest.raises(InputError, match="non-empty"):
        Answerer(ScriptedChatModel(default="x")).closed_book("  ")
    model = ScriptedChatModel(default="not json at all")
    with pytest.raises(LLMError, match="ContextAnswer"):
        Answerer(_llm(model, retries=1)).with_evidence(Q, ["p"])
    assert len(model.calls) == 2


def test_prompts_can_be_overridden_by_users() -> None:
    model = ScriptedChatModel(default="Quillmere")
    override_prompt("gate.closed_book", system="Reply in one word.")
    try:
        Answerer(model).closed_book(Q)
    finally:
        reset_prompt("gate.closed_book")
    assert model.calls[0][0].content == "Reply in one word."


def test_answerer_shares_or_overrides_usage_of_a_structured_llm() -> None:
    model = ScriptedChatModel(default="Quillmere")
    llm = _llm(model)
    assert Answerer(llm).llm is llm
    mine = Usage()
    answerer = Answerer(llm, usage=mine)
    answerer.closed_book(Q)
    assert (mine.llm_calls, llm.usage.llm_calls) == (1, 0)


async def test_async_twins_match_sync() -> None:
    model = ScriptedChatModel(rules=[("given the context", {"answer": "Quillmere",
                                                           "supported": True})],
                              default="Velmora")
    answerer = Answerer(model)
    assert await answerer.aclosed_book(Q) == answerer.closed_book(Q)
    assert await answerer.awith_evidence(Q, ["x"]) == answerer.with_evidence(Q, ["x"])


def test_text_helpers() -> None:
    assert first_line("  \n Answer: Port Sable \n more") == "Port Sable"
    assert is_no_answer("I don't know.") and is_no_answer("<RET>") and not is_no_answer("No")
    assert normalize_answer("The Braskar Comets!") == "braskar comets"
    assert answers_agree("Braskar Comets", "The Braskar Comets")
    assert answers_agree("Paris", "Paris, France") and answers_agree("Paris, France", "Paris")
    assert not answers_agree("Rome", "Romeo") and not answers_agree("", "")


# -- conflict resolution ----------------------------------------------------------------------


class Reader:
    """A scripted evidence reader recording its calls."""

    def __init__(self, answer: Answer) -> None:
        self.answer, self.calls = answer, []

    def with_evidence(self, question: str, passages: list[str]) -> Answer:
        self.calls.append(passages)
        return self.answer

    async def awith_evidence(self, question: str, passages: list[str]) -> Answer:
        return self.with_evidence(question, passages)


EVIDENCE = [
    Evidence("Ada Vell was born in Quillmere in 1901.", source="p1", score=1.5),
    Evidence("Velmora is a port city.", source="p2", score=1.2),
    Evidence("Quillmere, birthplace of Ada Vell, lies on the coast.", source="p3", score=0.9),
]


def test_evidence_supporting_another_answer_wins_with_provenance() -> None:
    reader = Reader(Answer("Quillmere", supported=True))
    r = resolve_conflict(Q, Answer("Velmora"), EVIDENCE, reader)
    assert (r.answer, r.source, r.conflict) == ("Quillmere", "evidence", True)
    assert (r.parametric_answer, r.evidence_answer) == ("Velmora", "Quillmere")
    assert [e.source for e in r.supporting] == ["p1", "p3"]
    assert "knowledge conflict" in r.reason and "2 of 3 passage(s)" in r.reason
    assert reader.calls == [[e.text for e in EVIDENCE]]
    assert r.to_dict()["supporting"][0] == {"source": "p1", "score": 1.5, "text": EVIDENCE[0].text}


def test_agreeing_answers_are_no_conflict() -> None:
    r = resolve_conflict(Q, "quillmere", EVIDENCE, Reader(Answer("Quillmere.", supported=True)))
    assert (r.answer, r.source, r.conflict) == ("Quillmere.", "evidence", False)
    assert "agrees with" in r.reason


def test_evidence_without_any_answer_keeps_the_parametric_answer() -> None:
    r = resolve_conflict(Q, Answer("Velmora"), EVIDENCE[1:2], Reader(Answer("", supported=False)))
    assert (r.answer, r.source, r.conflict, r.evidence_answer) == ("Velmora", "parametric",
                                                                   False, None)
    assert "the evidence gives no answer; keeping the closed-book answer 'Velmora'" == r.reason


def test_unsupported_evidence_answer_keeps_parametric_but_flags_the_conflict() -> None:
    r = resolve_conflict(Q, Answer("Velmora"), EVIDENCE[1:2],
                         Reader(Answer("Port Sable", supported=False)))
    assert (r.answer, r.source, r.conflict) == ("Velmora", "parametric", True)
    assert r.supporting == [] and "does not support its answer 'Port Sable'" in r.reason
    trusting = ConflictPolicy(keep_parametric_when_unsupported=False)
    r2 = resolve_conflict(Q, Answer("Velmora"), EVIDENCE[1:2],
                          Reader(Answer("Port Sable", supported=False)), trusting)
    assert (r2.answer, r2.source) == ("Port Sable", "evidence") and "unverified" in r2.reason


def test_ask_more_policy_requests_more_retrieval() -> None:
    policy = ConflictPolicy(ask_more_when_unsupported=True)
    r = resolve_conflict(Q, Answer("Velmora"), EVIDENCE[1:2], Reader(Answer("")), policy)
    assert (r.answer, r.source) == ("Velmora", "need_more_retrieval")
    assert "asking for more retrieval" in r.reason and "provisional" in r.reason
    # supported evidence still wins under the same policy
    r2 = resolve_conflict(Q, Answer("Velmora"), EVIDENCE,
                          Reader(Answer("Quillmere", supported=True)), policy)
    assert r2.source == "evidence"


def test_nothing_to_answer_with_abstains_and_empty_evidence_calls_nothing() -> None:
    reader = Reader(Answer("never used", supported=True))
    r = resolve_conflict(Q, None, [Evidence("   ")], reader)
    assert (r.answer, r.source, r.conflict) == ("", "abstain", False)
    assert "empty retrieval result" in r.reason and reader.calls == []
    kept = resolve_conflict(Q, Answer("Velmora"), [], reader)
    assert (kept.answer, kept.source) == ("Velmora", "parametric") and reader.calls == []
    none = resolve_conflict(Q, Answer("I don't know"), EVIDENCE[1:2], Reader(Answer("")))
    assert none.source == "abstain" and none.parametric_answer is None


def test_policy_can_prefer_memory_over_supported_evidence() -> None:
    policy = ConflictPolicy(prefer_evidence_when_supported=False)
    r = resolve_conflict(Q, Answer("Velmora"), EVIDENCE, Reader(Answer("Quillmere",
                                                                       supported=True)), policy)
    assert (r.answer, r.source, r.conflict) == ("Velmora", "parametric", True)


def test_given_evidence_answer_without_support_flag_uses_containment() -> None:
    reader = Reader(Answer("unused"))
    found = resolve_conflict(Q, "Velmora", EVIDENCE, reader, evidence_answer=Answer("Quillmere"))
    assert (found.source, found.evidence_supported, reader.calls) == ("evidence", True, [])
    absent = resolve_conflict(Q, "Velmora", EVIDENCE, reader,
                              evidence_answer=Answer("Port Sable"))
    assert (absent.source, absent.evidence_supported) == ("parametric", False)


def test_llm_judge_settles_answers_that_differ_only_in_wording() -> None:
    model = ScriptedChatModel(rules=[
        ("Answer A: NYC", {"same": True, "explanation": "NYC is New York City"}),
        ("Answer A: Boston", {"same": False, "explanation": "different cities"}),
        ("given the context", {"answer": "New York City", "supported": True}),
    ])
    answerer = Answerer(model)
    judge = ConflictPolicy(use_llm_judge=True)
    passages = [Evidence("Tor Ennis was born in New York City.", source="p9")]
    same = resolve_conflict("Where was Tor Ennis born?", "NYC", passages, answerer, judge)
    assert (same.conflict, same.source, same.answer) == (False, "evidence", "New York City")
    assert "LLM judge" in same.reason
    differ = resolve_conflict("Where was Tor Ennis born?", "Boston", passages, answerer, judge)
    assert differ.conflict is True
    assert [("Answer A:" in _text(c)) for c in model.calls] == [False, True, False, True]
    plain = resolve_conflict("Where was Tor Ennis born?", "NYC", passages, answerer)
    assert plain.conflict is True and len(model.calls) == 5  # no judge call without the flag
    agree = resolve_conflict("Where was Tor Ennis born?", "new york city", passages, answerer,
                             judge)
    assert agree.conflict is False and len(model.calls) == 6  # equal strings: no judge call


def test_llm_judge_needs_a_model() -> None:
    with pytest.raises(ConfigError, match="use_llm_judge"):
        resolve_conflict(Q, "Velmora", EVIDENCE, Reader(Answer("Quillmere", supported=True)),
                         ConflictPolicy(use_llm_judge=True))


async def test_async_resolution_matches_sync_and_is_deterministic() -> None:
    reader = Reader(Answer("Quillmere", supported=True))
    sync = resolve_conflict(Q, Answer("Velmora"), EVIDENCE, reader)
    assert resolve_conflict(Q, Answer("Velmora"), EVIDENCE, reader) == sync
    assert await aresolve_conflict(Q, Answer("Velmora"), EVIDENCE, reader) == sync


def test_bad_conflict_input_is_named() -> None:
    with pytest.raises(InputError, match="sequence of Evidence"):
        resolve_conflict(Q, None, "one passage", Reader(Answer("x")))  # type: ignore[arg-type]
    with pytest.raises(InputError, match="evidence\\[0\\]"):
        resolve_conflict(Q, None, [3], Reader(Answer("x")))  # type: ignore[list-item]


# -- Adapt-LLM training export ---------------------------------------------------------------


def _world_items(n: int) -> list[dict]:
    world = SampleWorld.generate(0, size="small")
    return [{"id": q.id, "question": q.question, "possible_answers": list(q.possible_answers),
             "gold_passage": world.passage(q.gold_passage_id).text} for q in world.popqa[:n]]


def test_training_set_follows_algorithm_1() -> None:
    items = _world_items(6)
    # even items answered correctly, odd ones wrong; item 5 has no passage; item 4 no prediction
    items[5]["gold_passage"] = ""
    preds = {it["id"]: (it["possible_answers"][0] if i % 2 == 0 else "nobody")
             for i, it in enumerate(items) if i != 4}
    ts = build_training_set(items, preds)
    # correct: items 0, 2 -> 2 instances; wrong: 1, 3 -> 4 instances, 5 skipped (no passage)
    assert [(e.id, e.kind) for e in ts.examples] == [
        (items[0]["id"], "answer"), (items[1]["id"], "retrieve"), (items[1]["id"], "context"),
        (items[2]["id"], "answer"), (items[3]["id"], "retrieve"), (items[3]["id"], "context")]
    assert ts.stats == {"items": 6, "correct": 2, "wrong": 3, "examples": 6, "ret_share": 0.6,
                        "skipped_no_passage": 1, "skipped_no_prediction": 1,
                        "passage_lacks_answer": 0, "token": "<RET>"}
    assert ts.skipped_ids["no_passage"] == [items[5]["id"]]
    assert "skipped 1 wrong item(s) without a passage" in ts.summary()
    first, ret, ctx = ts.examples[:3]
    assert (first.instruction, first.input, first.output) == (
        PARAMETRIC, f"Q: {items[0]['question']}", items[0]["possible_answers"][0])
    assert (ret.instruction, ret.output) == (PARAMETRIC, "<RET>")
    assert ctx.instruction == "answer the question Q given the context C" == CONTEXT_INSTRUCTION
    assert ctx.input == f"Q: {items[1]['question']}\nC: {items[1]['gold_passage']}"
    assert ctx.output == items[1]["possible_answers"][0]


def test_training_token_and_passage_checks_are_configurable() -> None:
    items = [{"id": "a", "question": "Who wrote Velmora?", "possible_answers": ["Ilda Morn"],
              "contriever_passage": "Velmora is a port."},
             {"id": "b", "question": "What genre is Hollin?", "possible_answers": ["jazz"],
              "passage": "Hollin is a jazz band."}]
    ts = build_training_set(items, [{"id": "a", "prediction": "x"}, {"id": "b", "prediction": "y"}],
                            token="[RETRIEVE]", require_answer_in_passage=True)
    assert [e.output for e in ts.examples] == ["[RETRIEVE]", "jazz"]
    assert ts.examples[0].instruction.endswith("answer [RETRIEVE] to get the context")
    assert ts.skipped_ids["passage_lacks_answer"] == ["a"]
    with pytest.raises(InputError, match="parametric"):
        build_training_set(items, [{"id": "a", "mode": "retrieval", "prediction": "x"}])
    with pytest.raises(InputError, match="token"):
        build_training_set(items, {}, token=" ")
    with pytest.raises(InputError, match="possible_answers"):
        build_training_set([{"id": "c", "question": "Q?"}], {"c": "x"})


def test_openai_export_is_valid_and_alpaca_uses_the_papers_strings(tmp_path: Path) -> None:
    items = _world_items(4)
    preds = {items[0]["id"]: items[0]["possible_answers"][0],
             **{it["id"]: "wrong" for it in items[1:]}}
    ts = build_training_set(items, preds)
    path = write_openai_chat_jsonl(ts.examples, tmp_path / "out" / "train.jsonl")
    assert validate_openai_chat_jsonl(path) == []
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert len(lines) == 7  # 1 correct + 3 wrong x 2
    assert [m["role"] for m in lines[1]["messages"]] == ["system", "user", "assistant"]
    assert lines[1]["messages"][0]["content"] == PARAMETRIC
    assert lines[1]["messages"][2]["content"] == "<RET>"
    alpaca = json.loads(write_alpaca_json(ts.examples, tmp_path / "a.json").read_text())
    assert all(set(x) == {"instruction", "input", "output"} for x in alpaca)
    assert {x["instruction"] for x in alpaca} == {PARAMETRIC, CONTEXT_INSTRUCTION}
    assert alpaca[2]["input"].startswith("Q: ") and "\nC: " in alpaca[2]["input"]


def test_openai_validator_catches_broken_lines(tmp_path: Path) -> None:
    good = {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"},
                         {"role": "assistant", "content": "a"}]}
    lines = [
        json.dumps(good),
        "{not json",
        json.dumps([good]),
        json.dumps({"messages": []}),
        json.dumps({"prompt": "x", "completion": "y"}),
        json.dumps({"messages": [{"role": "bot", "content": "a"}]}),
        json.dumps({"messages": [{"role": "user", "content": "u"},
                                 {"role": "assistant", "content": None}]}),
        json.dumps({"messages": [{"role": "assistant", "content": "a"},
                                 {"role": "user", "content": "u"}]}),
        "",
        json.dumps({"messages": [{"role": "user", "content": "u", "weight": 1, "x": 2},
                                 {"role": "assistant", "content": "a"}]}),
    ]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    problems = validate_openai_chat_jsonl(path, min_examples=10)
    joined = "\n".join(problems)
    assert not any(p.startswith("line 1:") for p in problems)
    for expected in ("line 2: not valid JSON", "line 3: must be a JSON object",
                     "line 4: needs a non-empty 'messages' list",
                     "line 5: unrecognized key(s) completion, prompt",
                     "line 6, message 0: role 'bot'",
                     "line 7, message 1: content must be a non-empty string",
                     "line 8: the last message must be the assistant's",
                     "line 9: empty line", "line 10, message 0: unrecognized key(s) x",
                     "line 10, message 0: weight must be 0 or 1 and only on assistant",
                     "9 example(s); OpenAI fine-tuning needs at least 10"):
        assert expected in joined, expected
    with pytest.raises(InputError, match="no such file"):
        validate_openai_chat_jsonl(tmp_path / "missing.jsonl")


def test_load_records_reads_every_layout(tmp_path: Path) -> None:
    rec = {"id": "1", "question": "Q?", "possible_answers": ["a"]}
    (tmp_path / "l.json").write_text(json.dumps([rec]))
    (tmp_path / "k.json").write_text(json.dumps({"1": {"question": "Q?",
                                                       "possible_answers": ["a"]}}))
    (tmp_path / "r.jsonl").write_text(json.dumps(rec) + "\n\n" + json.dumps(rec) + "\n")
    (tmp_path / "p.json").write_text(json.dumps({"1": "a", "2": "b"}))
    assert load_records(tmp_path / "l.json") == [rec]
    assert load_records(tmp_path / "k.json") == [rec]
    assert load_records(tmp_path / "r.jsonl") == [rec, rec]
    assert load_records(tmp_path / "p.json") == [{"id": "1", "prediction": "a"},
                                                 {"id": "2", "prediction": "b"}]
    (tmp_path / "bad.jsonl").write_text("{}\n{oops\n")
    with pytest.raises(InputError, match="line 2"):
        load_records(tmp_path / "bad.jsonl")
