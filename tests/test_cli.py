from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from memagents.cli import app, main

runner = CliRunner()


def test_config_show_masks_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret")
    monkeypatch.setenv("MEMAGENTS_LLM", "openai:gpt-4o-mini")
    result = runner.invoke(app, ["config", "show", "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["llm"] == "openai:gpt-4o-mini"
    assert shown["openai_api_key"] == "***"
    assert "sk-very-secret" not in result.output
    table = runner.invoke(app, ["config", "show"])
    assert "MEMAGENTS_LLM" in table.output and "sk-very-secret" not in table.output


def test_sample_export_writes_manifest(tmp_path: Path) -> None:
    result = runner.invoke(app, ["sample", "export", str(tmp_path), "--size", "tiny"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["seed"] == 0 and manifest["counts"]["passages"] > 0
    assert (tmp_path / "questions.jsonl").exists()


def test_demo_prints_recall(tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "--size", "tiny", "--folder", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "recall@5" in result.output
    assert "2-hop" in result.output
    assert "retrieval rate" in result.output


def test_bad_settings_give_a_clean_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MEMAGENTS_EMBEDDINGS", "nosuch:model")
    code = main(["demo", "--size", "tiny"])
    assert code == 1
    err = capsys.readouterr().err
    assert "nosuch" in err and "Traceback" not in err


def test_bad_sample_size_is_reported(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["sample", "export", str(tmp_path), "--size", "gigantic"]) == 1
    assert "gigantic" in capsys.readouterr().err


def test_usage_errors_are_clean(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = main(["sample", "export", str(tmp_path), "--bogus"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--bogus" in err and "Traceback" not in err


def test_memory_commands_are_registered() -> None:
    result = runner.invoke(app, ["memory", "--help"])
    assert result.exit_code == 0
    for command in ("add", "search", "delete", "stats", "export"):
        assert command in result.output
