"""Render the world's facts as encyclopedia-style passages with exact triples.

Each entity gets one article. The article states every fact whose subject is the entity, with
sentence templates drawn per entity (so wording varies across the corpus), and also mentions a
few facts about other entities that point to it: an author's article names the books she
wrote, a band's article its members and albums, a country's article its capital. Those
mentions give some facts a second supporting passage, as in real encyclopedias.

A passage's ``triples`` list holds exactly the ``(subject name, predicate phrase, object)``
triples its text states, and both names of every triple occur in its text.

Example:
    >>> from memagents.sample.schema import Entity, Fact
    >>> people = [Entity("person:ilda-morn", "person", "Ilda Morn", 40, gender="f"),
    ...           Entity("city:quessa", "city", "Quessa", 900)]
    >>> facts = [Fact("person:ilda-morn", "born_in", "city:quessa"),
    ...          Fact("person:ilda-morn", "born_on", "1961-04-09", literal=True),
    ...          Fact("person:ilda-morn", "occupation", "poet", literal=True),
    ...          Fact("city:quessa", "founded_in", "1210", literal=True)]
    >>> passages, support = render_passages(0, people, facts)
    >>> ("Ilda Morn", "born in", "Quessa") in passages[0].triples + passages[1].triples
    True
    >>> len(support) == len(facts)
    True
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from memagents.errors import InputError
from memagents.sample.schema import RELATIONS, Entity, Fact, Passage, render_object

__all__ = ["render_passages"]

_REF = {"band": "The band", "company": "The company", "city": "The city", "country":
        "The country", "university": "The university", "book": "The book", "album":
        "The album", "river": "The river", "mountain": "The mountain"}

# Templates for facts the intro did not state; "{s}" is the subject, "{o}" the object.
_TEMPLATES: dict[str, tuple[str, ...]] = {
    "born_in": ("{s} was born in {o}.", "{s} is a native of {o}.",
                "{s} was born in the city of {o}."),
    "born_on": ("{s} was born on {o}.",),
    "occupation": ("{s} works as {o}.",),
    "educated_at": ("{s} studied at {o}.", "{s} is a graduate of {o}.",
                    "{s} was educated at {o}."),
    "employer": ("{s} works for {o}.", "{s} is employed by {o}.", "{s} holds a position at {o}."),
    "spouse_of": ("{s} is married to {o}.", "{s} married {o}."),
    "member_of": ("{s} is a member of {o}.", "{s} plays in {o}."),
    "capital_of": ("{s} is the capital of {o}.", "{s} serves as the capital of {o}."),
    "founded_in": ("{s} was founded in {o}.", "{s} was established in {o}."),
    "founded_by": ("{s} was founded by {o}.", "{o} founded {s}."),
    "headquartered_in": ("{s} is headquartered in {o}.", "{s} has its headquarters in {o}.",
                         "{s} is based in {o}."),
    "industry": ("{s} operates in {o}.",),
    "signed_to": ("{s} is signed to {o}.", "{s} records for the label {o}."),
    "publisher": ("{s} was published by {o}.", "{o} published {s}."),
    "published_in": ("{s} was published in {o}.", "{s} first appeared in {o}."),
    "author": ("{s} was written by {o}.",),
    "genre": ("{s} is known for {o}.",),
    "formed_in": ("{s} was formed in {o}.",),
    "released_by": ("{s} was released by {o}.",),
    "released_in": ("{s} came out in {o}.", "{s} was released in {o}."),
    "located_in": ("{s} is located in {o}.", "{s} lies in {o}."),
    "flows_through": ("{s} flows through {o}.", "{s} passes through the city of {o}."),
    "length": ("{s} is {o} long.", "{s} has a length of {o}."),
    "elevation": ("{s} rises to {o}.", "{s} has an elevation of {o}."),
}

# Intros: (relations consumed, templates); "{n}" is the name, then one slot per relation.
_INTROS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "person": (("born_on", "occupation"), ("{n} (born {0}) is {1}.", "{n} is {1} born on {0}.",
                                           "Born on {0}, {n} is {1}.")),
    "country": (("founded_in",), ("{n} is a country founded in {0}.",
                                  "{n} is a sovereign state established in {0}.")),
    "city": (("located_in",), ("{n} is a city in {0}.", "{n} is a city located in {0}.")),
    "university": (("located_in", "founded_in"), (
        "{n} is a university in {0}, founded in {1}.",
        "Founded in {1}, {n} is a university located in {0}.")),
    "company": (("industry", "founded_in"), ("{n} is {0} company founded in {1}.",
                                             "Founded in {1}, {n} is {0} company.")),
    "band": (("genre", "formed_in"), ("{n} are a {0} band formed in {1}.",
                                      "Formed in {1}, {n} are a {0} band.")),
    "album": (("released_by", "released_in"), ("{n} is an album by {0}, released in {1}.",
                                               "Released in {1}, {n} is an album by {0}.")),
    "book": (("genre", "author"), ("{n} is a {0} book written by {1}.",
                                   "{n} is a work of {0} by {1}.")),
    "river": (("flows_through",), ("The {n} flows through {0}.",
                                   "The {n} is a river that flows through {0}.")),
    "mountain": (("located_in", "elevation"), (
        "{n} is a mountain in {0} with an elevation of {1}.",
        "{n}, a mountain in {0}, has an elevation of {1}.")),
}
_ARTICLE_SLOTS = {("person", 1), ("company", 0)}

# Facts about other subjects an article mentions: (article type, relation, subject type) ->
# templates; "{e}" is the article's entity, "{x}" the joined subjects (the most popular three).
_MENTIONS: dict[tuple[str, str, str], tuple[str, ...]] = {
    ("person", "author", "book"): ("{e} wrote {x}.", "{e} is the author of {x}."),
    ("person", "founded_by", "company"): ("{e} founded {x}.", "{e} is the founder of {x}."),
    ("country", "capital_of", "city"): ("The capital of {e} is {x}.",),
    ("country", "located_in", "city"): ("Cities in {e} include {x}.",),
    ("band", "member_of", "person"): ("Members of {e} include {x}.",),
    ("band", "released_by", "album"): ("Albums by {e} include {x}.",),
    ("city", "born_in", "person"): ("Notable people born in {e} include {x}.",),
    ("city", "headquartered_in", "company"): ("Companies based in {e} include {x}.",),
    ("university", "educated_at", "person"): ("Alumni of {e} include {x}.",),
}


def _a(phrase: str) -> str:
    return ("an " if phrase[:1].lower() in "aeiou" else "a ") + phrase


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


class _Article:
    """Accumulates the sentences and triples of one passage."""

    def __init__(self, entity: Entity, rng: random.Random, names: dict[str, str]) -> None:
        self.entity, self.rng, self.names = entity, rng, names
        self.sentences: list[str] = []
        self.triples: list[tuple[str, str, str]] = []
        self.facts: list[Fact] = []

    def state(self, fact: Fact) -> None:
        triple = (self.names[fact.subject_id], RELATIONS[fact.relation].phrase,
                  render_object(fact, self.names))
        if triple not in self.triples:
            self.triples.append(triple)
            self.facts.append(fact)

    def ref(self) -> str:
        e = self.entity
        if not self.sentences or self.rng.random() < 0.4:
            return e.name
        if e.type == "person":
            return "She" if e.gender == "f" else "He"
        return _REF[e.type]

    def say(self, text: str, facts: Sequence[Fact]) -> None:
        self.sentences.append(text[0].upper() + text[1:])
        for fact in facts:
            self.state(fact)


def _article(entity: Entity, own: list[Fact], mentions: dict[str, list[Fact]],
             names: dict[str, str], types: dict[str, str], rng: random.Random) -> _Article:
    art = _Article(entity, rng, names)
    by_rel = {f.relation: f for f in own}
    consumed, intros = _INTROS[entity.type]
    if all(r in by_rel for r in consumed):
        slots = [render_object(by_rel[r], names) for r in consumed]
        for i in range(len(slots)):
            if (entity.type, i) in _ARTICLE_SLOTS:
                slots[i] = _a(slots[i])
        art.say(rng.choice(intros).format(*slots, n=entity.name), [by_rel[r] for r in consumed])
    rest = [f for f in own if not art.sentences or f.relation not in consumed]
    rng.shuffle(rest)
    for fact in rest:
        template = rng.choice(_TEMPLATES[fact.relation])
        subject = art.ref() if template.startswith("{s}") else entity.name
        obj = render_object(fact, names)
        art.say(template.format(s=subject, o=_a(obj) if fact.relation == "occupation" else obj),
                [fact])
    for relation in sorted(mentions):
        facts = mentions[relation][:3]
        template = rng.choice(_MENTIONS[(entity.type, relation, types[facts[0].subject_id])])
        subject = art.ref() if template.startswith("{e}") else entity.name
        subjects = _join([names[f.subject_id] for f in facts])
        art.say(template.format(e=subject, x=subjects), facts)
    return art


def render_passages(seed: int, entities: Sequence[Entity], facts: Sequence[Fact]
                    ) -> tuple[list[Passage], dict[Fact, tuple[str, ...]]]:
    """Write one passage per entity and map every fact to the passages stating it.

    Args:
        seed: The world seed; each article draws its wording from ``Random(f"{seed}:...")``.
        entities: All entities (each gets an article).
        facts: All facts; each must have its subject among ``entities``.

    Returns:
        ``(passages, support)``: passages in a shuffled but seed-determined order with ids
        ``p0001``..., and ``support[fact]`` = ids of the passages stating the fact, the subject's
        own article first.

    Raises:
        InputError: If a fact names an unknown entity.
    """
    names = {e.id: e.name for e in entities}
    own: dict[str, list[Fact]] = {e.id: [] for e in entities}
    mentions: dict[str, dict[str, list[Fact]]] = {e.id: {} for e in entities}
    types = {e.id: e.type for e in entities}
    by_id = {e.id: e for e in entities}
    for fact in sorted(facts):
        if fact.subject_id not in names or (not fact.literal and fact.object not in names):
            raise InputError(f"Fact {fact.key!r} names an entity that is not in the world.")
        own[fact.subject_id].append(fact)
        if fact.literal:
            continue
        key = (types[fact.object], fact.relation, types[fact.subject_id])
        if key in _MENTIONS and not by_id[fact.subject_id].distractor_of:
            mentions[fact.object].setdefault(fact.relation, []).append(fact)
    for found in mentions.values():
        for facts_of in found.values():
            facts_of.sort(key=lambda f: (-by_id[f.subject_id].popularity, f.subject_id))
    order = sorted(entities, key=lambda e: e.id)
    random.Random(f"{seed}:passage-order").shuffle(order)
    passages: list[Passage] = []
    stated: dict[Fact, list[str]] = {}
    for index, entity in enumerate(order, start=1):
        pid = f"p{index:04d}"
        art = _article(entity, own[entity.id], mentions[entity.id], names, types,
                       random.Random(f"{seed}:passage:{entity.id}"))
        kind = "distractor" if entity.distractor_of else "article"
        passages.append(Passage(pid, entity.name, " ".join(art.sentences), tuple(art.triples),
                                entity.id, kind))
        for fact in art.facts:
            stated.setdefault(fact, []).append(pid)
    article_of = {p.entity_id: p.id for p in passages}
    support: dict[Fact, tuple[str, ...]] = {}
    for fact in sorted(stated):
        first = article_of[fact.subject_id]
        ids = sorted(stated[fact], key=lambda pid: (pid != first, pid))
        support[fact] = tuple(ids)
    return passages, support
