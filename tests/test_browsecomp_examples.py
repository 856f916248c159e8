"""examples/browse_synthesis.py runs as a user would run it: ``--simulate`` (the sample-world
oracle plays the model), and the spec path (``--llm openai:gpt-4o-mini`` with OPENAI_BASE_URL)
against the loopback OpenAI server answering with the same oracle, over the offline web."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from memagents.browsecomp.release import load_release
from memagents.browsecomp.research.oracle import WorldOracle
from memagents.eval import load_questions
from memagents.sample import SampleWorld
from memagents.testing import OpenAIServer

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "browse_synthesis.py"
SEEDS = ["--seed", "The Kilvivo Sessions", "--seed", "Zalvel", "--seed", "Mount Hyrren"]


def _load_example() -> Any:
    spec = importlib.util.spec_from_file_location("browse_synthesis_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.integration
def test_simulated_run_prints_the_stages_and_questions_and_writes_a_release(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    example = _load_example()
    assert example.main(["--simulate", "--out", str(tmp_path), *SEEDS]) == 0
    out = capsys.readouterr().out
    assert "model: simulation:world-oracle; anchor 2026-07-01" in out
    table = {line.split()[0]: line.split()[1:] for line in out.splitlines()
             if line.split()[:1] and line.split()[0] in ("explore", "compose", "unique")}
    assert table["explore"] == ["3", "1", "2"] and table["unique"] == ["2", "0", "2"]
    assert "accepted 2 of 3 seeds" in out
    assert out.count("A: Quyneida Devaemont") == 2
    hop_lines = [line for line in out.splitlines() if line.startswith("  hop ")]
    assert len(hop_lines) == 6 and all("evidence on" in h and ".test" in h for h in hop_lines)
    assert all("[fresh;" in h or "[stale;" in h for h in hop_lines)
    [folder] = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert {p.name for p in folder.iterdir()} >= {"questions.csv", "metadata.jsonl",
                                                  "manifest.json", "stages.svg", "hops.svg",
                                                  "freshness.svg"}
    release = load_release(folder)
    assert release.manifest["model"] == "simulation:world-oracle"
    assert len(release.candidates) == 2
    csv = (folder / "questions.csv").read_text()
    assert "Quyneida" not in csv, "the answers are encrypted"
    assert {q.answer for q in load_questions(folder / "questions.csv")} == {
        "Quyneida Devaemont"}
    assert f"release {folder.name}: {folder}" in out


@pytest.mark.integration
def test_spec_path_through_the_loopback_server(
        tmp_path: Path, openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    for name, value in {**openai_server.env(), "MEMAGENTS_MAX_RETRIES": "0"}.items():
        monkeypatch.setenv(name, value)
    WorldOracle(SampleWorld.generate(0, snapshot=1)).install(openai_server, model="gpt-4o-mini")
    example = _load_example()
    assert example.main(["--llm", "openai:gpt-4o-mini", "--out", str(tmp_path),
                         "--seed", "Zalvel"]) == 0
    out = capsys.readouterr().out
    assert "model: openai:gpt-4o-mini" in out and "accepted 1 of 1 seeds" in out
    assert len(openai_server.chat_requests) > 10
    [folder] = [p for p in tmp_path.iterdir() if p.is_dir()]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["model"] == "openai:gpt-4o-mini"


def test_without_a_model_it_says_what_to_pass(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("MEMAGENTS_LLM", raising=False)
    assert _load_example().main([]) == 2
    assert "--simulate" in capsys.readouterr().out
