"""``memagents bench synthesize``: one synthesis run written as a versioned release.

::

    memagents bench synthesize --out releases/ --anchor 2026-07-01 --n 20 --llm openai:gpt-4o-mini \\
        --seeds seeds.txt --search searxng
    memagents bench synthesize --out releases/ --anchor 2026-07-01 --n 4 --offline --simulate

Progress bars follow the seeds and the stages; at the end a table gives, per stage, how many
candidates entered and how many it rejected, the release folder gets ``stages.svg``,
``hops.svg`` and ``freshness.svg``, and ``--checkpoint FILE`` makes the run resumable
(``--resume RUN_ID``, printed at the start). Errors name the flag to fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from memagents.console import strict_json
from memagents.errors import InputError

__all__ = ["synthesize_cmd"]


def _seeds(seeds_file: Path | None, seed: list[str] | None) -> list[str]:
    names = list(seed or [])
    if seeds_file is not None:
        try:
            lines = seeds_file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise InputError(f"--seeds {str(seeds_file)!r} cannot be read ({exc.strerror}): "
                             "pass a text file with one seed entity per line.") from None
        names += [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    return list(dict.fromkeys(names))


def synthesize_cmd(
    out: Annotated[Path | None, typer.Option(
        "--out", metavar="DIR", help="Output folder of the releases (a new version is "
                                     "written in it).")] = None,
    anchor: Annotated[str | None, typer.Option(
        "--anchor", help="Time anchor YYYY-MM-DD: facts published on or after it are fresh "
                         "(or -90d: 90 days before today).")] = None,
    n: Annotated[int, typer.Option("--n", min=1, help="Questions to release at most.")] = 20,
    llm: Annotated[str | None, typer.Option(
        "--llm", help="Model of the three agents (default: MEMAGENTS_LLM).")] = None,
    second_llm: Annotated[str | None, typer.Option(
        "--second-llm", help="Model of the uniqueness solver (default: the same model with a "
                             "larger tool budget).")] = None,
    search: Annotated[str | None, typer.Option(
        "--search", help="Search backend: searxng, brave, tavily, local:PATH (default: the "
                         "configured ones).")] = None,
    seeds_file: Annotated[Path | None, typer.Option(
        "--seeds", metavar="FILE", help="Seed entities, one per line.")] = None,
    seed: Annotated[list[str] | None, typer.Option(
        "--seed", help="A seed entity (repeatable).")] = None,
    offline: Annotated[bool, typer.Option(
        "--offline", help="Synthesize from the sample world's web served on loopback.")] = False,
    world_seed: Annotated[int, typer.Option("--world-seed", help="Sample world (--offline).")
                          ] = 0,
    snapshot: Annotated[int, typer.Option(
        "--snapshot", min=0, help="Snapshot of the sample world's web (--offline).")] = 1,
    simulate: Annotated[bool, typer.Option(
        "--simulate", help="With --offline: the sample-world oracle plays the model (a "
                           "simulation; no LLM needed).")] = False,
    hops: Annotated[int, typer.Option("--hops", min=2, max=6, help="Hops per question.")] = 3,
    concurrency: Annotated[int, typer.Option(
        "--concurrency", min=1, help="Seeds worked on at once.")] = 4,
    max_seeds: Annotated[int | None, typer.Option(
        "--max-seeds", min=1, help="Seeds to try at most (offline default: 3 x --n).")] = None,
    max_llm_calls: Annotated[int | None, typer.Option(
        "--max-llm-calls", min=1, help="LLM call budget of the run.")] = None,
    popularity_threshold: Annotated[float, typer.Option(
        "--popularity-threshold", help="Subjects more popular than this are over-exposed.")
    ] = 5_000.0,
    checkpoint: Annotated[Path | None, typer.Option(
        "--checkpoint", metavar="FILE", help="SQLite checkpoint file: a killed run resumes "
                                             "from it.")] = None,
    resume: Annotated[str | None, typer.Option(
        "--resume", metavar="RUN_ID", help="Resume this run from --checkpoint.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Synthesize browse questions with three agents and write them as a versioned release."""
    from datetime import datetime, timezone

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from rich.table import Table

    from memagents.browsecomp.candidate import Candidate
    from memagents.browsecomp.release import EmptyReleaseError, write_release
    from memagents.browsecomp.report import stage_rows, write_plots
    from memagents.browsecomp.run import synthesize
    from memagents.browsecomp.schedule import resolve_anchor

    if out is None:
        raise InputError("pass --out DIR: the folder the release is written to.")
    if not anchor:
        raise InputError("pass --anchor YYYY-MM-DD (facts published on or after it are "
                         "fresh), or e.g. --anchor -90d.")
    if resume and checkpoint is None:
        raise InputError("--resume needs --checkpoint FILE (the file the run was saved in).")
    anchor = resolve_anchor(anchor, datetime.now(timezone.utc))
    console = Console(stderr=True, quiet=json_out)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=console, transient=True) as progress:
        tasks: dict[str, Any] = {}

        def on_event(kind: str, data: dict[str, Any]) -> None:
            if kind == "start":
                console.print(f"run id {data['run_id']} ({data['seeds']} seeds)")
                tasks["seeds"] = progress.add_task("seeds", total=data["seeds"])
            elif kind == "finished":
                console.print(f"run {data['run_id']} finished already in --checkpoint: its "
                              "results are reused, nothing is synthesized again (pass another "
                              "--checkpoint file to synthesize anew)")
            elif kind == "seed_done":
                progress.advance(tasks["seeds"])
            elif kind == "stage":
                stage = data["stage"]
                if stage not in tasks:
                    tasks[stage] = progress.add_task(f"  {stage}", total=None)
                progress.advance(tasks[stage])

        result = synthesize(anchor=anchor, n=n, llm=llm, second_llm=second_llm, search=search,
                            seeds=_seeds(seeds_file, seed), offline=offline,
                            world_seed=world_seed, snapshot=snapshot, simulate=simulate,
                            hops=hops, concurrency=concurrency, max_seeds=max_seeds,
                            max_llm_calls=max_llm_calls,
                            popularity_threshold=popularity_threshold, checkpoint=checkpoint,
                            resume=resume, on_event=on_event)
    candidates = [Candidate.from_dict(c) for c in result["candidates"]]
    rows = stage_rows(result["stats"])
    try:
        release = write_release(out, candidates, anchor=anchor, manifest_info=result)
    except EmptyReleaseError as exc:
        release, empty = None, str(exc)
    else:
        empty = ""
        write_plots(release.path, candidates, result["stats"])
    if json_out:
        typer.echo(strict_json({"release": str(release.path) if release else None,
                                "version": release.version if release else None,
                                "stages": rows, "stats": result["stats"],
                                "model": result["model"], "run_id": result["extra"]["run_id"],
                                "reused": bool(result["extra"].get("reused")),
                                "empty": empty or None}))
        return
    table = Table(title=f"synthesis ({result['model']}, anchor {anchor})")
    for column in ("stage", "entered", "rejected", "passed"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for row in rows:
        table.add_row(row["stage"], str(row["entered"]), str(row["rejected"]),
                      str(row["passed"]))
    Console().print(table)
    stats = result["stats"]
    typer.echo(f"accepted {stats.get('accepted', 0)} of {stats.get('seeds', 0)} seeds; "
               f"{stats.get('llm_calls', 0)} LLM calls, {stats.get('fetches', 0)} fetches, "
               f"{stats.get('solver_tool_calls', 0)} solver tool calls")
    if release is None:
        typer.echo(f"no release written: {empty}")
    else:
        typer.echo(f"release {release.version}: {release.path} (plots: stages.svg, hops.svg, "
                   "freshness.svg)")
