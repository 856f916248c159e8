"""Synthesize benchmark releases on a schedule: a crontab expression, APScheduler 3.

The core of ``memagents bench schedule --cron "..."``:

* :func:`parse_cron` reads a standard five-field crontab expression (and ``@daily``,
  ``@weekly``...) into an APScheduler trigger **with crontab's meaning**: APScheduler 3 counts
  weekdays from Monday = 0 where cron has Sunday = 0 (its issue 286), so numeric weekdays are
  translated to names, and when both day-of-month and day-of-week are restricted the run fires
  when *either* matches, as cron does (an ``OrTrigger``). A bad expression is an
  :class:`~memagents.errors.InputError` naming ``--cron``.
* :func:`next_runs` lists the next fire times from any start time (a fake clock for tests).
* :class:`ReleaseJob`: one run = call the synthesis callable, write a release
  (:func:`~memagents.browsecomp.release.write_release`), then an optional step (re-verifying
  the live releases). A failed run is logged and recorded, never fatal to the schedule.
* :func:`build_scheduler` / :func:`run_schedule`: a ``BlockingScheduler`` with one job, one
  run at a time (``max_instances=1``; a run due while the previous still runs is skipped and
  logged), missed runs coalesced into one, and a run late by less than ``misfire_grace_time``
  (a machine asleep) still made. SIGINT / SIGTERM stop it gracefully: no new run starts and
  the running one finishes (a second Ctrl-C interrupts it; a release folder appears only
  complete, so nothing half-written is ever published).

Example:
    >>> from datetime import datetime, timezone
    >>> start = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)  # a Thursday
    >>> [t.strftime("%a %d %H:%M") for t in next_runs("0 3 * * 1", start, 2)]
    ['Mon 07 03:00', 'Mon 14 03:00']
"""

from __future__ import annotations

import logging
import re
import signal
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from memagents.browsecomp.candidate import Candidate
from memagents.browsecomp.release import EmptyReleaseError, Release, ReleaseInfo, write_release
from memagents.errors import InputError

__all__ = ["JobRun", "ReleaseJob", "ScheduleSettings", "build_scheduler", "coerce_synthesis",
           "next_runs", "parse_cron", "resolve_anchor", "run_schedule"]

logger = logging.getLogger("memagents")

_MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
           "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
           "@hourly": "0 * * * *"}
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_RELATIVE = re.compile(r"^-?(\d+)d$")


def _cron_error(cron: str, why: str) -> InputError:
    return InputError(f"--cron {cron!r} is not a valid cron expression ({why}): write five "
                      "fields 'minute hour day-of-month month day-of-week', e.g. --cron "
                      "'0 3 * * 1' (Mondays at 03:00), or @daily / @weekly.")


def _day(token: str) -> int:
    token = token.lower()
    if token.isdigit() and 0 <= int(token) <= 7:
        return int(token)
    if token[:3] in _DAYS and len(token) == 3:
        return _DAYS.index(token)
    raise ValueError(f"{token!r} is not a weekday (0-7 or sun-sat)")


def _weekdays(spec: str) -> str:
    """A crontab day-of-week field as APScheduler day names (cron numbering: 0/7 = Sunday)."""
    days: set[int] = set()
    for part in spec.split(","):
        span, _, step = part.partition("/")
        if step and not step.isdigit():
            raise ValueError(f"step {step!r} in the day-of-week field")
        if span == "*":
            lo, hi = 0, 6
        elif "-" in span:
            lo, hi = (_day(x) for x in span.split("-", 1))
            if hi < lo:
                raise ValueError(f"day-of-week range {span!r} runs backwards")
        else:
            lo = hi = _day(span)
            hi = 6 if step else hi
        days |= {d % 7 for d in range(lo, hi + 1, int(step or 1))}
    return "*" if len(days) == 7 else ",".join(_DAYS[d] for d in sorted(days))


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(f"--timezone {name!r} is not a time zone: use an IANA name such as "
                         "UTC or Europe/Paris.") from None


def parse_cron(cron: str, *, timezone: str = "UTC") -> Any:
    """An APScheduler trigger firing as ``cron`` would (see the module for the two fixes).

    >>> from datetime import datetime, timezone as tz
    >>> t = parse_cron("0 3 * * 0")  # Sundays, as in crontab (APScheduler alone: Mondays)
    >>> t.get_next_fire_time(None, datetime(2026, 12, 3, tzinfo=tz.utc)).strftime("%a")
    'Sun'

    Raises:
        InputError: naming ``--cron`` (or ``--timezone``).
    """
    from apscheduler.triggers.combining import OrTrigger
    from apscheduler.triggers.cron import CronTrigger

    zone = _zone(timezone)
    text = " ".join(str(cron).split())
    text = _MACROS.get(text.lower(), text)
    if text.startswith("@"):
        raise _cron_error(cron, f"{text} is not supported here; use {', '.join(_MACROS)}")
    fields = text.split(" ")
    if len(fields) != 5:
        raise _cron_error(cron, f"{len(fields)} field(s), expected 5")
    minute, hour, dom, month, dow = fields
    try:
        weekdays = _weekdays(dow)

        def trigger(day: str, day_of_week: str) -> Any:
            return CronTrigger(minute=minute, hour=hour, day=day, month=month,
                               day_of_week=day_of_week, timezone=zone)

        if not dom.startswith("*") and not dow.startswith("*"):
            return OrTrigger([trigger(dom, "*"), trigger("*", weekdays)])
        return trigger(dom, weekdays)
    except ValueError as exc:
        raise _cron_error(cron, str(exc)) from None


def next_runs(cron: str, start: datetime, n: int, *, timezone: str = "UTC") -> list[datetime]:
    """The next ``n`` fire times at or after ``start`` (naive: read in ``timezone``).

    >>> from datetime import datetime
    >>> [t.day for t in next_runs("0 0 13 * 5", datetime(2026, 12, 1), 4)]  # 13th or Fridays
    [4, 11, 13, 18]
    """
    trigger = parse_cron(cron, timezone=timezone)
    if start.tzinfo is None:
        start = start.replace(tzinfo=_zone(timezone))
    out: list[datetime] = []
    previous, now = None, start
    while len(out) < n:
        fire = trigger.get_next_fire_time(previous, now)
        if fire is None:
            break
        out.append(fire)
        previous, now = fire, fire + timedelta(microseconds=1)
    return out


def resolve_anchor(anchor: str, now: datetime) -> str:
    """``YYYY-MM-DD`` as given, or ``-90d`` / ``90d``: that many days before ``now``.

    >>> from datetime import datetime
    >>> resolve_anchor("-90d", datetime(2026, 12, 3)), resolve_anchor("2026-01-01", None)
    ('2026-09-04', '2026-01-01')
    """
    relative = _RELATIVE.match(anchor.strip())
    if relative:
        return (now.date() - timedelta(days=int(relative.group(1)))).isoformat()
    try:
        return date.fromisoformat(anchor.strip()).isoformat()
    except ValueError:
        raise InputError(f"--anchor {anchor!r}: pass a date YYYY-MM-DD (e.g. 2026-01-01) or "
                         "a number of days before each run (e.g. -90d).") from None


def coerce_synthesis(result: Any) -> tuple[list[Candidate], ReleaseInfo]:
    """Candidates and manifest info from what a synthesis callable returned.

    Accepted: a sequence of candidates (or their dicts); ``(candidates, info)``; a mapping or
    an object with ``candidates`` and optionally ``stats`` / ``stages``, ``model``,
    ``settings``, ``web``, ``extra`` (the workflow's final state is one).

    >>> cs, info = coerce_synthesis({"candidates": [{"seed": "s", "question": "q",
    ...                              "answer": "a"}], "stats": {"entered:quotes": 3}})
    >>> cs[0].answer, info.stages[0].entered
    ('a', 3)
    """
    info: Any = None
    if isinstance(result, tuple) and len(result) == 2 and \
            isinstance(result[1], Mapping | ReleaseInfo | type(None)):
        result, info = result
    keys = ("stats", "stages", "model", "settings", "web", "extra")
    if isinstance(result, Mapping):
        items = result.get("candidates", ())
        info = info or {k: result[k] for k in keys if result.get(k) is not None}
    elif hasattr(result, "candidates"):
        items = result.candidates
        info = info or {k: getattr(result, k) for k in keys
                        if getattr(result, k, None) is not None}
    else:
        items = result
    if items is None or isinstance(items, str | bytes) or not isinstance(items, Sequence):
        raise InputError("the synthesis step returned no candidate list: return candidates, "
                         "(candidates, info), or a result with .candidates.")
    candidates = [c if isinstance(c, Candidate) else Candidate.from_dict(dict(c))
                  for c in items]
    return candidates, ReleaseInfo.coerce(info)


@dataclass(frozen=True, kw_only=True)
class ScheduleSettings:
    """When and how the release job runs.

    Attributes:
        cron: Five-field crontab expression (``0 3 * * 1``) or ``@daily``-style macro.
        timezone: IANA zone the expression is read in.
        misfire_grace_time: Seconds a run may start late (machine asleep) and still run.
        coalesce: Several missed runs make one run.
        run_now: Also run once right away.
        max_runs: Stop after this many runs (``None``: run until stopped).

    Example:
        >>> ScheduleSettings(cron="@weekly").misfire_grace_time
        3600
    """

    cron: str
    timezone: str = "UTC"
    misfire_grace_time: int = 3600
    coalesce: bool = True
    run_now: bool = False
    max_runs: int | None = None


@dataclass(frozen=True, kw_only=True)
class JobRun:
    """One run of a :class:`ReleaseJob`: the release written, or why none was.

    Example:
        >>> JobRun(started_at=datetime(2026, 12, 3), anchor="2026-01-01", empty=True).release
    """

    started_at: datetime
    anchor: str
    release: Release | None = None
    empty: bool = False
    error: str | None = None


@dataclass(kw_only=True)
class ReleaseJob:
    """Synthesize, then write a release, then ``after(out_dir)`` (e.g. re-verify).

    ``synthesize(anchor=..., n=..., **options)`` returns what :func:`coerce_synthesis` reads.
    ``clock`` gives each run's time (a fake clock in tests).

    Example:
        >>> import tempfile
        >>> from datetime import datetime, timezone
        >>> job = ReleaseJob(synthesize=lambda anchor, n: [], out_dir=tempfile.mkdtemp(),
        ...                  anchor="-30d", n=5, clock=lambda: datetime(2026, 12, 3))
        >>> run = job()
        >>> run.anchor, run.empty, run.release
        ('2026-11-03', True, None)
    """

    synthesize: Callable[..., Any]
    out_dir: str | Path
    anchor: str
    n: int
    options: Mapping[str, Any] = field(default_factory=dict)
    after: Callable[[Path], Any] | None = None
    previous: Sequence[str | Path] | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc))
    runs: list[JobRun] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.n < 1:
            raise InputError(f"--n {self.n}: ask for at least 1 question per release.")
        resolve_anchor(self.anchor, datetime.now(timezone.utc))  # fail early on a bad anchor
        if Path(self.out_dir).is_file():
            raise InputError(f"--out {str(self.out_dir)!r} is a file: pass a folder.")

    def __call__(self) -> JobRun:
        now = self.clock()
        anchor = resolve_anchor(self.anchor, now)
        run = JobRun(started_at=now, anchor=anchor)
        try:
            result = self.synthesize(anchor=anchor, n=self.n, **dict(self.options))
            candidates, info = coerce_synthesis(result)
            release = write_release(self.out_dir, candidates, anchor=anchor,
                                    manifest_info=info, previous=self.previous, now=now)
            run = JobRun(started_at=now, anchor=anchor, release=release)
            logger.info("bench schedule: release %s written (%d question(s), %d dropped)",
                        release.version, len(release.candidates), len(release.dropped))
        except EmptyReleaseError as exc:
            run = JobRun(started_at=now, anchor=anchor, empty=True)
            logger.info("bench schedule: no release this run: %s", exc)
        except Exception as exc:  # one failed run must not end the schedule
            run = JobRun(started_at=now, anchor=anchor, error=f"{type(exc).__name__}: {exc}")
            logger.exception("bench schedule: the run of %s failed", now.isoformat())
        if self.after is not None and run.error is None:
            try:
                self.after(Path(self.out_dir))
            except Exception as exc:  # reported on the run; the schedule goes on
                run = JobRun(started_at=now, anchor=anchor, release=run.release,
                             empty=run.empty, error=f"after: {type(exc).__name__}: {exc}")
                logger.exception("bench schedule: the step after the release failed")
        self.runs.append(run)
        return run


def build_scheduler(job: Callable[[], Any], settings: ScheduleSettings,
                    *, scheduler: Any = None) -> Any:
    """A scheduler (default ``BlockingScheduler``, not started) holding ``job`` as ``release``.

    Raises:
        InputError: a bad ``--cron`` or ``--timezone``.
    """
    from apscheduler.events import (
        EVENT_JOB_ERROR,
        EVENT_JOB_EXECUTED,
        EVENT_JOB_MAX_INSTANCES,
        EVENT_JOB_MISSED,
    )
    from apscheduler.schedulers.base import SchedulerNotRunningError
    from apscheduler.schedulers.blocking import BlockingScheduler

    if settings.max_runs is not None and settings.max_runs < 1:
        raise InputError(f"--max-runs {settings.max_runs}: pass 1 or more (or leave it out).")
    trigger = parse_cron(settings.cron, timezone=settings.timezone)
    zone = _zone(settings.timezone)
    sched = scheduler if scheduler is not None else BlockingScheduler(timezone=zone)
    done = {"runs": 0}

    def listen(event: Any) -> None:
        if event.code == EVENT_JOB_MAX_INSTANCES:
            logger.warning("bench schedule: a run was skipped, the previous one still runs")
        elif event.code == EVENT_JOB_MISSED:
            logger.warning("bench schedule: the run due at %s was missed (later than "
                           "misfire_grace_time)", event.scheduled_run_time)
        else:
            done["runs"] += 1
            if settings.max_runs is not None and done["runs"] >= settings.max_runs:
                done["stopping"] = 1
                try:
                    sched.shutdown(wait=False)
                except SchedulerNotRunningError:
                    pass

    sched.add_listener(listen, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MAX_INSTANCES
                       | EVENT_JOB_MISSED)
    extra = {"next_run_time": datetime.now(zone)} if settings.run_now else {}
    sched.add_job(job, trigger, id="release", name="bench release", max_instances=1,
                  coalesce=settings.coalesce, misfire_grace_time=settings.misfire_grace_time,
                  replace_existing=True, **extra)
    sched.runs_done = done  # how many runs finished, for run_schedule's return value
    return sched


def _watch_signals(sched: Any) -> Callable[[], None]:
    """Stop ``sched`` gracefully on SIGINT / SIGTERM; returns the function undoing it.

    The Python-level handler does nothing on the first signal: the interpreter writes the
    signal number to a socket (``signal.set_wakeup_fd``) and a watcher thread shuts the
    scheduler down from there, waiting for the running job. A handler doing it itself would
    take the scheduler's locks inside whatever code it interrupted (a deadlock), and
    APScheduler swallows exceptions raised while it submits a job. A second SIGINT raises
    KeyboardInterrupt in the main thread (stop now).
    """
    from apscheduler.schedulers.base import SchedulerNotRunningError

    wanted = {int(signal.SIGINT), int(signal.SIGTERM)}
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    seen = {"signals": 0}

    def watch() -> None:
        while (data := reader.recv(1)) and data != b"\0":
            if data[0] in wanted:
                logger.warning("bench schedule: stopping; the running job finishes first")
                try:
                    sched.shutdown(wait=True)
                except SchedulerNotRunningError:
                    pass
                return

    def on_signal(signum: int, frame: Any) -> None:
        seen["signals"] += 1
        if seen["signals"] > 1 and signum == signal.SIGINT:
            raise KeyboardInterrupt

    old_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    watcher = threading.Thread(target=watch, name="bench-schedule-signals", daemon=True)
    watcher.start()

    def undo() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        signal.set_wakeup_fd(old_fd)
        try:
            writer.send(b"\0")
        except OSError:
            pass
        watcher.join(timeout=5)
        reader.close()
        writer.close()

    return undo


def run_schedule(job: Callable[[], Any], settings: ScheduleSettings, *,
                 handle_signals: bool = True) -> int:
    """Run ``job`` on the schedule until stopped (or ``max_runs``); returns the runs made.

    With ``handle_signals`` (main thread only), SIGINT and SIGTERM stop the schedule after the
    running job finishes; a second SIGINT interrupts it.
    """
    sched = build_scheduler(job, settings)
    main = threading.current_thread() is threading.main_thread()
    undo = _watch_signals(sched) if handle_signals and main else None
    from apscheduler.jobstores.base import JobLookupError

    try:
        sched.start()
    except JobLookupError:
        # the last run's listener shut the scheduler down (and emptied its job store) while
        # the scheduler thread was still bookkeeping that run: a normal stop, not an error
        if not sched.runs_done.get("stopping"):
            raise
    finally:
        if undo is not None:
            undo()
    return int(sched.runs_done["runs"])
