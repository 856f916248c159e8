"""The BrowseComp judge end to end: the real openai client against the loopback server, with
scripted judge replies (honest, markdown, malformed then fixed, malformed twice, failing)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from memagents.errors import ConfigError
from memagents.eval import (
    BrowseQuestion,
    ece5,
    format_grader_prompt,
    load_questions,
    rms_calib_err_beta100,
)
from memagents.models import StructuredLLM
from memagents.testing import Fault, OpenAIServer
from memagents.web.grading import REMINDER, BrowseCompGrader, grade_run

_RESPONSE = re.compile(r"\[response\]: (.*?)\n\nYour judgement must be", re.DOTALL)
_CORRECT = re.compile(r"\[correct_answer\]: (.*?)\n\nreasoning: Explain", re.DOTALL)


def honest_judge(body: dict[str, Any]) -> str:
    """A judge that does its job: the response's Exact Answer line against the correct answer,
    the response's Confidence number (100 when it states none)."""
    prompt = body["messages"][0]["content"]
    response = _RESPONSE.search(prompt).group(1)  # type: ignore[union-attr]
    correct = _CORRECT.search(prompt).group(1)  # type: ignore[union-attr]
    answer = next((line.split(":", 1)[1].strip() for line in response.splitlines()
                   if line.startswith("Exact Answer:")), None)
    stated = re.search(r"^Confidence: (\d+)%", response, re.MULTILINE)
    ok = answer is not None and answer.lower() == correct.strip().lower()
    return (f"extracted_final_answer: {answer if answer else 'None'}\n\n"
            f"reasoning: {'They match.' if ok else 'They differ.'}\n\n"
            f"correct: {'yes' if ok else 'no'}\n\n"
            f"confidence: {stated.group(1) if stated else 100}%")


def llm_for(server: OpenAIServer, **kwargs: Any) -> StructuredLLM:
    from memagents.config import get_settings

    settings = get_settings(max_retries=0, backoff_base=0.0)
    return StructuredLLM(server.chat_model(), settings=settings, **kwargs)


@pytest.fixture
def judge(openai_server: OpenAIServer) -> Iterator[OpenAIServer]:
    openai_server.add_rule(lambda body: True, honest_judge)
    yield openai_server


QUESTIONS = [
    BrowseQuestion(id="q0", question="Which port lies on the Quill?", answer="Velmora"),
    BrowseQuestion(id="q1", question="Who wrote 'Tides'?", answer="Ada Quillmere"),
    BrowseQuestion(id="q2", question="How many bridges cross the Quill?", answer="7"),
    BrowseQuestion(id="q3", question="What year did the port open?", answer="1867"),
]
RESPONSES = [
    "Explanation: the atlas says so.\nExact Answer: Velmora\nConfidence: 80%",  # right
    "Explanation: a guess.\nExact Answer: Ben Quill\nConfidence: 30%",  # wrong
    "Explanation: I could not decide.\nConfidence: 20%",  # no Exact Answer line
    None,  # missing
]


def test_the_judge_sees_the_reference_prompt_and_its_verdict_is_read(
        judge: OpenAIServer) -> None:
    grader = BrowseCompGrader(llm_for(judge))
    verdict = grader.grade(QUESTIONS[0].question, RESPONSES[0], "Velmora", id="q0")
    assert (verdict.correct, verdict.extracted_answer, verdict.confidence) == (
        True, "Velmora", 80.0)
    assert (verdict.status, verdict.reasks, verdict.confidence_source) == ("judged", 0, "judge")
    assert verdict.reasoning == "They match." and "correct: yes" in verdict.raw_reply
    [request] = judge.chat_requests
    assert request["messages"] == [{"role": "user", "content": format_grader_prompt(
        QUESTIONS[0].question, RESPONSES[0], "Velmora")}]


def test_a_malformed_reply_is_reasked_once_then_recorded_unparsable(
        openai_server: OpenAIServer) -> None:
    openai_server.add_rule(REMINDER[:40], "**extracted_final_answer:** Velmora\n"
                                          "**reasoning:** Same.\n**correct:** yes")
    openai_server.add_rule(lambda body: True, "The answer looks right to me.")
    grader = BrowseCompGrader(llm_for(openai_server))
    fixed = grader.grade("Which port?", RESPONSES[0], "Velmora")
    assert (fixed.correct, fixed.status, fixed.reasks) == (True, "judged", 1)
    # the judge's reply had no confidence: the response's own (80%) is used
    assert (fixed.confidence, fixed.confidence_source) == (80.0, "response")
    second = openai_server.chat_requests[1]["messages"]
    assert second[1] == {"role": "assistant", "content": "The answer looks right to me."}
    assert second[2]["content"] == REMINDER

    openai_server.reset()
    openai_server.add_rule(lambda body: True, "I think so.")
    broken = grader.grade("Which port?", RESPONSES[0], "Velmora")
    assert (broken.correct, broken.status, broken.reasks) == (None, "unparsable", 1)
    assert not broken.counted_correct and broken.raw_reply == "I think so."
    assert len(openai_server.chat_requests) == 2


def test_missing_responses_and_exact_matches_skip_the_judge(judge: OpenAIServer) -> None:
    grader = BrowseCompGrader(llm_for(judge), exact_match=True)
    missing = grader.grade("Q?", "  ", "Velmora")
    assert (missing.status, missing.correct, missing.confidence) == ("missing", False, None)
    fast = grader.grade("Q?", "Exact Answer: the Velmora!\nConfidence: 60%", "Velmora")
    assert (fast.status, fast.correct, fast.confidence) == ("exact_match", True, 60.0)
    # no number stated: 100, as the judge prompt says; the report counts it as unparsable
    vague = grader.grade("Q?", "Exact Answer: Velmora\nConfidence: high", "Velmora")
    assert (vague.confidence, vague.confidence_status) == (100.0, "unparsable")
    assert judge.chat_requests == []
    slow = grader.grade("Q?", "Exact Answer: Quillmere\nConfidence: 60%", "Velmora")
    assert (slow.status, slow.correct) == ("judged", False)
    assert len(judge.chat_requests) == 1


def test_grade_run_reports_accuracy_calibration_and_counts(judge: OpenAIServer) -> None:
    report = grade_run(QUESTIONS, RESPONSES, llm=llm_for(judge), beta=1)
    assert [v.id for v in report.verdicts] == ["q0", "q1", "q2", "q3"]
    assert [v.correct for v in report.verdicts] == [True, False, False, False]
    assert report.verdicts[2].extracted_answer is None
    assert (report.n, report.correct, report.accuracy) == (4, 1, 0.25)
    assert (report.missing_responses, report.no_exact_answer, report.malformed_responses) == (
        1, 1, 1)
    assert report.llm_calls == 3 and report.judge == "gpt-4o-mini"
    # ece5 over all 4 items (missing -> confidence 0):
    #   [0,20): 0 (missing, wrong) -> 0 ; [20,40): 20 and 30, both wrong -> .25 * 2/4 = .125 ;
    #   [80,101]: 80 right -> .2 * 1/4 = .05 ; total .175 -> 17.5
    assert report.ece5 == pytest.approx(17.5)
    # rms (beta 1, faithful) over the 3 judged items sorted 20, 30, 80 -> last bin skipped:
    #   (.2 - 0)^2 / 3 + (.3 - 0)^2 / 3 = .043333 -> sqrt = .208167 -> 20.8167
    assert report.rms_calib_err_beta100 == pytest.approx(20.8167, abs=1e-4)
    by_id = grade_run(QUESTIONS, {"q0": RESPONSES[0]}, llm=llm_for(judge))
    assert by_id.missing_responses == 3 and by_id.correct == 1


def test_failed_judge_calls_are_recorded_never_counted(openai_server: OpenAIServer) -> None:
    openai_server.add_rule(lambda body: True, honest_judge)
    openai_server.inject(Fault.status(400, message="bad request"))
    report = grade_run(QUESTIONS[:1], RESPONSES[:1], llm=llm_for(openai_server))
    [verdict] = report.verdicts
    assert (verdict.status, verdict.correct) == ("error", None)
    assert "400" in verdict.error or "bad request" in verdict.error
    assert report.judge_errors == 1 and report.accuracy == 0.0


def test_batches_run_concurrently_within_the_limit() -> None:
    with OpenAIServer(latency=0.2) as server:
        server.add_rule(lambda body: True, honest_judge)
        grader = BrowseCompGrader(llm_for(server, max_concurrency=8), max_concurrency=3)
        items = [{"id": str(i), "question": "Q?", "correct_answer": "Velmora",
                  "response": f"Exact Answer: {'Velmora' if i % 2 else 'Quill'}\n"
                              f"Confidence: {10 * i}%"} for i in range(8)]
        verdicts = grader.grade_many(items)
        assert [v.id for v in verdicts] == [str(i) for i in range(8)]
        assert [v.correct for v in verdicts] == [bool(i % 2) for i in range(8)]
        assert [v.confidence for v in verdicts] == [10.0 * i for i in range(8)]
        assert 2 <= server.max_in_flight <= 3


async def test_async_grading_matches_the_sync_path(judge: OpenAIServer) -> None:
    grader = BrowseCompGrader(llm_for(judge), max_concurrency=2)
    items = [{"id": q.id, "question": q.question, "response": r, "correct_answer": q.answer}
             for q, r in zip(QUESTIONS, RESPONSES, strict=True)]
    verdicts = await grader.agrade_many(items)
    assert [v.correct for v in verdicts] == [True, False, False, False]
    assert [v.status for v in verdicts] == ["judged", "judged", "judged", "missing"]


def test_a_grader_needs_a_judge_model() -> None:
    with pytest.raises(ConfigError, match="MEMAGENTS_LLM"):
        BrowseCompGrader()


def test_webdancer_subset_graded_as_labelled(shared_data: Path,
                                             judge: OpenAIServer) -> None:
    """The benchmark's check on 24 real questions: four response kinds with verdicts labelled
    by rule (benchmarks/browsecomp_grading.py runs all 200)."""
    source = shared_data / "browse_qa" / "webdancer_sample_qa.jsonl"
    if not source.is_file():
        pytest.skip(f"{source} not found")
    questions = load_questions(source)[:24]
    responses, labels = [], []
    for i, q in enumerate(questions):
        answer, stated = q.answer.strip(), (37 * i) % 101
        other = questions[(i + 1) % len(questions)].answer.strip()
        kind = i % 4
        if kind == 0:  # correct -> yes, the answer, the stated confidence
            text, label = f"Exact Answer: {answer}\nConfidence: {stated}%", (True, answer, stated)
        elif kind == 1:  # wrong -> no, the other answer
            text, label = f"Exact Answer: {other}\nConfidence: {stated}%", (False, other, stated)
        elif kind == 2:  # no Exact Answer line -> no, None
            text, label = f"Explanation: unsure.\nConfidence: {stated}%", (False, None, stated)
        else:  # no confidence -> yes, the answer, 100
            text, label = f"Exact Answer: {answer}", (True, answer, 100)
        responses.append(text)
        labels.append(label)
    report = grade_run(questions, responses, llm=llm_for(judge), beta=5)
    got = [(v.correct, v.extracted_answer, v.confidence) for v in report.verdicts]
    assert got == [(c, a, float(s)) for c, a, s in labels]
    assert report.accuracy == 0.5
    assert report.ece5 == pytest.approx(ece5([s for *_, s in labels],
                                             [c for c, *_ in labels]))
    assert report.rms_calib_err_beta100 == pytest.approx(rms_calib_err_beta100(
        [s for *_, s in labels], [c for c, *_ in labels], beta=5))
