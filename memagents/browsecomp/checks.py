"""The filtering agent's checks and the final gates, each a function returning a verdict.

Spec: ``shared/docs/methods/browse_benchmarks.md`` §7 (the distilled checklist). Every check
takes a :class:`~memagents.browsecomp.candidate.Candidate` and returns a
:class:`~memagents.browsecomp.candidate.CheckResult` whose ``details`` hold the numbers behind
it; none mutates anything.

* :func:`quotes_check`: every evidence quote is found in the text fetched from its URL
  (normalized: case, accents and whitespace ignored);
* :func:`freshness_check`: at least ``min_fresh`` hops are new knowledge against the anchor
  (evidence published on or after it);
* :func:`credibility_check`: every fact is supported on at least ``min_domains`` independent
  sites (registrable domains, so two hosts of one site count once);
* :func:`popularity_check`: no fact of the chain is about an over-exposed subject, according
  to a pluggable :class:`PopularitySignal` and a threshold (EvoBrowseComp's threshold is
  unpublished: it is a setting, and the details report every score for sensitivity
  analyses);
* :func:`closed_book_check` (LLM): the model without tools must fail across ``samples`` tries;
* :func:`solver_check` (browse agent): a solver with tools reaches the answer; run once as the
  solvability gate and once with a second solver as the uniqueness gate.

Example:
    >>> from memagents.browsecomp.candidate import Candidate, Evidence, Hop
    >>> ev = Evidence(url="https://wiki.a.test/v", quote="founded by Ada", published="2026-03-01")
    >>> c = Candidate(seed="Velm", question="?", answer="Ada", anchor="2026-01-01",
    ...               hops=(Hop(subject="Velm", relation="founded_by", object="Ada",
    ...                         evidence=(ev,)),))
    >>> quotes_check(c, {"https://wiki.a.test/v": "Velm was Founded  by Ada."}).passed
    True
    >>> freshness_check(c).passed, credibility_check(c).passed
    (True, False)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

from memagents.browsecomp.candidate import Candidate, CheckResult, Evidence, Hop, normalize_text

__all__ = [
    "PopularitySignal",
    "SearchHitPopularity",
    "TablePopularity",
    "answer_matches",
    "credibility_check",
    "evidence_for",
    "freshness_check",
    "hop_is_fresh",
    "popularity_check",
    "quotes_check",
    "site_of",
]


def answer_matches(predicted: str | None, answer: str, aliases: Sequence[str] = ()) -> bool:
    """Whether ``predicted`` names the answer: the normalized answer (or an alias) equals it or
    stands in it as whole words.

    >>> answer_matches("It is Ada Korvin.", "Ada Korvin"), answer_matches("Adam", "Ada")
    (True, False)
    """
    if not predicted:
        return False
    said = normalize_text(predicted)
    for expected in (answer, *aliases):
        want = normalize_text(expected)
        if want and (said == want or re.search(rf"(?<!\w){re.escape(want)}(?!\w)", said)):
            return True
    return False


def site_of(url_or_host: str) -> str:
    """The registrable site of a URL or host: its last two labels (``wiki.a.test`` ->
    ``a.test``), so two hosts of one site are not independent sources.

    A two-label rule, not the Public Suffix List: ``bbc.co.uk`` reads as ``co.uk``; pass your
    own ``site`` function to the checks where that matters.

    >>> site_of("https://news.porelvora.test/a"), site_of("localhost")
    ('porelvora.test', 'localhost')
    """
    host = (urlsplit(url_or_host).hostname if "://" in url_or_host else url_or_host) or ""
    labels = host.lower().rstrip(".").split(".")
    return ".".join(labels[-2:])


def quotes_check(candidate: Candidate, texts: Mapping[str, str]) -> CheckResult:
    """Every evidence quote appears in the text fetched from its URL.

    Args:
        candidate: The candidate.
        texts: Fetched text by URL (the evidence's ``url``).
    """
    missing: list[dict[str, str]] = []
    for ev in candidate.evidence():
        text = texts.get(ev.url)
        if text is None:
            missing.append({"url": ev.url, "why": "page not fetched"})
        elif not ev.quote.strip() or normalize_text(ev.quote) not in normalize_text(text):
            missing.append({"url": ev.url, "why": "quote not in the page", "quote": ev.quote})
    total = len(candidate.evidence())
    if not total:
        return CheckResult(name="quotes", passed=False, reason="no evidence at all")
    reason = "" if not missing else (f"{len(missing)} of {total} quotes not found in the "
                                     f"fetched text: {missing[0]['url']} ({missing[0]['why']})")
    return CheckResult(name="quotes", passed=not missing, reason=reason,
                       details={"quotes": total, "missing": missing})


def hop_is_fresh(hop: Hop, anchor: str) -> bool | None:
    """Whether a hop is new knowledge: some evidence published on or after ``anchor``
    (ISO dates compare as text); ``None`` when no evidence has a date."""
    dates = [e.published for e in hop.evidence if e.published]
    if not dates:
        return None
    return max(dates) >= anchor


def freshness_check(candidate: Candidate, *, min_fresh: int = 1) -> CheckResult:
    """At least ``min_fresh`` hops are new knowledge against the candidate's anchor."""
    flags = [hop_is_fresh(h, candidate.anchor) for h in candidate.hops]
    fresh = sum(1 for f in flags if f)
    ok = bool(candidate.anchor) and fresh >= min_fresh
    reason = "" if ok else (
        "no time anchor" if not candidate.anchor else
        f"{fresh} fresh hop(s), {min_fresh} needed: the evidence predates {candidate.anchor}")
    return CheckResult(name="freshness", passed=ok, reason=reason,
                       details={"fresh": flags, "anchor": candidate.anchor,
                                "min_fresh": min_fresh})


def credibility_check(candidate: Candidate, *, min_domains: int = 2,
                      site: Callable[[str], str] = site_of) -> CheckResult:
    """Every fact is supported on at least ``min_domains`` independent sites."""
    per_hop = [sorted({site(e.url) for e in h.evidence}) for h in candidate.hops]
    weak = [i for i, sites in enumerate(per_hop) if len(sites) < min_domains]
    ok = bool(candidate.hops) and not weak
    reason = "" if ok else ("no facts" if not candidate.hops else
                            f"hop {weak[0]} is supported on {len(per_hop[weak[0]])} site(s) "
                            f"({', '.join(per_hop[weak[0]]) or 'none'}), {min_domains} needed")
    return CheckResult(name="credibility", passed=ok, reason=reason,
                       details={"sites": per_hop, "min_domains": min_domains})


@runtime_checkable
class PopularitySignal(Protocol):
    """How exposed an entity is (higher: more likely recalled without browsing)."""

    def score(self, name: str) -> float | None:
        """The entity's popularity, or ``None`` when unknown."""
        ...


class TablePopularity:
    """Popularity from a table (page views, PopQA's ``s_pop``, the sample world's counts).

    Example:
        >>> TablePopularity({"Velm Press": 1200}).score("velm  press")
        1200.0
    """

    def __init__(self, table: Mapping[str, float]) -> None:
        self._table = {normalize_text(k): float(v) for k, v in table.items()}

    def score(self, name: str) -> float | None:
        return self._table.get(normalize_text(name))


class SearchHitPopularity:
    """Popularity as a search hit count: how many of the top ``k`` results of a search for the
    exact name mention it in their title or snippet (a cheap proxy for exposure).

    Args:
        search: A search backend (``search(query, k=)``).
        k: Results to look at.
    """

    def __init__(self, search: Any, *, k: int = 20) -> None:
        self.search, self.k = search, k

    def score(self, name: str) -> float | None:
        want = normalize_text(name)
        results = self.search.search(f'"{name}"', k=self.k)
        return float(sum(1 for r in results
                         if want in normalize_text(f"{r.title} {r.snippet}")))


def popularity_check(candidate: Candidate, signal: PopularitySignal, *,
                     threshold: float) -> CheckResult:
    """No fact of the chain is about an over-exposed entity: no hop's subject scores above
    ``threshold`` (a model recalls a fact when its subject is popular: Mallen et al., 2023,
    the signal PopQA's ``s_pop`` measures)."""
    names = dict.fromkeys(h.subject for h in candidate.hops if h.subject)
    scores = {name: signal.score(name) for name in names}
    over = {n: s for n, s in scores.items() if s is not None and s > threshold}
    reason = "" if not over else (
        f"over-exposed: {', '.join(f'{n} ({s:g})' for n, s in over.items())} above the "
        f"popularity threshold {threshold:g}")
    return CheckResult(name="popularity", passed=not over, reason=reason,
                       details={"scores": scores, "threshold": threshold})


def evidence_for(hop: Hop, url: str, text: str, *, title: str = "", fetched_at: str = "",
                 published: str | None = None, sha256: str | None = None) -> Evidence | None:
    """A quote of ``text`` corroborating ``hop``: the shortest sentence or line naming both
    its subject and its object (normalized); on a page about the subject (its ``title`` names
    it), a line naming the object suffices (``Artist: The Odalven Ferns``); for a record laid
    out one field per line, the shortest run of up to six lines naming both (quoted with single
    spaces: quotes match on normalized text). ``None`` if none.

    >>> hop = Hop(subject="Velm Press", relation="founded_by", object="Ada Korvin")
    >>> evidence_for(hop, "https://news.b.test/x", "News. Ada Korvin founded Velm Press.").quote
    'Ada Korvin founded Velm Press.'
    >>> evidence_for(hop, "https://reg.c.test/v", "Founder: Ada Korvin", title="Velm Press").quote
    'Founder: Ada Korvin'
    >>> evidence_for(hop, "https://cat.d.test/a",
    ...              "Publisher\\nVelm Press\\nFounder\\nAda Korvin").quote
    'Velm Press Founder Ada Korvin'
    """
    subject, obj = normalize_text(hop.subject), normalize_text(hop.object)
    about = bool(subject) and subject in normalize_text(title)
    want = (obj,) if about else (subject, obj)
    pieces = [p.strip() for p in re.split(r"(?<=[.!?])\s+|\n+", text) if p.strip()]
    hits = [p for p in pieces if all(w in normalize_text(p) for w in want)]
    if not hits:  # a record laid out one field per line: the shortest run of lines naming both
        runs = [" ".join(pieces[i:j]) for i in range(len(pieces))
                for j in range(i + 2, min(i + _WINDOW, len(pieces)) + 1)]
        hits = [r for r in runs if len(r) <= 300 and all(w in normalize_text(r) for w in want)]
    if not hits:
        return None
    return Evidence(url=url, quote=min(hits, key=len), fetched_at=fetched_at,
                    published=published, sha256=sha256)


_WINDOW = 6
