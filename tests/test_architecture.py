"""The layer rules of docs/architecture.md, enforced with import-linter (`.importlinter`).

Capabilities never import each other, shared services never import capabilities, the
contract imports only the foundation, and sibling modules have no import cycles (imports inside
functions and under ``TYPE_CHECKING`` count). The second test proves the check can fail: it
copies the package, adds one wrong import, and expects the linter to name it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / ".importlinter"
LINT = Path(sys.executable).with_name("lint-imports")



def _lint(package_parent: Path) -> subprocess.CompletedProcess[str]:
    assert LINT.exists(), "import-linter is missing: pip install -e '.[dev]' (make test does)"
    env = {**os.environ, "PYTHONPATH": str(package_parent), "NO_COLOR": "1"}
    return subprocess.run(
        [str(LINT), "--no-cache", str(CONFIG)],
        capture_output=True, text=True, env=env, cwd=package_parent, timeout=300, check=False,
    )


def test_the_package_keeps_its_layer_rules() -> None:
    out = _lint(ROOT)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


@pytest.mark.parametrize(
    ("where", "line", "broken"),
    [
        ("graphmem", "from memagents.gate import RetrievalGate", "Layers"),
        ("models", "import memagents.graphmem", "Layers"),
        ("base", "from memagents.models import StructuredLLM", "contract imports only"),
    ],
)
def test_a_wrong_import_breaks_the_check(tmp_path: Path, where: str, line: str, broken: str) -> None:
    shutil.copytree(ROOT / "memagents", tmp_path / "memagents",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "memagents" / where / "_wrong.py").write_text(
        f"def f():\n    {line}\n", encoding="utf-8"
    )
    out = _lint(tmp_path)
    assert out.returncode != 0
    assert broken in out.stdout and "_wrong" in out.stdout, out.stdout[-3000:]
