"""``memagents gate eval`` and ``memagents gate export-training``.

Plain functions with typer annotations; the ``gate`` command group registers them
(``gate_app.command("eval")(evaluate)``, ``gate_app.command("export-training")(export_training)``).

* ``evaluate`` runs a policy over PopQA-format data with a live model (``--llm``) or recorded
  outputs (``--recorded``), writing ``results.jsonl`` and ``summary.json`` to ``--out``; rerun
  the same command after a failure to resume (completed questions are skipped).
* ``export_training`` writes the Adapt-LLM training set from labelled data and a closed-book
  run, in OpenAI chat fine-tuning JSONL and/or Alpaca JSON, and validates the OpenAI file.

Bad input and model failures end with a one-line error and exit code 1.

Example:
    >>> import json, tempfile, typer
    >>> from pathlib import Path
    >>> from typer.testing import CliRunner
    >>> app = typer.Typer()
    >>> _ = app.command("eval")(evaluate)
    >>> _ = app.command("export-training")(export_training)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     data = Path(d) / "qa.json"
    ...     _ = data.write_text(json.dumps([{"id": "1", "question": "Where is Velmora?",
    ...         "possible_answers": ["Quillmere"], "s_pop": 5,
    ...         "contriever_passage": "Velmora lies in Quillmere."}]))
    ...     rec = Path(d) / "rec.jsonl"
    ...     _ = rec.write_text('{"id": "1", "mode": "retrieval", "prediction": "Quillmere"}\\n')
    ...     result = CliRunner().invoke(app, ["eval", str(data), "--policy", "always",
    ...                                       "--recorded", str(rec), "--out", d, "--json"])
    >>> result.exit_code, json.loads(result.stdout)["accuracy"]
    (0, 1.0)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from rich.text import Text

from memagents.console import print_error
from memagents.errors import ConfigError, InputError, MemagentsError

__all__ = ["evaluate", "export_training"]

_THRESHOLD_POLICIES = ("popularity", "token-probability", "confidence")


def fail(exc: Exception) -> typer.Exit:
    """Print ``error: ...`` as one plain line (the package's one printer,
    :func:`memagents.console.print_error`); the exit to raise."""
    print_error(exc)
    return typer.Exit(code=1)


def path_error(exc: OSError, flags: dict[str, Path | None]) -> InputError:
    """A file-system error as an InputError naming the option whose path failed."""
    failed = Path(exc.filename) if exc.filename is not None else None
    flag = next((f"{name} {str(path)!r}" for name, path in flags.items() if path is not None
                 and failed is not None and (failed == path or path in failed.parents)), None)
    what = flag or (repr(str(failed)) if failed is not None else "a file")
    reason = ("a part of the path is a file, not a folder"
              if isinstance(exc, FileExistsError | NotADirectoryError) else exc.strerror or exc)
    return InputError(f"cannot use {what} ({reason}): pass a path you can read or write.")


def _build(policy: str, llm: str | None, recorded: list[Path] | None,
           threshold: float | None) -> tuple[Any, Any, Any]:
    """The gate, the answerer (or None) and the recorded outputs (or None)."""
    from memagents.gate.answering import Answerer
    from memagents.gate.gate import RetrievalGate
    from memagents.gate.research.harness import RecordedOutputs
    from memagents.models import Usage

    name = policy.strip().lower().replace("_", "-")
    options: dict[str, Any] = {}
    if threshold is not None:
        if name not in _THRESHOLD_POLICIES:
            raise InputError(f"--threshold applies to {', '.join(_THRESHOLD_POLICIES)}; "
                             f"policy {name!r} takes none.")
        options["threshold"] = threshold
    usage = Usage()
    gate = RetrievalGate(name, llm=llm, usage=usage, **options)
    if recorded:
        return gate, None, RecordedOutputs.from_files(*recorded)
    answerer = Answerer(gate.llm) if gate.llm is not None else Answerer(None, usage=usage)
    if not answerer.llm.configured:
        raise ConfigError("no chat model to answer with: pass --llm (e.g. "
                          "--llm openai:gpt-4o-mini, with OPENAI_API_KEY or OPENAI_BASE_URL "
                          "set), set MEMAGENTS_LLM, or pass recorded outputs with --recorded.")
    return gate, answerer, None


def _table(summary: dict[str, Any]) -> Table:
    table = Table(title=f"gate eval: policy {summary['policy']} ({summary['mode']})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    rate = summary.get("has_answer_rate")
    rows = [
        ("questions", f"{summary['n']} of {summary['items']}"
         + (f" ({summary['resumed']} resumed)" if summary.get("resumed") else "")),
        ("accuracy", f"{summary['accuracy']:.2%} ({summary['correct']} correct)"),
        ("retrieval rate", f"{summary['retrieval_rate']:.2%} ({summary['retrieved']})"),
        ("has-answer rate (retrieved)", "-" if rate is None else f"{rate:.2%}"),
        ("knowledge conflicts", str(summary.get("conflicts", 0))),
        ("LLM calls", str(summary["llm_calls"])),
        ("prompt / completion tokens",
         f"{summary['prompt_tokens']} / {summary['completion_tokens']}"),
    ]
    for prop, r in summary.get("per_relation", {}).items():
        detail = f"acc {r['accuracy']:.2%}, retr {r['retrieval_rate']:.2%}, n={r['n']}"
        rows.append((f"  {prop}", detail))
    for row in rows:
        table.add_row(*row)
    return table


def evaluate(
    data: Annotated[Path, typer.Argument(
        help="PopQA-format data: a JSON list, an object keyed by id, or JSON Lines.")],
    policy: Annotated[str, typer.Option(
        "--policy", "-p", help="never, always, popularity, adapt-llm, token-probability, "
                               "confidence or self-consistency.")] = "always",
    llm: Annotated[str | None, typer.Option(
        help="Chat model spec, e.g. openai:gpt-4o-mini (default: MEMAGENTS_LLM).")] = None,
    recorded: Annotated[list[Path] | None, typer.Option(
        help="Recorded outputs (JSONL of {id, mode: parametric|retrieval, prediction}); "
             "repeatable. No model is called to answer.")] = None,
    threshold: Annotated[float | None, typer.Option(
        help="Threshold of the popularity, token-probability or confidence policy.")] = None,
    out: Annotated[Path, typer.Option(
        "--out", "-o", help="Output folder (results.jsonl, summary.json); rerun to resume.")
    ] = Path("gate-eval"),
    limit: Annotated[int | None, typer.Option(min=0, help="Only the first N questions.")
                     ] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Questions in parallel.")] = 1,
    no_conflict: Annotated[bool, typer.Option(
        "--no-conflict", help="Answer from evidence alone, without conflict resolution.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")
                       ] = False,
    plot: Annotated[Path | None, typer.Option(
        help="Write an accuracy vs retrieval rate plot (.svg, or .png with matplotlib): this "
             "run's point, plus the popularity-threshold trade-off curve and the never/always "
             "baselines when --recorded covers both modes.")] = None,
) -> None:
    """Evaluate a retrieve-or-recall policy on PopQA-format data (containment scoring)."""
    from memagents.eval.popqa import load_popqa
    from memagents.gate.research.harness import EvalConfig, Harness

    try:
        if not data.is_file():
            raise InputError(f"no such data file: {data}")
        gate, answerer, outputs = _build(policy, llm, recorded, threshold)
        signature = json.dumps({"policy": policy, "threshold": threshold, "llm": llm,
                                "recorded": [p.name for p in recorded or []],
                                "conflict": not no_conflict}, sort_keys=True)
        config = EvalConfig(limit=limit, max_concurrency=concurrency, signature=signature,
                            conflict=None if no_conflict else EvalConfig().conflict)
        harness = Harness(gate, answerer=answerer, recorded=outputs, config=config)
        items = load_popqa(data)
        with Progress(console=Console(stderr=True), transient=True,
                      disable=as_json) as progress:
            task = progress.add_task("evaluating", total=len(items[:limit]))
            report = harness.run(items, out,
                                 on_record=lambda _: progress.advance(task))
        if plot is not None:
            write_eval_plot(plot, report.summary, items[:limit], outputs)
    except MemagentsError as exc:
        raise fail(exc) from None
    except OSError as exc:
        raise fail(path_error(exc, {"--out": out, "--plot": plot, "DATA": data})) from None
    for warning in report.summary.get("warnings", []):  # stderr: stdout stays JSON
        _warn(warning)
    if as_json:
        typer.echo(json.dumps(report.summary, indent=2))
        return
    console = Console()
    console.print(_table(report.summary))
    console.print(f"results: {report.results_path}\nsummary: {report.summary_path}")


def _warn(message: str) -> None:
    Console(stderr=True, soft_wrap=True, highlight=False).print(
        Text.assemble(("warning:", "bold yellow"), " ", message))


def write_eval_plot(path: Path, summary: dict[str, Any], items: Any, outputs: Any) -> Path:
    """Plot a run's (retrieval rate, accuracy) point; with recorded outputs of both modes,
    also the popularity-threshold sweep and the never/always baselines on the same items."""
    from memagents.eval.scoring import is_correct
    from memagents.gate.research.plot import Marker, write_plot
    from memagents.gate.research.tuning import pair_results, sweep

    markers = [Marker(label=f"{summary.get('policy', 'policy')} (this run)",
                      retrieval_rate=summary["retrieval_rate"], accuracy=summary["accuracy"])]
    curve: list[Any] = []
    runs: dict[str, list[dict[str, Any]]] = {"parametric": [], "retrieval": []}
    if outputs is not None:
        for item in items:
            for mode, run in runs.items():
                pred = outputs.predictions.get((str(item.id), mode))
                if pred is not None:
                    run.append({"id": item.id, "question": item.question, "prop": item.prop,
                                "s_pop": item.s_pop, "mode": mode, "prediction": pred,
                                "is_correct": is_correct(pred, item.possible_answers)})
    if runs["parametric"] and len(runs["parametric"]) == len(runs["retrieval"]) == len(items):
        paired = pair_results(runs["parametric"], runs["retrieval"])
        curve = sweep(paired)
        never, always = curve[0], curve[-1]
        markers += [Marker(label="never retrieve", retrieval_rate=never.retrieval_rate,
                           accuracy=never.accuracy),
                    Marker(label="always retrieve", retrieval_rate=always.retrieval_rate,
                           accuracy=always.accuracy)]
    return write_plot(path, curve, markers=markers)


def export_training(
    data: Annotated[Path, typer.Argument(
        help="Labelled QA: id, question, possible_answers and a passage (gold_passage, "
             "passage or contriever_passage).")],
    closed_book: Annotated[Path, typer.Argument(
        help="Closed-book predictions: JSONL of {id, prediction} (e.g. the results.jsonl of "
             "`gate eval --policy never`) or a JSON object {id: prediction}.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")
                   ] = Path("adapt-llm-train"),
    fmt: Annotated[str, typer.Option("--format", "-f", help="openai, alpaca or both.")
                   ] = "both",
    token: Annotated[str, typer.Option(help="The retrieval token.")] = "<RET>",
    require_answer: Annotated[bool, typer.Option(
        "--require-answer-in-passage",
        help="Skip wrong items whose passage contains no accepted answer.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Write the Adapt-LLM training set (correct -> answer; wrong -> <RET> + context)."""
    from memagents.gate.research import training as tr

    fmt = fmt.strip().lower()
    try:
        if fmt not in ("openai", "alpaca", "both"):
            raise InputError(f"--format must be openai, alpaca or both, not {fmt!r}.")
        ts = tr.build_training_set(tr.load_records(data), tr.load_records(closed_book),
                                   token=token, require_answer_in_passage=require_answer)
        files: dict[str, str] = {}
        problems: list[str] = []
        if fmt in ("openai", "both"):
            path = tr.write_openai_chat_jsonl(ts.examples, out / "train.openai.jsonl")
            problems = tr.validate_openai_chat_jsonl(path)
            files["openai"] = str(path)
        if fmt in ("alpaca", "both"):
            files["alpaca"] = str(tr.write_alpaca_json(ts.examples, out / "train.alpaca.json"))
    except MemagentsError as exc:
        raise fail(exc) from None
    except OSError as exc:
        raise fail(path_error(exc, {"--out": out, "DATA": data, "CLOSED_BOOK": closed_book})
                    ) from None
    warnings = []
    if ts.stats["skipped_no_passage"]:
        warnings.append(f"{ts.stats['skipped_no_passage']} wrong item(s) skipped for lack of a "
                        "passage: give each item its passage text in gold_passage, passage or "
                        "contriever_passage (`memagents sample export` writes gold_passage)")
    if "openai" in files and len(ts.examples) < 10:
        warnings.append(f"only {len(ts.examples)} examples: OpenAI fine-tuning needs at least 10")
    report = {**ts.stats, "files": files, "problems": problems, "warnings": warnings,
              "skipped_ids": ts.skipped_ids}
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        console = Console()
        console.print(ts.summary())
        for kind, path in files.items():
            console.print(f"{kind}: {path}")
    for w in warnings:  # stderr: stdout stays JSON with --json
        _warn(w)
    if problems:
        raise fail(InputError(f"the OpenAI file is invalid: {'; '.join(problems[:5])}"))
