"""The model-free half of BrowseComp grading: templates, reply parsing (and the reference
grader's whole-match bug), canary encryption, question and answer files, both calibration
errors on hand-computed examples, the reliability diagram, grade reports.

Every question here is our own or the WebDancer sample (MIT, read from the shared data folder):
no plaintext of an encrypted benchmark appears in the repository (spec §8)."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from memagents.errors import ConfigError, InputError
from memagents.eval import (
    GRADER_TEMPLATE,
    QUERY_TEMPLATE,
    AnswerRecord,
    BrowseQuestion,
    GradeReport,
    Verdict,
    align_answers,
    decrypt,
    ece5,
    encrypt,
    format_grader_prompt,
    format_query,
    load_answers,
    load_questions,
    parse_judge_reply,
    parse_response,
    reliability_bins,
    rms_calib_err_beta100,
    write_answers,
    write_questions,
    write_reliability_diagram,
)
from memagents.eval.browsecomp import parse_confidence, simple_evals_grade

CANARY = "memagents test canary: not a real benchmark"

# -------------------------------------------------------------------------------- templates


def test_query_and_grader_templates_are_the_reference_wording() -> None:
    query = format_query("Which port did the Velmora line start from?")
    assert query.startswith("Which port did the Velmora line start from?\n\n")
    assert query.endswith(
        "Explanation: {your explanation for your final answer}\n"
        "Exact Answer: {your succinct, final answer}\n"
        "Confidence: {your confidence score between 0% and 100% for your answer}")
    assert "{Question}" in QUERY_TEMPLATE
    prompt = format_grader_prompt("Q?", "Exact Answer: A", "A")
    assert prompt.startswith("Judge whether the following [response] to [question] is correct")
    assert "[question]: Q?\n\n[response]: Exact Answer: A\n\n" in prompt
    assert "[correct_answer]: A\n\nreasoning:" in prompt
    assert "confidence: The extracted confidence score between 0|\\%| and 100|\\%|" in prompt
    assert prompt.endswith("Put 100 if there is no confidence score available.")
    assert set(re.findall(r"\{(\w+)\}", GRADER_TEMPLATE)) == {
        "question", "response", "correct_answer"}


# ------------------------------------------------------------------------- model responses


@pytest.mark.parametrize(("text", "answer", "confidence", "status"), [
    ("Explanation: because.\nExact Answer: Velmora\nConfidence: 85%", "Velmora", 85.0, "ok"),
    ("**Exact Answer:** 1867\n**Confidence:** 90", "1867", 90.0, "ok"),
    ("exact answer: quillmere harbour\nconfidence: 72.5 %", "quillmere harbour", 72.5, "ok"),
    ("Exact Answer: A\nConfidence: 150%", "A", 100.0, "ok"),  # clipped, as BrowseComp-Plus
    ("Exact Answer: A", "A", 100.0, "absent"),  # the judge prompt: "Put 100 if ..."
    ("Exact Answer: A\nConfidence: very high", "A", None, "unparsable"),
    ("Explanation: no idea.\nConfidence: 10%", None, 10.0, "ok"),
    ("Exact Answer:   \nConfidence: 5%", None, 5.0, "ok"),
    ("Exact Answer: draft\nmore thinking\nExact Answer: final", "final", 100.0, "absent"),
    ("", None, 100.0, "absent"),
])
def test_parse_response(text: str, answer: str | None, confidence: float | None,
                        status: str) -> None:
    parsed = parse_response(text)
    assert parsed.exact_answer == answer
    assert parsed.confidence == confidence
    assert parsed.confidence_status == status
    assert parsed.malformed == (answer is None or status == "unparsable")


def test_parse_response_explanation_stops_at_the_next_field() -> None:
    parsed = parse_response("Explanation: two lines\nof reasoning.\nExact Answer: X\n"
                            "Confidence: 3%")
    assert parsed.explanation == "two lines\nof reasoning."
    assert parse_response("Exact Answer: X").explanation is None
    assert parse_confidence(None) == (100.0, "absent")


# ---------------------------------------------------------------------------- judge replies

PLAIN = ("extracted_final_answer: Velmora\n\nreasoning: The answers match.\n\ncorrect: yes\n\n"
         "confidence: 85%")
BOLD = ("**extracted_final_answer:** None\n**reasoning:** The response gives no final answer."
        "\n**correct:** no\n**confidence:** 100")
BOLD_OUTSIDE = "**extracted_final_answer**: 42\n**reasoning**: Off by one.\n**correct**: No"


def test_parse_judge_reply_plain_and_markdown() -> None:
    plain = parse_judge_reply(PLAIN)
    assert (plain.extracted_answer, plain.reasoning, plain.correct, plain.confidence) == (
        "Velmora", "The answers match.", True, 85.0)
    bold = parse_judge_reply(BOLD)
    assert (bold.extracted_answer, bold.correct, bold.confidence) == (None, False, 100.0)
    assert bold.reasoning == "The response gives no final answer."
    outside = parse_judge_reply(BOLD_OUTSIDE)
    assert (outside.extracted_answer, outside.correct, outside.confidence) == ("42", False, None)


@pytest.mark.parametrize(("line", "answer"), [
    ("extracted_final_answer: 'None'", None),
    ('extracted_final_answer: "Velmora"', "Velmora"),
    ("extracted_final_answer: the `` Sole Survivor ''", "the `` Sole Survivor ''"),
    ('extracted_final_answer: the "Sole Survivor"', 'the "Sole Survivor"'),
    ("**extracted_final_answer:** **N/A**", None),
])
def test_extracted_answers_keep_their_own_quotes(line: str, answer: str | None) -> None:
    # found by benchmarks/browsecomp_grading.py: a WebDancer answer ends in two quotes
    assert parse_judge_reply(line + "\ncorrect: yes").extracted_answer == answer


def test_parse_judge_reply_without_a_verdict_is_unparsed() -> None:
    reply = parse_judge_reply("extracted_final_answer: Velmora\nreasoning: they match.")
    assert reply.correct is None and not reply.parsed
    assert parse_judge_reply("").correct is None
    # "[correct_answer]: yes" is the echoed reference answer, not a verdict
    assert parse_judge_reply("[correct_answer]: yes\nreasoning: fine").correct is None


def test_parse_judge_reply_reads_a_verdict_line_before_prose_and_falls_back_to_prose() -> None:
    # the line wins over "correct: no" inside the reasoning
    reply = "reasoning: it is not correct: no doubt about it.\ncorrect: yes"
    assert parse_judge_reply(reply).correct is True
    assert parse_judge_reply("reasoning: ... so the final correct: yes").correct is True
    assert parse_judge_reply("Correct: 'Yes'").correct is True


def test_the_reference_whole_match_bug_gives_zero_accuracy_and_the_group_the_right_one() -> None:
    """simple-evals browsecomp_eval.py returns match.group(0) ("correct: yes") and compares it
    with "yes" (fixes proposed in PRs #67, #82, #93): every item scores 0."""
    replies = [PLAIN, "extracted_final_answer: X\nreasoning: r\ncorrect: yes\nconfidence: 50",
               "extracted_final_answer: Y\nreasoning: r\ncorrect: no\nconfidence: 50",
               "extracted_final_answer: Z\nreasoning: r\ncorrect: yes\nconfidence: 50"]
    truth = [True, True, False, True]
    buggy = [simple_evals_grade(r, whole_match=True) == "yes" for r in replies]
    fixed = [simple_evals_grade(r) == "yes" for r in replies]
    ours = [parse_judge_reply(r).correct for r in replies]
    assert sum(buggy) / len(replies) == 0.0
    assert fixed == ours == truth and sum(ours) / len(replies) == 0.75
    assert simple_evals_grade("no verdict here") == "no"


# -------------------------------------------------------------------------------- encryption


def test_encrypt_is_base64_of_xor_with_the_repeated_sha256_of_the_canary() -> None:
    plaintext = "Which harbour opened in 1867? " * 3  # 90 bytes: the 32-byte key repeats
    digest = hashlib.sha256(CANARY.encode()).digest()
    key = (digest * 3)[:90]
    expected = base64.b64encode(bytes(p ^ k for p, k in zip(plaintext.encode(), key,
                                                              strict=True))).decode()
    assert encrypt(plaintext, CANARY) == expected
    assert decrypt(expected, CANARY) == plaintext
    assert decrypt(encrypt("Zürich, 北京", CANARY), CANARY) == "Zürich, 北京"
    assert encrypt("", CANARY) == "" and decrypt("", CANARY) == ""


def test_decrypt_errors_say_what_to_do() -> None:
    with pytest.raises(InputError, match="not base64"):
        decrypt("plain text, not encrypted!", CANARY)
    sealed = encrypt("a longer answer text " * 4, CANARY)
    with pytest.raises(InputError, match="canary"):
        decrypt(sealed, "the wrong canary")


# ---------------------------------------------------------------------------------- files

OURS = [
    BrowseQuestion(id="0", question="Which port, founded in 1867, lies on the\nQuill river?",
                   answer="Velmora", topic="geography"),
    BrowseQuestion(id="1", question='Who wrote "Tides, and other poems"?',
                   answer="Ada Quillmere", topic="art"),
    BrowseQuestion(id="2", question="How many bridges cross the Quill?", answer="7"),
]


def test_csv_round_trip_encrypted_in_the_file_decrypted_in_memory(tmp_path: Path) -> None:
    path = write_questions(tmp_path / "q.csv", OURS, canary=CANARY)
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == "problem,answer,canary,problem_topic"
    assert "Velmora" not in text and "Quill" not in text and CANARY in text
    assert load_questions(path) == OURS  # the canary column decrypts each row


def test_csv_plain_and_jsonl_round_trips(tmp_path: Path) -> None:
    plain = write_questions(tmp_path / "plain.csv", OURS)
    assert load_questions(plain) == OURS and "Velmora" in plain.read_text()
    lines = write_questions(tmp_path / "q.jsonl", OURS)
    assert load_questions(lines) == OURS
    sealed = write_questions(tmp_path / "sealed.jsonl", OURS, canary=CANARY)
    assert "Velmora" not in sealed.read_text() and CANARY not in sealed.read_text()
    assert load_questions(sealed, canary=CANARY) == OURS  # like BrowseComp-Plus: canary apart
    with pytest.raises(InputError, match="line 1"):
        load_questions(sealed, canary="the wrong canary")


def test_question_files_read_other_field_names_and_refuse_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"query_id": "a7", "problem": "Q?", "answer": "A", "tag": "x"}\n\n'
                    '{"query": "R?", "answer": "B"}\n', encoding="utf-8")
    first, second = load_questions(path)
    assert (first.id, first.question, first.extra) == ("a7", "Q?", {"tag": "x"})
    assert (second.id, second.question) == ("1", "R?")
    (tmp_path / "list.json").write_text(json.dumps([{"question": "Q", "answer": "A"}]))
    assert load_questions(tmp_path / "list.json")[0].id == "0"
    bad = tmp_path / "bad.jsonl"
    for content, message in [('{"question": "Q"}\n', "question .* and answer"),
                             ("not json\n", "line 1 is not JSON"),
                             ("", "no questions"),
                             ('{"id": 1, "question": "Q", "answer": "A"}\n' * 2, "twice")]:
        bad.write_text(content, encoding="utf-8")
        with pytest.raises(InputError, match=message):
            load_questions(bad)
    (tmp_path / "bad.csv").write_text("question,answer\nQ,A\n", encoding="utf-8")
    with pytest.raises(InputError, match="columns problem and answer"):
        load_questions(tmp_path / "bad.csv")
    with pytest.raises(InputError, match="does not exist"):
        load_questions(tmp_path / "absent.jsonl")


def test_webdancer_sample_reads_and_survives_an_encrypted_round_trip(
        shared_data: Path, tmp_path: Path) -> None:
    source = shared_data / "browse_qa" / "webdancer_sample_qa.jsonl"
    if not source.is_file():
        pytest.skip(f"{source} not found")
    questions = load_questions(source)
    assert len(questions) == 200
    assert sorted({q.extra["tag"] for q in questions}) == ["crawlqa", "e2hqa"]
    assert sum(q.extra["tag"] == "crawlqa" for q in questions) == 100
    copy = write_questions(tmp_path / "webdancer.csv", questions, canary=CANARY)
    back = load_questions(copy)  # a CSV keeps no extra fields: compare what it keeps
    assert [(q.id, q.question, q.answer) for q in back] == [
        (q.id, q.question, q.answer) for q in questions]


def test_answers_files(tmp_path: Path) -> None:
    path = tmp_path / "answers.jsonl"
    path.write_text('{"id": "1", "response": "Exact Answer: A"}\n\n'
                    '{"index": 0, "response": "Exact Answer: Velmora"}\n'
                    '{"query_id": 9, "response": "stray"}\n'
                    '{"id": "2", "response": "   "}\n', encoding="utf-8")
    records = load_answers(path)
    assert [r.key for r in records] == ["1", "#0", "9", "2"]
    responses, unknown = align_answers(OURS, records)
    assert responses == ["Exact Answer: Velmora", "Exact Answer: A", None]
    assert unknown == ["9"]
    written = write_answers(tmp_path / "out.jsonl", {"0": "R0", "2": None})
    assert align_answers(OURS, load_answers(written)) == (["R0", None, None], [])
    with pytest.raises(InputError, match="twice"):
        align_answers(OURS, [AnswerRecord(id="0", response="a"),
                             AnswerRecord(index=0, response="b")])
    for content, message in [('{"response": "x"}\n', "needs an id"),
                             ('{"id": 1, "response": 3}\n', "response must be text"),
                             ('{"id": 1}\n{"id": "1"}\n', "twice"),
                             ("[1]", "not a JSON object")]:
        path.write_text(content, encoding="utf-8")
        with pytest.raises(InputError, match=message):
            load_answers(path)


# ---------------------------------------------------------------------------- calibration


def test_ece5_on_a_hand_computed_example() -> None:
    # bins [0,20) [20,40) [40,60) [60,80) [80,101], N = 6, unparsable (None) -> 0:
    #   [0,20):  10 (wrong), None -> 0 (wrong)   mean conf 0.05, acc 0   |.05 - 0|  * 2/6
    #   [20,40): 30 (right)                       mean conf 0.30, acc 1   |.30 - 1|  * 1/6
    #   [80,101]: 90 (right), 95 (wrong), 100 (right)
    #                                             mean conf .95, acc 2/3 |.95 - .6667| * 3/6
    # ECE = (.1 + .7 + .85) / 6 = 0.275 -> 27.5%
    confidences = [10, None, 30, 90, 95, 100]
    correct = [False, False, True, True, False, True]
    assert ece5(confidences, correct) == pytest.approx(27.5)
    assert ece5([100, 100], [True, True]) == pytest.approx(0.0)
    assert math.isnan(ece5([], []))


def test_rms_calib_err_small_beta_faithful_and_corrected() -> None:
    # beta = 2, N = 5 -> N // beta = 2 bins: items 0-1 and 2-4 (the last absorbs the rest)
    #   bin A: conf .1, .2 (wrong, right):      mean .15, acc .5   -> (.15 - .5)^2 = .1225
    #   bin B: conf .3, .4, .5 (wrong, right, right): mean .4, acc 2/3 -> (.4 - 2/3)^2 = .071111
    # faithful (the reference loop skips the last bin): sqrt(2/5 * .1225) = .221359 -> 22.1359
    # corrected: sqrt(2/5 * .1225 + 3/5 * .071111) = sqrt(.091667) = .302765 -> 30.2765
    confidences = [30, 10, 50, 20, 40]  # the functions sort by confidence
    correct = [False, False, True, True, True]
    assert rms_calib_err_beta100(confidences, correct, beta=2) == pytest.approx(22.1359, abs=1e-4)
    assert rms_calib_err_beta100(confidences, correct, beta=2, mode="corrected") == \
        pytest.approx(30.2765, abs=1e-4)


def test_rms_calib_err_beta100_on_250_items() -> None:
    # 100 items at 20% (30 right) and 150 at 90% (120 right): bins [0,100) and [100,250)
    #   first bin: mean .2, acc .3 -> (.1)^2 * 100/250 = .004
    #   last bin:  mean .9, acc .8 -> (.1)^2 * 150/250 = .006
    # faithful: sqrt(.004) = .063246 -> 6.3246; corrected: sqrt(.010) = .1 -> 10.0
    confidences = [20.0] * 100 + [90.0] * 150
    correct = [i < 30 for i in range(100)] + [i < 120 for i in range(150)]
    assert rms_calib_err_beta100(confidences, correct) == pytest.approx(6.3246, abs=1e-4)
    assert rms_calib_err_beta100(confidences, correct, mode="corrected") == pytest.approx(10.0)
    # 100-199 items: one bin, which the faithful loop skips -> 0 (as the reference)
    assert rms_calib_err_beta100(confidences[:150], correct[:150]) == 0.0


def test_rms_calib_err_is_undefined_below_beta_in_faithful_mode() -> None:
    # the reference raises an IndexError under beta items; we return NaN
    assert math.isnan(rms_calib_err_beta100([50.0] * 10, [True] * 10))
    # corrected: one bin of all 10: mean .5, acc .7 -> |.2| -> 20.0
    assert rms_calib_err_beta100([50.0] * 10, [True] * 7 + [False] * 3,
                                 mode="corrected") == pytest.approx(20.0)
    assert math.isnan(rms_calib_err_beta100([], [], mode="corrected"))


def test_calibration_inputs_are_checked() -> None:
    with pytest.raises(InputError, match="one confidence per graded item"):
        ece5([50], [True, False])
    with pytest.raises(InputError, match="outside"):
        rms_calib_err_beta100([150.0], [True], beta=1)
    with pytest.raises(InputError, match="not a number"):
        ece5(["high"], [True])  # type: ignore[list-item]
    with pytest.raises(InputError, match="mode"):
        rms_calib_err_beta100([1.0], [True], beta=1, mode="best")  # type: ignore[arg-type]


# ---------------------------------------------------------------------- reliability diagram


def test_reliability_bins_and_svg(tmp_path: Path) -> None:
    bins = reliability_bins([5, 15, 95, 100, 99], [True, False, True, True, False])
    assert [(b.low, b.n) for b in bins] == [(0.0, 1), (10.0, 1), (90.0, 3)]
    assert bins[2].confidence == pytest.approx(98.0)
    assert bins[2].accuracy == pytest.approx(2 / 3)
    path = write_reliability_diagram(tmp_path / "r.svg", [5, 95], [False, True],
                                     notes=["ece5 5.00%"])
    root = ET.fromstring(path.read_text(encoding="utf-8"))
    assert root.tag.endswith("svg")
    assert "ece5 5.00%" in path.read_text(encoding="utf-8")


def test_reliability_png_and_its_errors(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    png = write_reliability_diagram(tmp_path / "r.png", [5, 95], [False, True])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(InputError, match=r"\.svg or \.png"):
        write_reliability_diagram(tmp_path / "r.pdf", [5], [True])


@pytest.mark.usefixtures("no_matplotlib")
def test_reliability_png_without_matplotlib_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="matplotlib.*svg"):
        write_reliability_diagram(tmp_path / "r.png", [5], [True])


# ---------------------------------------------------------------------------- grade reports


def test_grade_report_counts_and_calibration_sets() -> None:
    verdicts = (
        Verdict(id="0", correct=True, extracted_answer="A", confidence=90.0,
                response_answer="A", confidence_status="ok"),
        Verdict(id="1", correct=False, extracted_answer=None, confidence=100.0,
                response_answer=None, confidence_status="absent"),
        Verdict(id="2", correct=None, extracted_answer=None, confidence=None,
                status="unparsable", reasks=1, response_answer="B",
                confidence_status="unparsable"),
        Verdict(id="3", correct=False, extracted_answer=None, confidence=None,
                status="missing"),
    )
    report = GradeReport(verdicts=verdicts, beta=1)
    assert (report.n, report.correct, report.accuracy) == (4, 1, 0.25)
    assert (report.missing_responses, report.malformed_responses, report.no_exact_answer,
            report.unparsable_confidence, report.unparsable_judge, report.reasks) == (
        1, 2, 1, 1, 1, 1)
    # ece5 over all 4: [0,20): two items at 0 (None), none right -> 0; [80,101]: 90 right,
    # 100 wrong -> |.5 - .95| * 2/4 = .225 -> 22.5
    assert report.ece5 == pytest.approx(22.5)
    # rms (beta 1, faithful) over the 2 items with a verdict and a confidence, by confidence:
    # bin {90 right}: (.9 - 1)^2 * 1/2 = .005; bin {100 wrong} skipped -> sqrt(.005) = 7.0711
    assert report.rms_calib_err_beta100 == pytest.approx(7.0711, abs=1e-4)
    data = report.to_dict()
    assert data["calibration"]["rms_calib_err_beta100"]["n"] == 2
    assert data["calibration"]["rms_calib_err_beta100"]["mode"] == "faithful"
    assert data["counts"]["unparsable_judge"] == 1
    again = GradeReport.from_dict(json.loads(json.dumps(data)))
    assert again.verdicts == report.verdicts and again.beta == 1
    with pytest.raises(InputError, match="rms_mode"):
        GradeReport(verdicts=(), rms_mode="best")
