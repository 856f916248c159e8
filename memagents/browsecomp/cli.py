"""``memagents bench ...``: browse benchmarks from the command line.

``memagents bench grade ANSWERS --questions FILE`` grades a run BrowseComp's way: each
response goes to the judge (``--llm``, default ``MEMAGENTS_LLM``) with BrowseComp's grader
prompt, the verdict is read from the captured ``yes|no`` group, and the command prints the
accuracy, the calibration error(s) under their explicit names (``rms_calib_err_beta100``,
``ece5``), the counts of missing and malformed responses and of unparsable judge replies, and
writes the reliability diagram (``--diagram PATH.svg`` or ``.png``).

Files: the questions are a BrowseComp CSV (``problem, answer, canary``; decrypted in memory)
or JSON Lines ``{question, answer, ...}`` (``--canary`` decrypts one encrypted with a canary
that is not in the file); the answers are JSON Lines ``{"id" or "index", "response"}``.

Errors are library errors naming the option to fix; ``memagents.cli.main`` prints them as one
line and exits 1.
"""

from __future__ import annotations

import math
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from memagents.console import strict_json
from memagents.errors import ConfigError, InputError

__all__ = ["bench_app"]

bench_app = typer.Typer(
    help="Browse benchmarks: synthesize, release, re-verify and schedule; grade answers.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


@bench_app.callback()
def _group() -> None:
    """Browse benchmarks: synthesize, release, re-verify and schedule; grade answers."""


class Calibration(str, Enum):
    """``--calibration`` values."""

    rms_calib_err_beta100 = "rms_calib_err_beta100"
    ece5 = "ece5"
    both = "both"


class RmsMode(str, Enum):
    """``--rms-mode`` values (see :func:`memagents.eval.calibration.rms_calib_err_beta100`)."""

    faithful = "faithful"
    corrected = "corrected"


_DESCRIPTIONS = {
    "rms_calib_err_beta100": "RMS over bins of {beta} items by confidence, BrowseComp-Plus",
    "ece5": "L1 over five fixed confidence bins, BrowseComp-ZH",
}


def _judge_spec(llm: str | None) -> str:
    from memagents.config import get_settings

    spec = llm or get_settings().llm
    if not spec:
        raise ConfigError("no judge model configured: pass --llm (e.g. --llm "
                          "openai:gpt-4o-mini) or set MEMAGENTS_LLM, with OPENAI_API_KEY (or "
                          "OPENAI_BASE_URL for an OpenAI-compatible server).")
    return str(spec)


def _pct(value: float) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.2f}%"


@bench_app.command("grade")
def grade(
    answers: Annotated[Path, typer.Argument(
        help="JSON Lines answers: one {\"id\" (or \"index\"), \"response\"} per line.")],
    questions: Annotated[Path | None, typer.Option(
        "--questions", metavar="FILE",
        help="The benchmark questions: BrowseComp CSV (problem, answer, canary) or JSON Lines "
             "{question, answer, ...}.")] = None,
    llm: Annotated[str | None, typer.Option(
        help="Judge model spec, e.g. openai:gpt-4o-mini (default: MEMAGENTS_LLM).")] = None,
    calibration: Annotated[Calibration, typer.Option(
        help="Calibration error(s) to report.")] = Calibration.both,
    rms_mode: Annotated[RmsMode, typer.Option(
        "--rms-mode", help="rms_calib_err_beta100: faithful (last bin skipped, as the "
                           "published numbers) or corrected (every bin).")] = RmsMode.faithful,
    diagram: Annotated[Path | None, typer.Option(
        "--diagram", metavar="PATH", help="Write the reliability diagram (.svg or .png).")
    ] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the report with every verdict as JSON.")] = False,
    canary: Annotated[str | None, typer.Option(
        "--canary", help="Canary string decrypting an encrypted questions file that does not "
                         "carry its canary.")] = None,
    exact_match: Annotated[bool, typer.Option(
        "--exact-match", help="Grade an exact (normalised) answer match correct without a "
                              "judge call (off: stays comparable).")] = False,
    concurrency: Annotated[int | None, typer.Option(
        "--concurrency", min=1, help="Judge calls in flight (default: MEMAGENTS_MAX_CONCURRENCY)."
    )] = None,
) -> None:
    """Grade the responses in ANSWERS against --questions FILE with the BrowseComp judge."""
    from memagents.eval.browsecomp_files import align_answers, load_answers, load_questions

    if questions is None:
        raise InputError("pass --questions FILE: the benchmark questions the answers respond "
                         "to (BrowseComp CSV or JSON Lines with question and answer).")
    if diagram is not None and diagram.suffix.lower() not in (".svg", ".png"):
        raise InputError(f"--diagram {str(diagram)!r}: use a .svg or .png file name.")
    spec = _judge_spec(llm)
    items = load_questions(questions, canary=canary)
    records = load_answers(answers)
    responses, unknown = align_answers(items, records)
    if records and len(unknown) == len(records):
        raise InputError(f"none of the {len(records)} answer(s) in ANSWERS matches a question "
                         "of --questions: each id must be a question's id (or its 0-based "
                         "index, as \"index\").")
    from memagents.web.grading import grade_run

    report = grade_run(items, responses, llm=spec, exact_match=exact_match,
                       max_concurrency=concurrency, rms_mode=rms_mode.value,
                       unknown_answer_ids=unknown)
    if diagram is not None:
        _write_diagram(report, diagram)
    chosen = (["rms_calib_err_beta100", "ece5"] if calibration is Calibration.both
              else [calibration.value])
    if as_json:
        data = report.to_dict()
        data["calibration"] = {k: v for k, v in data["calibration"].items() if k in chosen}
        if diagram is not None:
            data["diagram"] = str(diagram)
        typer.echo(strict_json(data))
        return
    _print(report, chosen, diagram)


def _write_diagram(report: Any, path: Path) -> None:
    try:
        report.write_diagram(path)
    except OSError as exc:
        reason = ("a part of the path is a file, not a folder"
                  if isinstance(exc, FileExistsError | NotADirectoryError)
                  else exc.strerror or type(exc).__name__)
        raise InputError(f"cannot write --diagram {str(path)!r} ({reason}): pass a file path "
                         "you can write to.") from exc


def _print(report: Any, chosen: list[str], diagram: Path | None) -> None:
    answered = report.n - report.missing_responses
    typer.echo(f"graded {answered} response(s) to {report.n} question(s); judge "
               f"{report.judge}, {report.llm_calls} call(s)")
    typer.echo(f"accuracy: {report.accuracy:.4f} ({report.correct}/{report.n})")
    calibration = report.calibration()
    for name in chosen:
        entry = calibration[name]
        what = _DESCRIPTIONS[name].format(beta=entry.get("beta", 100))
        mode = f", {entry['mode']}" if "mode" in entry else ""
        if name == "rms_calib_err_beta100" and entry["mode"] == "faithful":
            mode += ": last bin skipped, as the reference"
        typer.echo(f"calibration error {name}: {_pct(entry['value'])} over {entry['n']} "
                   f"item(s) ({what}{mode})")
    typer.echo(f"responses: {report.missing_responses} missing, {report.malformed_responses} "
               f"malformed ({report.no_exact_answer} without an Exact Answer line, "
               f"{report.unparsable_confidence} with an unparsable confidence)")
    typer.echo(f"judge: {report.reasks} re-ask(s), {report.unparsable_judge} unparsable "
               f"repl(ies) and {report.judge_errors} failed call(s), none counted correct"
               + (f"; {report.exact_matches} exact match(es) graded without a call"
                  if report.exact_matches else ""))
    if report.unknown_answer_ids:
        shown = ", ".join(report.unknown_answer_ids[:5])
        more = "..." if len(report.unknown_answer_ids) > 5 else ""
        typer.echo(f"warning: {len(report.unknown_answer_ids)} answer(s) match no question: "
                   f"{shown}{more}", err=True)
    if diagram is not None:
        typer.echo(f"reliability diagram: {diagram}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(bench_app())


# The release commands live in their own modules; they are commands of this group.
from memagents.browsecomp.cli_release import (
    releases_cmd,
    reverify_cmd,
    schedule_cmd,
)
from memagents.browsecomp.cli_synthesize import synthesize_cmd

bench_app.command("synthesize")(synthesize_cmd)
bench_app.command("reverify")(reverify_cmd)
bench_app.command("schedule")(schedule_cmd)
bench_app.command("releases")(releases_cmd)
