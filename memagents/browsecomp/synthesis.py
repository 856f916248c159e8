"""The synthesis agent: from a seed entity, walk the web hop by hop, then compose a question.

**Explore.** For the current entity: search for it, read the best result not read yet (the
fetcher's safety and politeness apply), and ask the model (``browsecomp.extract``) which facts
the page states about the entity, each with a verbatim quote, and which fact's object to visit
next. A fact whose quote is not in the page is dropped (counted); the chosen fact becomes a
:class:`~memagents.browsecomp.candidate.Hop` with its evidence (URL, quote, fetch time,
publication date, content hash) and its freshness against the anchor. Every fact seen is kept
as context: the guidance agent's knowledge base for uniqueness and shortcut checks.

**Compose.** The model (``browsecomp.compose``) writes the question over the chain, entities
described by properties, with its clues as constraints, following the guidance agent's
feedback when it asks for another iteration. An answer that is no entity of the chain, or
clues pointing at hops that do not exist, reject the candidate (counted, never released).

Example:
    >>> settings = SynthesisSettings(anchor="2026-07-01", hops=2)
    >>> settings.max_iterations, settings.closed_book_samples
    (2, 3)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from memagents.browsecomp.candidate import (
    Candidate,
    CheckResult,
    Constraint,
    Evidence,
    Hop,
    normalize_text,
)
from memagents.browsecomp.checks import hop_is_fresh
from memagents.browsecomp.prompts import (
    COMPOSE_PROMPT,
    EXTRACT_PROMPT,
    ComposeOutput,
    ExtractOutput,
)
from memagents.errors import InputError, MemagentsError
from memagents.models import StructuredLLM
from memagents.web.browse.context import fence_page, select_text

__all__ = ["Exploration", "SynthesisSettings", "compose", "explore"]

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True, kw_only=True, slots=True)
class SynthesisSettings:
    """Every knob of a synthesis run, with its default.

    Attributes:
        anchor: Time anchor (``YYYY-MM-DD``): knowledge published on or after it is fresh.
        hops: Hops to collect per seed (2 to 6).
        min_fresh: Fresh hops a question needs.
        max_iterations: Guidance rounds per seed (re-compositions after feedback).
        min_domains: Independent sites supporting each fact (credibility).
        popularity_threshold: Scores above it are over-exposed (unpublished in EvoBrowseComp:
            a setting; the release records it).
        closed_book_samples: Tries of the model without tools; any correct one rejects.
        results_per_search: Search results considered per hop.
        corroboration_fetches: Pages read per weak fact when looking for a second site.
        page_tokens: Page text shown to the model per page.
        solver_tool_calls: Tool budget of the solvability and uniqueness solvers.
    """

    anchor: str
    hops: int = 3
    min_fresh: int = 1
    max_iterations: int = 2
    min_domains: int = 2
    popularity_threshold: float = 5_000.0
    closed_book_samples: int = 3
    results_per_search: int = 5
    corroboration_fetches: int = 3
    page_tokens: int = 1_500
    solver_tool_calls: int = 12

    def __post_init__(self) -> None:
        if not isinstance(self.anchor, str) or not _DATE.match(self.anchor):
            raise InputError(f"anchor must be a date YYYY-MM-DD (e.g. '2026-01-01'), got "
                             f"{self.anchor!r}.")
        if not 2 <= self.hops <= 6:
            raise InputError(f"hops must be between 2 and 6, got {self.hops}.")
        for name in ("min_fresh", "max_iterations", "closed_book_samples"):
            if getattr(self, name) < 0:
                raise InputError(f"{name} must be >= 0, got {getattr(self, name)}.")
        for name in ("min_domains", "results_per_search", "corroboration_fetches",
                     "page_tokens", "solver_tool_calls"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be >= 1, got {getattr(self, name)}.")


@dataclass(kw_only=True, slots=True)
class Exploration:
    """What exploring a seed produced: the chain, every fact seen, and counters."""

    seed: str
    hops: list[Hop] = field(default_factory=list)
    seen: list[dict[str, str]] = field(default_factory=list)
    fetches: int = 0
    searches: int = 0
    dropped_facts: int = 0
    problem: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "hops": [h.to_dict() for h in self.hops],
                "seen": list(self.seen), "fetches": self.fetches, "searches": self.searches,
                "dropped_facts": self.dropped_facts, "problem": self.problem}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Exploration:
        return cls(seed=data["seed"], hops=[Hop.from_dict(h) for h in data.get("hops") or ()],
                   seen=list(data.get("seen") or ()), fetches=int(data.get("fetches") or 0),
                   searches=int(data.get("searches") or 0),
                   dropped_facts=int(data.get("dropped_facts") or 0),
                   problem=str(data.get("problem") or ""))


def _best_url(results: Any, entity: str, read: set[str]) -> str | None:
    want = normalize_text(entity)
    fresh = [r for r in results if r.url not in read]
    titled = [r for r in fresh if want and want in normalize_text(r.title)]
    pick = (titled or fresh or [None])[0]
    return pick.url if pick is not None else None


async def explore(seed: str, *, llm: StructuredLLM, search: Any, fetcher: Any,
                  settings: SynthesisSettings, tokenizer: Any = None) -> Exploration:
    """Walk from ``seed`` for up to ``settings.hops`` hops (see the module docstring).

    Search and fetch failures end the walk with ``problem`` set (the run goes on with other
    seeds); LLM failures and budget stops propagate to the caller.
    """
    out = Exploration(seed=seed)
    entity, visited, read = seed, [seed], set()
    tokenizer = tokenizer or llm.tokenizer
    for _ in range(settings.hops):
        try:
            out.searches += 1
            results = await search.asearch(entity, k=settings.results_per_search)
            url = _best_url(results, entity, read)
            if url is None:
                out.problem = f"no unread search result for {entity!r}"
                break
            read.add(url)
            out.fetches += 1
            page = await fetcher.afetch(url)
        except MemagentsError as exc:
            out.problem = f"{type(exc).__name__}: {exc}"
            break
        text = page.text or ""
        shown = select_text(text, entity, settings.page_tokens, tokenizer)
        reply = await llm.acall(EXTRACT_PROMPT, ExtractOutput, entity=entity,
                                visited=", ".join(visited), anchor=settings.anchor,
                                page=fence_page(page.final_url or url, page.title or "", shown,
                                                published=page.published))
        norm_text = normalize_text(text)
        kept: list[tuple[int, Any]] = []
        for i, fact in enumerate(reply.facts):
            if fact.quote.strip() and normalize_text(fact.quote) in norm_text:
                kept.append((i, fact))
                out.seen.append({"subject": fact.subject, "relation": fact.relation,
                                 "object": fact.object, "url": page.final_url or url,
                                 "quote": fact.quote})
            else:
                out.dropped_facts += 1
        chosen = dict(kept).get(reply.next) if reply.next is not None else None
        if chosen is None or normalize_text(chosen.object) in map(normalize_text, visited):
            break
        evidence = Evidence(url=page.final_url or url, quote=chosen.quote,
                            fetched_at=page.fetched_at or "", published=page.published,
                            sha256=getattr(page, "sha256", None))
        hop = Hop(subject=chosen.subject, relation=chosen.relation, object=chosen.object,
                  evidence=(evidence,))
        out.hops.append(Hop(subject=hop.subject, relation=hop.relation, object=hop.object,
                            evidence=hop.evidence, fresh=hop_is_fresh(hop, settings.anchor)))
        entity = chosen.object
        visited.append(entity)
    if not out.problem and len(out.hops) < 2:
        out.problem = f"the walk from {seed!r} found {len(out.hops)} hop(s); 2 are needed"
    return out


def _chain_text(hops: list[Hop]) -> str:
    return "\n".join(f"{i}: {h.subject} | {h.relation} | {h.object}" for i, h in enumerate(hops))


def _context_text(seen: list[dict[str, str]], limit: int = 60) -> str:
    rows = [f"- {f['subject']} | {f['relation']} | {f['object']}" for f in seen[:limit]]
    return "\n".join(rows) or "(none)"


async def compose(exploration: Exploration, *, llm: StructuredLLM, settings: SynthesisSettings,
                  feedback: str = "", iteration: int = 0) -> Candidate:
    """Write the question over the explored chain (see the module docstring).

    A candidate whose answer is no entity of the chain, or whose clues point at missing hops,
    comes back rejected (check ``compose``).
    """
    hops = exploration.hops
    reply: ComposeOutput = await llm.acall(
        COMPOSE_PROMPT, ComposeOutput, chain=_chain_text(hops),
        context=_context_text(exploration.seen), feedback=feedback or "(none)")
    constraints = tuple(
        Constraint(id=f"c{i + 1}", target=c.target.strip(), relation=c.relation.strip(),
                   value=c.value.strip(), inverse=c.inverse, negated=c.negated, hop=c.hop)
        for i, c in enumerate(reply.constraints))
    candidate = Candidate(seed=exploration.seed, question=reply.question.strip(),
                          answer=reply.answer.strip(),
                          aliases=tuple(a.strip() for a in reply.aliases if a.strip()),
                          hops=tuple(hops), constraints=constraints, anchor=settings.anchor,
                          iteration=iteration)
    entities = {normalize_text(n) for h in hops for n in (h.subject, h.object)}
    bad_hops = [c.id for c in constraints if c.hop is not None and not 0 <= c.hop < len(hops)]
    problems = []
    if not candidate.question or not candidate.answer:
        problems.append("the reply has no question or no answer")
    elif normalize_text(candidate.answer) not in entities:
        problems.append(f"the answer {candidate.answer!r} is no entity of the chain")
    if bad_hops:
        problems.append(f"clues {', '.join(bad_hops)} point at hops that do not exist")
    if not constraints:
        problems.append("the reply states no clues (constraints)")
    return candidate.with_check(CheckResult(name="compose", passed=not problems,
                                            reason="; ".join(problems)))
