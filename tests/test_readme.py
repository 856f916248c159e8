"""Every ```python block of the README runs as written (offline)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)


def test_readme_has_python_examples() -> None:
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(index: int, capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(BLOCKS[index], f"README.md[python block {index}]", "exec"), {})
    printed = capsys.readouterr().out
    assert printed.strip(), "README examples should print what they show"
    # a trailing "# value" comment on a print line states what it prints
    for expected in re.findall(r"^\s*print\(.*#\s*(\S.*?)\s*$", BLOCKS[index], flags=re.MULTILINE):
        assert expected in printed, f"README promises {expected!r}; the block printed {printed!r}"
