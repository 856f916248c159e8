"""Scheduled releases (memagents.browsecomp.schedule): cron triggers with crontab's meaning on
a fake clock, bad expressions, the release job, the scheduler's settings, a real run and a
graceful stop, and the ready manifests in integrations/schedule/ against the CLI's flags."""

from __future__ import annotations

import configparser
import itertools
import os
import re
import shlex
import signal
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from memagents.browsecomp import cli_release
from memagents.browsecomp.candidate import Candidate
from memagents.browsecomp.cli_release import release_app
from memagents.browsecomp.release import list_releases, load_release
from memagents.browsecomp.schedule import (
    ReleaseJob,
    ScheduleSettings,
    build_scheduler,
    next_runs,
    parse_cron,
    run_schedule,
)
from memagents.errors import ConfigError, InputError

UTC = timezone.utc
START = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)  # a Thursday
SCHEDULE = Path(__file__).resolve().parents[1] / "integrations" / "schedule"


def stamps(cron: str, n: int = 4, start: datetime = START, **kw: Any) -> list[str]:
    return [t.strftime("%a %Y-%m-%d %H:%M") for t in next_runs(cron, start, n, **kw)]


# -- triggers on a fake clock ----------------------------------------------------------------

def test_next_runs_follow_crontab_semantics() -> None:
    assert stamps("0 3 * * 1", 2) == ["Mon 2026-12-07 03:00", "Mon 2026-12-14 03:00"]
    # 0 and 7 are Sunday in crontab (APScheduler 3 alone reads 0 as Monday)
    assert stamps("0 3 * * 0", 1) == stamps("0 3 * * 7", 1) == stamps("0 3 * * sun", 1) == \
        ["Sun 2026-12-06 03:00"]
    assert [s[:3] for s in stamps("30 6 * * 1-5", 6)] == ["Fri", "Mon", "Tue", "Wed", "Thu",
                                                          "Fri"]
    assert [s[:3] for s in stamps("0 0 * * */2", 4)] == ["Sat", "Sun", "Tue", "Thu"]
    assert [s[:3] for s in stamps("0 0 * * 5-7", 3)] == ["Fri", "Sat", "Sun"]
    # day of month and day of week both restricted: either fires, as in cron
    assert stamps("0 0 13 * 5", 4, start=datetime(2026, 12, 1, tzinfo=UTC)) == [
        "Fri 2026-12-04 00:00", "Fri 2026-12-11 00:00", "Sun 2026-12-13 00:00",
        "Fri 2026-12-18 00:00"]
    assert stamps("@daily", 2) == ["Fri 2026-12-04 00:00", "Sat 2026-12-05 00:00"]
    assert stamps("@weekly", 1) == ["Sun 2026-12-06 00:00"]
    assert stamps("*/15 * * * *", 3) == ["Thu 2026-12-03 12:00", "Thu 2026-12-03 12:15",
                                         "Thu 2026-12-03 12:30"]  # the start itself counts
    assert len(stamps("0 0 1 1 *", 3)) == 3


def test_next_runs_in_a_time_zone_across_daylight_saving() -> None:
    runs = next_runs("0 3 * * *", datetime(2027, 3, 26, 12, 0), 3, timezone="Europe/Paris")
    assert [t.hour for t in runs] == [3, 3, 3]
    assert [t.astimezone(UTC).hour for t in runs] == [2, 1, 1]  # CET, then CEST
    utc = [t.astimezone(UTC) for t in runs]
    assert [b - a for a, b in itertools.pairwise(utc)] == [timedelta(hours=23),
                                                           timedelta(hours=24)]


@pytest.mark.parametrize("cron", ["61 * * * *", "* * *", "0 3 * * 8", "0 25 * * *",
                                  "@reboot", "0 3 * * mon-sun-x", "0 3 * * 5-1", "",
                                  "0 3 * * */x"])
def test_an_invalid_cron_expression_names_the_flag(cron: str) -> None:
    with pytest.raises(InputError, match=r"--cron .* is not a valid cron expression"):
        parse_cron(cron)


def test_an_unknown_time_zone_names_the_flag() -> None:
    with pytest.raises(InputError, match="--timezone 'Mars/Olympus'"):
        next_runs("0 3 * * 1", START, 1, timezone="Mars/Olympus")


# -- the release job -------------------------------------------------------------------------

def fake_synthesize(*, anchor: str, n: int, **options: Any) -> dict[str, Any]:
    """A synthesis step: n questions named by the anchor (so two anchors never collide),
    one rejected by a check, reported with the workflow's stats counters."""
    candidates = [Candidate(seed=f"s{i}", question=f"Question {i} after {anchor}?",
                            answer=f"Answer {i}", anchor=anchor, status="accepted").to_dict()
                  for i in range(n)]
    candidates.append({"seed": "x", "question": "Leaky?", "answer": "Yes", "anchor": anchor,
                       "status": "rejected",
                       "checks": [{"name": "closed_book", "passed": False, "reason": "leak",
                                   "details": {}}]})
    return {"candidates": candidates, "stats": {"entered:closed_book": n + 1,
                                                "rejected:closed_book": 1},
            "model": options.get("llm", "scripted")}


class Clock:
    """A fake clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_release_job_writes_a_release_per_run_with_dedup_and_a_moving_anchor(
        tmp_path: Path) -> None:
    clock = Clock(START)
    after: list[Path] = []
    job = ReleaseJob(synthesize=fake_synthesize, out_dir=tmp_path, anchor="-90d", n=3,
                     options={"llm": "openai:gpt-4o-mini"}, after=after.append, clock=clock)
    first = job()
    assert first.anchor == "2026-09-04" and first.error is None
    assert first.release is not None and first.release.version == "v2026-12-03-001"
    m = first.release.manifest
    assert m["n"] == 3 and m["anchor"] == "2026-09-04" and m["model"] == "openai:gpt-4o-mini"
    assert m["stages"][0] == {"stage": "closed_book", "entered": 4, "rejected": 1, "passed": 3}
    # the same clock again: the same questions, all deduplicated, so no release
    again = job()
    assert again.empty and again.release is None and again.error is None
    clock.now = START + timedelta(days=7)
    week = job()
    assert week.release is not None and week.release.version == "v2026-12-10-001"
    assert week.anchor == "2026-09-11"
    assert [e["version"] for e in list_releases(tmp_path)] == ["v2026-12-03-001",
                                                               "v2026-12-10-001"]
    assert after == [tmp_path] * 3 and len(job.runs) == 3
    assert len(load_release(week.release.path).candidates) == 3


def test_a_failing_run_is_recorded_not_raised(tmp_path: Path) -> None:
    def broken(**_: Any) -> Any:
        raise RuntimeError("search backend down")

    job = ReleaseJob(synthesize=broken, out_dir=tmp_path, anchor="2026-01-01", n=1,
                     clock=Clock(START))
    run = job()
    assert run.error == "RuntimeError: search backend down" and run.release is None
    bad = ReleaseJob(synthesize=lambda **_: 42, out_dir=tmp_path, anchor="2026-01-01", n=1)
    assert "no candidate list" in (bad().error or "")
    with pytest.raises(InputError, match="--anchor 'soon'"):
        ReleaseJob(synthesize=broken, out_dir=tmp_path, anchor="soon", n=1)
    with pytest.raises(InputError, match="--n 0"):
        ReleaseJob(synthesize=broken, out_dir=tmp_path, anchor="2026-01-01", n=0)


# -- the scheduler ---------------------------------------------------------------------------

def test_scheduler_settings_one_at_a_time_coalesced_with_misfire_grace() -> None:
    sched = build_scheduler(lambda: None, ScheduleSettings(cron="0 3 * * 1",
                                                          misfire_grace_time=600))
    [job] = sched.get_jobs()
    assert job.id == "release" and job.max_instances == 1 and job.coalesce is True
    assert job.misfire_grace_time == 600
    assert job.trigger.get_next_fire_time(None, START).strftime("%a %H:%M") == "Mon 03:00"
    with pytest.raises(InputError, match="--cron"):
        build_scheduler(lambda: None, ScheduleSettings(cron="every monday"))
    with pytest.raises(InputError, match="--max-runs 0"):
        build_scheduler(lambda: None, ScheduleSettings(cron="@daily", max_runs=0))


def test_run_schedule_runs_now_then_stops_after_max_runs(tmp_path: Path) -> None:
    job = ReleaseJob(synthesize=fake_synthesize, out_dir=tmp_path, anchor="2026-01-01", n=2)
    runs = run_schedule(job, ScheduleSettings(cron="0 3 * * 1", run_now=True, max_runs=1),
                        handle_signals=False)
    assert runs == 1 and len(job.runs) == 1 and job.runs[0].release is not None
    assert len(list_releases(tmp_path)) == 1


def test_sigterm_stops_the_schedule_after_the_running_job_finishes() -> None:
    events: list[str] = []

    def job() -> None:
        events.append("started")
        os.kill(os.getpid(), signal.SIGTERM)  # delivered to the main thread, in the scheduler
        time.sleep(0.3)  # still running when the signal is handled: must be waited for
        events.append("finished")

    before = signal.getsignal(signal.SIGTERM)
    runs = run_schedule(job, ScheduleSettings(cron="0 3 * * 1", run_now=True))
    assert events == ["started", "finished"] and runs == 1
    assert signal.getsignal(signal.SIGTERM) is before  # handlers restored


# -- the CLI ---------------------------------------------------------------------------------

def test_cli_schedule_preview_errors_and_a_run(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(release_app, ["schedule", "--cron", "0 3 * * 1", "--preview", "3"])
    assert result.exit_code == 0, result.output
    times = [datetime.fromisoformat(line) for line in result.output.split()]
    assert len(times) == 3 and all(t.weekday() == 0 and t.hour == 3 for t in times)
    bad = runner.invoke(release_app, ["schedule", "--cron", "0 3 * *", "--out", str(tmp_path)])
    assert isinstance(bad.exception, InputError) and "--cron '0 3 * *'" in str(bad.exception)
    from memagents.browsecomp.cli_release import DEFAULT_SYNTHESIZER, load_synthesizer
    from memagents.browsecomp.run import synthesize

    assert load_synthesizer(DEFAULT_SYNTHESIZER) is synthesize, "the built-in workflow"
    with pytest.raises(ConfigError, match="--synthesizer"):
        load_synthesizer(None)
    wrong = runner.invoke(release_app, ["schedule", "--cron", "@daily", "--out", str(tmp_path),
                                        "--synthesizer", "no_such_module:f"])
    assert "--synthesizer 'no_such_module:f' cannot be loaded" in str(wrong.exception)
    ran = runner.invoke(release_app, [
        "schedule", "--cron", "0 3 * * 1", "--out", str(tmp_path), "--anchor", "-30d",
        "--n", "2", "--run-now", "--max-runs", "1", "--no-reverify",
        "--synthesizer", f"{__name__}:fake_synthesize"], catch_exceptions=False)
    assert ran.exit_code == 0, ran.output
    assert "stopped after 1 run(s)" in ran.output
    [entry] = list_releases(tmp_path)
    assert entry["n"] == 2 and entry["version"] in ran.output


# -- the ready manifests ---------------------------------------------------------------------

def cli_flags(command: Any) -> set[str]:
    click_command = typer.main.get_command(_single(command))
    options = [p for p in click_command.params if p.param_type_name == "option"]
    return {opt for p in options for opt in (*p.opts, *p.secondary_opts)} - \
        {"--install-completion", "--show-completion", "--help"}


def _single(command: Any) -> typer.Typer:
    app = typer.Typer()
    app.command()(command)
    return app


def synthesize_flags() -> set[str]:
    """The real ``bench synthesize`` flags once the command is registered; until then the ones
    the issue specifies (``--out DIR --anchor DATE --n N``)."""
    from memagents.browsecomp.cli import bench_app

    for info in bench_app.registered_commands:
        if info.name == "synthesize":
            return cli_flags(info.callback)
    return {"--out", "--anchor", "--n"}


def bench_commands(text: str) -> list[tuple[str, list[str]]]:
    """``(command, arguments)`` of every ``memagents bench ...`` in a shell text."""
    found = []
    for match in re.finditer(r"memagents bench (\w+)([^&;'`\n]*)", text):
        found.append((match.group(1), shlex.split(match.group(2))))
    return found


def check_commands(commands: list[tuple[str, list[str]]]) -> None:
    assert [name for name, _ in commands] == ["synthesize", "reverify"], commands
    known = {"synthesize": synthesize_flags(), "reverify": cli_flags(cli_release.reverify_cmd)}
    assert {"--out", "--version", "--dry-run", "--resolve"} <= known["reverify"]
    for name, args in commands:
        flags = {a for a in args if a.startswith("--")}
        assert flags <= known[name], (name, flags - known[name])
    synth, rev = commands[0][1], commands[1][1]
    assert {"--out", "--anchor", "--n"} <= set(synth)
    out = synth[synth.index("--out") + 1]
    assert rev == [out]  # re-verify the same output folder (a positional DIR)


def test_crontab_line() -> None:
    lines = [line for line in (SCHEDULE / "crontab").read_text().splitlines()
             if line.strip() and not line.startswith("#") and "=" not in line.split()[0]]
    [line] = lines
    fields = line.split(None, 5)
    assert stamps(" ".join(fields[:5]), 1) == ["Mon 2026-12-07 03:00"]
    assert "flock -n" in fields[5]
    check_commands(bench_commands(fields[5]))


def test_systemd_service_and_timer() -> None:
    service = configparser.ConfigParser(strict=False, interpolation=None)
    text = (SCHEDULE / "memagents-bench.service").read_text()
    service.read_string(text)
    assert service["Service"]["Type"] == "oneshot"
    exec_lines = [line.split("=", 1)[1] for line in text.splitlines()
                  if line.startswith("ExecStart=")]
    check_commands([c for line in exec_lines for c in bench_commands(line)])
    timer = configparser.ConfigParser(interpolation=None)
    timer.read_string((SCHEDULE / "memagents-bench.timer").read_text())
    assert timer["Timer"]["OnCalendar"] == "Mon *-*-* 03:00:00 UTC"
    assert timer["Timer"]["Persistent"] == "true"
    assert timer["Timer"]["Unit"] == "memagents-bench.service"


def test_github_actions_workflow() -> None:
    flow = yaml.safe_load((SCHEDULE / "github-actions.yml").read_text())
    triggers = flow[True] if True in flow else flow["on"]  # YAML 1.1 reads `on` as True
    [schedule] = triggers["schedule"]
    assert stamps(schedule["cron"], 1) == ["Mon 2026-12-07 03:00"]
    assert flow["concurrency"]["cancel-in-progress"] is False
    steps = flow["jobs"]["release"]["steps"]
    runs = "\n".join(s.get("run", "") for s in steps)
    commands = bench_commands(runs)
    check_commands(commands)
    env = flow["env"]
    assert commands[0][1][commands[0][1].index("--out") + 1] == "$MEMAGENTS_BENCH_OUT"
    assert set(env) >= {"MEMAGENTS_BENCH_OUT", "MEMAGENTS_BENCH_ANCHOR", "MEMAGENTS_BENCH_N"}
    assert "secrets.OPENAI_API_KEY" in str(flow["jobs"]["release"]["env"])


def test_kubernetes_cronjob() -> None:
    cronjob, claim = yaml.safe_load_all((SCHEDULE / "kubernetes-cronjob.yaml").read_text())
    assert cronjob["kind"] == "CronJob" and cronjob["apiVersion"] == "batch/v1"
    spec = cronjob["spec"]
    assert stamps(spec["schedule"], 1) == ["Mon 2026-12-07 03:00"]
    assert spec["concurrencyPolicy"] == "Forbid" and spec["startingDeadlineSeconds"] == 3600
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    check_commands(bench_commands(" ".join(container["args"])))
    mount = container["volumeMounts"][0]["mountPath"]
    out = next(e["value"] for e in container["env"] if e["name"] == "MEMAGENTS_BENCH_OUT")
    assert out.startswith(mount)
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == \
        claim["metadata"]["name"]


def test_readme_commands_use_real_flags() -> None:
    text = (SCHEDULE / "README.md").read_text()
    schedule_flags = cli_flags(cli_release.schedule_cmd)
    assert {"--cron", "--out", "--anchor", "--n", "--no-reverify"} <= schedule_flags
    commands = bench_commands(text)
    assert {name for name, _ in commands} == {"synthesize", "reverify", "schedule", "releases"}
    for name, args in commands:
        flags = {a.split("=")[0] for a in args if a.startswith("--")}
        known = {"schedule": schedule_flags, "synthesize": synthesize_flags(),
                 "reverify": cli_flags(cli_release.reverify_cmd),
                 "releases": cli_flags(cli_release.releases_cmd)}[name]
        assert flags <= known, (name, flags - known)
    for flag in ("--misfire-grace", "--no-reverify", "--preview", "--retire-unreachable",
                 "--sample-snapshot"):
        assert flag in text
