"""Snapshots in time of the sample world: some facts change, fresh news reports them.

Snapshot 0 is the world as :meth:`SampleWorld.generate` has always built it, dated
:func:`snapshot_date` ``(0)`` = 2026-07-01 (no page of it is dated later). Snapshot ``k`` is
snapshot ``k - 1`` three months on: a few functional facts change (a person moves to another
employer, joins one or leaves one; a company moves its headquarters; a band signs to another
label; a river's length or a mountain's elevation is revised by a survey), each reported by a
fresh news page published between the two snapshot dates. Passages, questions and pages are
computed again from the new facts; pages whose content changed get a revision date after the
previous snapshot's date, the others keep their bytes and their dates. The entities never
change, nor do the domains. Everything is drawn from ``Random(f"{seed}:snapshot:{k}")``.

Example:
    >>> from memagents.sample import SampleWorld
    >>> later = SampleWorld.generate(0, size="tiny", snapshot=1)
    >>> diff = later.changes_since(0)
    >>> all(later.website.get(url).published > diff.since_date for url in diff.added_pages)
    True
    >>> all(new in later.facts for _, new in diff.changed_facts)
    True
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from memagents.errors import InputError
from memagents.sample.changes import (
    FactChange,
    NewsWriter,
    check_index,
    draw_changes,
    snapshot_date,
)
from memagents.sample.names import NameForge
from memagents.sample.passages import render_passages
from memagents.sample.schema import RELATIONS, Entity, Fact, Passage, Question
from memagents.sample.sitegen import NewsItem, build_website
from memagents.sample.website import Page, Website

__all__ = ["Evolved", "SnapshotDiff", "diff_between", "evolve", "follow"]


@dataclass(frozen=True)
class SnapshotDiff:
    """What changed between two snapshots of one world (``world.changes_since(k)``).

    Attributes:
        since: The earlier snapshot index.
        until: The later snapshot index.
        since_date: The earlier snapshot's date: every added or revised page is dated after it.
        until_date: The later snapshot's date.
        changes: Every change in between, in order (a fact may change twice).
        added_pages: URLs of the pages that did not exist at ``since`` (fresh news).
        revised_pages: URLs of the pages whose content changed, with a later date.

    Example:
        >>> from memagents.sample import SampleWorld
        >>> world = SampleWorld.generate(0, size="tiny", snapshot=2)
        >>> diff = world.changes_since(1)
        >>> diff.since_date, {c.snapshot for c in diff.changes}
        ('2026-10-01', {2})
    """

    since: int
    until: int
    since_date: str
    until_date: str
    changes: tuple[FactChange, ...]
    added_pages: tuple[str, ...]
    revised_pages: tuple[str, ...]

    def net(self) -> dict[tuple[str, str], tuple[Fact | None, Fact | None]]:
        """``(subject, relation) -> (fact at since, fact at until)``, for those that differ."""
        out: dict[tuple[str, str], tuple[Fact | None, Fact | None]] = {}
        for change in self.changes:
            key = (change.fact.subject_id, change.fact.relation)
            first = out[key][0] if key in out else change.old
            out[key] = (first, change.new)
        return {k: v for k, v in out.items() if v[0] != v[1]}

    @property
    def changed_facts(self) -> tuple[tuple[Fact, Fact], ...]:
        """``(old, new)`` pairs: same subject and relation, another object."""
        return tuple((a, b) for a, b in self.net().values() if a and b)

    @property
    def added_facts(self) -> tuple[Fact, ...]:
        """Facts true at ``until`` whose subject had no such relation at ``since``."""
        return tuple(b for a, b in self.net().values() if b and not a)

    @property
    def retired_facts(self) -> tuple[Fact, ...]:
        """Facts true at ``since`` and no longer true, with nothing in their place."""
        return tuple(a for a, b in self.net().values() if a and not b)

    @property
    def superseded(self) -> frozenset[Fact]:
        """Facts true at ``since`` that are no longer true at ``until``."""
        return frozenset(a for a, _ in self.net().values() if a)

    def is_stale(self, question: Question) -> bool:
        """Whether a question of snapshot ``since`` rests on a fact that is no longer true."""
        return not self.superseded.isdisjoint(question.chain)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON record of this diff."""
        return {"since": self.since, "until": self.until, "since_date": self.since_date,
                "until_date": self.until_date, "changes": [c.to_dict() for c in self.changes],
                "changed_facts": [[a.key, b.key] for a, b in self.changed_facts],
                "added_facts": [f.key for f in self.added_facts],
                "retired_facts": [f.key for f in self.retired_facts],
                "added_pages": list(self.added_pages), "revised_pages": list(self.revised_pages)}


def follow(facts: Sequence[Fact], start_id: str, path: Sequence[str]) -> tuple[Fact, ...] | None:
    """The chain of facts a relation path takes from ``start_id``, or None where it breaks.

    Args:
        facts: The facts of one snapshot.
        start_id: The entity the path starts from.
        path: Relation names as in :attr:`Question.path` (``"^name"`` follows one backwards).

    Example:
        >>> facts = [Fact("person:a", "employer", "company:b"),
        ...          Fact("company:b", "headquartered_in", "city:c")]
        >>> [f.object for f in follow(facts, "person:a", ("employer", "headquartered_in"))]
        ['company:b', 'city:c']
        >>> follow(facts, "person:x", ("employer",)) is None
        True
    """
    forward = {(f.subject_id, f.relation): f for f in facts}
    backward = {(f.object, f.relation): f for f in facts
                if not f.literal and RELATIONS[f.relation].one_to_one}
    chain: list[Fact] = []
    node = start_id
    for step in path:
        fact = backward.get((node, step[1:])) if step.startswith("^") else forward.get(
            (node, step))
        if fact is None:
            return None
        chain.append(fact)
        node = fact.subject_id if step.startswith("^") else fact.object
    return tuple(chain)


@dataclass(frozen=True)
class Evolved:
    """The state of a world at a later snapshot (built by :func:`evolve`)."""

    facts: list[Fact]
    passages: list[Passage]
    support: dict[Fact, tuple[str, ...]]
    website: Website
    changes: tuple[FactChange, ...]


def evolve(seed: int, forge: NameForge, world_name: str, entities: Sequence[Entity],
           facts: Sequence[Fact], snapshot: int) -> Evolved:
    """Carry a freshly drawn world (its forge just after the graph) forward to ``snapshot``.

    Args:
        seed: The world seed.
        forge: The world's name forge, in the state :func:`build_website` expects.
        world_name: The world's name.
        entities: All entities (they do not change).
        facts: The facts of snapshot 0.
        snapshot: The snapshot to reach (1 to :data:`MAX_SNAPSHOT`).

    Returns:
        The facts, passages, support, website and the changes of snapshots 1 to ``snapshot``.
    """
    check_index(snapshot)
    saved = copy.deepcopy(forge)
    current = sorted(facts)
    passages, support = render_passages(seed, entities, current)
    site = build_website(seed, copy.deepcopy(saved), world_name, entities, current, passages,
                         support)
    names = {e.id: e.name for e in entities}
    article = {p.entity_ids[0]: p.url for p in site.pages.values() if p.kind == "article"}
    news = next(d for d in site.domains if d.startswith("news."))
    count = sum(1 for p in site.pages.values() if p.kind == "news")
    fresh: list[NewsItem] = []
    changes: list[FactChange] = []
    for k in range(1, snapshot + 1):
        drawn = draw_changes(random.Random(f"{seed}:snapshot:{k}"), k, entities, current)
        writer = NewsWriter(names, article, current, news, count + len(fresh))
        items = [writer.item(change) for change in drawn]
        drawn = [FactChange(c.snapshot, c.on, c.event, c.old, c.new, item.url)
                 for c, item in zip(drawn, items)]
        current = sorted({*current} - {c.old for c in drawn if c.old}
                         | {c.new for c in drawn if c.new})
        passages, support = render_passages(seed, entities, current)
        fresh += items
        site = build_website(seed, copy.deepcopy(saved), world_name, entities, current,
                             passages, support, fresh=fresh,
                             revise=_Reviser(site, drawn, snapshot_date(k)))
        changes += drawn
    return Evolved(current, passages, support, site, tuple(changes))


class _Reviser:
    """Dates the pages of a new snapshot: unchanged ones keep their date, changed ones move on."""

    def __init__(self, previous: Website, changes: Sequence[FactChange], day: str) -> None:
        self.previous, self.changes, self.day = previous, changes, day

    def __call__(self, url: str, drawn: str, render: Callable[[str], Page]) -> Page:
        before = self.previous.pages.get(url)
        if before is None:
            return render(drawn)  # a fresh page: its drawn date is the news date
        page = render(before.published)
        if page == before:
            return before
        # the latest change about the page's own entity, else about any entity it names
        main = page.entity_ids[:1]
        days = [c.on for c in self.changes if main and main[0] in c.entity_ids]
        if not days:
            ids = {*page.entity_ids, *before.entity_ids}
            days = [c.on for c in self.changes if ids.intersection(c.entity_ids)]
        return render(max(days, default=self.day))

def diff_between(changes: Sequence[FactChange], website: Website, since: int, until: int
                 ) -> SnapshotDiff:
    """The :class:`SnapshotDiff` from snapshot ``since`` to ``until`` (the world's own)."""
    check_index(since)
    if since > until:
        raise InputError(f"changes_since({since}) asks about a later snapshot than this one "
                         f"({until}); call it on the later world: "
                         f"world.snapshot({since}).changes_since({until}).")
    anchor = snapshot_date(since)
    picked = tuple(c for c in changes if c.snapshot > since)
    added = tuple(sorted({c.url for c in picked}))
    revised = tuple(sorted(url for url, page in website.pages.items()
                           if page.published > anchor and url not in added))
    return SnapshotDiff(since, until, anchor, snapshot_date(until), picked, added, revised)

