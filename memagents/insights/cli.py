"""``memagents insights ...``: train, evaluate and inspect an insight store.

* ``train --problems FILE --rollouts 350`` trains until the store has used that many
  rollouts (baseline estimation and admission tests included; a second run with a larger
  budget continues, a killed run resumes), with rich progress bars; ``--eval FILE`` measures
  held-out accuracy every ``--eval-every`` rollouts and ``--plot curve.svg|png`` draws the
  learning curve.
* ``eval --problems FILE [--mode core|none|random]``: held-out accuracy, memory frozen, with
  a 95% bootstrap interval.
* ``list``, ``show ID``, ``prune [--dry-run]``.

A problems file is JSON Lines (or a JSON list): ``{"id": ..., "problem": ..., "answer": ...,
"verifier": "numeric" | "exact" | {"kind": "regex", "pattern": ...} | {"kind": "unit_tests",
"tests": ...}, "split": "train" | "eval"}``; ``split`` is optional (``train`` uses the
``train`` lines, or every line when none has a split; ``eval`` the ``eval`` lines, or every
line).

Errors are library errors naming the option to fix; ``memagents.cli.main`` prints them as one
line and exits 1.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from memagents.console import strict_json
from memagents.errors import ConfigError, InputError

__all__ = ["insights_app", "read_problems"]

insights_app = typer.Typer(
    help="Insight store (CORE): learn insights from failed and successful attempts.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

err = Console(stderr=True)

StoreOpt = Annotated[Path | None, typer.Option(
    "--store", help="Insight store folder (default: <MEMAGENTS_HOME>/insights).")]
NamespaceOpt = Annotated[str, typer.Option("--namespace", "-n", help="Namespace.")]
LLMOpt = Annotated[str | None, typer.Option(
    help="Chat model spec, e.g. openai:gpt-4o-mini (default: MEMAGENTS_LLM).")]
EmbOpt = Annotated[str | None, typer.Option(
    help="Embedding spec the store is built with (default: MEMAGENTS_EMBEDDINGS).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


@insights_app.callback()
def _group() -> None:
    """Insight store (CORE): learn insights from failed and successful attempts."""


class Method(str, Enum):
    """``--method`` values."""

    core = "core"
    expel = "expel"


class Mode(str, Enum):
    """``--mode`` values (see :mod:`memagents.insights.evaluation`)."""

    core = "core"
    none = "none"
    random = "random"
    random_matched = "random_matched"


def read_problems(path: Path, split: str | None) -> list[dict[str, Any]]:
    """The problems of ``split`` in a JSON Lines (or JSON list) file (see the module
    docstring); every problem when no line has a split."""
    try:
        raw = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read --problems {str(path)!r} ({exc.strerror or exc}).") from exc
    try:
        stripped = raw.lstrip()
        rows = json.loads(raw) if stripped.startswith("[") else [
            json.loads(line) for line in raw.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise InputError(f"{str(path)!r} is not JSON Lines ({exc.msg} at line {exc.lineno}): "
                         'write one {"problem": ..., "answer": ...} object per line.') from None
    if not all(isinstance(r, dict) for r in rows):
        raise InputError(f"{str(path)!r}: every line must be a JSON object.")
    if split is not None and any("split" in r for r in rows):
        rows = [r for r in rows if r.get("split", "train") == split]
    if not rows:
        raise InputError(f"{str(path)!r} holds no {split or ''} problems.".replace("  ", " "))
    return rows


def _chat_model(llm: str | None) -> str:
    from memagents.config import get_settings

    spec = llm or get_settings().llm
    if not spec:
        raise ConfigError("no chat model configured: pass --llm (e.g. --llm openai:gpt-4o-mini) "
                          "or set MEMAGENTS_LLM, with OPENAI_API_KEY (or OPENAI_BASE_URL for "
                          "an OpenAI-compatible server).")
    return str(spec)


@contextmanager
def _open(store: Path | None, *, llm: str | None = None, embeddings: str | None = None,
          namespace: str = "default", create: bool = False, **settings: Any) -> Iterator[Any]:
    from memagents.config import get_settings
    from memagents.insights.store import InsightStore

    root = Path(store) if store is not None else Path(get_settings().home) / "insights"
    if root.exists() and not root.is_dir():
        raise InputError(f"--store {str(root)!r} is a file, not a folder.")
    if not create and not (root / "insights.db").is_file():
        raise InputError(f"--store {str(root)!r} holds no insight store: check the folder or "
                         "create one with `memagents insights train`.")
    try:
        opened = InsightStore.open(root, llm=llm, embeddings=embeddings, namespace=namespace,
                                   **settings)
    except ConfigError as exc:
        raise ConfigError(str(exc).replace("embeddings=", "--embeddings")
                          .replace("InsightSettings(method=...)", "--method")) from exc
    with opened:
        yield opened


def _plot(store: Any, path: Path, title: str) -> None:
    from memagents.insights.plot import write_curve

    labels = {"core": f"{store.settings.method.upper()} insights", "none": "no insights",
              "random": "random insights"}
    series = {labels.get(k, k): v for k, v in store.curve().items()}
    if not series:
        raise InputError("no learning-curve points to plot: pass --eval FILE so training "
                         "measures held-out accuracy.")
    write_curve(path, series, title=title)


@insights_app.command("train")
def train(
    problems: Annotated[Path, typer.Option("--problems", help="Training problems (JSONL).")],
    rollouts: Annotated[int, typer.Option("--rollouts", min=1, help="Total rollout budget "
                                          "(baselines and admission tests count).")] = 350,
    store: StoreOpt = None, namespace: NamespaceOpt = "default", llm: LLMOpt = None,
    embeddings: EmbOpt = None,
    method: Annotated[Method, typer.Option(help="core, or the expel baseline.")] = Method.core,
    eval_file: Annotated[Path | None, typer.Option("--eval", help="Held-out problems for the "
                                                   "learning curve.")] = None,
    eval_every: Annotated[int, typer.Option("--eval-every", min=1, help="Rollouts between "
                                            "held-out evaluations.")] = 50,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write the learning curve "
                                              "(.svg or .png).")] = None,
    top_k: Annotated[int | None, typer.Option("--top-k", min=1, help="Insights per prompt "
                                              "(default 25).")] = None,
    baseline_samples: Annotated[int | None, typer.Option(
        "--baseline-samples", min=1, help="No-insight samples per training problem for its "
        "baseline (default 10).")] = None,
    credit: Annotated[str | None, typer.Option(
        help="equal (the paper) or contrast (leave-out credit).")] = None,
    seed: Annotated[int, typer.Option(help="Sampler seed.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Train the store on --problems until --rollouts rollouts are used."""
    spec = _chat_model(llm)
    items = read_problems(problems, "train")
    held = read_problems(eval_file, "eval") if eval_file is not None else None
    overrides: dict[str, Any] = {"method": method.value, "seed": seed}
    if top_k is not None:
        overrides["top_k"] = top_k
    if baseline_samples is not None:
        overrides["baseline_samples"] = baseline_samples
    if credit is not None:
        overrides["credit"] = credit
    with _open(store, llm=spec, embeddings=embeddings, namespace=namespace, create=True,
               **overrides) as opened:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=err, disable=as_json) as bars:
            task = bars.add_task("rollouts", total=rollouts,
                                 completed=min(opened.parts.db.used(namespace), rollouts))

            def on_progress(event: Any) -> None:
                bars.update(task, completed=event.used,
                            description=f"rollouts ({event.phase})")

            report = opened.train(rollouts, problems=items, on_progress=on_progress,
                                  eval_problems=held, eval_every=eval_every,
                                  eval_modes=("core", "none"))
        if plot is not None:
            _plot(opened, plot, f"{method.value.upper()} learning curve")
        curve = opened.curve()
    if as_json:
        typer.echo(strict_json({**report.to_dict(), "curve": curve}))
        return
    table = Table("measure", "value", title="training")
    table.add_row("rollouts used / budget", f"{report.used} / {report.budget}")
    table.add_row("by kind", ", ".join(f"{k} {v}" for k, v in report.rollouts.items()))
    table.add_row("steps (this run)", f"{report.steps} ({report.new_steps})")
    table.add_row("candidates", ", ".join(f"{k} {v}" for k, v in
                                          sorted(report.candidates.items())) or "none")
    table.add_row("active insights", str(report.insights))
    table.add_row("LLM calls per step", str(report.llm_calls_per_step))
    for name, points in curve.items():
        table.add_row(f"held-out ({name})", " → ".join(f"{a:.2f}@{r}" for r, a, _, _ in points))
    Console().print(table)
    for note in report.notes:
        typer.echo(f"note: {note}")
    if plot is not None:
        typer.echo(f"learning curve: {plot}")


@insights_app.command("eval")
def eval_(
    problems: Annotated[Path, typer.Option("--problems", help="Held-out problems (JSONL).")],
    store: StoreOpt = None, namespace: NamespaceOpt = "default", llm: LLMOpt = None,
    embeddings: EmbOpt = None,
    mode: Annotated[list[Mode] | None, typer.Option(
        "--mode", help="core (the store's insights), none, random or random_matched (as many "
        "random insights as core injects); repeat for several.")
    ] = None,
    record: Annotated[bool, typer.Option("--record", help="Add the points to the learning "
                                         "curve.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Held-out accuracy with the memory frozen (95% bootstrap interval)."""
    spec = _chat_model(llm)
    items = read_problems(problems, "eval")
    modes = [m.value for m in mode or [Mode.core]]
    reports = []
    with (_open(store, llm=spec, embeddings=embeddings, namespace=namespace) as opened,
          Progress(console=err, transient=True, disable=as_json) as bars):
        for name in modes:
            task = bars.add_task(f"eval ({name})", total=len(items))
            reports.append(opened.evaluate(
                items, mode=name, record=record,
                on_result=lambda _r, task=task: bars.advance(task)))
    if as_json:
        typer.echo(strict_json([r.to_dict() for r in reports]))
        return
    table = Table("mode", "accuracy", "95% CI", "n", "insight tokens", "LLM calls",
                  title="held-out evaluation (memory frozen)")
    for r in reports:
        low, high = r.ci()
        table.add_row(r.mode, f"{r.accuracy:.3f}", f"[{low:.3f}, {high:.3f}]", str(r.n),
                      f"{r.insight_tokens:.0f}", str(r.llm_calls))
    Console().print(table)
    for note in sorted({n for r in reports for n in r.notes}):
        typer.echo(f"note: {note}")


@insights_app.command("list")
def list_(
    store: StoreOpt = None, namespace: NamespaceOpt = "default", embeddings: EmbOpt = None,
    show_all: Annotated[bool, typer.Option("--all", help="Include pruned insights.")] = False,
    sort: Annotated[str, typer.Option(help="utility, uses or created.")] = "utility",
    as_json: JsonOpt = False,
) -> None:
    """List the store's insights with their uses and utility."""
    if sort not in ("utility", "uses", "created"):
        raise InputError(f"--sort {sort!r} is unknown: use utility, uses or created.")
    with _open(store, embeddings=embeddings, namespace=namespace) as opened:
        found = opened.insights(status=None if show_all else "active")
    keys = {"utility": lambda i: (-(i.utility if i.utility is not None else -9), i.created_at),
            "uses": lambda i: (-i.uses, i.created_at), "created": lambda i: i.created_at}
    found.sort(key=keys[sort])
    if as_json:
        typer.echo(strict_json([i.to_dict() for i in found]))
        return
    table = Table("id", "utility", "uses", "support", "status", "insight",
                  title=f"insights ({len(found)})")
    for i in found:
        table.add_row(i.id, "-" if i.utility is None else f"{i.utility:+.3f}", str(i.uses),
                      str(i.support), i.status, i.text)
    Console().print(table)


@insights_app.command("show")
def show(
    insight_id: Annotated[str, typer.Argument(help="The insight id (see `list`).")],
    store: StoreOpt = None, namespace: NamespaceOpt = "default", embeddings: EmbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One insight: its text, provenance and utility per problem."""
    with _open(store, embeddings=embeddings, namespace=namespace) as opened:
        insight = opened.insight(insight_id)
        if insight is None:
            raise InputError(f"no insight {insight_id!r} in namespace {namespace!r}: see "
                             "`memagents insights list --all`.")
        uses = opened.insight_uses(insight_id)
    if as_json:
        typer.echo(strict_json({**insight.to_dict(), "per_problem": {
            p: {"n": n, "mean_utility": m} for p, (n, m) in uses.items()}}))
        return
    typer.echo(f"{insight.id} [{insight.status}, {insight.label}]: {insight.text}")
    typer.echo(f"  source: {json.dumps(insight.source, sort_keys=True)}")
    typer.echo(f"  uses {insight.uses}, utility {insight.utility}, support {insight.support}"
               + (f", votes {insight.votes}" if insight.votes else ""))
    table = Table("problem", "uses", "mean utility r − b_p", title="per problem")
    for pid, (n, mean) in sorted(uses.items()):
        table.add_row(pid, str(n), f"{mean:+.3f}")
    Console().print(table)


@insights_app.command("prune")
def prune_(
    store: StoreOpt = None, namespace: NamespaceOpt = "default", embeddings: EmbOpt = None,
    min_uses: Annotated[int | None, typer.Option("--min-uses", min=1, help="Uses before an "
                                                 "insight may be pruned (default 10).")] = None,
    max_utility: Annotated[float | None, typer.Option("--max-utility", help="Prune at or below "
                                                      "this utility (default 0).")] = None,
    merge_threshold: Annotated[float | None, typer.Option(
        "--merge-threshold", min=0.0, max=1.0, help="Merge insights this similar (default "
        "0.85).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show what would "
                                          "change.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Merge near-duplicate insights and prune those that do not help."""
    with _open(store, embeddings=embeddings, namespace=namespace) as opened:
        report = opened.prune(min_uses=min_uses, max_utility=max_utility,
                              merge_threshold=merge_threshold, dry_run=dry_run)
    if as_json:
        typer.echo(strict_json(report.to_dict()))
        return
    verb = "would be" if dry_run else "were"
    typer.echo(f"{len(report.merged)} insight(s) {verb} merged, {len(report.pruned)} "
               f"{verb} pruned.")
    for other, keep, cosine in report.merged:
        typer.echo(f"  merged {other} into {keep} (cosine {cosine:.3f})")
    for iid, uses, utility in report.pruned:
        typer.echo(f"  pruned {iid} ({uses} uses, utility {utility})")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(insights_app())
