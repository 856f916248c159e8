"""Entities and facts of the sample world, drawn from one seeded random generator.

The world is a small society: countries with cities (one capital each), universities,
companies (publishers, record labels, other firms) with their founders, authors with books,
bands with members and albums, rivers and mountains. Every relation is functional, so a chain
of facts started from a named entity always has exactly one answer. A few *distractors* copy
the name of another entity of the same type (``Ilda Thandrell`` beside ``Orsa Thandrell``,
``Quillmere Books`` beside ``Quillmere Press``); they have facts and passages of their own but
never appear in a question chain.

Example:
    >>> import random
    >>> from memagents.sample.names import NameForge
    >>> entities, facts = build_graph(random.Random(3), NameForge(random.Random(3)), 120)
    >>> len({e.name for e in entities}) == len(entities) >= 100
    True
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from memagents.errors import InputError
from memagents.sample.names import NameForge, slugify
from memagents.sample.schema import Entity, Fact

__all__ = ["WorldPlan", "build_graph"]

_POP_MU = {"country": 11.8, "city": 8.2, "university": 7.6, "company": 7.2, "person": 6.0,
           "band": 7.0, "album": 5.6, "book": 5.4, "river": 6.6, "mountain": 6.5}
_BASE = {"country": 6, "city": 24, "university": 10, "company": 22, "band": 10, "album": 18,
         "book": 20, "river": 5, "mountain": 5}
_MIN = {"country": 3, "city": 6, "university": 2, "company": 6, "band": 2, "album": 2,
        "book": 3, "river": 1, "mountain": 1}
_PUBLISHER = ("Press", "Books", "House", "Publishing")
_LABEL = ("Records", "Sound", "Recordings", "Music")
_FIRM = {"shipbuilding": "Shipyards", "textiles": "Mills", "software": "Labs",
         "glassworks": "Glassworks", "rail freight": "Rail", "pharmaceuticals": "Pharma",
         "aerospace": "Dynamics", "brewing": "Brewery", "insurance": "Assurance",
         "cartography": "Maps"}
_NOUNS = ("Lanterns", "Owls", "Kites", "Harbours", "Foxes", "Orchards", "Comets", "Pilots",
          "Tides", "Sparrows", "Engines", "Mirrors", "Ferns", "Bells")
_WORDS = ("Ledger", "Lantern", "Orchard", "Harbour", "Winter", "Archive", "Garden", "Voyage",
          "Atlas", "Lament", "Chronicle", "Letters")
_WRITERS = ("novelist", "poet", "essayist", "historian", "playwright")
_MUSICIANS = ("singer", "guitarist", "drummer", "bassist", "keyboardist", "violinist")
_OTHERS = ("architect", "physicist", "painter", "diplomat", "surgeon", "cartographer",
           "chemist", "sculptor", "economist", "botanist")
_BOOK_GENRES = ("science fiction", "historical fiction", "crime fiction", "poetry",
                "travel writing", "fantasy", "memoir")
_BAND_GENRES = ("folk rock", "synth-pop", "post-punk", "jazz fusion", "chamber pop",
                "shoegaze", "art rock")


@dataclass
class WorldPlan:
    """How many entities of each type a world of about ``n`` entities gets.

    Args:
        n: Target number of (non-distractor) entities.

    Example:
        >>> WorldPlan.for_size(200).counts["country"]
        6
    """

    counts: dict[str, int] = field(default_factory=dict)
    authors: int = 0
    others: int = 0
    distractors: int = 0

    @classmethod
    def for_size(cls, n: int) -> WorldPlan:
        """Scale the ~200-entity ``small`` plan to about ``n`` entities."""
        if n < 40:
            raise InputError(f"A sample world needs at least 40 entities, got {n}.")
        scale = n / 200
        counts = {t: max(_MIN[t], round(b * scale)) for t, b in _BASE.items()}
        counts["city"] = max(counts["city"], 2 * counts["country"])
        counts["album"] = max(counts["album"], counts["band"])
        authors = math.ceil(counts["book"] / 1.6)
        others = max(4, round(0.08 * n))
        return cls(counts, authors, others, max(4, n // 25))


class _Builder:
    """Mutable state while the graph is drawn; discarded afterwards."""

    def __init__(self, rng: random.Random, forge: NameForge) -> None:
        self.rng, self.forge = rng, forge
        self.entities: dict[str, Entity] = {}
        self.facts: list[Fact] = []
        self.by_type: dict[str, list[str]] = {}
        self.roots: dict[str, str] = {}
        self.years: dict[str, int] = {}
        self.one: dict[tuple[str, str], str] = {}

    def add(self, etype: str, name: str, *, aliases: tuple[str, ...] = (), boost: float = 0.0,
            gender: str = "", distractor_of: str | None = None, root: str = "") -> str:
        eid = f"{etype}:{slugify(name)}"
        if eid in self.entities:
            raise InputError(f"Duplicate entity id {eid!r}; this is a bug in the generator.")
        kept = tuple(a for a in aliases if self.forge.claim(a))
        pop = self.rng.lognormvariate(_POP_MU[etype] + boost, 1.8)
        popularity = int(min(max(round(pop), 3), 1_500_000))
        self.entities[eid] = Entity(eid, etype, name, popularity, kept, gender, distractor_of)
        self.by_type.setdefault(etype, []).append(eid)
        self.roots[eid] = root
        return eid

    def fact(self, subject: str, relation: str, obj: str | int, literal: bool = False) -> None:
        self.facts.append(Fact(subject, relation, str(obj), literal))
        self.one[(subject, relation)] = str(obj)
        if relation in ("founded_in", "born_on"):
            self.years[subject] = int(str(obj)[:4])

    def date(self, lo: int, hi: int) -> str:
        r = self.rng
        return f"{r.randint(lo, hi):04d}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}"

    def person(self, occupations: tuple[str, ...], lo: int, hi: int,
               family: str | None = None, distractor_of: str | None = None) -> str:
        forge, rng = self.forge, self.rng
        for _ in range(1000):
            given, fam = forge.person()
            fam = family or fam
            if forge.claim(f"{given} {fam}"):
                break
        else:
            raise InputError("The name space is exhausted; ask for a smaller world size.")
        eid = self.add("person", f"{given} {fam}", aliases=(f"{given[0]}. {fam}",),
                       gender=rng.choice("fm"), distractor_of=distractor_of, root=fam,
                       boost=-1.0 if distractor_of else 0.0)
        self.fact(eid, "born_in", rng.choice(self.by_type["city"]))
        self.fact(eid, "born_on", self.date(lo, hi), literal=True)
        self.fact(eid, "occupation", rng.choice(occupations), literal=True)
        return eid

    def company(self, suffixes: tuple[str, ...], industry: str, founder_jobs: tuple[str, ...]
                ) -> str:
        root = self.forge.root(claim=False)
        name = f"{root} {self.rng.choice(suffixes)}"
        self.forge.claim(name)
        cid = self.add("company", name, aliases=(root,), root=root)
        founder = self.person(founder_jobs, 1900, 1985)
        self.fact(cid, "founded_by", founder)
        self.fact(cid, "founded_in", min(2023, self.years[founder] + self.rng.randint(24, 50)),
                  literal=True)
        self.fact(cid, "headquartered_in", self.rng.choice(self.by_type["city"]))
        self.fact(cid, "industry", industry, literal=True)
        return cid


def _places(b: _Builder, plan: WorldPlan) -> None:
    rng, forge = b.rng, b.forge
    for _ in range(plan.counts["country"]):
        root = forge.root("country")
        cid = b.add("country", root, aliases=(f"{rng.choice(('Republic', 'Kingdom'))} of {root}",),
                    boost=0.4, root=root)
        b.fact(cid, "founded_in", rng.randint(1150, 1975), literal=True)
    countries = b.by_type["country"]
    for i in range(plan.counts["city"]):
        root = forge.root("city")
        capital = i < len(countries)
        cid = b.add("city", root, boost=1.6 if capital else 0.0, root=root)
        b.fact(cid, "located_in", countries[i % len(countries)])
        if capital:
            b.fact(cid, "capital_of", countries[i])
        b.fact(cid, "founded_in", rng.randint(700, 1890), literal=True)
    for _ in range(plan.counts["university"]):
        root = forge.root(claim=False)
        style = rng.randrange(3)
        name = (f"University of {root}", f"{root} University", f"{root} Institute")[style]
        alias = (f"{root} University", f"University of {root}", f"{root} Tech")[style]
        forge.claim(name)
        uid = b.add("university", name, aliases=(alias,), root=root)
        b.fact(uid, "located_in", rng.choice(b.by_type["city"]))
        b.fact(uid, "founded_in", rng.randint(1350, 1995), literal=True)


def _culture(b: _Builder, plan: WorldPlan) -> None:
    rng, forge, counts = b.rng, b.forge, plan.counts
    publishers = max(2, counts["company"] // 5)
    labels = max(2, counts["company"] // 6)
    for _ in range(publishers):
        b.company(_PUBLISHER, "publishing", ("publisher", "editor", "entrepreneur"))
    for _ in range(labels):
        b.company(_LABEL, "music recording", ("record producer", "entrepreneur"))
    industries = sorted(_FIRM)
    for _ in range(counts["company"] - publishers - labels):
        industry = rng.choice(industries)
        b.company((_FIRM[industry], "Works", "Holdings"), industry, ("entrepreneur", "engineer"))
    companies = list(b.by_type["company"])
    authors = [b.person(_WRITERS, 1890, 1990) for _ in range(plan.authors)]
    order = list(authors)
    for i in range(counts["book"]):
        if i % len(authors) == 0:
            rng.shuffle(order)
        author = order[i % len(authors)]
        root = forge.root(claim=False)
        word = rng.choice(_WORDS)
        title = rng.choice((f"The {root} {word}", f"{word} of {root}", f"{root}"))
        if not forge.claim(title):
            title = f"The {root} {word}"
            forge.claim(title)
        bid = b.add("book", title, root=root)
        b.fact(bid, "author", author)
        b.fact(bid, "publisher", rng.choice(companies[:publishers]))
        b.fact(bid, "published_in", min(2025, b.years[author] + rng.randint(24, 60)), literal=True)
        b.fact(bid, "genre", rng.choice(_BOOK_GENRES), literal=True)
    label_ids = companies[publishers:publishers + labels]
    for _ in range(counts["band"]):
        root = forge.root(claim=False)
        noun = rng.choice(_NOUNS)
        forge.claim(f"The {root} {noun}")
        band = b.add("band", f"The {root} {noun}", aliases=(f"{root} {noun}",), root=root)
        formed = rng.randint(1962, 2016)
        b.fact(band, "formed_in", rng.choice(b.by_type["city"]))
        b.fact(band, "founded_in", formed, literal=True)
        b.fact(band, "signed_to", rng.choice(label_ids))
        b.fact(band, "genre", rng.choice(_BAND_GENRES), literal=True)
        for _ in range(rng.randint(2, 4)):
            member = b.person(_MUSICIANS, formed - 32, formed - 18)
            b.fact(member, "member_of", band)
    bands = b.by_type["band"]
    for i in range(counts["album"]):
        band = bands[i] if i < len(bands) else rng.choice(bands)
        root = forge.root(claim=False)
        title = rng.choice((root, f"{rng.choice(_NOUNS)} of {root}", f"The {root} Sessions"))
        if not forge.claim(title):
            title = f"The {root} Sessions"
            forge.claim(title)
        aid = b.add("album", title, root=root)
        b.fact(aid, "released_by", band)
        b.fact(aid, "released_in", min(2025, b.years[band] + rng.randint(1, 20)), literal=True)


def _nature_and_people(b: _Builder, plan: WorldPlan) -> None:
    rng, forge = b.rng, b.forge
    for _ in range(plan.counts["river"]):
        root = forge.root(claim=False)
        forge.claim(f"{root} River")
        rid = b.add("river", f"{root} River", aliases=(f"River {root}",), root=root)
        b.fact(rid, "flows_through", rng.choice(b.by_type["city"]))
        b.fact(rid, "length", rng.randint(40, 2800), literal=True)
    for _ in range(plan.counts["mountain"]):
        root = forge.root(claim=False)
        forge.claim(f"Mount {root}")
        mid = b.add("mountain", f"Mount {root}", aliases=(f"{root} Peak",), root=root)
        b.fact(mid, "located_in", rng.choice(b.by_type["country"]))
        b.fact(mid, "elevation", rng.randint(900, 6800), literal=True)
    for _ in range(plan.others):
        b.person(_OTHERS, 1920, 2000)
    people = list(b.by_type["person"])
    founders = {b.one[(c, "founded_by")] for c in b.by_type["company"]}
    for pid in people:
        if rng.random() < 0.8:
            b.fact(pid, "educated_at", rng.choice(b.by_type["university"]))
        if pid not in founders and rng.random() < 0.45:
            b.fact(pid, "employer", rng.choice(b.by_type["company"]))
    order = list(people)
    rng.shuffle(order)
    for a, c in zip(order[::2], order[1::2]):
        if rng.random() < 0.5 and abs(b.years[a] - b.years[c]) < 25:
            b.fact(a, "spouse_of", c)
            b.fact(c, "spouse_of", a)


def _distractors(b: _Builder, plan: WorldPlan) -> None:
    rng, forge = b.rng, b.forge
    cities = b.by_type["city"]
    pool = [("person", p) for p in b.by_type["person"]] + [
        ("company", c) for c in b.by_type["company"]] + [("book", k) for k in b.by_type["book"]]
    for etype, original in rng.sample(pool, min(plan.distractors, len(pool))):
        root = b.roots[original]
        if etype == "person":
            job = b.one[(original, "occupation")]
            year = b.years[original]
            pid = b.person((job,), year - 15, year + 15, family=root, distractor_of=original)
            uni = b.one.get((original, "educated_at"))
            b.fact(pid, "educated_at", uni or rng.choice(b.by_type["university"]))
            continue
        if etype == "company":
            industry = b.one[(original, "industry")]
            suffixes = {"publishing": _PUBLISHER, "music recording": _LABEL}.get(
                industry, (_FIRM.get(industry, "Works"), "Works", "Holdings", "Group"))
            name = forge.variant(root, [f"{root} {s}" for s in suffixes] + [f"{root} Group"])
            if name is None:
                continue
            cid = b.add("company", name, boost=-1.0, distractor_of=original, root=root)
            b.fact(cid, "founded_in", rng.randint(1890, 2020), literal=True)
            b.fact(cid, "headquartered_in", rng.choice(cities))
            b.fact(cid, "industry", industry, literal=True)
            continue
        name = forge.variant(root, [f"The {root} {w}" for w in _WORDS] + [f"Return to {root}"])
        if name is None:
            continue
        others = [a for a in sorted({b.one[(k, "author")] for k in b.by_type["book"]})
                  if a != b.one[(original, "author")]] or [b.one[(original, "author")]]
        bid = b.add("book", name, boost=-1.0, distractor_of=original, root=root)
        b.fact(bid, "author", rng.choice(others))
        b.fact(bid, "publisher", b.one[(original, "publisher")])
        b.fact(bid, "published_in", rng.randint(1950, 2025), literal=True)
        b.fact(bid, "genre", b.one[(original, "genre")], literal=True)


def build_graph(rng: random.Random, forge: NameForge, n: int
                ) -> tuple[list[Entity], list[Fact]]:
    """Draw the entities and facts of a world of about ``n`` entities.

    Args:
        rng: The world's random generator.
        forge: The name forge (sharing the world's name space).
        n: Target number of entities before distractors.

    Returns:
        ``(entities, facts)``, entities sorted by id and facts sorted.
    """
    plan = WorldPlan.for_size(n)
    builder = _Builder(rng, forge)
    _places(builder, plan)
    _culture(builder, plan)
    _nature_and_people(builder, plan)
    _distractors(builder, plan)
    entities = sorted(builder.entities.values(), key=lambda e: e.id)
    return entities, sorted(set(builder.facts))
