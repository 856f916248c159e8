"""Versioned benchmark releases: write, read back, deduplicate, index.

A release is one folder under an output root, never changed once written::

    OUT/
      RELEASES.json              index of every release (rebuilt from the folders)
      v2026-12-03-001/
        questions.csv            BrowseComp's layout: problem, answer, canary (encrypted)
        metadata.jsonl           one line per question: id, clear summary, sealed candidate
        manifest.json            what, when, how, with the SHA-256 of every file above
      v2026-12-10-001/           a re-verified version of it (plus reverify.json)
      reverify/                  every re-verification report

Row ``i`` of ``questions.csv``, line ``i`` of ``metadata.jsonl`` and ``ids[i]`` of the
manifest are the same question.

**Encryption.** ``questions.csv`` is written by
:func:`~memagents.eval.browsecomp_files.write_questions` with the release's canary, so any
BrowseComp loader reads it. Each release gets a fresh canary (:func:`new_canary`,
``"BENCHMARK DATA SHOULD NEVER APPEAR AS PLAIN TEXT ONLINE. canary GUID memagents:<uuid>"``);
a version derived by re-verification keeps its source's canary, so one canary marks a
question everywhere. What stays in clear in ``metadata.jsonl`` and what is sealed:
:mod:`memagents.browsecomp.release_model`.

**Manifest.** Format version, release version and kind (``synthesized`` or ``reverified``),
creation time, anchor, model, settings, counts per filter stage (entered / rejected / passed,
ending with ``dedup``), web snapshot info, the canary, the ids and question keys, the releases
it was deduplicated against and what it dropped, ``derived_from`` and ``retired`` for a
re-verified version, and every file's SHA-256.

**Integrity.** :func:`load_release` verifies the hashes before reading (a changed file is a
:class:`ReleaseError`), and ``RELEASES.json`` keeps each manifest's own hash from the day it
was indexed, so an edited manifest is caught too (while the index is there).

**Dedup.** A new release drops candidates already published in the output root (or in the
``previous`` folders): the same id (normalized question and answer), or the same normalized
question with another answer; also repeats within the batch. Retired questions stay in the
dedup set: a question once published is never published again. Rejected candidates (a failed
check) are counted in the stage counts and never released.

Example:
    >>> import tempfile
    >>> from memagents.browsecomp.candidate import Candidate
    >>> out = tempfile.mkdtemp()
    >>> c = Candidate(seed="Velm", question="Which press ...?", answer="Ada Korvin",
    ...               anchor="2026-01-01", status="accepted")
    >>> rel = write_release(out, [c, c], anchor="2026-01-01", version="v1")
    >>> rel.version, len(rel.candidates), [d.reason for d in rel.dropped]
    ('v1', 1, ['duplicate_id'])
    >>> load_release(rel.path).candidates == rel.candidates
    True
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from memagents.browsecomp.candidate import Candidate
from memagents.browsecomp.release_model import (
    CANARY_PREFIX,
    Dropped,
    EmptyReleaseError,
    Release,
    ReleaseError,
    ReleaseInfo,
    StageCount,
    clear_view,
    file_sha256,
    iso_utc,
    new_canary,
    question_key,
    sealed_line,
)
from memagents.errors import InputError
from memagents.eval.browsecomp import decrypt
from memagents.eval.browsecomp_files import BrowseQuestion, load_questions, write_questions

__all__ = [
    "CANARY_PREFIX",
    "FORMAT_VERSION",
    "Dropped",
    "EmptyReleaseError",
    "Release",
    "ReleaseError",
    "ReleaseInfo",
    "StageCount",
    "clear_view",
    "list_releases",
    "live_releases",
    "load_release",
    "new_canary",
    "question_key",
    "write_derived_release",
    "write_release",
]

FORMAT = "memagents-browse-release"
FORMAT_VERSION = 1
QUESTIONS, METADATA, MANIFEST, INDEX = ("questions.csv", "metadata.jsonl", "manifest.json",
                                        "RELEASES.json")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


# -- folders and the index -------------------------------------------------------------------

def _read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not path.is_file():
        raise ReleaseError(f"{str(folder)!r} is not a release: it has no {MANIFEST}. Pass a "
                           "release folder (e.g. OUT/v2026-12-03-001).")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReleaseError(f"{path} is not valid JSON ({exc}): the release is damaged; "
                           "restore it from a copy.") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ReleaseError(f"{path} is not a memagents release manifest (format {FORMAT!r}).")
    if int(data.get("format_version", 0)) > FORMAT_VERSION:
        raise ReleaseError(f"{path} has format version {data['format_version']}; this "
                           f"memagents reads up to {FORMAT_VERSION}: upgrade memagents.")
    return data


def _release_folders(out_dir: Path) -> list[Path]:
    if not out_dir.is_dir():
        return []
    return sorted(p for p in out_dir.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST).is_file())


def list_releases(out_dir: str | Path) -> list[dict[str, Any]]:
    """The index entries of every release in ``out_dir``, oldest first.

    Each: ``version``, ``kind`` (``synthesized`` or ``reverified``), ``created_at``,
    ``anchor``, ``n``, ``derived_from``, ``superseded_by``, ``retired`` (count) and
    ``manifest_sha256`` (as recorded when the release was indexed).
    """
    out = Path(out_dir)
    recorded: dict[str, str] = {}
    index = out / INDEX
    if index.is_file():
        try:
            for entry in json.loads(index.read_text(encoding="utf-8")).get("releases", []):
                recorded[entry["version"]] = entry["manifest_sha256"]
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
            raise ReleaseError(f"{index} is damaged: delete it, it is rebuilt from the "
                               "release folders (their manifests lose their recorded hashes)."
                               ) from None
    entries = []
    for folder in _release_folders(out):
        m = _read_manifest(folder)
        entries.append({
            "version": m["version"], "kind": m.get("kind", "synthesized"),
            "created_at": m["created_at"], "anchor": m.get("anchor"), "n": m["n"],
            "derived_from": m.get("derived_from"), "superseded_by": None,
            "retired": len(m.get("retired") or ()),
            "manifest_sha256": recorded.get(m["version"]) or file_sha256(folder / MANIFEST)})
    by_version = {e["version"]: e for e in entries}
    for e in entries:
        if e["derived_from"] in by_version:
            by_version[e["derived_from"]]["superseded_by"] = e["version"]
    return sorted(entries, key=lambda e: (e["created_at"], e["version"]))


def live_releases(out_dir: str | Path) -> list[Path]:
    """Folders of the releases not superseded by a re-verified version, oldest first."""
    return [Path(out_dir) / e["version"] for e in list_releases(out_dir)
            if e["superseded_by"] is None]


def _write_index(out: Path, now: datetime) -> None:
    entries = list_releases(out)
    body = {"format": "memagents-browse-releases", "format_version": FORMAT_VERSION,
            "updated_at": iso_utc(now), "releases": entries,
            "latest": entries[-1]["version"] if entries else None}
    tmp = out / f".{INDEX}.{uuid.uuid4().hex}"
    tmp.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, out / INDEX)


def _next_version(out: Path, now: datetime) -> str:
    prefix = f"v{now.astimezone(timezone.utc):%Y-%m-%d}-"
    taken = [int(p.name[len(prefix):]) for p in out.iterdir()
             if p.name.startswith(prefix) and p.name[len(prefix):].isdigit()] \
        if out.is_dir() else []
    return f"{prefix}{max(taken, default=0) + 1:03d}"


# -- writing ---------------------------------------------------------------------------------

def _dedup_sources(out: Path, previous: Sequence[str | Path] | None) -> list[Path]:
    folders = _release_folders(out)
    for extra in previous or ():
        p = Path(extra)
        found = [p] if (p / MANIFEST).is_file() else _release_folders(p)
        if not found:
            raise ReleaseError(f"previous={str(p)!r} holds no release: pass release folders "
                               "or output roots that hold releases.")
        folders += [f for f in found if f.resolve() not in {g.resolve() for g in folders}]
    return folders


def _dedup(candidates: Sequence[Candidate], sources: Sequence[Path]
           ) -> tuple[list[Candidate], list[Dropped], list[str]]:
    seen_ids: dict[str, str] = {}
    seen_questions: dict[str, str] = {}
    against = []
    for folder in sources:
        m = _read_manifest(folder)
        against.append(m["version"])
        for key in m.get("ids", ()):
            seen_ids.setdefault(key, m["version"])
        for key in m.get("question_keys", ()):
            seen_questions.setdefault(key, m["version"])
    kept, dropped = [], []
    for c in candidates:
        qkey = question_key(c.question)
        if c.id in seen_ids:
            dropped.append(Dropped(id=c.id, reason="duplicate_id", release=seen_ids[c.id]))
        elif qkey in seen_questions:
            dropped.append(Dropped(id=c.id, reason="duplicate_question",
                                   release=seen_questions[qkey]))
        else:
            kept.append(c)
            seen_ids[c.id] = seen_questions[qkey] = "(this batch)"
    return kept, dropped, against


def _publish(out: Path, version: str, candidates: Sequence[Candidate], canary: str,
             manifest: dict[str, Any], now: datetime,
             extra_files: Mapping[str, str] | None = None) -> Path:
    """Write the files into a hidden folder, then rename it into place (never over one)."""
    final = out / version
    if final.exists():
        raise ReleaseError(f"release {version!r} already exists in {str(out)!r}: releases are "
                           "never overwritten; pass another version (or none for the next one).")
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".partial-{version}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        write_questions(tmp / QUESTIONS, [BrowseQuestion(id=str(i), question=c.question,
                                                         answer=c.answer)
                                          for i, c in enumerate(candidates)], canary=canary)
        (tmp / METADATA).write_text("".join(sealed_line(c, canary) for c in candidates),
                                    encoding="utf-8")
        for name, text in (extra_files or {}).items():
            (tmp / name).write_text(text, encoding="utf-8")
        files = sorted([QUESTIONS, METADATA, *(extra_files or {})])
        manifest["files"] = {name: {"sha256": file_sha256(tmp / name),
                                    "bytes": (tmp / name).stat().st_size} for name in files}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n",
                                    encoding="utf-8")
        try:
            os.rename(tmp, final)
        except OSError:
            raise ReleaseError(f"release {version!r} appeared in {str(out)!r} while this one "
                               "was being written: pass another version.") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    _write_index(out, now)
    return final


def _manifest(version: str, kind: str, now: datetime, anchor: str, canary: str,
              candidates: Sequence[Candidate], info: ReleaseInfo,
              stages: Sequence[StageCount]) -> dict[str, Any]:
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, "version": version, "kind": kind,
        "created_at": iso_utc(now), "anchor": anchor, "n": len(candidates), "canary": canary,
        "ids": [c.id for c in candidates],
        "question_keys": [question_key(c.question) for c in candidates],
        "files": {}, "model": info.model, "settings": dict(info.settings),
        "stages": [s.to_dict() for s in stages], "web": dict(info.web) if info.web else None,
        "extra": dict(info.extra), "derived_from": None, "retired": [],
    }


def write_release(out_dir: str | Path, candidates: Iterable[Candidate], *, anchor: str,
                  manifest_info: ReleaseInfo | Mapping[str, Any] | None = None,
                  canary: str | None = None, previous: Sequence[str | Path] | None = None,
                  version: str | None = None, now: datetime | None = None) -> Release:
    """Write a new release of the accepted ``candidates`` into ``out_dir``.

    Args:
        out_dir: The output root (created if needed); the release is a new folder in it.
        candidates: Candidates of a run; rejected ones (a failed check) are counted, not
            released.
        anchor: The time anchor (``YYYY-MM-DD``) freshness was judged against.
        manifest_info: Model, settings, stage counts, web snapshot (:class:`ReleaseInfo` or a
            mapping; the pipeline's ``stats`` counters are accepted).
        canary: The canary string (default: :func:`new_canary`).
        previous: More releases (folders or output roots) to deduplicate against; the
            releases already in ``out_dir`` always count.
        version: The folder name (default ``vYYYY-MM-DD-NNN``, the next free number today).
        now: The creation time (default: now, UTC).

    Raises:
        ReleaseError: ``version`` exists already or is not a plain folder name.
        EmptyReleaseError: nothing left to release.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ReleaseError(f"--out {str(out)!r} is a file: pass a folder for the releases.")
    now = now or datetime.now(timezone.utc)
    version = version or _next_version(out, now)
    if not _VERSION.match(version):
        raise ReleaseError(f"version {version!r}: use letters, digits, '.', '_' and '-' only "
                           "(e.g. v2026-12-03-001).")
    if (out / version).exists():
        raise ReleaseError(f"release {version!r} already exists in {str(out)!r}: releases are "
                           "never overwritten; pass another version (or none for the next one).")
    info = ReleaseInfo.coerce(manifest_info)
    everything = list(candidates)
    accepted = [c for c in everything if c.status != "rejected" and not c.failed]
    kept, dropped, against = _dedup(accepted, _dedup_sources(out, previous))
    stages = [*(info.stages or StageCount.from_candidates(everything)),
              StageCount(stage="dedup", entered=len(accepted), rejected=len(dropped))]
    if not kept:
        raise EmptyReleaseError(
            f"nothing to release: of {len(everything)} candidate(s), "
            f"{len(everything) - len(accepted)} were rejected by a check and {len(dropped)} "
            "are already published; synthesize more (a larger --n or other seeds).", dropped)
    kept = [replace(c, status="accepted") for c in kept]
    canary = canary or new_canary()
    manifest = _manifest(version, "synthesized", now, anchor, canary, kept, info, stages)
    manifest["dedup"] = {"against": against, "dropped": [d.to_dict() for d in dropped]}
    path = _publish(out, version, kept, canary, manifest, now)
    return Release(path=path, version=version, manifest=_read_manifest(path),
                   candidates=tuple(kept), dropped=tuple(dropped))


def write_derived_release(source: Release, kept: Sequence[Candidate], *,
                          retired: Sequence[Mapping[str, Any]], report: Mapping[str, Any],
                          out_dir: str | Path | None = None, version: str | None = None,
                          now: datetime | None = None) -> Release:
    """Write the re-verified version of ``source``: the ``kept`` candidates, the same canary,
    ``retired`` ids with reasons and the re-verification ``report`` (as ``reverify.json``).
    No dedup (the source holds these very questions); the source stays untouched."""
    out = Path(out_dir) if out_dir is not None else source.path.parent
    now = now or datetime.now(timezone.utc)
    version = version or _next_version(out, now)
    if not _VERSION.match(version):
        raise ReleaseError(f"--version {version!r}: use letters, digits, '.', '_' and '-'.")
    m = source.manifest
    info = ReleaseInfo(model=m.get("model"), settings=m.get("settings") or {},
                       web=m.get("web"), extra=m.get("extra") or {})
    stages = [StageCount.from_dict(s) for s in m.get("stages", ())]
    stages.append(StageCount(stage="reverify", entered=len(source.candidates),
                             rejected=len(retired)))
    manifest = _manifest(version, "reverified", now, str(m.get("anchor") or ""),
                         source.canary, kept, info, stages)
    manifest.update(derived_from=source.version,
                    retired=[*m.get("retired", ()), *(dict(r) for r in retired)],
                    dedup={"against": [], "dropped": []}, reverify=dict(report.get("summary", {})))
    text = json.dumps(dict(report), indent=2, ensure_ascii=False) + "\n"
    path = _publish(out, version, kept, source.canary, manifest, now, {"reverify.json": text})
    return Release(path=path, version=version, manifest=_read_manifest(path),
                   candidates=tuple(kept))


# -- reading ---------------------------------------------------------------------------------

def _check_index(folder: Path, version: str) -> None:
    index = folder.parent / INDEX
    if not index.is_file():
        return
    try:
        entries = json.loads(index.read_text(encoding="utf-8")).get("releases", [])
        recorded = {e["version"]: e["manifest_sha256"] for e in entries}
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
        return
    if version in recorded and recorded[version] != file_sha256(folder / MANIFEST):
        raise ReleaseError(f"{folder / MANIFEST} changed since the release was written (its "
                           f"hash differs from {index.name}): the release was tampered with; "
                           "restore it from a copy.")


def load_release(path: str | Path, *, verify: bool = True) -> Release:
    """Read a release folder back, decrypting questions and metadata in memory.

    Raises:
        ReleaseError: not a release, a file missing or changed (hash mismatch), or the
            questions file and the metadata disagree.
    """
    folder = Path(path)
    manifest = _read_manifest(folder)
    version = str(manifest["version"])
    if verify:
        _check_index(folder, version)
        for name, entry in manifest.get("files", {}).items():
            file = folder / name
            if not file.is_file():
                raise ReleaseError(f"release {version!r} lacks {name}: restore it from a copy.")
            if file_sha256(file) != entry["sha256"]:
                raise ReleaseError(f"{file} changed since release {version!r} was written "
                                   "(SHA-256 differs from the manifest): the file was tampered "
                                   "with or damaged; restore it from a copy.")
    canary = str(manifest["canary"])
    candidates = []
    lines = (folder / METADATA).read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        try:
            row = json.loads(line)
            data = json.loads(decrypt(row["sealed"], canary))
        except (json.JSONDecodeError, KeyError, TypeError, InputError) as exc:
            raise ReleaseError(f"{folder / METADATA} line {number} is unreadable ({exc}).") \
                from None
        candidates.append(Candidate.from_dict(data))
    questions = load_questions(folder / QUESTIONS) if candidates else []
    pairs = [(q.question, q.answer) for q in questions]
    if pairs != [(c.question, c.answer) for c in candidates] or \
            [c.id for c in candidates] != list(manifest.get("ids", ())):
        raise ReleaseError(f"release {version!r}: {QUESTIONS}, {METADATA} and the manifest's "
                           "ids disagree; the release is damaged.")
    return Release(path=folder, version=version, manifest=manifest,
                   candidates=tuple(candidates))
