"""Issue 7, items 12-14 (CLI part): bad input gives one clear line naming the option and the fix,
exit code != 0 and an unchanged memory; messages speak the CLI's language; `gate eval` and
`gate export-training` use the passages of an exported sample world."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from memagents.cli import app, main
from memagents.errors import StoreLockedError
from memagents.stores.lock import FolderLock

GOOD = '{"text": "Rome is in Italy.", "triples": [["Rome", "in", "Italy"]]}\n'


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """``memagents ARGS`` through the script's entry point: exit code and stderr."""
    capsys.readouterr()
    code = main(list(args))
    return code, capsys.readouterr().err


def one_clean_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err  # one line: no traceback, no wrapping
    assert lines[0].startswith("error: ") and "Traceback" not in err
    return lines[0]


@pytest.fixture
def memory(tmp_path: Path) -> Path:
    folder = tmp_path / "mem"
    data = tmp_path / "good.jsonl"
    data.write_text(GOOD, encoding="utf-8")
    assert main(["memory", "add", "-f", str(data), "--folder", str(folder), "--json"]) == 0
    return folder


def stats(folder: Path) -> dict[str, int]:
    result = CliRunner().invoke(app, ["memory", "stats", "--folder", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["passages"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(("name", "data"), [
    ("latin1.txt", "café au lait".encode("latin-1")),
    ("utf16.txt", "Rome is in Italy.".encode("utf-16")),
    ("utf16.jsonl", GOOD.encode("utf-16-le")),  # no BOM: NUL bytes
    ("binary.jsonl", bytes(range(256))),
])
def test_a_file_that_is_not_utf8_is_one_clean_error(
    capsys: pytest.CaptureFixture[str], memory: Path, name: str, data: bytes
) -> None:
    before = stats(memory)
    path = memory.parent / name
    path.write_bytes(data)
    code, err = run(capsys, "memory", "add", "-f", str(path), "--folder", str(memory))
    line = one_clean_line(err)
    assert code == 1 and "--file" in line and "UTF-8" in line and name in line
    assert stats(memory) == before


def test_invalid_utf8_on_stdin_is_one_clean_error(memory: Path) -> None:
    before = stats(memory)
    script = ("import sys; from memagents.cli import main; "
              f"sys.exit(main(['memory', 'add', '-f', '-', '--folder', {str(memory)!r}]))")
    proc = subprocess.run([sys.executable, "-c", script], input=b"caf\xe9 \xff{\n",
                          capture_output=True, timeout=120, check=False)
    line = one_clean_line(proc.stderr.decode())
    assert proc.returncode == 1 and "stdin (--file -)" in line and "UTF-8" in line
    assert stats(memory) == before


def test_folder_that_is_a_file_or_under_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = tmp_path / "good.jsonl"
    data.write_text(GOOD, encoding="utf-8")
    a_file = tmp_path / "a-file"
    a_file.write_text("keep me", encoding="utf-8")
    for folder in (a_file, a_file / "sub"):
        for args in (["add", "-f", str(data)], ["search", "Rome"], ["stats"]):
            code, err = run(capsys, "memory", *args, "--folder", str(folder))
            line = one_clean_line(err)
            assert code == 1 and "--folder" in line and "not a folder" in line, line
    assert a_file.read_text(encoding="utf-8") == "keep me"


def test_unwritable_export_path(capsys: pytest.CaptureFixture[str], memory: Path) -> None:
    a_file = memory.parent / "a-file"
    a_file.write_text("", encoding="utf-8")
    for out in (a_file / "graph.graphml", a_file / "graph.html"):
        code, err = run(capsys, "memory", "export", str(out), "--folder", str(memory))
        line = one_clean_line(err)
        assert code == 1 and "OUT" in line, line


def test_brackets_survive_and_long_errors_are_not_wrapped(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "x", "triples": "Rome in Italy"}\n', encoding="utf-8")
    code, err = run(capsys, "memory", "add", "-f", str(bad), "--folder", str(tmp_path / "m"))
    line = one_clean_line(err)
    assert code == 1 and "[subject, predicate, object]" in line  # rich markup used to drop it
    assert len(line) > 80  # longer than a terminal line, and still one line
    assert not (tmp_path / "m").exists()


def test_non_finite_numbers_in_jsonl_are_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "nan.jsonl"
    bad.write_text('{"text": "x", "metadata": {"score": NaN}, "triples": []}\n',
                   encoding="utf-8")
    code, err = run(capsys, "memory", "add", "-f", str(bad), "--folder", str(tmp_path / "m"))
    assert code == 1 and "NaN" in one_clean_line(err)


def test_unreadable_gate_data_and_unwritable_out(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    latin = tmp_path / "qa.json"
    latin.write_bytes('[{"id": "1", "question": "Où?", "possible_answers": ["x"]}]'
                      .encode("latin-1"))
    code, err = run(capsys, "gate", "eval", str(latin), "--recorded", str(latin))
    assert code == 1 and "not UTF-8" in one_clean_line(err)
    code, err = run(capsys, "gate", "export-training", str(latin), str(latin))
    assert code == 1 and "not UTF-8" in one_clean_line(err)
    data = tmp_path / "ok.json"
    data.write_text(json.dumps([{"id": "1", "question": "Q?", "possible_answers": ["a"]}]))
    rec = tmp_path / "rec.jsonl"
    rec.write_text('{"id": "1", "mode": "parametric", "prediction": "a"}\n')
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    code, err = run(capsys, "gate", "eval", str(data), "--policy", "never", "--recorded",
                    str(rec), "--out", str(a_file / "out"))
    line = one_clean_line(err)
    assert code == 1 and "--out" in line, line


def test_sample_export_to_an_unwritable_directory(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    code, err = run(capsys, "sample", "export", str(a_file / "world"), "--size", "tiny")
    assert code == 1 and "DIRECTORY" in one_clean_line(err)


# ------------------------------------------------------------------------------ item 13
def test_lock_error_names_the_holder_and_what_to_do(tmp_path: Path) -> None:
    holder = FolderLock(tmp_path / "mem")
    with holder, pytest.raises(StoreLockedError) as info:
        FolderLock(tmp_path / "mem").acquire()
    message = str(info.value)
    assert "read-only" not in message and "Chroma" not in message
    assert "another folder" in message and "close" in message


def test_add_without_a_model_speaks_cli(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEMAGENTS_LLM", raising=False)
    code, err = run(capsys, "memory", "add", "A passage.", "--folder", str(tmp_path / "m"))
    line = one_clean_line(err)
    assert code == 1 and "--llm" in line and '"triples"' in line and "MEMAGENTS_LLM" in line
    assert "GraphMemory.open" not in line and "add_triples()" not in line
    assert not (tmp_path / "m").exists()


def test_add_help_lists_the_jsonl_keys() -> None:
    result = CliRunner().invoke(app, ["memory", "add", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for key in ("text", "id", "metadata", "triples"):
        assert f'"{key}"' in result.output, key


def test_config_show_names_the_documented_openai_variables() -> None:
    result = CliRunner().invoke(app, ["config", "show"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    rows = {line.split("│")[1].strip(): line for line in result.output.splitlines()
            if line.count("│") >= 4}
    assert "OPENAI_API_KEY (or MEMAGENTS_OPENAI_API_KEY)" in rows["openai_api_key"]
    assert "OPENAI_BASE_URL (or MEMAGENTS_OPENAI_BASE_URL)" in rows["openai_base_url"]
    assert "MEMAGENTS_LLM" in rows["llm"]


# ------------------------------------------------------------------------------ item 14
def test_gate_eval_and_export_training_use_the_exported_sample(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    world = tmp_path / "world"
    assert main(["sample", "export", str(world), "--size", "small"]) == 0
    popqa = world / "popqa.jsonl"
    rows = [json.loads(line) for line in popqa.read_text().splitlines()]
    assert all(r["gold_passage"].strip() for r in rows)
    rec = tmp_path / "rec.jsonl"
    rec.write_text("".join(
        json.dumps({"id": r["id"], "mode": mode, "prediction": pred}) + "\n"
        for r in rows for mode, pred in (("retrieval", r["possible_answers"][0]),
                                         ("parametric", "no idea"))))
    capsys.readouterr()
    assert main(["gate", "eval", str(popqa), "--policy", "always", "--recorded", str(rec),
                 "--out", str(tmp_path / "always"), "--json"]) == 0
    out = capsys.readouterr()
    summary = json.loads(out.out)
    assert summary["n"] == len(rows) and summary["has_answer_rate"] == 1.0
    assert summary["warnings"] == [] and "warning" not in out.err
    assert main(["gate", "eval", str(popqa), "--policy", "never", "--recorded", str(rec),
                 "--out", str(tmp_path / "never"), "--json"]) == 0
    capsys.readouterr()
    assert main(["gate", "export-training", str(popqa), str(tmp_path / "never" / "results.jsonl"),
                 "--out", str(tmp_path / "train"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["skipped_no_passage"] == 0 and report["wrong"] == len(rows)
    assert report["examples"] == 2 * len(rows) and report["problems"] == []


def test_missing_passages_are_warned_about(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = tmp_path / "qa.jsonl"
    data.write_text("".join(json.dumps({"id": str(i), "question": f"Where is town {i}?",
                                        "possible_answers": ["x"], "gold_passage_id": "p1"})
                            + "\n" for i in range(3)))
    rec = tmp_path / "rec.jsonl"
    rec.write_text("".join(json.dumps({"id": str(i), "mode": m, "prediction": "y"}) + "\n"
                           for i in range(3) for m in ("parametric", "retrieval")))
    capsys.readouterr()
    assert main(["gate", "eval", str(data), "--recorded", str(rec), "--out",
                 str(tmp_path / "o"), "--json"]) == 0
    out = capsys.readouterr()
    summary = json.loads(out.out)
    assert summary["has_answer_rate"] == 0.0 and len(summary["warnings"]) == 1
    assert "none of the 3 retrieving questions had a passage" in summary["warnings"][0]
    assert "warning:" in out.err
    saved = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert saved["warnings"] == summary["warnings"]
    closed = tmp_path / "closed.json"
    closed.write_text(json.dumps({str(i): "y" for i in range(3)}))
    assert main(["gate", "export-training", str(data), str(closed), "--out",
                 str(tmp_path / "t"), "--json"]) == 0
    out = capsys.readouterr()
    report = json.loads(out.out)
    assert report["skipped_no_passage"] == 3
    assert any("skipped for lack of a passage" in w for w in report["warnings"])
