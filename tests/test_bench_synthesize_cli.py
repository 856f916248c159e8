"""``memagents bench synthesize`` end to end on the offline web with the sample-world oracle
(``--offline --simulate``: a simulation, no LLM), its errors, a killed run resumed from its
checkpoint, and ``bench releases`` / ``bench reverify`` on the release it wrote."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from memagents import cli as top
from memagents.browsecomp.release import load_release
from memagents.browsecomp.research.oracle import WorldOracle
from memagents.web.search.local import LocalSearch

SEEDS = ["--seed", "The Kilvivo Sessions", "--seed", "Zalvel", "--seed", "Mount Hyrren"]
BASE = ["--anchor", "2026-07-01", "--n", "4", "--offline", "--simulate"]

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """``memagents.cli.main(["bench", *args])``: exit code, stdout, stderr."""

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = top.main(["bench", *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture(scope="module")
def produced(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """One ``--offline --simulate --json`` run on three seeds (two make it, one does not)."""
    out = tmp_path_factory.mktemp("bench") / "releases"
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = top.main(["bench", "synthesize", "--out", str(out), *BASE, *SEEDS, "--json"])
    assert code == 0, buffer.getvalue()
    return json.loads(buffer.getvalue()), out


@pytest.mark.integration
def test_offline_simulated_run_writes_a_release_with_stage_counts_and_plots(
        produced: tuple[dict[str, Any], Path]) -> None:
    data, out = produced
    assert data["model"] == "simulation:world-oracle" and data["empty"] is None
    assert data["reused"] is False and data["run_id"].startswith("synthesis-")
    stages = {r["stage"]: (r["entered"], r["rejected"], r["passed"]) for r in data["stages"]}
    assert stages["explore"] == (3, 1, 2) and stages["unique"] == (2, 0, 2)
    assert list(stages)[:2] == ["explore", "compose"] and list(stages)[-1] == "unique"
    assert (data["stats"]["seeds"], data["stats"]["accepted"]) == (3, 2)
    release = Path(data["release"])
    assert release.parent == out and release.name == data["version"]
    for plot in ("stages.svg", "hops.svg", "freshness.svg"):
        assert ET.parse(release / plot).getroot().tag.endswith("svg")
    loaded = load_release(release)
    assert len(loaded.candidates) == 2 and loaded.manifest["model"] == data["model"]
    manifest_stages = {s["stage"]: s for s in loaded.manifest["stages"]}
    assert manifest_stages["dedup"]["rejected"] == 0
    assert json.loads((out / "RELEASES.json").read_text())["latest"] == data["version"]


@pytest.mark.parametrize(("args", "flag"), [
    (BASE, "--out"),
    (["--out", "OUT", "--offline", "--simulate"], "--anchor"),
    (["--out", "OUT", "--anchor", "July 2026", "--offline", "--simulate"], "--anchor"),
    (["--out", "OUT", "--anchor", "2026-07-01", "--simulate", "--seed", "x"], "--offline"),
    (["--out", "OUT", "--anchor", "2026-07-01", "--offline", "--max-seeds", "1"], "--llm"),
    ([*BASE, "--out", "OUT", "--resume", "synthesis-1"], "--checkpoint"),
    ([*BASE, "--out", "OUT", "--seeds", "MISSING.txt"], "--seeds"),
])
def test_errors_name_the_flag(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              args: list[str], flag: str) -> None:
    monkeypatch.delenv("MEMAGENTS_LLM", raising=False)
    args = [a.replace("OUT", str(tmp_path / "out")).replace("MISSING.txt",
                                                            str(tmp_path / "none.txt"))
            for a in args]
    code, out, err = cli("synthesize", *args)
    assert code == 1, out + err
    [line] = err.strip().splitlines()[-1:]
    assert line.startswith("error: ") and flag in line, line
    assert not (tmp_path / "out").exists(), "nothing written on an error"


def test_a_resume_of_an_unknown_run_says_so(cli: Cli, tmp_path: Path) -> None:
    code, _, err = cli("synthesize", "--out", str(tmp_path / "out"), *BASE, *SEEDS,
                       "--checkpoint", str(tmp_path / "run.sqlite"), "--resume", "synthesis-0")
    assert code == 1 and "no such run in --checkpoint" in err


@pytest.mark.integration
def test_a_killed_run_resumes_from_its_checkpoint_and_a_finished_one_is_reused(
        cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    queries: list[str] = []
    original = LocalSearch.asearch
    crashed = []

    async def flaky(self: LocalSearch, query: str, k: int = 10) -> Any:
        queries.append(query)
        if query == "Zalvel" and not crashed:
            crashed.append(query)
            raise RuntimeError("killed midway")
        return await original(self, query, k=k)

    monkeypatch.setattr(LocalSearch, "asearch", flaky)
    calls: list[str] = []
    reply = WorldOracle.reply

    def counted(self: WorldOracle, prompt: str) -> str:
        calls.append(prompt[:40])
        return reply(self, prompt)

    monkeypatch.setattr(WorldOracle, "reply", counted)
    out, checkpoint = tmp_path / "out", tmp_path / "run.sqlite"
    last = ["--seed", "The Kilvivo Sessions", "--seed", "Mount Hyrren", "--seed", "Zalvel"]
    command = ["synthesize", "--out", str(out), *BASE, *last, "--checkpoint", str(checkpoint)]
    with pytest.raises(RuntimeError, match="killed midway"):
        cli(*command, "--concurrency", "1")
    assert not out.exists()
    seeds = {"The Kilvivo Sessions", "Zalvel", "Mount Hyrren"}
    before = len(queries)

    code, stdout, err = cli(*command, "--json")  # same seeds and anchor: the same run id
    assert code == 0, err
    first = json.loads(stdout)
    assert {q for q in queries[before:] if q in seeds} == {"Zalvel"}, "only the killed seed"
    assert (first["stats"]["seeds"], first["stats"]["accepted"]) == (3, 2), "none twice"
    assert len(load_release(first["release"]).candidates) == 2

    calls.clear()
    code, stdout, err = cli(*command, "--resume", first["run_id"])
    assert code == 0, err
    assert f"run {first['run_id']} finished already in --checkpoint" in err
    assert "no release written" in stdout and "already published" in stdout
    assert "accepted 2 of 3 seeds" in stdout
    assert calls == [], "a finished run is reused, not synthesized again"
    assert [p.name for p in out.iterdir() if p.is_dir()] == [first["version"]]


@pytest.mark.integration
def test_releases_and_reverify_on_the_produced_release(
        cli: Cli, tmp_path: Path, produced: tuple[dict[str, Any], Path]) -> None:
    data, source = produced
    out = tmp_path / "releases"
    shutil.copytree(source, out)
    code, stdout, _ = cli("releases", str(out), "--verify")
    assert code == 0
    [line] = stdout.splitlines()
    assert line.startswith(data["version"]) and "2 question(s)" in line
    assert "live" in line and "integrity ok" in line

    code, stdout, err = cli("reverify", str(out), "--sample-snapshot", "2", "--json")
    assert code == 0, err
    [report] = json.loads(stdout)
    assert report["summary"]["source"] == data["version"]
    assert (report["summary"]["kept"], report["summary"]["retired"]) == (2, 0)
    assert report["summary"]["fetch_errors"] == 0 and report["release"] is None
    assert Path(report["report_path"]).is_file()
    code, stdout, _ = cli("reverify", str(out / data["version"]), "--sample-snapshot", "2",
                          "--dry-run")
    assert code == 0 and "2 question(s), 2 kept, 0 retired" in stdout
    assert re.search(r"\.test\b", stdout) is None, "no URL in the text report"
