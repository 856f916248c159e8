"""Value objects of the sample world: relations, entities, facts, passages and questions.

All records are frozen dataclasses holding tuples, so a generated world cannot be changed by
accident and two generations compare equal field by field. ``to_dict()`` gives the JSON record
written by :func:`memagents.sample.export_sample`.

Example:
    >>> fact = Fact("person:ilda-morn", "born_on", "1961-04-09", literal=True)
    >>> render_object(fact, {})
    '9 April 1961'
    >>> RELATIONS["born_in"].phrase
    'born in'
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from memagents.errors import InputError

__all__ = [
    "ENTITY_TYPES",
    "RELATIONS",
    "Entity",
    "Fact",
    "Passage",
    "PopQuestion",
    "Question",
    "Relation",
    "literal_aliases",
    "render_literal",
    "render_object",
]

#: Entity types, in the order the world is built.
ENTITY_TYPES: tuple[str, ...] = (
    "country", "city", "university", "company", "person", "band", "album", "book", "river",
    "mountain",
)

_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)


@dataclass(frozen=True)
class Relation:
    """A typed relation of the world; every relation is functional (one object per subject).

    Attributes:
        name: Identifier used in facts (``"born_in"``).
        phrase: Natural predicate used in passage triples (``"born in"``).
        subjects: Entity types that may be subjects.
        objects: Entity types that may be objects, or ``("literal",)``.
        literal: How a literal object is rendered: ``"date"``, ``"year"``, ``"text"``,
            ``"km"``, ``"m"``; empty for entity-valued relations.
        one_to_one: Also functional in reverse (a question may follow it backwards).

    Example:
        >>> RELATIONS["capital_of"].one_to_one, RELATIONS["born_on"].literal
        (True, 'date')
    """

    name: str
    phrase: str
    subjects: tuple[str, ...]
    objects: tuple[str, ...]
    literal: str = ""
    one_to_one: bool = False


def _rel(name: str, phrase: str, subjects: str, objects: str, literal: str = "",
         one_to_one: bool = False) -> Relation:
    return Relation(name, phrase, tuple(subjects.split()), tuple(objects.split()), literal,
                    one_to_one)


#: Every relation the world uses, by name.
RELATIONS: dict[str, Relation] = {
    r.name: r
    for r in (
        _rel("author", "written by", "book", "person"),
        _rel("born_in", "born in", "person", "city"),
        _rel("born_on", "born on", "person", "literal", "date"),
        _rel("capital_of", "capital of", "city", "country", one_to_one=True),
        _rel("educated_at", "educated at", "person", "university"),
        _rel("elevation", "has elevation", "mountain", "literal", "m"),
        _rel("employer", "employed by", "person", "company"),
        _rel("flows_through", "flows through", "river", "city"),
        _rel("formed_in", "formed in", "band", "city"),
        _rel("founded_by", "founded by", "company", "person", one_to_one=True),
        _rel("founded_in", "founded in", "country city university company band", "literal",
             "year"),
        _rel("genre", "has genre", "band book", "literal", "text"),
        _rel("headquartered_in", "headquartered in", "company", "city"),
        _rel("industry", "operates in", "company", "literal", "text"),
        _rel("length", "has length", "river", "literal", "km"),
        _rel("located_in", "located in", "city university mountain", "country city"),
        _rel("member_of", "member of", "person", "band"),
        _rel("occupation", "works as", "person", "literal", "text"),
        _rel("published_in", "published in", "book", "literal", "year"),
        _rel("publisher", "published by", "book", "company"),
        _rel("released_by", "released by", "album", "band"),
        _rel("released_in", "released in", "album", "literal", "year"),
        _rel("signed_to", "signed to", "band", "company"),
        _rel("spouse_of", "married to", "person", "person"),
    )
}


def _record(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, tuple):
            value = [v.to_dict() if hasattr(v, "to_dict") else (
                list(v) if isinstance(v, tuple) else v) for v in value]
        out[f.name] = value
    return out


@dataclass(frozen=True)
class Entity:
    """One invented thing of the world.

    Attributes:
        id: Stable id, ``"<type>:<slug>"``.
        type: One of :data:`ENTITY_TYPES`.
        name: Unique display name.
        popularity: Monthly page views, PopQA's ``s_pop`` (3 to ~1.5 million).
        aliases: Other unique surface forms.
        gender: ``"f"`` or ``"m"`` for people (pronouns in passages), else empty.
        distractor_of: Id of the entity this one imitates (similar name, same type), if any.

    Example:
        >>> Entity("city:quessa", "city", "Quessa", 1200).to_dict()["popularity"]
        1200
    """

    id: str
    type: str
    name: str
    popularity: int
    aliases: tuple[str, ...] = ()
    gender: str = ""
    distractor_of: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON record of this entity."""
        return _record(self)


@dataclass(frozen=True, order=True)
class Fact:
    """One known fact: ``subject_id --relation--> object``.

    Attributes:
        subject_id: Id of the subject entity.
        relation: A key of :data:`RELATIONS`.
        object: An entity id, or the literal value (ISO date, year, number or text).
        literal: Whether ``object`` is a literal value rather than an entity id.

    Example:
        >>> Fact("city:quessa", "located_in", "country:drassen").key
        'city:quessa|located_in|country:drassen'
    """

    subject_id: str
    relation: str
    object: str
    literal: bool = False

    @property
    def key(self) -> str:
        """A readable unique key, ``"subject|relation|object"``."""
        return f"{self.subject_id}|{self.relation}|{self.object}"

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON record of this fact (with its key)."""
        return {"key": self.key, **_record(self)}


@dataclass(frozen=True)
class Passage:
    """An encyclopedia-style paragraph about one entity.

    Attributes:
        id: Opaque id (``"p0001"``), carrying no hint of the title.
        title: The entity's name.
        text: The paragraph.
        triples: Exactly the ``(subject name, predicate phrase, object)`` triples it states.
        entity_id: The entity the passage is about.
        kind: ``"article"``, or ``"distractor"`` for a look-alike entity's article.

    Example:
        >>> p = Passage("p0001", "Quessa", "Quessa is a city in Drassen.",
        ...             (("Quessa", "located in", "Drassen"),), "city:quessa")
        >>> p.to_dict()["triples"]
        [['Quessa', 'located in', 'Drassen']]
    """

    id: str
    title: str
    text: str
    triples: tuple[tuple[str, str, str], ...]
    entity_id: str
    kind: str = "article"

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON record of this passage."""
        return _record(self)


@dataclass(frozen=True)
class Question:
    """A multi-hop question whose chain of facts is known exactly.

    Attributes:
        id: ``"q0001"``...
        question: Natural-language question composing the chain.
        answer: The unique answer (entity name or rendered literal).
        answer_aliases: Other accepted surface forms of the answer.
        hops: Number of facts in the chain (2 to 4).
        chain: The facts, in reasoning order.
        gold_passage_ids: One supporting passage per hop, in chain order.
        kind: ``"bridge"`` (the answer is an entity) or ``"attribute"`` (a literal value).
        path: Relation names in order; ``"^name"`` marks a hop followed backwards.
        start_id: The entity named in the question.
        answer_id: The answer entity, or None for a literal answer.

    Example:
        >>> f1 = Fact("person:ilda-morn", "born_in", "city:quessa")
        >>> f2 = Fact("city:quessa", "located_in", "country:drassen")
        >>> q = Question("q0001", "In which country was Ilda Morn born?", "Drassen", (), 2,
        ...              (f1, f2), ("p0002", "p0001"), "bridge", ("born_in", "located_in"),
        ...              "person:ilda-morn", "country:drassen")
        >>> q.to_dict()["chain"][1]["key"]
        'city:quessa|located_in|country:drassen'
    """

    id: str
    question: str
    answer: str
    answer_aliases: tuple[str, ...]
    hops: int
    chain: tuple[Fact, ...]
    gold_passage_ids: tuple[str, ...]
    kind: str
    path: tuple[str, ...]
    start_id: str
    answer_id: str | None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON record of this question."""
        return _record(self)


@dataclass(frozen=True)
class PopQuestion:
    """A single-hop PopQA-style question with the subject's popularity.

    Field names follow PopQA (``subj``, ``prop``, ``obj``, ``prop_id``, ``s_pop``, ``o_pop``,
    ``possible_answers``). ``o_pop`` is None when the object is a literal.

    Example:
        >>> q = PopQuestion("pq0001", "What is Ilda Morn's occupation?", ("poet", "writer"), 40,
        ...                 None, "occupation", 22, "Ilda Morn", "person:ilda-morn", "poet", None,
        ...                 (), "occupation", "p0002")
        >>> q.to_dict()["possible_answers"]
        ['poet', 'writer']
    """

    id: str
    question: str
    possible_answers: tuple[str, ...]
    s_pop: int
    o_pop: int | None
    prop: str
    prop_id: int
    subj: str
    subj_id: str
    obj: str
    obj_id: str | None
    s_aliases: tuple[str, ...]
    relation: str
    gold_passage_id: str

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON record of this question."""
        return _record(self)


def render_literal(kind: str, value: str) -> str:
    """Render a literal value the way passages write it.

    Args:
        kind: A :attr:`Relation.literal` kind.
        value: The stored value (``"1961-04-09"`` for dates, digits for numbers).

    Returns:
        The display form (``"9 April 1961"``, ``"3,412 metres"``).

    Raises:
        InputError: If the kind is unknown.
    """
    if kind == "date":
        year, month, day = value.split("-")
        return f"{int(day)} {_MONTHS[int(month) - 1]} {int(year)}"
    if kind in ("year", "text"):
        return value
    if kind == "km":
        return f"{int(value):,} kilometres"
    if kind == "m":
        return f"{int(value):,} metres"
    raise InputError(f"Unknown literal kind {kind!r}; use date, year, text, km or m.")


def literal_aliases(kind: str, value: str) -> tuple[str, ...]:
    """Other accepted surface forms of a literal value (used as answer aliases)."""
    if kind == "date":
        year, month, day = value.split("-")
        name = _MONTHS[int(month) - 1]
        return (value, f"{name} {int(day)}, {int(year)}", f"{int(day)} {name[:3]} {int(year)}")
    if kind == "km":
        return (f"{int(value)} km", f"{int(value):,} km")
    if kind == "m":
        return (f"{int(value)} m", f"{int(value):,} m")
    return ()


def render_object(fact: Fact, names: dict[str, str]) -> str:
    """Return how passages write the object of ``fact``.

    Args:
        fact: The fact.
        names: Entity id -> display name.
    """
    if fact.literal:
        return render_literal(RELATIONS[fact.relation].literal, fact.object)
    return names[fact.object]
