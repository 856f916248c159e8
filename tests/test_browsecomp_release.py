"""Benchmark releases (memagents.browsecomp.release) and their re-verification (reverify):
layout, encryption round trip, hashes, no overwrite, dedup, retiring what changed on a fake
web, on the sample world's later snapshot, and through the real fetcher and the CLI."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner

from memagents.browsecomp.candidate import (
    Candidate,
    CheckResult,
    Constraint,
    Evidence,
    Hop,
    normalize_text,
)
from memagents.browsecomp.cli_release import release_app
from memagents.browsecomp.release import (
    CANARY_PREFIX,
    EmptyReleaseError,
    ReleaseError,
    ReleaseInfo,
    list_releases,
    live_releases,
    load_release,
    question_key,
    write_release,
)
from memagents.browsecomp.reverify import reverify
from memagents.errors import WebFetchError
from memagents.eval.browsecomp import decrypt
from memagents.eval.browsecomp_files import load_questions
from memagents.sample import SampleWorld

NOW = datetime(2026, 12, 3, 9, 30, tzinfo=timezone.utc)
LATER = datetime(2026, 12, 10, 9, 30, tzinfo=timezone.utc)


def make(question: str, answer: str, *, quote: str | None = None,
         url: str = "https://wiki.velm.test/press", second: str | None = None,
         checks: tuple[CheckResult, ...] = (CheckResult(name="quotes", passed=True),),
         sha: str = "aa") -> Candidate:
    """A one-hop candidate with one or two pieces of evidence."""
    evidence = [Evidence(url=url, quote=quote or f"The press was founded by {answer}.",
                         fetched_at="2026-12-01T00:00:00Z", published="2026-02-01",
                         sha256=sha)]
    if second:
        evidence.append(Evidence(url=second, quote=f"{answer} founded it.", sha256="bb",
                                 published="2026-03-01"))
    hop = Hop(subject="Velm Press", relation="founded_by", object=answer,
              evidence=tuple(evidence), fresh=True)
    c = Candidate(seed="Velm Press", question=question, answer=answer, aliases=("A. K.",),
                  hops=(hop,), anchor="2026-01-01", iteration=1,
                  constraints=(Constraint(id="c1", target="?answer", relation="founded",
                                          value="Velm Press", inverse=True, hop=0),))
    for check in checks:
        c = c.with_check(check)
    return c


A = make("Which printer founded the press on the Quill?", "Ada Korvin",
         second="https://news.quill.test/ada")
B = make("Who wrote the charter of the Velm guild?", "Bo Lind",
         url="https://registry.velm.test/guild")
C = make("Which mayor opened the Quill bridge?", "Cato Venn", url="https://news.quill.test/b")


def release_files(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


# -- writing and reading ---------------------------------------------------------------------

def test_layout_manifest_and_nothing_in_plain_text(tmp_path: Path) -> None:
    info = {"model": "openai:gpt-4o-mini", "settings": {"max_iterations": 3},
            "stats": {"entered:quotes": 5, "rejected:quotes": 2}, "web": {"snapshot": 0}}
    rel = write_release(tmp_path, [A, B], anchor="2026-01-01", manifest_info=info, now=NOW)
    assert rel.version == "v2026-12-03-001" and rel.path == tmp_path / rel.version
    assert sorted(p.name for p in rel.path.iterdir()) == [
        "manifest.json", "metadata.jsonl", "questions.csv"]
    m = json.loads((rel.path / "manifest.json").read_text())
    assert m["format_version"] == 1 and m["kind"] == "synthesized" and m["n"] == 2
    assert m["created_at"] == "2026-12-03T09:30:00Z" and m["anchor"] == "2026-01-01"
    assert m["ids"] == [A.id, B.id] and m["question_keys"] == [question_key(A.question),
                                                              question_key(B.question)]
    assert m["model"] == "openai:gpt-4o-mini" and m["settings"] == {"max_iterations": 3}
    assert m["web"] == {"snapshot": 0}
    assert m["stages"] == [{"stage": "quotes", "entered": 5, "rejected": 2, "passed": 3},
                           {"stage": "dedup", "entered": 2, "rejected": 0, "passed": 2}]
    assert re.fullmatch(re.escape(CANARY_PREFIX) + r"[0-9a-f-]{36}", m["canary"])
    for name, entry in m["files"].items():
        assert hashlib.sha256((rel.path / name).read_bytes()).hexdigest() == entry["sha256"]
    # BrowseComp's CSV: problem, answer, canary; row i is ids[i]
    with (rel.path / "questions.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["problem", "answer", "canary"]
    assert decrypt(rows[1]["answer"], rows[1]["canary"]) == "Bo Lind"
    # nothing written from the web or by the model in clear, anywhere in the folder
    blob = b"".join(release_files(rel.path).values()).decode()
    for secret in ("Ada Korvin", "Bo Lind", "Velm Press", "Quill", "founded", "wiki.velm.test",
                   "news.quill.test", "A. K."):
        assert secret not in blob, secret
    clear = json.loads((rel.path / "metadata.jsonl").read_text().splitlines()[0])["clear"]
    assert clear["id"] == A.id and clear["hops"][0]["fresh"] is True
    assert clear["hops"][0]["domains"] == 2 and clear["checks"] == [{"name": "quotes",
                                                                      "passed": True}]
    assert clear["constraints"][0]["value"] is None and clear["constraints"][0]["answer"]
    index = json.loads((tmp_path / "RELEASES.json").read_text())
    assert index["latest"] == rel.version and index["releases"][0]["n"] == 2


def test_round_trip_gives_back_the_candidates(tmp_path: Path) -> None:
    rel = write_release(tmp_path, [A, B], anchor="2026-01-01", canary="my canary", now=NOW)
    back = load_release(rel.path)
    assert back.candidates == rel.candidates
    assert [c.to_dict() | {"status": "x"} for c in back.candidates] == \
        [c.to_dict() | {"status": "x"} for c in (A, B)]
    assert all(c.status == "accepted" for c in back.candidates)
    assert back.canary == "my canary" and back.ids == (A.id, B.id)
    assert [(q.id, q.answer) for q in back.questions()] == [(A.id, "Ada Korvin"),
                                                            (B.id, "Bo Lind")]
    # any BrowseComp reader reads the questions (decrypted with the canary in each row)
    assert [q.question for q in load_questions(rel.path / "questions.csv")] == \
        [A.question, B.question]


@pytest.mark.parametrize("victim", ["questions.csv", "metadata.jsonl", "manifest.json"])
def test_a_tampered_file_is_a_clear_error(tmp_path: Path, victim: str) -> None:
    rel = write_release(tmp_path, [A, B], anchor="2026-01-01", now=NOW)
    path = rel.path / victim
    if victim == "manifest.json":
        data = json.loads(path.read_text())
        data["anchor"] = "2025-01-01"
        path.write_text(json.dumps(data))
    else:
        path.write_bytes(path.read_bytes().replace(b"=", b"A", 1))
    with pytest.raises(ReleaseError, match="tampered"):
        load_release(rel.path)
    path.unlink()
    with pytest.raises(ReleaseError, match="restore it|has no manifest.json"):
        load_release(rel.path)


def test_releases_are_never_overwritten(tmp_path: Path) -> None:
    first = write_release(tmp_path, [A], anchor="2026-01-01", version="v1", now=NOW)
    before = release_files(first.path)
    with pytest.raises(ReleaseError, match="already exists.*never overwritten"):
        write_release(tmp_path, [C], anchor="2026-01-01", version="v1", now=NOW)
    assert release_files(first.path) == before
    with pytest.raises(ReleaseError, match="letters, digits"):
        write_release(tmp_path, [C], anchor="2026-01-01", version="../escape", now=NOW)
    # automatic versions count up per day
    assert write_release(tmp_path, [C], anchor="2026-01-01", now=NOW).version == \
        "v2026-12-03-001"
    assert write_release(tmp_path, [B], anchor="2026-01-01", now=NOW).version == \
        "v2026-12-03-002"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_dedup_against_earlier_releases_and_within_the_batch(tmp_path: Path) -> None:
    first = write_release(tmp_path / "out", [A, B], anchor="2026-01-01", now=NOW)
    other = write_release(tmp_path / "elsewhere", [C], anchor="2026-01-01", now=NOW)
    same_a = make("  which PRINTER founded the press on the quill? ", "ada korvin")
    b_new_answer = make(B.question, "Someone Else")
    fresh = make("Which river feeds the Quill?", "The Velm")
    rejected = make("Which press failed?", "Nobody",
                    checks=(CheckResult(name="quotes", passed=True),
                            CheckResult(name="closed_book", passed=False, reason="leak")))
    second = write_release(tmp_path / "out", [same_a, b_new_answer, fresh, fresh, C, rejected],
                           anchor="2026-01-01", previous=[tmp_path / "elsewhere"], now=LATER)
    assert [c.answer for c in second.candidates] == ["The Velm"]
    assert [(d.reason, d.release) for d in second.dropped] == [
        ("duplicate_id", first.version), ("duplicate_question", first.version),
        ("duplicate_id", "(this batch)"), ("duplicate_id", other.version)]
    m = second.manifest
    assert m["dedup"]["against"] == [first.version, other.version]
    assert len(m["dedup"]["dropped"]) == 4
    # stages derived from the checks: 6 entered quotes; closed_book rejected 1; dedup 4 of 5
    assert m["stages"] == [
        {"stage": "quotes", "entered": 6, "rejected": 0, "passed": 6},
        {"stage": "closed_book", "entered": 1, "rejected": 1, "passed": 0},
        {"stage": "dedup", "entered": 5, "rejected": 4, "passed": 1}]
    with pytest.raises(EmptyReleaseError, match="nothing to release") as caught:
        write_release(tmp_path / "out", [A, rejected], anchor="2026-01-01", now=LATER)
    assert [d.id for d in caught.value.dropped] == [A.id]
    assert [e["version"] for e in list_releases(tmp_path / "out")] == [first.version,
                                                                       second.version]


def test_release_info_from_the_pipeline_stats() -> None:
    info = ReleaseInfo.coerce({"model": "m", "stats": {"entered:quotes": 4, "rejected:quotes": 1,
                                                       "entered:solvable": 3, "llm_calls": 9},
                               "seeds": 2})
    assert [(s.stage, s.entered, s.rejected) for s in info.stages] == [("quotes", 4, 1),
                                                                        ("solvable", 3, 0)]
    assert info.model == "m" and info.extra == {"seeds": 2}


# -- re-verification on a fake web -----------------------------------------------------------

class FakeWeb:
    """``afetch(url)``: a page with text and sha256, a 404, or any other failure."""

    def __init__(self, pages: dict[str, Any]) -> None:
        self.pages = pages
        self.calls: list[str] = []

    async def afetch(self, url: str) -> Any:
        self.calls.append(url)
        page = self.pages.get(url)
        if page is None:
            raise WebFetchError(f"{url}: HTTP 404", url=url, reason="status", status=404)
        if isinstance(page, BaseException):
            raise page
        text, sha = page
        return SimpleNamespace(text=text, sha256=sha)


def test_reverify_retires_what_changed_and_keeps_the_source(tmp_path: Path) -> None:
    moved = make("Who runs the mill?", "Dana Roe", url="https://a.test/mill")
    reworded = make("Who owns the ferry?", "Eli Moss", url="https://a.test/ferry")
    boilerplate = make("Who built the dam?", "Fay Holt", url="https://a.test/dam")
    gone = make("Who drew the map?", "Gil Park", url="https://a.test/map")
    flaky = make("Who sang the anthem?", "Hal Reed", url="https://a.test/anthem")
    source = write_release(tmp_path, [moved, reworded, boilerplate, gone, flaky],
                           anchor="2026-01-01", now=NOW)
    before = release_files(source.path)
    web = FakeWeb({
        "https://a.test/mill": ("The press was founded by Ivo Stark.", "aa"),
        "https://a.test/ferry": ("Eli Moss started the press in 1901.", "zz"),
        "https://a.test/dam": ("Menu. The press was founded by Fay Holt. Footer 2026", "zz"),
        "https://a.test/anthem": TimeoutError("read timed out"),
    })
    report = reverify(source.path, web, now=LATER)
    assert sorted(web.calls) == sorted({e.url for c in source.candidates for e in c.evidence()})
    verdicts = {i.id: (i.verdict, i.reasons) for i in report.items}
    assert verdicts == {
        moved.id: ("retired", ("answer_changed",)),
        reworded.id: ("retired", ("evidence_changed", "content_changed")),
        boilerplate.id: ("kept", ("content_changed",)),
        gone.id: ("retired", ("evidence_gone",)),
        flaky.id: ("unverified", ("unreachable",)),
    }
    assert report.counts() == {"checked": 5, "kept": 1, "retired": 3, "unverified": 1}
    assert report.pages == 5 and report.fetch_errors == 2
    # the source is untouched; a new version without the retired questions supersedes it
    assert release_files(source.path) == before
    new = report.release
    assert new is not None and new.version == "v2026-12-10-001"
    assert new.manifest["derived_from"] == source.version and new.canary == source.canary
    assert [r["id"] for r in new.manifest["retired"]] == [moved.id, reworded.id, gone.id]
    assert new.manifest["stages"][-1] == {"stage": "reverify", "entered": 5, "rejected": 3,
                                          "passed": 2}
    back = load_release(new.path)
    assert [c.id for c in back.candidates] == [boilerplate.id, flaky.id]
    assert back.candidates[0].check("reverify").details["verdict"] == "kept"
    assert live_releases(tmp_path) == [new.path]
    entries = {e["version"]: e for e in list_releases(tmp_path)}
    assert entries[source.version]["superseded_by"] == new.version
    assert entries[new.version]["kind"] == "reverified" and entries[new.version]["retired"] == 3
    # the report is written next to the releases, without URLs or quotes
    assert report.report_path is not None and report.report_path.parent == tmp_path / "reverify"
    text = report.report_path.read_text()
    assert "a.test" not in text and "Fay Holt" not in text
    assert json.loads(text)["summary"]["retired"] == 3
    inside = json.loads((new.path / "reverify.json").read_text())
    assert inside["summary"] == json.loads(text)["summary"]
    assert "reverify.json" in new.manifest["files"]
    # re-verifying the new version on the same web retires nothing and writes no new version
    again = reverify(new.path, web, now=LATER)
    assert again.release is None and again.counts()["retired"] == 0
    assert len(list_releases(tmp_path)) == 2
    # with retire_unreachable the flaky one goes too; write=False touches nothing
    dry = reverify(new.path, web, now=LATER, retire_unreachable=True, write=False)
    assert dry.counts()["retired"] == 1 and dry.report_path is None and dry.release is None


def test_reverify_refuses_a_tampered_release_before_fetching(tmp_path: Path) -> None:
    rel = write_release(tmp_path, [A], anchor="2026-01-01", now=NOW)
    (rel.path / "metadata.jsonl").write_text("{}\n")
    web = FakeWeb({})
    with pytest.raises(ReleaseError, match="tampered"):
        reverify(rel.path, web)
    assert web.calls == []


# -- re-verification against the sample world's later snapshot -------------------------------

def sentences(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        out += [s for s in re.split(r"(?<=\.)\s+", line.strip()) if s.endswith(".")]
    return out


def candidate_for(world: SampleWorld, facts: list[Any]) -> Candidate:
    """A candidate whose hops are ``facts``, quoting each fact's prose on the pages stating
    it (as the synthesis agent would have, at that snapshot)."""
    hops = []
    for fact in facts:
        subject, relation, obj = world.triple(fact)
        evidence = []
        for page in world.website.pages.values():
            if fact not in page.facts or "/private/" in page.url:
                continue
            quote = next((s for s in sentences(page.text)
                          if normalize_text(obj) in normalize_text(s)), None)
            if quote:
                evidence.append(Evidence(
                    url=page.url, quote=quote, published=page.published,
                    sha256=hashlib.sha256(page.html.encode()).hexdigest()))
        assert evidence, fact
        hops.append(Hop(subject=subject, relation=relation, object=obj,
                        evidence=tuple(evidence[:2])))
    question = f"From {hops[0].subject}: " + ", then ".join(h.relation for h in hops) + "?"
    return Candidate(seed=hops[0].subject, question=question, answer=hops[-1].object,
                     hops=tuple(hops), anchor="2026-01-01", status="accepted")


class WebsiteFetcher:
    """An in-process fetcher over a sample world's website."""

    def __init__(self, world: SampleWorld) -> None:
        self.website = world.website

    async def afetch(self, url: str) -> Any:
        page = self.website.get(url)
        if page is None:
            raise WebFetchError(f"{url}: HTTP 404", url=url, reason="status", status=404)
        return SimpleNamespace(text=page.text,
                               sha256=hashlib.sha256(page.html.encode()).hexdigest())


@pytest.fixture(scope="module")
def worlds() -> tuple[SampleWorld, SampleWorld]:
    first = SampleWorld.generate(0)
    return first, first.snapshot(1)


def world_candidates(world: SampleWorld, superseded: frozenset[Any]) -> tuple[list[Candidate],
                                                                           list[Candidate]]:
    """Candidates resting on a fact that changes by the later snapshot (one-hop, and two-hop
    through the changed fact), and candidates on stable facts (one per relation)."""
    facts = {(f.subject_id, f.relation): f for f in world.facts}
    changing = [candidate_for(world, [f]) for f in sorted(superseded, key=lambda f: f.key)]
    for f in sorted(superseded, key=lambda f: f.key):
        onward = facts.get((f.object, "headquartered_in"))
        if f.relation == "employer" and onward is not None and onward not in superseded:
            changing.append(candidate_for(world, [f, onward]))
    stable_facts: dict[str, Any] = {}
    for f in world.facts:
        if f not in superseded and not any(f.subject_id in (g.subject_id, g.object)
                                           for g in superseded):
            stable_facts.setdefault(f.relation, f)
    stable = [candidate_for(world, [f]) for f in stable_facts.values()]
    return changing, stable


def test_reverify_against_the_sample_worlds_later_snapshot(
        tmp_path: Path, worlds: tuple[SampleWorld, SampleWorld]) -> None:
    first, later = worlds
    diff = later.changes_since(0)
    changing, stable = world_candidates(first, diff.superseded)
    assert len(changing) > len(diff.superseded) >= 5 and len(stable) >= 15
    source = write_release(tmp_path, [*changing, *stable], anchor="2026-01-01", now=NOW)
    # against the same snapshot nothing changes
    same = reverify(source.path, WebsiteFetcher(first), now=NOW, write=False)
    assert same.counts()["kept"] == len(changing) + len(stable)
    report = reverify(source.path, WebsiteFetcher(later), now=LATER)
    retired = {i.id for i in report.retired}
    assert retired == {c.id for c in changing}  # exactly what rests on a superseded fact
    assert all("answer_changed" in i.reasons for i in report.retired if
               i.id in {c.id for c in changing if len(c.hops) == 1})
    assert report.release is not None
    assert {c.id for c in load_release(report.release.path).candidates} == \
        {c.id for c in stable}


def test_cli_reverify_through_the_real_fetcher_on_the_served_later_snapshot(
        tmp_path: Path, worlds: tuple[SampleWorld, SampleWorld]) -> None:
    first, later = worlds
    changing, stable = world_candidates(first, later.changes_since(0).superseded)
    picked = [*changing[:3], *stable[:4]]
    source = write_release(tmp_path, picked, anchor="2026-01-01", now=NOW)
    runner = CliRunner()
    result = runner.invoke(release_app, ["reverify", str(tmp_path), "--sample-snapshot", "1",
                                         "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    [report] = json.loads(result.output)
    assert report["summary"]["source"] == source.version
    assert report["summary"]["retired"] == 3 and report["summary"]["kept"] == 4
    assert report["summary"]["fetch_errors"] == 0
    assert {i["id"] for i in report["items"] if i["verdict"] == "retired"} == \
        {c.id for c in changing[:3]}
    listing = runner.invoke(release_app, ["releases", str(tmp_path), "--verify"])
    assert listing.exit_code == 0, listing.output
    lines = listing.output.splitlines()
    assert f"superseded by {report['release']}" in lines[0] and "integrity ok" in lines[0]
    assert lines[1].startswith(report["release"]) and "3 retired  live" in lines[1]
    # text output: counts and ids, never URLs
    again = runner.invoke(release_app, ["reverify", str(tmp_path / report["release"]),
                                        "--sample-snapshot", "1", "--dry-run"])
    assert again.exit_code == 0, again.output
    assert "7 question(s)" not in again.output and "4 question(s), 4 kept" in again.output
    assert ".test" not in again.output


def test_cli_errors_name_the_flags(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(release_app, ["reverify", str(tmp_path)])
    assert "DIR" in str(result.exception) and "release folder" in str(result.exception)
    rel = write_release(tmp_path, [A], anchor="2026-01-01", now=NOW)
    (rel.path / "questions.csv").write_text("problem,answer,canary\n")
    listing = runner.invoke(release_app, ["releases", str(tmp_path), "--verify"])
    assert listing.exit_code == 1 and "integrity FAILED" in listing.output
    tampered = runner.invoke(release_app, ["reverify", str(rel.path), "--dry-run"])
    assert "tampered" in str(tampered.exception)
