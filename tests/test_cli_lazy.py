"""Cheap CLI (issue 8, item 7): ``memagents --help`` lists every command group without importing
any, and a group loads only when invoked. Each check runs in a fresh interpreter, so modules the
test session already imported do not hide an eager import."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from memagents.cli import LAZY_GROUPS, app

HEAVY = ("scipy", "langgraph", "langchain", "langchain_core", "chromadb", "numpy", "torch")

PROBE = """
import json, sys
from memagents.cli import main
try:
    code = main({argv!r})
except SystemExit as exc:
    code = exc.code
print("\\n" + json.dumps({{"code": code, "modules": sorted(sys.modules)}}))
"""


def run_cli(*argv: str) -> tuple[int, str, set[str]]:
    """``memagents ARGV`` in a fresh interpreter: exit code, output, modules it loaded."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=list(argv))],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "COLUMNS": "200", "PYTHONWARNINGS": "ignore"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    output, _, last = proc.stdout.rstrip().rpartition("\n")
    report = json.loads(last)
    return report["code"], output, set(report["modules"])


def top_level(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_help_loads_no_heavy_library_and_no_capability() -> None:
    code, output, modules = run_cli("--help")
    assert code == 0
    assert not top_level(modules) & set(HEAVY), sorted(top_level(modules) & set(HEAVY))
    assert not {m for m in modules if m.startswith(("memagents.graphmem", "memagents.gate",
                                                    "memagents.hypermem"))}
    for name, spec in LAZY_GROUPS.items():  # every group listed with its one-line help
        assert name in output and spec.help.split(":")[0] in output, name
    for name in ("config", "sample", "demo"):
        assert name in output


@pytest.mark.parametrize(
    ("group", "commands", "not_loaded"),
    [
        ("memory", ("add", "search", "delete", "stats", "export"), "memagents.gate"),
        ("gate", ("eval", "tune", "export-training"), "memagents.graphmem"),
        ("hypermem", ("ask",), "memagents.graphmem"),
    ],
)
def test_a_group_loads_only_itself(group: str, commands: tuple[str, ...], not_loaded: str) -> None:
    code, output, modules = run_cli(group, "--help")
    assert code == 0
    for command in commands:
        assert command in output, command
    assert not {m for m in modules if m.startswith(not_loaded)}


@pytest.mark.parametrize("name", sorted(LAZY_GROUPS))
def test_the_listed_help_is_the_groups_own(name: str) -> None:
    spec = LAZY_GROUPS[name]
    sub_app = getattr(importlib.import_module(spec.module), spec.attribute)
    assert sub_app.info.help == spec.help


def test_app_dispatches_to_the_real_groups_in_process() -> None:
    result = CliRunner().invoke(app, ["gate", "--help"])
    assert result.exit_code == 0 and "export-training" in result.output
    listing = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert listing.exit_code == 0
    for spec in LAZY_GROUPS.values():
        assert spec.help in listing.output


def test_the_runtime_gate_imports_without_its_research_tooling() -> None:
    script = ("import sys, memagents.gate; "
              "print(sorted(m for m in sys.modules if m.startswith('memagents.gate.research')))")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=True)
    assert proc.stdout.strip() == "[]"


def test_import_memagents_loads_no_heavy_library() -> None:
    script = "import json, sys, memagents; print(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=True)
    assert not top_level(set(json.loads(proc.stdout))) & set(HEAVY)
