"""``memagents bench reverify | schedule | releases``: releases from the command line.

Plain typer command functions, registered on :data:`release_app` and meant to be registered
on the ``bench`` group as well (``bench_app.command("reverify")(reverify_cmd)``):

* ``reverify DIR``: re-verify a release folder, or every live release of an output root,
  against the current web (``--resolve`` / ``--allow-hosts`` point the fetcher at an offline
  web; ``--sample-snapshot K`` serves snapshot K of the sample world on loopback for it).
  Prints counts and the retired ids with their reasons, never URLs or quotes (CI logs are
  often public).
* ``schedule --cron "0 3 * * 1" --out DIR --anchor DATE --n N``: synthesize a release on a
  schedule (APScheduler), then re-verify the live releases; ``--preview K`` prints the next K
  run times and exits. The synthesis step is a callable ``synthesize(anchor=, n=,
  **options)`` named by ``--synthesizer MODULE:FUNCTION`` (default
  :data:`DEFAULT_SYNTHESIZER`: the built-in workflow, :func:`memagents.browsecomp.run.synthesize`).
* ``releases OUT``: list the versions (``--verify`` checks every file's hash).

Errors are library errors naming the flag to fix; ``memagents.cli.main`` prints them.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import typer

from memagents.console import strict_json
from memagents.errors import BackendError, ConfigError, InputError, MemagentsError

__all__ = ["DEFAULT_SYNTHESIZER", "release_app", "releases_cmd", "reverify_cmd",
           "schedule_cmd"]

#: ``MODULE:FUNCTION`` of the synthesis entry point the schedule calls (None: pass
#: ``--synthesizer``). The function takes ``anchor=``, ``n=`` and the options given.
DEFAULT_SYNTHESIZER: str | None = "memagents.browsecomp.run:synthesize"

release_app = typer.Typer(help="Benchmark releases: re-verify, schedule, list.",
                          no_args_is_help=True, add_completion=False,
                          pretty_exceptions_enable=False)


def _targets(path: Path) -> list[Path]:
    from memagents.browsecomp.release import MANIFEST, live_releases

    if (path / MANIFEST).is_file():
        return [path]
    if path.is_dir():
        found = live_releases(path)
        if found:
            return found
    raise InputError(f"DIR {str(path)!r} is neither a release folder nor an output folder "
                     "holding releases: pass e.g. OUT/v2026-12-03-001 or OUT.")


def _fetch_settings(resolve: str | None, allow_hosts: str | None) -> Any:
    from memagents.config import get_settings
    from memagents.web.fetch import FetchSettings

    overrides = {k: v for k, v in {"web_resolve": resolve, "web_allow_hosts": allow_hosts}.items()
                 if v is not None}
    try:
        return FetchSettings.from_settings(get_settings(**overrides), cache_max_age=0)
    except (MemagentsError, ValueError) as exc:
        if not overrides:
            raise
        flags = " / ".join(f"--{k[4:].replace('_', '-')}" for k in overrides)
        raise InputError(f"{flags}: {exc}") from None


async def _reverify_all(targets: list[Path], fetch_settings: Any, **options: Any) -> list[Any]:
    from memagents.browsecomp.reverify import areverify
    from memagents.web.fetch import Fetcher

    async with Fetcher(fetch_settings) as fetcher:
        return [await areverify(t, fetcher, **options) for t in targets]


def reverify_releases(targets: list[Path], *, resolve: str | None = None,
                      allow_hosts: str | None = None, **options: Any) -> list[Any]:
    """Re-verify ``targets`` with the project's fetcher (settings + overrides)."""
    return asyncio.run(_reverify_all(targets, _fetch_settings(resolve, allow_hosts), **options))


def reverify_cmd(
    release: Annotated[Path, typer.Argument(
        metavar="DIR", help="A release folder, or an output folder (every live release).")],
    out: Annotated[Path | None, typer.Option(
        "--out", metavar="DIR", help="Where a new version and the report go (default: the "
                                     "release's output folder).")] = None,
    version: Annotated[str | None, typer.Option(
        "--version", help="Name of the new version (one release only; default: the next "
                          "vYYYY-MM-DD-NNN).")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Check only: write no report and no new version.")] = False,
    retire_unreachable: Annotated[bool, typer.Option(
        "--retire-unreachable", help="Also retire questions whose pages cannot be fetched."
    )] = False,
    concurrency: Annotated[int, typer.Option(
        "--concurrency", min=1, help="Pages fetched at once.")] = 8,
    resolve: Annotated[str | None, typer.Option(
        "--resolve", metavar="HOST=IP:PORT,...",
        help="Send these hosts to these addresses (default: MEMAGENTS_WEB_RESOLVE).")] = None,
    allow_hosts: Annotated[str | None, typer.Option(
        "--allow-hosts", metavar="HOST,...",
        help="Hosts or networks allowed despite the SSRF guard (default: "
             "MEMAGENTS_WEB_ALLOW_HOSTS).")] = None,
    sample_snapshot: Annotated[int | None, typer.Option(
        "--sample-snapshot", metavar="K", min=0,
        help="Serve snapshot K of the sample world on loopback and check against it.")] = None,
    sample_seed: Annotated[int, typer.Option(
        "--sample-seed", min=0, help="Seed of the sample world (with --sample-snapshot).")] = 0,
    sample_size: Annotated[str, typer.Option(
        "--sample-size", help="Size of the sample world (with --sample-snapshot).")] = "small",
    as_json: Annotated[bool, typer.Option("--json", help="Print the reports as JSON.")] = False,
) -> None:
    """Re-verify release DIR against the current web; retire what changed."""
    targets = _targets(release)
    if version is not None and len(targets) > 1:
        raise InputError(f"--version names one new version, but DIR holds {len(targets)} live "
                         "releases: pass one release folder, or leave --version out.")
    with ExitStack() as stack:
        if sample_snapshot is not None:
            from memagents.sample import SampleWorld
            from memagents.sample.webserver import serve_website

            world = SampleWorld.generate(sample_seed, size=sample_size,
                                         snapshot=sample_snapshot)
            server = stack.enter_context(serve_website(world))
            resolve = ",".join(filter(None, (server.resolve_setting, resolve)))
            allow_hosts = ",".join(filter(None, (server.allow_hosts_setting, allow_hosts)))
        reports = reverify_releases(targets, resolve=resolve, allow_hosts=allow_hosts,
                                    out_dir=out, version=version, write=not dry_run,
                                    concurrency=concurrency,
                                    retire_unreachable=retire_unreachable)
    if as_json:
        typer.echo(strict_json([{**r.to_dict(), "report_path": str(r.report_path or "")}
                                for r in reports]))
    else:
        for r in reports:
            _print_report(r)
    pages = sum(r.pages for r in reports)
    if pages and sum(r.fetch_errors for r in reports) == pages:
        raise BackendError(f"none of the {pages} evidence page(s) could be fetched: check the "
                           "network, or --resolve / --allow-hosts for an offline web.")


def _print_report(r: Any) -> None:
    c, s = r.counts(), r.summary()
    typer.echo(f"re-verified {r.source}: {c['checked']} question(s), {c['kept']} kept, "
               f"{c['retired']} retired, {c['unverified']} unverified; {r.pages} page(s) "
               f"fetched, {r.fetch_errors} failed; {s['content_changed']} with changed content")
    for item in r.items:
        if item.verdict != "kept":
            typer.echo(f"  {item.verdict} {item.id}: {', '.join(item.reasons)}")
    if r.release is not None:
        typer.echo(f"new version: {r.release.version} ({r.release.path})")
    elif r.report_path is not None:
        typer.echo("no new version: nothing retired")
    if r.report_path is not None:
        typer.echo(f"report: {r.report_path}")


def load_synthesizer(spec: str | None) -> Callable[..., Any]:
    """The callable named ``MODULE:FUNCTION``."""
    if not spec:
        raise ConfigError("the schedule needs the synthesis step: pass --synthesizer "
                          "MODULE:FUNCTION, a callable synthesize(anchor=..., n=..., **options) "
                          "returning the run's candidates.")
    module, _, name = spec.partition(":")
    try:
        target = getattr(importlib.import_module(module), name) if name else None
    except (ImportError, AttributeError) as exc:
        raise InputError(f"--synthesizer {spec!r} cannot be loaded ({exc}): pass "
                         "MODULE:FUNCTION of an importable callable.") from None
    if not callable(target):
        raise InputError(f"--synthesizer {spec!r} is not a callable: pass MODULE:FUNCTION.")
    return target


def schedule_cmd(
    cron: Annotated[str | None, typer.Option(
        "--cron", help="When to run: five crontab fields, e.g. '0 3 * * 1' (Mondays 03:00), "
                       "or @daily / @weekly.")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", metavar="DIR", help="Output folder of the releases.")] = None,
    anchor: Annotated[str, typer.Option(
        "--anchor", help="Time anchor: a date YYYY-MM-DD, or -90d for 90 days before each "
                         "run.")] = "-90d",
    n: Annotated[int, typer.Option("--n", min=1, help="Questions to synthesize per run.")] = 50,
    llm: Annotated[str | None, typer.Option(
        "--llm", help="Model spec passed to the synthesis step (default: MEMAGENTS_LLM).")
    ] = None,
    timezone: Annotated[str, typer.Option(
        "--timezone", help="IANA time zone the cron expression is read in.")] = "UTC",
    misfire_grace: Annotated[int, typer.Option(
        "--misfire-grace", min=1, metavar="SECONDS",
        help="A run late by less than this (machine asleep) still runs.")] = 3600,
    run_now: Annotated[bool, typer.Option(
        "--run-now", help="Also run once right away.")] = False,
    max_runs: Annotated[int | None, typer.Option(
        "--max-runs", min=1, help="Stop after this many runs.")] = None,
    reverify: Annotated[bool, typer.Option(
        "--reverify/--no-reverify", help="Re-verify the live releases after each run.")] = True,
    synthesizer: Annotated[str | None, typer.Option(
        "--synthesizer", metavar="MODULE:FUNCTION",
        help="The synthesis step (default: the built-in workflow, "
             "memagents.browsecomp.run:synthesize).")] = None,
    preview: Annotated[int | None, typer.Option(
        "--preview", min=1, metavar="K", help="Print the next K run times and exit.")] = None,
) -> None:
    """Synthesize a release on a --cron schedule (one run at a time), then re-verify."""
    from datetime import datetime
    from datetime import timezone as tz

    from memagents.browsecomp.schedule import (
        ReleaseJob,
        ScheduleSettings,
        next_runs,
        run_schedule,
    )

    if not cron:
        raise InputError("pass --cron, e.g. --cron '0 3 * * 1' (Mondays at 03:00 UTC).")
    upcoming = next_runs(cron, datetime.now(tz.utc), preview or 3, timezone=timezone)
    if preview is not None:
        for moment in upcoming:
            typer.echo(moment.isoformat())
        return
    if out is None:
        raise InputError("pass --out DIR: the folder the releases are written to.")
    synthesize = load_synthesizer(synthesizer or DEFAULT_SYNTHESIZER)
    after = None
    if reverify:
        def after(root: Path) -> None:
            from memagents.browsecomp.release import live_releases

            targets = live_releases(root)
            for report in reverify_releases(targets) if targets else ():
                _print_report(report)

    job = ReleaseJob(synthesize=synthesize, out_dir=out, anchor=anchor, n=n,
                     options={"llm": llm} if llm else {}, after=after)
    settings = ScheduleSettings(cron=cron, timezone=timezone, misfire_grace_time=misfire_grace,
                                run_now=run_now, max_runs=max_runs)
    typer.echo(f"scheduled {cron!r} ({timezone}); next runs: "
               + ", ".join(m.isoformat() for m in upcoming) + ("; running now" if run_now else ""))
    runs = run_schedule(job, settings)
    for run in job.runs:
        what = (run.release.version if run.release else "no new questions" if run.empty
                else f"failed: {run.error}")
        typer.echo(f"run {run.started_at.isoformat()}: {what}")
    typer.echo(f"stopped after {runs} run(s)")


def releases_cmd(
    out: Annotated[Path, typer.Argument(metavar="OUT", help="Output folder of the releases.")],
    verify: Annotated[bool, typer.Option(
        "--verify", help="Check every file's SHA-256 (and decrypt) too.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
) -> None:
    """List the release versions in OUT."""
    from memagents.browsecomp.release import ReleaseError, list_releases, load_release

    if not out.is_dir():
        raise InputError(f"OUT {str(out)!r} is not a folder: pass the output folder of "
                         "the releases.")
    entries = list_releases(out)
    if verify:
        for e in entries:
            try:
                load_release(out / e["version"])
                e["integrity"] = "ok"
            except ReleaseError as exc:
                e["integrity"] = f"FAILED: {exc}"
    if as_json:
        typer.echo(strict_json(entries))
    elif not entries:
        typer.echo(f"no releases in {out}")
    else:
        for e in entries:
            state = f"superseded by {e['superseded_by']}" if e["superseded_by"] else "live"
            line = (f"{e['version']}  {e['kind']:<11} {e['created_at']}  anchor "
                    f"{e['anchor']}  {e['n']} question(s)  {e['retired']} retired  {state}")
            typer.echo(line + (f"  integrity {e['integrity']}" if verify else ""))
    if verify and any(e["integrity"] != "ok" for e in entries):
        raise typer.Exit(1)


release_app.command("reverify")(reverify_cmd)
release_app.command("schedule")(schedule_cmd)
release_app.command("releases")(releases_cmd)
