"""BrowseComp grading on the WebDancer sample with scripted responses and an honest judge.

Run: ``.venv/bin/python benchmarks/browsecomp_grading.py`` (a few seconds; needs
``../shared/data/browse_qa/webdancer_sample_qa.jsonl`` or ``MEMAGENTS_DATA_DIR``).

No model. The 200 WebDancer questions (MIT; read from the shared data folder, never copied)
each get one scripted response, of one of four kinds by position (50 each), with a
deterministic stated confidence (``random.Random(0)``, 0-100):

* ``correct``: ``Exact Answer:`` the reference answer (every fourth one in markdown bold or
  upper case, so parsing and the judge's matching are exercised) -> expected ``yes``, the
  answer extracted, the stated confidence;
* ``wrong``: ``Exact Answer:`` another question's (different) answer -> ``no``, that answer,
  the stated confidence;
* ``missing``: no ``Exact Answer:`` line -> ``no``, extracted ``None``, the stated confidence;
* ``malformed``: the right answer, but no ``Confidence:`` line (half) or ``Confidence: high``
  (half) -> ``yes``, the answer, confidence 100 (the judge prompt: "Put 100 if there is no
  confidence score available").

The expected verdicts are these rules, written down before grading. The responses go to
:func:`memagents.web.grading.grade_run` through the answers-file path (``write_answers`` ->
``load_answers`` -> ``align_answers``); the judge is the real ``openai`` client against
:class:`~memagents.testing.OpenAIServer` on loopback, replying like an honest judge (the
response's ``Exact Answer`` against the correct answer after lower-casing and dropping
punctuation; the stated confidence, 100 when none). To exercise the format handling, about
one first reply in ten is in markdown bold and one in twenty has no ``correct:`` line (the
grader re-asks once; the judge then answers properly), chosen by a hash of the response.

Measured: exact agreement of (verdict, extracted answer, confidence) with the expected labels,
per kind; accuracy against the expected accuracy; both calibration errors against an
independent computation from the expected labels (numpy, written apart from
``memagents.eval.calibration``); the accuracy the reference grader's whole-match comparison
(and its regex with the group fix) would give on the same final judge replies; judge calls,
re-asks, wall time; the same run with the exact-match fast path (calls saved, same verdicts).
Writes ``benchmarks/results/browsecomp_grading.json`` and prints markdown tables.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import random
import re
import sys
import tempfile
import time
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from memagents.config import get_settings, shared_data_dir
from memagents.eval import (
    align_answers,
    load_answers,
    load_questions,
    write_answers,
)
from memagents.eval.browsecomp import simple_evals_grade
from memagents.models import StructuredLLM
from memagents.testing import OpenAIServer
from memagents.web.grading import REMINDER, grade_run

RESULTS = Path(__file__).resolve().parent / "results"
KINDS = ("correct", "wrong", "missing", "malformed")


def norm(text: str) -> str:
    """The honest judge's notion of "the same answer": lower case, punctuation dropped."""
    return " ".join(re.sub(r"[\W_]+", " ", text.lower()).split())


def scripted(questions: list[Any], seed: int = 0) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """One response per question and the expected verdict of each (by the kind's rule)."""
    rng = random.Random(seed)
    responses: dict[str, str] = {}
    expected: list[dict[str, Any]] = []
    for i, q in enumerate(questions):
        kind = KINDS[i % 4]
        answer = q.answer.strip()
        stated = rng.randint(0, 100)
        explanation = f"Explanation: scripted response {i} ({kind})."
        if kind == "correct":
            shown = answer.upper() if i % 16 == 8 else answer
            line = f"**Exact Answer:** {shown}" if i % 16 == 0 else f"Exact Answer: {shown}"
            text = f"{explanation}\n{line}\nConfidence: {stated}%"
            label = {"correct": True, "extracted": shown, "confidence": float(stated)}
        elif kind == "wrong":
            other = next(p.answer.strip() for p in questions[i + 1:] + questions[:i]
                         if norm(p.answer) != norm(answer))
            text = f"{explanation}\nExact Answer: {other}\nConfidence: {stated}%"
            label = {"correct": False, "extracted": other, "confidence": float(stated)}
        elif kind == "missing":
            text = f"{explanation} I could not settle on one answer.\nConfidence: {stated}%"
            label = {"correct": False, "extracted": None, "confidence": float(stated)}
        else:
            tail = "" if i % 8 == 3 else "\nConfidence: high"
            text = f"{explanation}\nExact Answer: {answer}{tail}"
            label = {"correct": True, "extracted": answer, "confidence": 100.0}
        responses[q.id] = text
        expected.append({"id": q.id, "kind": kind, **label})
    return responses, expected


class HonestJudge:
    """Replies to BrowseComp's grader prompt like a careful judge.

    The reply's form depends on the response text only (CRC-32 modulo 20), never on call
    order, so concurrent runs give the same replies: 0 -> the first reply has no ``correct:``
    line (the grader must re-ask), 1 or 2 -> markdown bold, else plain lines.
    """

    def __call__(self, body: dict[str, Any]) -> str:
        messages = body["messages"]
        prompt = messages[0]["content"]
        response = prompt.split("[response]: ", 1)[1].split("\n\nYour judgement must be", 1)[0]
        correct = prompt.split("[correct_answer]: ", 1)[1].split("\n\nreasoning: Explain", 1)[0]
        answer = None
        for line in response.splitlines():
            bare = line.replace("*", "").strip()
            if bare.startswith("Exact Answer:"):
                answer = bare.split(":", 1)[1].strip()
        stated = re.search(r"Confidence:\s*(\d+)\s*%", response)
        ok = answer is not None and norm(answer) == norm(correct)
        fields = [("extracted_final_answer", answer if answer is not None else "None"),
                  ("reasoning", "The answers match." if ok else "The answers differ."),
                  ("correct", "yes" if ok else "no"),
                  ("confidence", f"{stated.group(1) if stated else 100}%")]
        reask = len(messages) > 1 and REMINDER[:40] in messages[-1]["content"]
        form = zlib.crc32(response.encode("utf-8")) % 20
        if not reask and form == 0:  # no verdict line: the grader must re-ask
            return f"The response says {answer!r}; the reference says {correct!r}."
        if not reask and form in (1, 2):
            return "\n".join(f"**{k}:** {v}" for k, v in fields)
        return "\n\n".join(f"{k}: {v}" for k, v in fields)


def independent_rms(conf: list[float], ok: list[bool], *, beta: int = 100,
                    skip_last: bool = True) -> float:
    """RMS calibration error from the spec's formula, written apart from the library."""
    c, y = np.asarray(conf, dtype=float) / 100.0, np.asarray(ok, dtype=float)
    order = np.argsort(c)
    c, y = c[order], y[order]
    edges = list(range(0, len(c) // beta * beta, beta)) + [len(c)]
    spans = list(itertools.pairwise(edges))
    if skip_last:
        spans = spans[:-1]
    total = sum((hi - lo) / len(c) * (c[lo:hi].mean() - y[lo:hi].mean()) ** 2
                for lo, hi in spans)
    return float(np.sqrt(total) * 100)


def independent_ece5(conf: list[float], ok: list[bool]) -> float:
    """BrowseComp-ZH's five-bin L1 error from the spec's formula."""
    c, y = np.asarray(conf, dtype=float), np.asarray(ok, dtype=float)
    which = np.minimum(c // 20, 4)
    return float(sum((which == b).mean() * abs(y[which == b].mean() - c[which == b].mean() / 100)
                     for b in range(5) if (which == b).any()) * 100)


def run(questions: list[Any], responses: dict[str, str], *, exact_match: bool,
        folder: Path) -> tuple[Any, float]:
    path = write_answers(folder / f"answers_{exact_match}.jsonl", responses)
    aligned, unknown = align_answers(questions, load_answers(path))
    assert not unknown
    judge = HonestJudge()
    with OpenAIServer() as server:
        server.add_rule(lambda body: True, judge)
        settings = get_settings(max_retries=0, backoff_base=0.0, max_concurrency=8)
        llm = StructuredLLM(server.chat_model(), settings=settings)
        start = time.perf_counter()
        report = grade_run(questions, aligned, llm=llm, exact_match=exact_match)
        seconds = time.perf_counter() - start
    return report, seconds


def agreement(report: Any, expected: list[dict[str, Any]]) -> dict[str, Any]:
    per_kind: Counter[str] = Counter()
    misses = []
    for verdict, label in zip(report.verdicts, expected, strict=True):
        same = (verdict.correct == label["correct"]
                and verdict.extracted_answer == label["extracted"]
                and verdict.confidence is not None
                and math.isclose(verdict.confidence, label["confidence"]))
        per_kind[label["kind"]] += same
        if not same:
            misses.append({"id": label["id"], "kind": label["kind"], "got": verdict.to_dict()})
    n = len(expected)
    return {"agree": sum(per_kind.values()), "n": n, "rate": sum(per_kind.values()) / n,
            "by_kind": {k: {"agree": per_kind[k],
                            "n": sum(e["kind"] == k for e in expected)} for k in KINDS},
            "disagreements": misses[:10]}


def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=None, help="Shared data folder.")
    args = parser.parse_args()
    source = shared_data_dir(args.data) / "browse_qa" / "webdancer_sample_qa.jsonl"
    questions = load_questions(source)
    responses, expected = scripted(questions)
    conf = [e["confidence"] for e in expected]
    ok = [e["correct"] for e in expected]
    truth = {"accuracy": sum(ok) / len(ok),
             "rms_calib_err_beta100_faithful": independent_rms(conf, ok),
             "rms_calib_err_beta100_corrected": independent_rms(conf, ok, skip_last=False),
             "ece5": independent_ece5(conf, ok)}
    out: dict[str, Any] = {"data": "browse_qa/webdancer_sample_qa.jsonl",
                           "questions": len(questions),
                           "kinds": dict(Counter(e["kind"] for e in expected)),
                           "expected": truth, "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for exact in (False, True):
            report, seconds = run(questions, responses, exact_match=exact,
                                         folder=Path(tmp))
            corrected = type(report)(verdicts=report.verdicts, rms_mode="corrected")
            measured = {
                "accuracy": report.accuracy,
                "rms_calib_err_beta100_faithful": report.rms_calib_err_beta100,
                "rms_calib_err_beta100_corrected": corrected.rms_calib_err_beta100,
                "ece5": report.ece5}
            out["runs"]["exact_match" if exact else "judge_only"] = {
                "agreement": agreement(report, expected),
                "measured": measured,
                "equal_to_expected": {k: math.isclose(v, truth[k], abs_tol=1e-9)
                                      for k, v in measured.items()},
                "counts": report.to_dict(verdicts=False)["counts"],
                "judge_calls": report.llm_calls, "seconds": seconds,
                "items_per_second": len(questions) / seconds}
            if not exact:  # the reference grader's reading of the same final judge replies
                final = [v.raw_reply or "" for v in report.verdicts]
                out["reference_grader"] = {
                    "whole_match_accuracy": sum(simple_evals_grade(r, whole_match=True) == "yes"
                                                for r in final) / len(final),
                    "group_accuracy": sum(simple_evals_grade(r) == "yes"
                                          for r in final) / len(final),
                    "ours": report.accuracy,
                    "markdown_final_replies": sum("**correct:**" in r for r in final)}
    out["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count(),
                      "load_average": os.getloadavg()[0]}
    RESULTS.mkdir(exist_ok=True)
    target = RESULTS / "browsecomp_grading.json"
    target.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    report_tables(out)
    print(f"\nwrote {target}")
    return out


def report_tables(out: dict[str, Any]) -> None:
    truth = out["expected"]
    print(f"WebDancer sample: {out['questions']} questions, kinds {out['kinds']}\n")
    print("| run | agreement | correct / wrong / missing / malformed | judge calls | re-asks |"
          " unparsable | s |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: |")
    for name, r in out["runs"].items():
        a, c = r["agreement"], r["counts"]
        kinds = " / ".join(f"{a['by_kind'][k]['agree']}/{a['by_kind'][k]['n']}" for k in KINDS)
        print(f"| {name} | {a['agree']}/{a['n']} | {kinds} | {r['judge_calls']} | "
              f"{c['reasks']} | {c['unparsable_judge']} | {r['seconds']:.2f} |")
    print("\n| metric | expected (independent) | judge_only | exact_match |")
    print("| --- | ---: | ---: | ---: |")
    for key, value in truth.items():
        cells = " | ".join(f"{r['measured'][key]:.6f}" + ("" if r["equal_to_expected"][key]
                                                          else " (differs)")
                           for r in out["runs"].values())
        print(f"| {key} | {value:.6f} | {cells} |")
    ref = out["reference_grader"]
    print(f"\nReference grader on the same final judge replies: whole-match comparison "
          f"{ref['whole_match_accuracy']:.3f}, its regex with the group fix "
          f"{ref['group_accuracy']:.3f} (misses the {ref['markdown_final_replies']} markdown "
          f"replies' verdicts), ours {ref['ours']:.3f}.")


if __name__ == "__main__":
    main()
