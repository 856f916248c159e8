"""The evaluation harness and the ``gate eval`` / ``gate export-training`` commands.

The six-item set below and its expected numbers are computed by hand:

== ===================================== ===== ======== ====================================
id question                              s_pop route    prediction -> correct
== ===================================== ===== ======== ====================================
q1 Who is the author of Velmora?          5000 recall   "Ilda Morn" yes
q2 What genre is Hollin Bay?              3000 recall   "rock" no
q3 In what city was Ada Vell born?          50 retrieve "Quillmere" yes (passage has it)
q4 What is Tor Ennis's occupation?          20 retrieve "painter" no (passage lacks it)
q5 Who is the author of Brindle Works?      10 retrieve "Mara Quist" yes (passage has it)
q6 What is the capital of Osterlund?         8 retrieve no passage: closed book "Port Sable" yes
== ===================================== ===== ======== ====================================

(route: retrieve when s_pop < 100)

accuracy = 4/6 = 0.666667; retrieval rate = 4/6 (q3-q6); has-answer rate of retrieved passages
= 2/4 = 0.5 (q3, q5; q6 has none); LLM calls = 6 (one per question: 3 closed-book, 3 with
evidence); completion tokens (whitespace words) = closed-book "Ilda Morn" 2 + "rock" 1 +
"Port Sable" 2, JSON replies '{"answer": "Quillmere", "supported": true}' 4 + "painter" 4 +
"Mara Quist" 5 = 18. Per relation: author 2/2 correct, retrieval 1/2; genre 0/1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from memagents.errors import ConfigError, InputError, LLMError
from memagents.eval.scoring import has_answer
from memagents.gate.answering import Answerer
from memagents.gate.base import Decision, RetrievalPolicy
from memagents.gate.research.cli_eval import evaluate, export_training
from memagents.gate.research.harness import EvalConfig, EvalItem, Harness, RecordedOutputs
from memagents.models import RetryPolicy, StructuredLLM
from memagents.testing import Fault, OpenAIServer, ScriptedChatModel

ITEMS: list[dict[str, Any]] = [
    {"id": "q1", "question": "Who is the author of Velmora?", "possible_answers": ["Ilda Morn"],
     "s_pop": 5000, "prop": "author", "contriever_passage": "Velmora is a novel by Ilda Morn."},
    {"id": "q2", "question": "What genre is Hollin Bay?", "possible_answers": ["jazz"],
     "s_pop": 3000, "prop": "genre", "contriever_passage": "Hollin Bay is a jazz band."},
    {"id": "q3", "question": "In what city was Ada Vell born?", "possible_answers": ["Quillmere"],
     "s_pop": 50, "prop": "place of birth",
     "contriever_passage": "Ada Vell was born in Quillmere."},
    {"id": "q4", "question": "What is Tor Ennis's occupation?",
     "possible_answers": ["poet", "writer"], "s_pop": 20, "prop": "occupation",
     "contriever_passage": "Tor Ennis is a painter from Velmora."},
    {"id": "q5", "question": "Who is the author of Brindle Works?",
     "possible_answers": ["Mara Quist"], "s_pop": 10, "prop": "author",
     "contriever_passage": "Brindle Works is a novel by Mara Quist, published in 1901."},
    {"id": "q6", "question": "What is the capital of Osterlund?",
     "possible_answers": ["Port Sable"],
     "s_pop": 8, "prop": "capital", "contriever_passage": ""},
]
CLOSED = {"q1": "Ilda Morn", "q2": "rock", "q6": "Port Sable"}
EVIDENCE = {"q3": "Quillmere", "q4": "painter", "q5": "Mara Quist"}
EXPECTED = {"n": 6, "correct": 4, "accuracy": 0.666667, "retrieved": 4,
            "retrieval_rate": 0.666667, "has_answer_rate": 0.5, "llm_calls": 6,
            "completion_tokens": 18}


class Popularity(RetrievalPolicy):
    """Retrieve below a popularity threshold (a local stand-in for the real policies)."""

    def __init__(self, threshold: float = 100, name: str = "pop-test") -> None:
        self.threshold, self.name = threshold, name

    def decide(self, question: str, *, metadata: Any = None) -> Decision:
        retrieve = metadata["s_pop"] < self.threshold
        return Decision(retrieve=retrieve, policy=self.name, reason="popularity",
                        signals={"s_pop": metadata["s_pop"]})


class Knowing(RetrievalPolicy):
    """Always retrieves but carries a closed-book answer (like the confidence policies)."""

    name = "knowing"

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers

    def decide(self, question: str, *, metadata: Any = None) -> Decision:
        return Decision(retrieve=True, policy=self.name, reason="low confidence",
                        answer=self.answers[metadata["id"]])


def _by_question(item: dict[str, Any]) -> tuple[str, str]:
    return f"Q: {item['question']}\nA:", f"Q: {item['question']}\nC:"


def _rules() -> list[tuple[str, Any]]:
    rules: list[tuple[str, Any]] = []
    for item in ITEMS:
        closed, ctx = _by_question(item)
        if item["id"] in CLOSED:
            rules.append((closed, CLOSED[item["id"]]))
        if item["id"] in EVIDENCE:
            rules.append((ctx, {"answer": EVIDENCE[item["id"]], "supported": True}))
    return rules


def _words(messages: list[Any]) -> int:
    return sum(len(str(m.content).split()) for m in messages)


def _check(summary: dict[str, Any]) -> None:
    for key, value in EXPECTED.items():
        assert summary[key] == value, key
    assert summary["per_relation"]["author"] == {"n": 2, "correct": 2, "accuracy": 1.0,
                                                 "retrieved": 1, "retrieval_rate": 0.5,
                                                 "has_answer_rate": 1.0}
    assert summary["per_relation"]["genre"]["accuracy"] == 0.0
    assert summary["total_tokens"] == summary["prompt_tokens"] + summary["completion_tokens"]


def test_harness_totals_match_hand_computed_numbers(tmp_path: Path) -> None:
    model = ScriptedChatModel(rules=_rules())
    report = Harness(Popularity(), answerer=Answerer(model)).run(ITEMS, tmp_path)
    _check(report.summary)
    assert report.summary["prompt_tokens"] == sum(_words(c) for c in model.calls)
    assert report.summary["mode"] == "adaptive" and report.summary["complete"] is True
    records = [json.loads(x) for x in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == [f"q{i}" for i in range(1, 7)]
    assert set(records[0]) >= {"id", "question", "prop", "s_pop", "possible_answers", "mode",
                               "prediction", "is_correct", "retrieved", "has_answer", "policy",
                               "decision"}
    assert [r["is_correct"] for r in records] == [True, False, True, False, True, True]
    assert [r["has_answer"] for r in records] == [None, None, True, False, True, False]
    assert records[5]["answer_source"] == "parametric" and "empty retrieval" in records[5]["note"]
    assert records[2]["decision"]["signals"] == {"s_pop": 50}
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["accuracy"] == EXPECTED["accuracy"] and saved["results_path"]


def test_harness_end_to_end_through_the_openai_client(openai_server: OpenAIServer) -> None:
    for match, reply in _rules():
        openai_server.add_rule(match, reply)
    llm = StructuredLLM(openai_server.chat_model(max_retries=0), sleep=lambda s: None)
    report = Harness(Popularity(), answerer=Answerer(llm)).run(ITEMS)
    _check(report.summary)
    assert len(openai_server.chat_requests) == 6
    formats = [b.get("response_format") for b in openai_server.chat_requests]
    assert formats.count({"type": "json_object"}) == 3  # the three evidence calls


def test_recorded_outputs_make_no_model_call(tmp_path: Path) -> None:
    parametric = {"q1": "Ilda Morn", "q2": "rock", "q3": "Velmora", "q4": "poet",
                  "q5": "unknown", "q6": "Port Sable"}
    retrieval = {"q1": "Ilda Morn", "q2": "jazz", "q3": "Quillmere", "q4": "painter",
                 "q5": "Mara Quist", "q6": "Osterlund"}
    path = tmp_path / "recorded.jsonl"
    path.write_text("".join(json.dumps({"id": i, "mode": m, "prediction": p}) + "\n"
                            for m, preds in (("parametric", parametric), ("retrieval", retrieval))
                            for i, p in preds.items()))
    recorded = RecordedOutputs.from_files(path)
    # adaptive: q1 P yes, q2 P no, q3 R yes, q4 R no, q5 R yes, q6 R no -> 3/6
    adaptive = Harness(Popularity(), recorded=recorded).run(ITEMS).summary
    assert (adaptive["accuracy"], adaptive["llm_calls"], adaptive["prompt_tokens"]) == (0.5, 0, 0)
    assert adaptive["answer_sources"] == {"recorded:parametric": 2, "recorded:retrieval": 4}
    # never: q1, q4, q6 correct -> 0.5; always: q1, q2, q3, q5 -> 4/6
    never = Harness(Popularity(float("-inf"), "never"), recorded=recorded).run(
        ITEMS, tmp_path / "never")
    always = Harness(Popularity(float("inf"), "always"), recorded=recorded).run(
        ITEMS, tmp_path / "always")
    assert (never.summary["mode"], never.summary["accuracy"]) == ("parametric", 0.5)
    assert (always.summary["mode"], always.summary["accuracy"]) == ("retrieval", 0.666667)
    # the result files are the tuning command's input
    from memagents.gate.research.tuning import pair_results

    paired = pair_results(never.results_path, always.results_path)
    assert paired.parametric_correct == (True, False, False, True, False, True)
    assert paired.retrieval_correct == (True, True, True, False, True, False)


def test_conflict_aware_answers_when_the_policy_has_a_closed_book_answer() -> None:
    items = [
        {"id": "a", "question": "In what city was Ada Vell born?",
         "possible_answers": ["Quillmere"],
         "contriever_passage": "Ada Vell was born in Quillmere."},
        {"id": "b", "question": "Who is the author of Velmora?", "possible_answers": ["Ilda Morn"],
         "contriever_passage": "Velmora is a port city ruled by Tor Ennis."},
        {"id": "c", "question": "What is Tor Ennis's occupation?", "possible_answers": ["poet"],
         "contriever_passage": ""},
    ]
    rules = [("Q: In what city was Ada Vell born?\nC:", {"answer": "Quillmere",
                                                         "supported": True}),
             ("Q: Who is the author of Velmora?\nC:", {"answer": "Tor Ennis",
                                                       "supported": False})]
    policy = Knowing({"a": "Velmora", "b": "Ilda Morn", "c": "poet"})
    aware = Harness(policy, answerer=Answerer(ScriptedChatModel(rules=rules))).run(items)
    # a: evidence supports Quillmere over memory's Velmora -> evidence (conflict, correct)
    # b: evidence does not support Tor Ennis -> memory's Ilda Morn kept (conflict, correct)
    # c: no passage -> memory's poet kept, no model call
    s = aware.summary
    assert (s["accuracy"], s["conflicts"], s["llm_calls"]) == (1.0, 2, 2)
    assert s["answer_sources"] == {"evidence": 1, "parametric": 2}
    assert aware.records[0]["resolution"]["supporting"] == [{"source": "contriever:a",
                                                             "score": None}]
    naive = Harness(policy, answerer=Answerer(ScriptedChatModel(rules=rules)),
                    config=EvalConfig(conflict=None)).run(items)
    assert naive.summary["accuracy"] == 0.666667  # b is now answered "Tor Ennis"


def test_resume_after_a_model_failure_recomputes_nothing(openai_server: OpenAIServer,
                                                         tmp_path: Path) -> None:
    for match, reply in _rules():
        openai_server.add_rule(match, reply)

    def harness() -> Harness:
        llm = StructuredLLM(openai_server.chat_model(max_retries=0), sleep=lambda s: None,
                            retry=RetryPolicy(max_retries=1, backoff_base=0, jitter=0))
        return Harness(Popularity(), answerer=Answerer(llm))

    def break_after_three(record: dict[str, Any]) -> None:
        if record["id"] == "q3":  # item 4 gets a 500 and its one retry too
            openai_server.inject(Fault.status(500), times=2)

    with pytest.raises(LLMError, match="rerun the same command to resume") as info:
        harness().run(ITEMS, tmp_path, on_record=break_after_three)
    assert "question 'q4' (3 of 6 done)" in str(info.value)
    partial = (tmp_path / "results.jsonl").read_text().splitlines()
    assert [json.loads(x)["id"] for x in partial] == ["q1", "q2", "q3"]
    assert json.loads((tmp_path / "summary.json").read_text())["complete"] is False

    report = harness().run(ITEMS, tmp_path)
    assert report.resumed == 3 and report.summary["this_run"]["llm_calls"] == 3
    _check(report.summary)
    served = [r.body for r in openai_server.records if r.endpoint == "chat" and r.fault is None]
    assert len(served) == 6  # exactly one answered request per question, none repeated
    asked = [m["content"] for b in served for m in b["messages"] if m["role"] == "user"]
    assert sorted(q.split("\n")[0] for q in asked) == sorted(f"Q: {i['question']}" for i in ITEMS)
    assert len(openai_server.chat_requests) == 8  # plus the two failed attempts
    assert len((tmp_path / "results.jsonl").read_text().splitlines()) == 6


def test_a_torn_last_line_is_recomputed_and_other_runs_are_refused(tmp_path: Path) -> None:
    model = ScriptedChatModel(rules=_rules())
    Harness(Popularity(), answerer=Answerer(model)).run(ITEMS[:2], tmp_path)
    path = tmp_path / "results.jsonl"
    path.write_text(path.read_text() + '{"id": "q3", "pred')  # killed mid-write
    report = Harness(Popularity(), answerer=Answerer(model)).run(ITEMS, tmp_path)
    assert report.resumed == 2 and len(model.calls) == 6
    assert len(path.read_text().splitlines()) == 6
    with pytest.raises(InputError, match="holds results of another run \\(policy 'pop-test'"):
        Harness(Popularity(name="other"), answerer=Answerer(model)).run(ITEMS, tmp_path)
    with pytest.raises(InputError, match="threshold=200"):
        Harness(Popularity(), answerer=Answerer(model),
                config=EvalConfig(signature="threshold=200")).run(ITEMS, tmp_path)


def test_bad_items_and_configurations_are_named() -> None:
    answerer = Answerer(ScriptedChatModel(rules=_rules()))
    with pytest.raises(InputError, match="id 'q1' appears twice"):
        Harness(Popularity(), answerer=answerer).run([ITEMS[0], ITEMS[0]])
    with pytest.raises(InputError, match="item 1 .* needs a non-empty 'question'"):
        Harness(Popularity(), answerer=answerer).run([ITEMS[0], {"id": "x"}])
    with pytest.raises(ConfigError, match="either answerer"):
        Harness(Popularity(), answerer=answerer, recorded=RecordedOutputs({}))
    with pytest.raises(ConfigError, match="no model to answer with"):
        Harness(Popularity()).run(ITEMS)
    with pytest.raises(InputError) as info:
        Harness(Popularity(), recorded=RecordedOutputs.from_records(
            [{"id": i["id"], "mode": "parametric", "prediction": "x"} for i in ITEMS])).run(ITEMS)
    assert "'q3' (2 of 6 done)" in str(info.value)
    assert "no retrieval prediction for id 'q3'" in str(info.value)
    with pytest.raises(InputError, match="adaptive"):
        RecordedOutputs.from_records([{"id": "1", "mode": "adaptive", "prediction": "x"}])
    with pytest.raises(ConfigError, match="max_concurrency"):
        EvalConfig(max_concurrency=0)
    item = EvalItem.of({"id": 3, "question": "Q?", "possible_answers": '["a"]',
                        "contriever_score": "1.56"}, 0)
    assert (item.id, item.passage, item.passage_score) == ("3", "", 1.56)


def test_limit_concurrency_and_async(tmp_path: Path) -> None:
    model = ScriptedChatModel(rules=_rules())
    limited = Harness(Popularity(), answerer=Answerer(model), config=EvalConfig(limit=3)).run(
        ITEMS, tmp_path)
    assert limited.summary["items"] == 3 and len(model.calls) == 3
    parallel = Harness(Popularity(), answerer=Answerer(ScriptedChatModel(rules=_rules())),
                       config=EvalConfig(max_concurrency=4)).run(ITEMS)
    _check(parallel.summary)  # per-record cost unknown: the run's totals are reported
    assert all(r.get("cost") is None for r in parallel.records)


async def test_arun_matches_run() -> None:
    harness = Harness(Popularity(), answerer=Answerer(ScriptedChatModel(rules=_rules())))
    report = await harness.arun(ITEMS)
    _check(report.summary)


def test_real_popqa_has_answer_rate(shared_data: Path) -> None:
    from memagents.eval.popqa import load_popqa

    items = load_popqa(shared_data)[:300]
    recorded = RecordedOutputs.from_records(
        {"id": it.id, "mode": "retrieval", "prediction": ""} for it in items)
    s = Harness(Popularity(float("inf"), "always"), recorded=recorded).run(items).summary
    expected = sum(has_answer(it.contriever_passage, it.possible_answers) for it in items) / 300
    assert s["has_answer_rate"] == round(expected, 6) and 0.2 < expected < 0.7
    assert s["retrieval_rate"] == 1.0 and s["accuracy"] == 0.0 and s["per_relation"]


# -- the CLI ---------------------------------------------------------------------------------


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    app.command("eval")(evaluate)
    app.command("export-training")(export_training)
    return app


def _data(tmp_path: Path) -> Path:
    path = tmp_path / "popqa.json"
    path.write_text(json.dumps(ITEMS))
    return path


def test_cli_eval_end_to_end_on_the_loopback_server(app: typer.Typer, tmp_path: Path,
                                                    openai_server: OpenAIServer,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    for match, reply in _rules():
        openai_server.add_rule(match, reply)
    for key, value in openai_server.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MEMAGENTS_MAX_RETRIES", "1")
    monkeypatch.setenv("MEMAGENTS_BACKOFF_BASE", "0")
    openai_server.inject(Fault.status(500), times=2)  # the first question fails
    args = ["eval", str(_data(tmp_path)), "--policy", "popularity", "--threshold", "100",
            "--llm", "openai:gpt-4o-mini", "--out", str(tmp_path / "run"), "--json"]
    failed = CliRunner().invoke(app, args)
    assert failed.exit_code == 1 and "rerun the same command to resume" in failed.output
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    _check(summary)
    assert summary["policy"] == "popularity" and summary["resumed"] == 0
    assert len((tmp_path / "run" / "results.jsonl").read_text().splitlines()) == 6
    table = CliRunner().invoke(app, args[:-1])  # all done: resumes everything, calls nothing
    assert table.exit_code == 0 and "66.67%" in table.stdout and "6 resumed" in table.stdout
    assert len(openai_server.chat_requests) == 8
    other = CliRunner().invoke(app, [*args[:5], "500", *args[6:]])  # another threshold
    assert other.exit_code == 1 and "another run" in other.output


def test_cli_eval_recorded_and_bad_input(app: typer.Typer, tmp_path: Path) -> None:
    rec = tmp_path / "rec.jsonl"
    rec.write_text("".join(json.dumps({"id": i["id"], "mode": "parametric",
                                       "prediction": "Ilda Morn"}) + "\n" for i in ITEMS))
    ok = CliRunner().invoke(app, ["eval", str(_data(tmp_path)), "-p", "never", "--recorded",
                                  str(rec), "-o", str(tmp_path / "never"), "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["accuracy"] == round(1 / 6, 6)
    bad = [
        (["-p", "never", "--threshold", "3"], "--threshold applies to"),
        (["-p", "always"], "no chat model to answer with"),
        (["-p", "nonsense", "--recorded", str(rec)], "unknown gate policy"),
        (["-p", "always", "--recorded", str(tmp_path / "nope.jsonl")], "no such file"),
    ]
    for extra, message in bad:
        result = CliRunner().invoke(app, ["eval", str(_data(tmp_path)), "-o",
                                          str(tmp_path / "x"), *extra])
        assert result.exit_code == 1 and message in result.output, (extra, result.output)
    missing = CliRunner().invoke(app, ["eval", str(tmp_path / "none.json")])
    assert missing.exit_code == 1 and "no such data file" in missing.output


def test_cli_export_training(app: typer.Typer, tmp_path: Path) -> None:
    closed = tmp_path / "closed.jsonl"  # e.g. the results of `gate eval --policy never`
    closed.write_text("".join(json.dumps({"id": i["id"], "mode": "parametric",
                                          "prediction": CLOSED.get(i["id"], "nobody")}) + "\n"
                              for i in ITEMS))
    out = tmp_path / "train"
    result = CliRunner().invoke(app, ["export-training", str(_data(tmp_path)), str(closed),
                                      "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    # correct: q1, q6 -> 2; wrong with passage: q2, q3, q4, q5 -> 8; none skipped
    assert (report["correct"], report["wrong"], report["examples"]) == (2, 4, 10)
    assert report["problems"] == [] and report["warnings"] == []
    assert validate(out / "train.openai.jsonl") == []
    assert len(json.loads((out / "train.alpaca.json").read_text())) == 10
    only = CliRunner().invoke(app, ["export-training", str(_data(tmp_path)), str(closed),
                                    "--out", str(tmp_path / "a"), "-f", "alpaca"])
    assert only.exit_code == 0 and "2 correct, 4 wrong" in only.stdout
    assert not (tmp_path / "a" / "train.openai.jsonl").exists()
    bad = CliRunner().invoke(app, ["export-training", str(_data(tmp_path)), str(closed),
                                   "-f", "csv"])
    assert bad.exit_code == 1 and "--format must be" in bad.output


def validate(path: Path) -> list[str]:
    from memagents.gate.research.training import validate_openai_chat_jsonl

    return validate_openai_chat_jsonl(path)


def test_cli_eval_plot_with_the_popularity_trade_off(app: typer.Typer, tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    parametric = {"q1": "Ilda Morn", "q2": "rock", "q3": "Velmora", "q4": "poet",
                  "q5": "unknown", "q6": "Port Sable"}
    retrieval = {"q1": "Ilda Morn", "q2": "jazz", "q3": "Quillmere", "q4": "painter",
                 "q5": "Mara Quist", "q6": "Osterlund"}
    rec = tmp_path / "rec.jsonl"
    rec.write_text("".join(json.dumps({"id": i, "mode": m, "prediction": p}) + "\n"
                           for m, preds in (("parametric", parametric), ("retrieval", retrieval))
                           for i, p in preds.items()))
    svg = tmp_path / "tradeoff.svg"
    result = CliRunner().invoke(app, [
        "eval", str(_data(tmp_path)), "-p", "popularity", "--threshold", "100",
        "--recorded", str(rec), "-o", str(tmp_path / "out"), "--plot", str(svg), "--json",
    ])
    assert result.exit_code == 0, result.output
    text = svg.read_text()
    ET.fromstring(text)  # well-formed
    for label in ("popularity (this run)", "never retrieve", "always retrieve",
                  "popularity threshold sweep"):
        assert label in text, label
    # without recorded outputs of both modes, only this run's point is drawn
    only_par = tmp_path / "par.jsonl"
    only_par.write_text("".join(json.dumps({"id": i, "mode": "parametric", "prediction": p})
                                + "\n" for i, p in parametric.items()))
    svg2 = tmp_path / "never.svg"
    ok = CliRunner().invoke(app, ["eval", str(_data(tmp_path)), "-p", "never", "--recorded",
                                  str(only_par), "-o", str(tmp_path / "never"), "--plot",
                                  str(svg2)])
    assert ok.exit_code == 0, ok.output
    assert "never (this run)" in svg2.read_text() and "always retrieve" not in svg2.read_text()
