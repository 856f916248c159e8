"""``memagents gate tune``: Mallen et al.'s threshold search from two result files.

``tune`` is a plain function with typer annotations; the ``gate`` command group registers it
(``gate_app.command("tune")(tune)``). It reads the JSONL results of a parametric and a
retrieval run over the same questions, runs :func:`~memagents.gate.research.tuning.tune_thresholds`,
prints a table (per-relation thresholds and counts, accuracy with its 95% interval, retrieval
rate, never/always baselines) or ``--json``, and optionally writes the result (``--out``) and
the accuracy vs retrieval rate plot (``--plot``, ``.svg`` or ``.png``). Bad input ends with a
one-line error and exit code 1.

Example:
    >>> import json, tempfile, typer
    >>> from pathlib import Path
    >>> from typer.testing import CliRunner
    >>> app = typer.Typer()
    >>> _ = app.command("tune")(tune)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     for mode, good in (("parametric", [0, 0, 1, 1]), ("retrieval", [1, 1, 0, 0])):
    ...         rows = [{"id": str(i), "prop": "genre", "s_pop": 10 ** (i + 1), "mode": mode,
    ...                  "is_correct": bool(g)} for i, g in enumerate(good)]
    ...         _ = (Path(d) / f"{mode}.jsonl").write_text(
    ...             "".join(json.dumps(r) + "\\n" for r in rows))
    ...     result = CliRunner().invoke(app, [f"{d}/parametric.jsonl", f"{d}/retrieval.jsonl",
    ...                                       "--bootstraps", "3", "--json"])
    >>> result.exit_code, json.loads(result.stdout)["in_sample_accuracy"]
    (0, 1.0)
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from memagents.errors import MemagentsError
from memagents.gate.research.cli_eval import fail, path_error
from memagents.gate.research.plot import tuning_markers, write_plot
from memagents.gate.research.tuning import TuningResult, pair_results, sweep, tune_thresholds

__all__ = ["tune", "tune_command"]


def tune(
    parametric: Annotated[Path, typer.Argument(
        help="Results of the parametric (closed-book) run: JSONL, one record per question.")],
    retrieval: Annotated[Path, typer.Argument(
        help="Results of the retrieval run over the same questions (matched by id).")],
    bootstraps: Annotated[int, typer.Option(min=1, help="Random 75/25 train/test splits.")] = 100,
    seed: Annotated[int, typer.Option(help="Seed of the splits (same seed, same numbers).")] = 0,
    bins: Annotated[int, typer.Option(min=1, help="Histogram bins of log(s_pop).")] = 10,
    global_threshold: Annotated[bool, typer.Option(
        "--global", help="One threshold for all questions instead of one per relation.")] = False,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Write the full result (thresholds, estimates, sweep) as JSON.")
    ] = None,
    plot: Annotated[Path | None, typer.Option(
        help="Write the accuracy vs retrieval rate plot (.svg; .png needs matplotlib).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")
                       ] = False,
) -> None:
    """Tune popularity thresholds (Mallen et al.) from a parametric and a retrieval run."""
    try:
        pairs = pair_results(parametric, retrieval)
        result = tune_thresholds(pairs, bootstraps=bootstraps, seed=seed, bins=bins,
                                 per_relation=not global_threshold)
        curve = sweep(pairs)
        data = {**result.to_dict(), "sweep": [p.to_dict() for p in curve]}
        if out is not None:
            out.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        if plot is not None:
            write_plot(plot, curve, markers=tuning_markers(result),
                       title="Accuracy vs retrieval rate (popularity thresholds)")
    except MemagentsError as exc:
        raise fail(exc) from exc
    except OSError as exc:
        raise fail(path_error(exc, {"--out": out, "--plot": plot, "PARAMETRIC": parametric,
                                    "RETRIEVAL": retrieval})) from exc
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    _print_table(result, written=[p for p in (out, plot) if p is not None])


tune_command = tune


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def _print_table(result: TuningResult, written: list[Path]) -> None:
    console = Console()
    kind = "per-relation" if result.per_relation else "global"
    table = Table(title=f"Popularity thresholds ({kind}, fit on all {result.questions} "
                        "questions)")
    for name in ("relation", "n", "param ok", "retr ok", "retrieve if s_pop", "retrieved",
                 "tuned ok"):
        table.add_column(name, justify="left" if name == "relation" else "right")
    for f in result.fits:
        rule = ("never" if f.edge == 0 else "always" if math.isinf(f.threshold)
                else f"< {f.threshold:,.0f}")
        table.add_row(escape(f.relation), str(f.questions), str(sum(f.bin_parametric_correct)),
                      str(sum(f.bin_retrieval_correct)), rule, str(f.retrieved),
                      str(f.tuned_correct))
    console.print(table)
    acc, rate = result.accuracy, result.retrieval_rate
    rows: list[tuple[str, Any]] = [
        (f"accuracy (test, {result.bootstraps} bootstraps)",
         f"{_pct(acc.mean)}  [95%: {_pct(acc.low)} - {_pct(acc.high)}]"),
        ("retrieval rate (test)",
         f"{_pct(rate.mean)}  [95%: {_pct(rate.low)} - {_pct(rate.high)}]"),
        ("never retrieve (test)", _pct(result.never_accuracy.mean)),
        ("always retrieve (test)", _pct(result.always_accuracy.mean)),
        ("in-sample accuracy / retrieval rate",
         f"{_pct(result.in_sample_accuracy)} / {_pct(result.in_sample_retrieval_rate)}"),
        ("oracle (either run correct)", _pct(result.oracle_accuracy)),
        ("global threshold", "inf (always retrieve)" if math.isinf(result.global_threshold)
         else f"{result.global_threshold:,.6g}"),
        ("dropped (no or negative s_pop)", str(len(result.dropped))),
    ]
    summary = Table(show_header=False, box=None)
    summary.add_column(style="bold")
    summary.add_column()
    for label, value in rows:
        summary.add_row(label, value)
    console.print(summary)
    for path in written:
        console.print(f"[green]wrote[/green] {escape(str(path))}")
