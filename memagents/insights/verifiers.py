"""Verifiers: turn an answer into a reward in [0, 1].

A verifier is any callable ``verifier(answer, problem) -> float | bool`` (a user callback), or
one of the built-ins, which compare with ``problem.answer``:

* :class:`ExactMatch`: equal after normalising case, spaces and a trailing full stop;
* :class:`NumericTolerance`: the answer's last number is close to the expected number;
* :class:`RegexMatch`: the answer matches a pattern;
* :class:`UnitTests`: the answer is code; the tests run with it in a separate Python process
  with a time limit (reward 1 when they pass).

:func:`run_verifier` runs any of them safely: an exception or a timeout is a reward of 0 with
the error, never a crash of the run. A Python callback runs in a daemon thread and is
abandoned after the time limit; unit tests run in a subprocess that is killed.

Example:
    >>> from memagents.insights.records import Problem
    >>> p = Problem(id="p1", text="7 * 6?", answer="42")
    >>> run_verifier(NumericTolerance(), "The answer is 42.0", p)
    (1.0, None)
    >>> run_verifier(lambda answer, problem: 1 / 0, "42", p)
    (0.0, 'verifier raised ZeroDivisionError: division by zero')
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memagents.errors import ConfigError, InputError
from memagents.insights.records import Problem

__all__ = [
    "ExactMatch",
    "NumericTolerance",
    "RegexMatch",
    "UnitTests",
    "Verifier",
    "run_verifier",
    "verifier_for",
]

Verifier = Callable[[str, Problem], Any]
"""``verifier(answer, problem)`` returns a reward in [0, 1] (a bool counts as 0/1)."""

_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
_FENCE = re.compile(r"```(?:python|py)?\s*\n(.*?)```", re.DOTALL)


def _expected(problem: Problem, what: str) -> str:
    if problem.answer is None:
        raise InputError(f"problem {problem.id!r} has no expected answer, which the {what} "
                         "verifier compares with: give it an 'answer' or a verifier callback.")
    return problem.answer


def _norm(text: str) -> str:
    return " ".join(str(text).strip().rstrip(".").split()).casefold()


@dataclass(frozen=True, kw_only=True)
class ExactMatch:
    """Reward 1 when the answer equals the expected one (case, spaces and a trailing full stop
    ignored).

    Example:
        >>> ExactMatch()("  Tuesday. ", Problem(id="p", text="?", answer="tuesday"))
        1.0
    """

    def __call__(self, answer: str, problem: Problem) -> float:
        return float(_norm(answer) == _norm(_expected(problem, "exact")))


def last_number(text: str) -> float | None:
    """The last number in ``text`` (thousands separators dropped), or ``None``.

    >>> last_number("costs $1,250.50 in total"), last_number("none")
    (1250.5, None)
    """
    found = _NUMBER.findall(re.sub(r"(?<=\d),(?=\d{3}\b)", "", str(text)))
    return float(found[-1]) if found else None


@dataclass(frozen=True, kw_only=True)
class NumericTolerance:
    """Reward 1 when the answer's last number is within ``rel_tol`` / ``abs_tol`` of the
    expected number.

    Example:
        >>> NumericTolerance(abs_tol=0.01)("about 3.141", Problem(id="p", text="?", answer="3.14"))
        1.0
    """

    rel_tol: float = 1e-6
    abs_tol: float = 1e-9

    def __call__(self, answer: str, problem: Problem) -> float:
        expected = last_number(_expected(problem, "numeric"))
        if expected is None:
            raise InputError(f"problem {problem.id!r}: the expected answer "
                             f"{problem.answer!r} holds no number for the numeric verifier.")
        got = last_number(answer)
        return float(got is not None and math.isclose(got, expected, rel_tol=self.rel_tol,
                                                      abs_tol=self.abs_tol))


@dataclass(frozen=True, kw_only=True)
class RegexMatch:
    """Reward 1 when the answer matches ``pattern`` (searched; ``full=True``: the whole
    stripped answer must match). Without a pattern, the problem's answer is the pattern.

    Example:
        >>> RegexMatch(pattern=r"[A-Z]{2}-\\d{3}")("code AB-123", Problem(id="p", text="?"))
        1.0
    """

    pattern: str | None = None
    full: bool = False
    ignore_case: bool = True

    def __call__(self, answer: str, problem: Problem) -> float:
        pattern = self.pattern if self.pattern is not None else _expected(problem, "regex")
        try:
            compiled = re.compile(pattern, re.IGNORECASE if self.ignore_case else 0)
        except re.error as exc:
            raise InputError(f"regex verifier pattern {pattern!r} is invalid: {exc}.") from None
        text = str(answer).strip()
        hit = compiled.fullmatch(text) if self.full else compiled.search(text)
        return float(hit is not None)


@dataclass(frozen=True, kw_only=True)
class UnitTests:
    """Reward 1 when ``tests`` pass against the answer's code, run in a fresh Python process
    (``python -I``, a temporary folder as working directory) killed after ``timeout``.

    The code is the answer's first fenced ```python block, else the whole answer; the tests
    follow it in one file (plain ``assert`` statements, say).

    Example:
        >>> check = UnitTests(tests="assert add(2, 3) == 5")
        >>> check("def add(a, b):\\n    return a + b", Problem(id="p", text="add"))
        1.0
    """

    tests: str
    timeout: float = 10.0
    python: str = sys.executable

    def __call__(self, answer: str, problem: Problem) -> float:
        block = _FENCE.search(str(answer))
        code = block.group(1) if block else str(answer)
        with tempfile.TemporaryDirectory(prefix="memagents-tests-") as folder:
            script = Path(folder) / "solution_test.py"
            script.write_text(code + "\n\n" + self.tests + "\n", encoding="utf-8")
            env = {k: v for k, v in os.environ.items() if k in ("PATH", "SYSTEMROOT", "LANG")}
            try:
                done = subprocess.run([self.python, "-I", str(script)], cwd=folder, env=env,
                                      capture_output=True, text=True, timeout=self.timeout,
                                      check=False)
            except subprocess.TimeoutExpired:
                raise TimeoutError(f"the unit tests ran over {self.timeout:g} s") from None
        if done.returncode == 0:
            return 1.0
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise AssertionError(f"unit tests failed: {lines[-1] if lines else done.returncode}")


def verifier_for(spec: Any, *, timeout: float = 10.0) -> Verifier:
    """The verifier a problem's ``verifier`` field names (``None``: exact match).

    ``"exact"``, ``"numeric"``, ``"regex"`` (the answer is the pattern), ``"unit_tests"``
    (the answer holds the tests), or an object: ``{"kind": "numeric", "rel_tol": 0.01}``,
    ``{"kind": "regex", "pattern": "..."}``, ``{"kind": "unit_tests", "tests": "...",
    "timeout": 5}``.

    >>> verifier_for({"kind": "numeric", "abs_tol": 0.5})
    NumericTolerance(rel_tol=1e-06, abs_tol=0.5)
    """
    if spec is None:
        return ExactMatch()
    if callable(spec):
        return spec  # type: ignore[no-any-return]
    options: dict[str, Any] = {}
    if isinstance(spec, Mapping):
        options = {k: v for k, v in spec.items() if k != "kind"}
        spec = spec.get("kind")
    try:
        if spec in ("exact", "exact_match"):
            return ExactMatch(**options)
        if spec == "numeric":
            return NumericTolerance(**options)
        if spec == "regex":
            return RegexMatch(**options)
        if spec == "unit_tests":
            options.setdefault("timeout", timeout)
            if "tests" not in options:
                return _AnswerTests(timeout=float(options["timeout"]))
            return UnitTests(**options)
    except TypeError as exc:
        raise ConfigError(f"verifier {spec!r} got unknown options: {exc}.") from None
    raise ConfigError(f"unknown verifier {spec!r}: use exact, numeric, regex or unit_tests "
                      "(or pass a callback verifier(answer, problem) -> reward).")


@dataclass(frozen=True, kw_only=True)
class _AnswerTests:
    """Unit tests taken from the problem's expected answer."""

    timeout: float

    def __call__(self, answer: str, problem: Problem) -> float:
        return UnitTests(tests=_expected(problem, "unit_tests"), timeout=self.timeout)(
            answer, problem)


def _reward(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    try:
        reward = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"it returned {value!r:.60}, not a number in [0, 1]") from None
    if not 0.0 <= reward <= 1.0:  # NaN fails too
        raise ValueError(f"it returned {reward!r}, outside [0, 1]")
    return reward


def run_verifier(verifier: Verifier, answer: str, problem: Problem, *,
                 timeout: float = 10.0) -> tuple[float, str | None]:
    """``(reward, error)``: the verifier's reward, or 0 and why it failed (it raised, hung
    past ``timeout`` seconds, or returned something other than a number in [0, 1])."""
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["value"] = verifier(answer, problem)
        except BaseException as exc:  # noqa: BLE001 - reported as the rollout's error
            box["error"] = exc

    thread = threading.Thread(target=work, name="memagents-verifier", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        return 0.0, f"verifier timed out after {timeout:g} s (abandoned; the run continues)"
    if "error" in box:
        exc = box["error"]
        return 0.0, f"verifier raised {type(exc).__name__}: {exc}"
    try:
        return _reward(box.get("value")), None
    except (TypeError, ValueError) as exc:
        return 0.0, f"verifier failed: {exc}"
