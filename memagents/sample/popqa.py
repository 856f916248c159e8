"""Single-hop PopQA-style questions with subject popularity, for the retrieve-or-recall gate.

Templates and ``prop_id`` values follow PopQA (Mallen et al., 2023) where the relation exists
there (``occupation`` 22, ``place of birth`` 218, ``genre`` 91, ``country`` 182, ``author``
484, ``capital of`` 97, ``capital`` 422); relations PopQA lacks get ids from 1001 upward.
``possible_answers`` holds the object and its aliases (plus common synonyms for occupations),
scored, as in PopQA, by case-insensitive containment.

Example:
    >>> from memagents.sample import SampleWorld
    >>> world = SampleWorld.generate(0, size="tiny")
    >>> q = world.popqa[0]
    >>> q.question.endswith("?") and q.possible_answers[0] == q.obj and q.s_pop >= 3
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from memagents.sample.schema import (
    RELATIONS,
    Entity,
    Fact,
    Passage,
    PopQuestion,
    literal_aliases,
    render_object,
)

__all__ = ["POPQA_PROPS", "PopProp", "compose_popqa"]


@dataclass(frozen=True)
class PopProp:
    """One PopQA property: which facts it asks about and how.

    Attributes:
        relation: The world relation.
        subjects: Subject entity types (of the question's subject).
        inverse: Ask from the fact's object to its subject (``capital`` asks a country).
        prop: PopQA ``prop`` name.
        prop_id: PopQA ``prop_id`` (1001+ for properties PopQA does not have).
        template: Question template with ``{}`` for the subject name.

    Example:
        >>> POPQA_PROPS[0].template.format("Ilda Morn")
        "What is Ilda Morn's occupation?"
    """

    relation: str
    subjects: tuple[str, ...]
    inverse: bool
    prop: str
    prop_id: int
    template: str


#: The properties asked, in a fixed order.
POPQA_PROPS: tuple[PopProp, ...] = (
    PopProp("occupation", ("person",), False, "occupation", 22, "What is {}'s occupation?"),
    PopProp("born_in", ("person",), False, "place of birth", 218, "In what city was {} born?"),
    PopProp("genre", ("book", "band"), False, "genre", 91, "What genre is {}?"),
    PopProp("located_in", ("city", "mountain"), False, "country", 182, "In what country is {}?"),
    PopProp("author", ("book",), False, "author", 484, "Who is the author of {}?"),
    PopProp("capital_of", ("city",), False, "capital of", 97, "What is {} the capital of?"),
    PopProp("capital_of", ("country",), True, "capital", 422, "What is the capital of {}?"),
    PopProp("founded_by", ("company",), False, "founded by", 1001, "Who founded {}?"),
    PopProp("released_by", ("album",), False, "performer", 1002, "Who is the performer of {}?"),
    PopProp("headquartered_in", ("company",), False, "headquarters location", 1003,
            "In what city is {} headquartered?"),
    PopProp("publisher", ("book",), False, "publisher", 1004, "Who published {}?"),
)

_SYNONYMS = {
    "novelist": ("writer", "author"), "poet": ("writer",), "essayist": ("writer",),
    "playwright": ("dramatist", "writer"), "singer": ("vocalist", "musician"),
    "guitarist": ("musician",), "drummer": ("percussionist", "musician"),
    "bassist": ("bass guitarist", "musician"), "keyboardist": ("musician",),
    "violinist": ("musician",), "record producer": ("producer",),
    "entrepreneur": ("businessperson",), "surgeon": ("physician", "doctor"),
}


def compose_popqa(entities: Sequence[Entity], facts: Sequence[Fact],
                  passages: Sequence[Passage]) -> list[PopQuestion]:
    """Ask every PopQA property of every non-distractor entity that has it.

    Args:
        entities: All entities.
        facts: All facts.
        passages: All passages (the question subject's article, which states the fact, is
            the gold passage).

    Returns:
        Questions ``pq0001``... ordered by subject id, then property.
    """
    by_id = {e.id: e for e in entities}
    names = {e.id: e.name for e in entities}
    article = {p.entity_id: p.id for p in passages}
    forward = {(f.subject_id, f.relation): f for f in facts}
    backward = {(f.object, f.relation): f for f in facts if not f.literal}
    out: list[PopQuestion] = []
    for entity in sorted(entities, key=lambda e: e.id):
        if entity.distractor_of:
            continue
        for prop in POPQA_PROPS:
            if entity.type not in prop.subjects:
                continue
            fact = (backward if prop.inverse else forward).get((entity.id, prop.relation))
            if fact is None:
                continue
            if prop.inverse:
                obj_id: str | None = fact.subject_id
                obj = names[fact.subject_id]
            else:
                obj_id = None if fact.literal else fact.object
                obj = render_object(fact, names)
            if obj_id is not None:
                extra = by_id[obj_id].aliases
                o_pop: int | None = by_id[obj_id].popularity
            else:
                kind = RELATIONS[fact.relation].literal
                extra = literal_aliases(kind, fact.object) + _SYNONYMS.get(obj, ())
                o_pop = None
            out.append(PopQuestion(
                id=f"pq{len(out) + 1:04d}", question=prop.template.format(entity.name),
                possible_answers=(obj, *extra), s_pop=entity.popularity, o_pop=o_pop,
                prop=prop.prop, prop_id=prop.prop_id, subj=entity.name, subj_id=entity.id,
                obj=obj, obj_id=obj_id, s_aliases=entity.aliases, relation=prop.relation,
                gold_passage_id=article[entity.id]))
    return out
