"""``memagents bench grade``: on temporary files, with the judge on the loopback server."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from memagents import cli as top
from memagents.eval import BrowseQuestion, write_answers, write_questions
from memagents.testing import OpenAIServer


def honest_judge(body: dict[str, Any]) -> str:
    """The response's Exact Answer line against the correct answer; its Confidence number, or
    100 when it states none (as tests/test_web_grading.py's judge)."""
    prompt = body["messages"][0]["content"]
    response = prompt.split("[response]: ", 1)[1].split("\n\nYour judgement must be", 1)[0]
    correct = prompt.split("[correct_answer]: ", 1)[1].split("\n\nreasoning: Explain", 1)[0]
    answer = next((line.split(":", 1)[1].strip() for line in response.splitlines()
                   if line.startswith("Exact Answer:")), None)
    stated = re.search(r"^Confidence: (\d+)%", response, re.MULTILINE)
    ok = answer is not None and answer.lower() == correct.lower()
    return (f"extracted_final_answer: {answer or 'None'}\nreasoning: -\n"
            f"correct: {'yes' if ok else 'no'}\nconfidence: {stated.group(1) if stated else 100}")


CANARY = "memagents test canary: not a real benchmark"
QUESTIONS = [
    BrowseQuestion(id="0", question="Which port lies on the Quill?", answer="Velmora"),
    BrowseQuestion(id="1", question="Who wrote 'Tides'?", answer="Ada Quillmere"),
    BrowseQuestion(id="2", question="How many bridges cross the Quill?", answer="7"),
    BrowseQuestion(id="3", question="What year did the port open?", answer="1867"),
]
ANSWERS = {
    "0": "Explanation: the atlas.\nExact Answer: Velmora\nConfidence: 80%",
    "1": "Explanation: a guess.\nExact Answer: Ben Quill\nConfidence: 30%",
    "2": "Explanation: unsure.\nConfidence: 20%",
    "3": "Explanation: the plaque.\nExact Answer: 1867\nConfidence: sure",
}


@pytest.fixture
def loopback(monkeypatch: pytest.MonkeyPatch, openai_server: OpenAIServer) -> OpenAIServer:
    """OPENAI_BASE_URL / OPENAI_API_KEY pointing at the loopback server, no retries."""
    for name, value in {**openai_server.env(), "MEMAGENTS_MAX_RETRIES": "0",
                        "MEMAGENTS_BACKOFF_BASE": "0"}.items():
        monkeypatch.setenv(name, value)
    openai_server.add_rule(lambda body: True, honest_judge)
    return openai_server


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """``memagents.cli.main(["bench", *args])``: exit code, stdout, stderr."""

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = top.main(["bench", *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return {"csv": write_questions(tmp_path / "questions.csv", QUESTIONS, canary=CANARY),
            "jsonl": write_questions(tmp_path / "questions.jsonl", QUESTIONS),
            "sealed": write_questions(tmp_path / "sealed.jsonl", QUESTIONS, canary=CANARY),
            "answers": write_answers(tmp_path / "answers.jsonl", ANSWERS)}


LLM = ("--llm", "openai:gpt-4o-mini")


def test_grade_prints_accuracy_both_calibration_errors_counts_and_writes_the_diagram(
        loopback: OpenAIServer, cli: Any, files: dict[str, Path], tmp_path: Path) -> None:
    diagram = tmp_path / "reliability.svg"
    code, out, err = cli("grade", str(files["answers"]), "--questions", str(files["csv"]),
                         *LLM, "--diagram", str(diagram))
    assert code == 0, err
    assert "accuracy: 0.5000 (2/4)" in out
    assert "calibration error rms_calib_err_beta100: n/a over 4 item(s)" in out
    assert "faithful: last bin skipped" in out
    # ece5: [20,40): 20, 30 wrong -> .25 * 2/4; [80,101]: 80 right, 100 (no number) right
    #   -> |1 - .9| * 2/4; total .125 + .05 = .175 -> 17.50%
    assert "calibration error ece5: 17.50% over 4 item(s)" in out
    assert "0 missing, 2 malformed (1 without an Exact Answer line, 1 with an unparsable " \
           "confidence)" in out
    assert f"reliability diagram: {diagram}" in out
    assert ET.fromstring(diagram.read_text(encoding="utf-8")).tag.endswith("svg")
    assert len(loopback.chat_requests) == 4


def test_grade_json_with_one_metric_and_the_corrected_mode(
        loopback: OpenAIServer, cli: Any, files: dict[str, Path]) -> None:
    code, out, _ = cli("grade", str(files["answers"]), "--questions", str(files["jsonl"]),
                       *LLM, "--json", "--calibration", "rms_calib_err_beta100",
                       "--rms-mode", "corrected")
    assert code == 0
    data = json.loads(out)
    assert list(data["calibration"]) == ["rms_calib_err_beta100"]
    rms = data["calibration"]["rms_calib_err_beta100"]
    assert rms["mode"] == "corrected" and rms["n"] == 4
    # one bin (4 < 100) of 20 30 80 100 with 2 right: mean .575, acc .5 -> 7.5
    assert rms["value"] == pytest.approx(7.5)
    assert data["accuracy"] == 0.5 and len(data["verdicts"]) == 4
    code, out, _ = cli("grade", str(files["answers"]), "--questions", str(files["jsonl"]),
                       *LLM, "--calibration", "ece5")
    assert "ece5" in out and "rms_calib_err_beta100" not in out


def test_encrypted_jsonl_needs_its_canary(loopback: OpenAIServer, cli: Any,
                                          files: dict[str, Path]) -> None:
    code, out, _ = cli("grade", str(files["answers"]), "--questions", str(files["sealed"]),
                       *LLM, "--canary", CANARY)
    assert code == 0 and "accuracy: 0.5000" in out
    code, _, err = cli("grade", str(files["answers"]), "--questions", str(files["sealed"]),
                       *LLM, "--canary", "the wrong canary")
    assert code == 1 and "canary" in err


def test_missing_answers_and_unknown_ids_are_reported(
        loopback: OpenAIServer, cli: Any, files: dict[str, Path], tmp_path: Path) -> None:
    partial = write_answers(tmp_path / "partial.jsonl", {"0": ANSWERS["0"], "9": "stray"})
    code, out, err = cli("grade", str(partial), "--questions", str(files["jsonl"]), *LLM)
    assert code == 0
    assert "graded 1 response(s) to 4 question(s)" in out and "3 missing" in out
    assert "1 answer(s) match no question: 9" in err
    stray = write_answers(tmp_path / "stray.jsonl", {"x": "a", "y": "b"})
    code, _, err = cli("grade", str(stray), "--questions", str(files["jsonl"]), *LLM)
    assert code == 1 and "none of the 2 answer(s)" in err


def test_errors_name_the_flags(cli: Any, files: dict[str, Path], tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = cli("grade", str(files["answers"]), *LLM)
    assert code == 1 and "--questions FILE" in err
    code, _, err = cli("grade", str(files["answers"]), "--questions", str(files["jsonl"]))
    assert code == 1 and "--llm" in err and "MEMAGENTS_LLM" in err
    code, _, err = cli("grade", str(files["answers"]), "--questions", str(files["jsonl"]),
                       *LLM, "--diagram", str(tmp_path / "r.pdf"))
    assert code == 1 and "--diagram" in err and ".svg or .png" in err
    code, _, err = cli("grade", str(tmp_path / "absent.jsonl"), "--questions",
                       str(files["jsonl"]), *LLM)
    assert code == 1 and "ANSWERS" in err and "does not exist" in err


@pytest.mark.usefixtures("no_matplotlib")
def test_png_diagram_without_matplotlib(loopback: OpenAIServer, cli: Any,
                                        files: dict[str, Path], tmp_path: Path) -> None:
    code, _, err = cli("grade", str(files["answers"]), "--questions", str(files["jsonl"]),
                       *LLM, "--diagram", str(tmp_path / "r.png"))
    assert code == 1 and "matplotlib" in err and ".svg" in err


def test_bench_help_loads_neither_the_web_layer_nor_langchain() -> None:
    script = ("import json, sys\nfrom memagents.cli import main\n"
              "code = main(['bench', 'grade', '--help'])\n"
              "print('\\n' + json.dumps([code, sorted(sys.modules)]))")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=True, env={"COLUMNS": "200", "PATH": ""})
    code, modules = json.loads(proc.stdout.rstrip().rpartition("\n")[2])
    assert code == 0 and "--questions" in proc.stdout
    assert not [m for m in modules if m.startswith(("memagents.web", "langchain", "numpy"))]
