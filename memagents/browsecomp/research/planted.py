"""Planted candidates: good questions and one bad variant per check, built from the sample
world's offline web, to show that every check rejects what it should and accepts the rest.

Good chains are walks over the world's entity facts where every fact is stated on at least two
sites, at least one on a page published on or after the anchor, and every hop's subject is
below the popularity threshold; their evidence is quoted from pages *fetched* through the real
fetcher. Each bad kind breaks exactly one property of a good candidate:

=================  ========================================================  ==============
kind               how it is made                                            must fail
=================  ========================================================  ==============
``quote_missing``  one quote replaced by words the page does not contain     ``quotes``
``stale``          a chain whose facts were all published before the anchor  ``freshness``
``single_domain``  a fresh chain with a fact stated on one site only         ``credibility``
``shortcut``       a good question plus a clue that alone pins the answer    ``guidance``
``non_unique``     the start of the chain left open: many answers fit        ``guidance``
``popular``        a chain about an over-exposed subject                     ``popularity``
``closed_book``    a good question the model "remembers" (a planted leak)    ``closed_book``
``second_solver``  a good question the second solver answers differently     ``unique``
=================  ========================================================  ==============

Example:
    >>> from memagents.sample import SampleWorld
    >>> chains = good_chains(SampleWorld.generate(0).snapshot(1), anchor="2026-07-01")
    >>> len(chains) > 10, all(len(c) >= 2 for c in chains)
    (True, True)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from memagents.browsecomp.candidate import ANSWER, Candidate, Constraint, Evidence, Hop
from memagents.browsecomp.checks import evidence_for, hop_is_fresh
from memagents.browsecomp.factbase import FactBase
from memagents.browsecomp.guidance import analyze
from memagents.browsecomp.reasoning import chain_constraints
from memagents.sample import SampleWorld
from memagents.sample.schema import Fact, render_object

__all__ = ["BAD_KINDS", "good_chains", "plant"]

#: Each bad kind and the check that must reject it.
BAD_KINDS = {"quote_missing": "quotes", "stale": "freshness", "single_domain": "credibility",
             "shortcut": "guidance", "non_unique": "guidance", "popular": "popularity",
             "closed_book": "closed_book", "second_solver": "unique"}

Chain = tuple[Fact, ...]


class _Index:
    def __init__(self, world: SampleWorld, anchor: str) -> None:
        self.world, self.anchor = world, anchor
        self.names = {e.id: e.name for e in world.entities}
        self.pop = {e.id: e.popularity for e in world.entities}
        self.pages: dict[Fact, list[Any]] = defaultdict(list)
        for page in world.website.pages.values():
            if page.kind != "private":
                for fact in page.facts:
                    self.pages[fact].append(page)
        self.out: dict[str, list[Fact]] = defaultdict(list)
        for fact in world.facts:
            if not fact.literal:
                self.out[fact.subject_id].append(fact)

    def sites(self, fact: Fact) -> set[str]:
        return {p.domain for p in self.pages[fact]}

    def fresh(self, fact: Fact) -> bool:
        return any(p.published >= self.anchor for p in self.pages[fact])

    def chains(self, max_hops: int = 3) -> list[Chain]:
        found: list[Chain] = []

        def walk(chain: list[Fact]) -> None:
            if len(chain) >= 2:
                found.append(tuple(chain))
            if len(chain) < max_hops:
                for nxt in self.out.get(chain[-1].object, ()):
                    if nxt.object not in {f.subject_id for f in chain}:
                        walk([*chain, nxt])
        for fact in self.world.facts:
            if not fact.literal:
                walk([fact])
        return found


def good_chains(world: SampleWorld, *, anchor: str, threshold: float = 5_000.0,
                max_hops: int = 3) -> list[Chain]:
    """Chains every check should accept (see the module docstring), in a stable order."""
    ix = _Index(world, anchor)
    return [c for c in ix.chains(max_hops)
            if all(len(ix.sites(f)) >= 2 for f in c) and any(ix.fresh(f) for f in c)
            and all(ix.pop[f.subject_id] <= threshold for f in c)]


async def _hop(ix: _Index, fetcher: Any, fact: Fact, sites: int) -> Hop:
    subject, obj = ix.names[fact.subject_id], render_object(fact, ix.names)
    bare = Hop(subject=subject, relation=fact.relation, object=obj)
    evidence: list[Evidence] = []
    for page in sorted(ix.pages[fact], key=lambda p: (-int(p.published >= ix.anchor), p.url)):
        if len(evidence) >= sites or page.domain in {e.domain for e in evidence}:
            continue
        got = await fetcher.afetch(page.url)
        ev = evidence_for(bare, got.final_url or page.url, got.text or "", title=got.title or "",
                          fetched_at=got.fetched_at or "", published=got.published,
                          sha256=getattr(got, "sha256", None))
        if ev is not None:
            evidence.append(ev)
    hop = replace(bare, evidence=tuple(evidence))
    return replace(hop, fresh=hop_is_fresh(hop, ix.anchor))


async def _candidate(ix: _Index, fetcher: Any, chain: Chain, *, sites: int = 2) -> Candidate:
    hops = tuple([await _hop(ix, fetcher, f, sites) for f in chain])
    start = hops[0].subject
    question = (f"Starting from {start}, follow {' then '.join(h.relation for h in hops)}: "
                "which entity do you reach?")
    return Candidate(seed=start, question=question, answer=hops[-1].object, hops=hops,
                     constraints=chain_constraints(start, hops), anchor=ix.anchor)


def _pick(chains: Sequence[Chain], used: set[str], ix: _Index) -> Chain | None:
    for chain in chains:
        key = ix.names[chain[0].subject_id]
        if key not in used:
            used.add(key)
            return chain
    return None


async def plant(world: SampleWorld, fetcher: Any, *, anchor: str, n_good: int = 4,
                threshold: float = 5_000.0) -> dict[str, list[Candidate]]:
    """Good candidates and one candidate per bad kind (``{"good": [...], kind: [...]}``).

    Args:
        world: The sample world being served (a snapshot with fresh pages).
        fetcher: The fetcher reaching its offline web (quotes come from fetched text).
        anchor: The time anchor.
        n_good: Good candidates to plant.
        threshold: The popularity threshold of the run.
    """
    ix = _Index(world, anchor)
    chains = ix.chains()
    good = [c for c in chains if all(len(ix.sites(f)) >= 2 for f in c)
            and any(ix.fresh(f) for f in c) and all(ix.pop[f.subject_id] <= threshold for f in c)]
    used: set[str] = set()
    out: dict[str, list[Candidate]] = {"good": []}
    for _ in range(n_good):
        chain = _pick(good, used, ix)
        if chain is not None:
            out["good"].append(await _candidate(ix, fetcher, chain))

    async def make(kind: str, pool: Sequence[Chain], **kw: Any) -> Candidate | None:
        chain = _pick(pool, used, ix)
        return None if chain is None else await _candidate(ix, fetcher, chain, **kw)

    base = await make("quote_missing", good)
    if base is not None:
        hop = base.hops[0]
        broken = replace(hop.evidence[0], quote=hop.evidence[0].quote + " (as everyone knows)")
        hops = (replace(hop, evidence=(broken, *hop.evidence[1:])), *base.hops[1:])
        out["quote_missing"] = [replace(base, hops=hops)]
    stale = [c for c in chains if all(len(ix.sites(f)) >= 2 for f in c)
             and not any(ix.fresh(f) for f in c)
             and all(ix.pop[f.subject_id] <= threshold for f in c)]
    single = [c for c in chains if any(len(ix.sites(f)) == 1 for f in c)
              and any(ix.fresh(f) for f in c) and all(ix.pop[f.subject_id] <= threshold
                                                      for f in c)]
    popular = [c for c in chains if all(len(ix.sites(f)) >= 2 for f in c)
               and any(ix.fresh(f) for f in c) and any(ix.pop[f.subject_id] > threshold
                                                       for f in c)]
    for kind, pool in (("stale", stale), ("single_domain", single), ("popular", popular)):
        made = await make(kind, pool, sites=2)
        if made is not None:
            out[kind] = [made]
    kb = FactBase.from_world(world)
    for kind in ("shortcut", "non_unique", "closed_book", "second_solver"):
        for _ in range(len(good)):
            made = await make(kind, good)
            if made is None:
                break
            if kind == "shortcut":
                made = _with_shortcut(made, ix, kb)
            elif kind == "non_unique":
                made = _open_start(made, ix, kb)
            if made is not None:
                out[kind] = [made]
                break
    return out


def _with_shortcut(c: Candidate, ix: _Index, kb: FactBase) -> Candidate | None:
    """Add a clue on the answer, from one of its own facts, that alone pins it."""
    answer_id = next((e.id for e in ix.world.entities if e.name == c.answer), None)
    for fact in ix.world.facts:
        if fact.subject_id != answer_id:
            continue
        clue = Constraint(id=f"c{len(c.constraints) + 1}", target=ANSWER,
                          relation=fact.relation, value=render_object(fact, ix.names))
        made = replace(c, constraints=(*c.constraints, clue),
                       question=c.question + f" (Its {fact.relation} is {clue.value}.)")
        report = analyze(made, kb)
        if report.unique and (report.shortcuts or report.redundant):
            return made
    return None


def _open_start(c: Candidate, ix: _Index, kb: FactBase) -> Candidate | None:
    """Replace the named start by a variable described by one of its facts that other
    entities share: several starts, hence several answers, fit."""
    start_id = next((e.id for e in ix.world.entities if e.name == c.seed), None)
    first = c.constraints[0]
    for fact in ix.world.facts:
        if fact.subject_id != start_id:
            continue
        value = render_object(fact, ix.names)
        described = Constraint(id=f"c{len(c.constraints) + 1}", target="?x0",
                               relation=fact.relation, value=value)
        loose = replace(first, value="?x0")
        made = replace(c, constraints=(loose, *c.constraints[1:], described),
                       question=c.question.replace(
                           f"Starting from {c.seed}",
                           f"Starting from the entity whose {fact.relation} is {value}"))
        if analyze(made, kb).status == "underdetermined":
            return made
    return None
