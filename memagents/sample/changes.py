"""The changes of one snapshot in time: which facts change, when, and the news reporting them.

Snapshot ``k`` (see :mod:`memagents.sample.snapshots`) draws its changes from
``Random(f"{seed}:snapshot:{k}")`` over the facts of snapshot ``k - 1``: people move to another
employer, join one or leave one; companies move their headquarters; bands sign to another
label; surveys revise a river's length or a mountain's elevation. Each change gets a date
strictly between the two snapshot dates and one news item reporting it.

Example:
    >>> snapshot_date(1)
    '2026-10-01'
    >>> check_index(13)
    Traceback (most recent call last):
    ...
    memagents.errors.InputError: snapshot must be an int from 0 to 12 (0 is the world as first generated, each later one three months on), got 13.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from memagents.errors import InputError
from memagents.sample.names import slugify
from memagents.sample.schema import Entity, Fact, render_object
from memagents.sample.sitegen import NewsItem

__all__ = ["MAX_SNAPSHOT", "FactChange", "NewsWriter", "check_index", "draw_changes",
           "snapshot_date"]

#: The latest snapshot index :meth:`SampleWorld.generate` accepts (three years on).
MAX_SNAPSHOT = 12
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def snapshot_date(index: int) -> str:
    """ISO date of snapshot ``index``: 2026-07-01, then every three months.

    Example:
        >>> snapshot_date(0), snapshot_date(1), snapshot_date(2)
        ('2026-07-01', '2026-10-01', '2027-01-01')
    """
    check_index(index)
    months = 6 + 3 * index
    return date(2026 + months // 12, months % 12 + 1, 1).isoformat()


def check_index(index: object) -> int:
    """Return ``index`` if it is a valid snapshot index, else raise :class:`InputError`."""
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= MAX_SNAPSHOT:
        raise InputError(f"snapshot must be an int from 0 to {MAX_SNAPSHOT} (0 is the world as "
                         f"first generated, each later one three months on), got {index!r}.")
    return index


@dataclass(frozen=True)
class FactChange:
    """One fact that changed in a snapshot, and the news page that reports it.

    Attributes:
        snapshot: The snapshot in which the change first shows.
        on: ISO date of the event (the news page's publication date).
        event: ``employer_moved``, ``employer_joined``, ``employer_left``,
            ``headquarters_moved``, ``label_changed``, ``length_revised`` or
            ``elevation_revised``.
        old: The fact true before, or None when the fact is new.
        new: The fact true after, or None when the fact is retired.
        url: The fresh news page reporting it.

    Example:
        >>> old = Fact("company:orrin-labs", "headquartered_in", "city:quessa")
        >>> new = Fact("company:orrin-labs", "headquartered_in", "city:vandris")
        >>> change = FactChange(1, "2026-08-04", "headquarters_moved", old, new, "https://n.test/")
        >>> change.kind, change.entity_ids
        ('changed', ('company:orrin-labs', 'city:quessa', 'city:vandris'))
    """

    snapshot: int
    on: str
    event: str
    old: Fact | None
    new: Fact | None
    url: str

    @property
    def kind(self) -> str:
        """``changed`` (old and new), ``added`` (no old) or ``retired`` (no new)."""
        return "added" if self.old is None else "retired" if self.new is None else "changed"

    @property
    def fact(self) -> Fact:
        """The new fact, or the retired one."""
        return self.new or self.old  # type: ignore[return-value]

    @property
    def entity_ids(self) -> tuple[str, ...]:
        """The subject, then the old and the new object entities."""
        ids = [self.fact.subject_id]
        ids += [f.object for f in (self.old, self.new) if f is not None and not f.literal]
        return tuple(dict.fromkeys(ids))

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON record of this change (facts as keys)."""
        return {"snapshot": self.snapshot, "on": self.on, "event": self.event, "kind": self.kind,
                "old": self.old.key if self.old else None,
                "new": self.new.key if self.new else None, "url": self.url}


def _days_between(rng: random.Random, start: str, end: str, n: int) -> list[str]:
    """``n`` sorted dates strictly between two ISO dates."""
    lo, hi = date.fromisoformat(start).toordinal() + 1, date.fromisoformat(end).toordinal() - 1
    return sorted(date.fromordinal(rng.randint(lo, hi)).isoformat() for _ in range(n))


def draw_changes(rng: random.Random, k: int, entities: Sequence[Entity], facts: Sequence[Fact]
          ) -> list[FactChange]:
    """The changes of snapshot ``k`` (without their news URLs yet)."""
    one = {(f.subject_id, f.relation): f for f in facts}
    pick = {t: sorted(e.id for e in entities if e.type == t and not e.distractor_of)
            for t in ("person", "company", "band", "city", "river", "mountain")}
    founders = {f.object for f in facts if f.relation == "founded_by"}
    labels = [c for c in pick["company"] if (c, "industry") in one
              and one[(c, "industry")].object == "music recording"]
    staff = [p for p in pick["person"] if p not in founders]
    employed = [p for p in staff if (p, "employer") in one]
    idle = [p for p in staff if (p, "employer") not in one]
    out: list[tuple[str, Fact | None, Fact | None]] = []

    def sample(pool: Sequence[str], share: float) -> list[str]:
        return rng.sample(list(pool), min(len(pool), max(1, round(share * len(pool)))))

    def other(current: str, pool: Sequence[str]) -> str:
        return rng.choice([x for x in pool if x != current])

    movers = sample(employed, 0.12)
    leavers = sample([p for p in employed if p not in movers], 0.04)
    for p in movers:
        old = one[(p, "employer")]
        out.append(("employer_moved", old, Fact(p, "employer", other(old.object,
                                                                     pick["company"]))))
    for p in leavers:
        out.append(("employer_left", one[(p, "employer")], None))
    for p in sample(idle, 0.03):
        out.append(("employer_joined", None, Fact(p, "employer", rng.choice(pick["company"]))))
    for c in sample([c for c in pick["company"] if (c, "headquartered_in") in one], 0.1):
        old = one[(c, "headquartered_in")]
        out.append(("headquarters_moved", old, Fact(c, old.relation, other(old.object,
                                                                           pick["city"]))))
    if len(labels) > 1:
        for b in sample([b for b in pick["band"] if (b, "signed_to") in one], 0.2):
            old = one[(b, "signed_to")]
            out.append(("label_changed", old, Fact(b, old.relation, other(old.object, labels))))
    for r in sample(pick["river"], 0.2):
        old = one[(r, "length")]
        value = int(old.object)
        new = max(1, round(value * (1 + rng.choice((-1, 1)) * rng.uniform(0.02, 0.08))))
        out.append(("length_revised", old, Fact(r, "length", str(new if new != value
                                                                 else value + 1), True)))
    for m in sample(pick["mountain"], 0.2):
        old = one[(m, "elevation")]
        new = int(old.object) + rng.choice((-1, 1)) * rng.randint(6, 60)
        out.append(("elevation_revised", old, Fact(m, "elevation", str(new), True)))
    days = _days_between(rng, snapshot_date(k - 1), snapshot_date(k), len(out))
    rng.shuffle(out)
    changes = [FactChange(k, day, event, old, new, "")
               for day, (event, old, new) in zip(days, out)]
    return sorted(changes, key=lambda c: (c.on, c.fact.subject_id))


class NewsWriter:
    """Writes the news item reporting one change."""

    def __init__(self, names: dict[str, str], article: dict[str, str], facts: Sequence[Fact],
                 domain: str, count: int) -> None:
        self.names, self.article, self.domain, self.count = names, article, domain, count
        self.one = {(f.subject_id, f.relation): f for f in facts}

    def link(self, entity_id: str) -> tuple[str, str]:
        return self.names[entity_id], self.article[entity_id]

    def value(self, fact: Fact) -> str:
        return render_object(fact, self.names)

    def item(self, change: FactChange) -> NewsItem:
        old, new, subject = change.old, change.new, change.fact.subject_id
        name, w = self.names[subject], _WEEKDAYS[date.fromisoformat(change.on).weekday()]
        occupation = self.one.get((subject, "occupation"))
        job = ""
        if occupation is not None:
            job = occupation.object
            job = f", {'an' if job[:1] in 'aeiou' else 'a'} {job},"
        stated: list[Fact] = [new] if new else []
        lead: list[str | tuple[str, str]]
        if change.event == "employer_moved" and old and new:
            head = f"{name} joins {self.names[new.object]}"
            lead = [self.link(subject), ", formerly of ", self.link(old.object), ", has joined ",
                    self.link(new.object), f", the company said on {w}."]
        elif change.event == "employer_joined" and new:
            head = f"{name} joins {self.names[new.object]}"
            lead = [self.link(subject), f"{job} has joined ", self.link(new.object),
                    f", the company said on {w}."]
            stated += [occupation] if occupation else []
        elif change.event == "employer_left" and old:
            head = f"{name} leaves {self.names[old.object]}"
            lead = [self.link(subject), f"{job} has left ", self.link(old.object),
                    f", the company confirmed on {w}."]
            stated += [occupation] if occupation else []
        elif change.event == "headquarters_moved" and old and new:
            head = f"{name} moves its headquarters to {self.names[new.object]}"
            lead = [self.link(subject), f" said on {w} it had moved its headquarters from ",
                    self.link(old.object), " to ", self.link(new.object), "."]
        elif change.event == "label_changed" and old and new:
            head = f"{name} sign to {self.names[new.object]}"
            lead = [self.link(subject), " have left ", self.link(old.object),
                    " and signed to ", self.link(new.object), f", the band announced on {w}."]
        elif change.event == "length_revised" and old and new:
            head = f"Survey revises the length of the {name}"
            lead = [f"A survey published on {w} puts the length of the ", self.link(subject),
                    f" at {self.value(new)}, revising the earlier figure of {self.value(old)}."]
        elif change.event == "elevation_revised" and old and new:
            head = f"{name} is {self.value(new)} high, survey finds"
            lead = [f"A survey completed on {w} found that ", self.link(subject),
                    (f" has an elevation of {self.value(new)}, not {self.value(old)} as "
                     "previously recorded.")]
        else:
            raise InputError(f"Unknown snapshot event {change.event!r}; this is a bug.")
        self.count += 1
        day = change.on
        url = f"https://{self.domain}/{day[:4]}/{day[5:7]}/{self.count:03d}-{slugify(head)}.html"
        return NewsItem(url, head, lead, list(change.entity_ids), stated, day)


