"""Re-verify a release against the current web (or a later offline snapshot).

Every evidence URL of every question is fetched again (each URL once, ``concurrency`` at a
time) and each quote is looked for in the fetched text (normalized:
:func:`~memagents.browsecomp.candidate.normalize_text`). One evidence reads:

* ``ok``: the quote is there (``content_changed`` when the page's SHA-256 differs from the one
  recorded at synthesis: noted, not retired; pages change their boilerplate all the time);
* ``quote_missing``: the page answers but the quote is gone;
* ``gone``: the page answers 404 or 410;
* ``unreachable``: any other failure (network, timeout, robots, a fetcher error): the
  evidence could not be checked; reported, never a crash.

A question is **retired** when one of its quotes is missing or its page is gone. The reason is
``answer_changed`` when the missing quote carried the answer (it contained the answer or an
alias) and the answer is no longer on the page, or a hop's object, once in its quote, is no
longer on the page (the fact now points elsewhere); ``evidence_changed`` when the quote is
gone but what it stated is still there (reworded); ``evidence_gone`` for a 404/410. A question with an
unreachable page and nothing else wrong is ``unverified`` and kept (retired with
``retire_unreachable=True``).

**Output (our choice).** The source release is never modified. Every run writes its report
to ``OUT/reverify/<version>-<time>.json``; when a question is retired, it also writes a new
release version (same canary, no retired questions, ``derived_from`` and ``retired`` in its
manifest, the report as ``reverify.json``), which supersedes the source in ``RELEASES.json``.
A run that retires nothing writes no new version. Reports name evidence by hop and position,
never by URL or quote (they stay in clear next to the encrypted release).

Example:
    >>> import asyncio, tempfile
    >>> from types import SimpleNamespace
    >>> from memagents.browsecomp.candidate import Candidate, Evidence, Hop
    >>> from memagents.browsecomp.release import write_release
    >>> ev = Evidence(url="https://wiki.a.test/v", quote="Velm was founded by Ada Korvin.")
    >>> c = Candidate(seed="Velm", question="Who founded it?", answer="Ada Korvin",
    ...               hops=(Hop(subject="Velm", relation="founded_by", object="Ada Korvin",
    ...                         evidence=(ev,)),), status="accepted")
    >>> rel = write_release(tempfile.mkdtemp(), [c], anchor="2026-01-01")
    >>> class Web:
    ...     async def afetch(self, url):
    ...         return SimpleNamespace(text="Velm was founded by Bo Lind.", sha256="x")
    >>> report = reverify(rel.path, Web())
    >>> report.counts(), report.items[0].reasons
    ({'checked': 1, 'kept': 0, 'retired': 1, 'unverified': 0}, ('answer_changed',))
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, Protocol

from memagents.browsecomp.candidate import Candidate, CheckResult, normalize_text
from memagents.browsecomp.release import (
    Release,
    load_release,
    write_derived_release,
)
from memagents.browsecomp.release_model import iso_utc
from memagents.errors import InputError

__all__ = ["EvidenceCheck", "ItemCheck", "PageFetcher", "ReverifyReport", "areverify",
           "reverify"]

EvidenceStatus = Literal["ok", "quote_missing", "gone", "unreachable"]
Verdict = Literal["kept", "retired", "unverified"]
_GONE = frozenset({404, 410})
_GROUPING = re.compile(r"(?<=\d)[,\u202f\u00a0 ](?=\d{3}\b)")


class PageFetcher(Protocol):
    """What re-verification needs of a fetcher: ``await afetch(url)`` -> a page with ``text``
    and ``sha256`` (:class:`memagents.web.fetch.Fetcher` is one)."""

    async def afetch(self, url: str) -> Any: ...


@dataclass(frozen=True, kw_only=True)
class EvidenceCheck:
    """The re-check of one evidence quote (``hop``, ``index``: its place in the candidate).

    Example:
        >>> check = EvidenceCheck(hop=0, index=0, url="https://a.test/", status="ok")
        >>> check.status, "url" in check.to_dict()
        ('ok', False)
    """

    hop: int
    index: int
    url: str
    status: EvidenceStatus
    content_changed: bool | None = None
    object_present: bool | None = None
    answer_present: bool | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON without the URL (reports sit in clear next to the release)."""
        return {"hop": self.hop, "index": self.index, "status": self.status,
                "content_changed": self.content_changed, "object_present": self.object_present,
                "answer_present": self.answer_present, "error": self.error}


@dataclass(frozen=True, kw_only=True)
class ItemCheck:
    """The verdict on one question: ``kept``, ``retired`` or ``unverified``, with reasons.

    Example:
        >>> ItemCheck(id="q-1", verdict="retired", reasons=("evidence_gone",),
        ...           evidence=()).to_dict()["reasons"]
        ['evidence_gone']
    """

    id: str
    verdict: Verdict
    reasons: tuple[str, ...]
    evidence: tuple[EvidenceCheck, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "verdict": self.verdict, "reasons": list(self.reasons),
                "evidence": [e.to_dict() for e in self.evidence]}


@dataclass(frozen=True, kw_only=True)
class ReverifyReport:
    """What a re-verification found, and what it wrote.

    Attributes:
        source: The version re-verified.
        checked_at: When (ISO 8601, UTC).
        items: One verdict per question, in release order.
        pages: Distinct URLs fetched; ``fetch_errors`` of them failed.
        release: The new version written (``None`` when nothing was retired or ``write=False``).
        report_path: Where the report was written (``None`` with ``write=False``).

    Example:
        >>> r = ReverifyReport(source="v1", checked_at="2026-12-10T00:00:00Z", items=(),
        ...                    pages=0, fetch_errors=0)
        >>> r.counts()
        {'checked': 0, 'kept': 0, 'retired': 0, 'unverified': 0}
    """

    source: str
    checked_at: str
    items: tuple[ItemCheck, ...]
    pages: int
    fetch_errors: int
    release: Release | None = None
    report_path: Path | None = None

    def counts(self) -> dict[str, int]:
        verdicts = [i.verdict for i in self.items]
        return {"checked": len(verdicts), "kept": verdicts.count("kept"),
                "retired": verdicts.count("retired"),
                "unverified": verdicts.count("unverified")}

    @property
    def retired(self) -> tuple[ItemCheck, ...]:
        return tuple(i for i in self.items if i.verdict == "retired")

    def summary(self) -> dict[str, Any]:
        return {"source": self.source, "checked_at": self.checked_at, **self.counts(),
                "pages": self.pages, "fetch_errors": self.fetch_errors,
                "content_changed": sum(any(e.content_changed for e in i.evidence)
                                       for i in self.items)}

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary(), "items": [i.to_dict() for i in self.items],
                "release": self.release.version if self.release else None}


async def _fetch_all(fetcher: PageFetcher, urls: Sequence[str], concurrency: int
                     ) -> dict[str, Any]:
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(url: str) -> Any:
        async with gate:
            try:
                return await fetcher.afetch(url)
            except Exception as exc:  # noqa: BLE001 - any fetcher failure is reported, not raised
                return exc

    pages = await asyncio.gather(*(one(u) for u in urls))
    return dict(zip(urls, pages, strict=True))


def _loose(text: str) -> str:
    """Normalized, with digit grouping dropped (``6,725`` reads ``6725``)."""
    return _GROUPING.sub("", normalize_text(text))


def _carries_answer(text: str, c: Candidate) -> bool:
    norm = _loose(text)
    return any(_loose(a) and _loose(a) in norm for a in (c.answer, *c.aliases))


def _check_evidence(c: Candidate, hop_index: int, index: int, page: Any) -> EvidenceCheck:
    hop = c.hops[hop_index]
    ev = hop.evidence[index]
    if isinstance(page, BaseException):
        status = getattr(page, "status", None)
        reason = getattr(page, "reason", None)
        # the error's kind only: its message names the URL, which stays sealed
        error = " ".join(filter(None, (type(page).__name__, reason and f"reason={reason}",
                                       status and f"status={status}")))
        return EvidenceCheck(hop=hop_index, index=index, url=ev.url,
                             status="gone" if status in _GONE else "unreachable", error=error)
    text = normalize_text(str(getattr(page, "text", "") or ""))
    sha = getattr(page, "sha256", None)
    changed = None if not ev.sha256 or not sha else sha != ev.sha256
    obj = _loose(hop.object)
    present = (obj in _GROUPING.sub("", text)) if obj and obj in _loose(ev.quote) else None
    answer = _carries_answer(text, c) if _carries_answer(ev.quote, c) else None
    found = bool(normalize_text(ev.quote)) and normalize_text(ev.quote) in text
    return EvidenceCheck(hop=hop_index, index=index, url=ev.url,
                         status="ok" if found else "quote_missing", content_changed=changed,
                         object_present=present, answer_present=answer)


def _judge(c: Candidate, pages: dict[str, Any], retire_unreachable: bool) -> ItemCheck:
    checks = [_check_evidence(c, h, i, pages[ev.url])
              for h, hop in enumerate(c.hops) for i, ev in enumerate(hop.evidence)]
    reasons: list[str] = []
    for e in checks:
        if e.status == "quote_missing":
            moved = e.answer_present is False or e.object_present is False
            reasons.append("answer_changed" if moved else "evidence_changed")
        elif e.status == "gone":
            reasons.append("evidence_gone")
        elif e.status == "unreachable":
            reasons.append("unreachable")
    reasons = list(dict.fromkeys(reasons))
    if any(r != "unreachable" for r in reasons) or (retire_unreachable and reasons):
        verdict: Verdict = "retired"
    else:
        verdict = "unverified" if reasons else "kept"
    if any(e.content_changed for e in checks):
        reasons.append("content_changed")
    return ItemCheck(id=c.id, verdict=verdict, reasons=tuple(reasons), evidence=tuple(checks))


async def areverify(release_dir: str | Path | Release, fetcher: PageFetcher, *,
                    now: datetime | None = None, out_dir: str | Path | None = None,
                    version: str | None = None, write: bool = True, concurrency: int = 8,
                    retire_unreachable: bool = False) -> ReverifyReport:
    """Re-fetch every evidence page of a release and retire what changed (see the module).

    Args:
        release_dir: The release folder (or a loaded :class:`Release`).
        fetcher: Anything with ``await afetch(url)`` returning ``text`` and ``sha256``.
        now: The check time (default: now, UTC); dates the report and a new version.
        out_dir: Where a new version and the report go (default: the release's output root).
        version: The new version's name (default: the next ``vYYYY-MM-DD-NNN``).
        write: ``False`` checks only (no report file, no new version).
        concurrency: Pages fetched at once.
        retire_unreachable: Retire questions whose pages could not be fetched at all.

    Raises:
        ReleaseError: the release is damaged or tampered with (nothing is fetched then).
    """
    if concurrency < 1:
        raise InputError(f"--concurrency {concurrency}: pass 1 or more pages at once.")
    source = release_dir if isinstance(release_dir, Release) else load_release(release_dir)
    now = now or datetime.now(timezone.utc)
    urls = list(dict.fromkeys(ev.url for c in source.candidates for ev in c.evidence()))
    pages = await _fetch_all(fetcher, urls, concurrency)
    items = tuple(_judge(c, pages, retire_unreachable) for c in source.candidates)
    errors = sum(isinstance(p, BaseException) for p in pages.values())
    report = ReverifyReport(source=source.version, checked_at=iso_utc(now), items=items,
                            pages=len(urls), fetch_errors=errors)
    if not write:
        return report
    root = Path(out_dir) if out_dir is not None else source.path.parent
    new_release = None
    if report.retired:
        verdicts = {i.id: i for i in items}
        kept = [c.with_check(CheckResult(name="reverify", passed=True, details={
                    "checked_at": report.checked_at, "verdict": verdicts[c.id].verdict,
                    "reasons": list(verdicts[c.id].reasons)}))
                for c in source.candidates if verdicts[c.id].verdict != "retired"]
        kept = [replace(c, status="accepted") for c in kept]
        retired = [{"id": i.id, "reasons": list(i.reasons), "retired_at": report.checked_at}
                   for i in report.retired]
        new_release = write_derived_release(source, kept, retired=retired,
                                            report=report.to_dict(), out_dir=root,
                                            version=version, now=now)
        report = replace(report, release=new_release)
    folder = root / "reverify"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"{source.version}-{stamp}.json"
    if path.exists():
        path = folder / f"{source.version}-{stamp}-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    return replace(report, report_path=path)


def reverify(release_dir: str | Path | Release, fetcher: PageFetcher, *,
             now: datetime | None = None, **options: Any) -> ReverifyReport:
    """:func:`areverify` from synchronous code (not from inside a running event loop)."""
    return asyncio.run(areverify(release_dir, fetcher, now=now, **options))
