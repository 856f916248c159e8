"""``SampleWorld``: the project's own fictional world, generated deterministically from a seed.

One call builds everything from ``random.Random`` instances seeded by the world seed (never
``hash()``, never set iteration order), so the same seed gives an equal world and
byte-identical exports under any ``PYTHONHASHSEED``:

- entities with invented names and PopQA-like popularity, and typed functional facts;
- one passage per entity with the exact triples it states, and fact -> passage support;
- 2- to 4-hop questions with their fact chains and gold passages, and PopQA-style questions;
- an offline website (four domains, robots.txt, links, dates) with an httpx transport;
- snapshots in time (``snapshot=k``, :meth:`SampleWorld.snapshot`): some facts change, fresh
  news pages report them, and :meth:`SampleWorld.changes_since` lists what changed.

Example:
    >>> world = SampleWorld.generate(0, size="tiny")
    >>> world == SampleWorld.generate(0, size="tiny")
    True
    >>> q = world.questions[0]
    >>> all(world.passage(pid) is not None for pid in q.gold_passage_ids)
    True
"""

from __future__ import annotations

import random
import statistics
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from memagents.errors import InputError
from memagents.sample.names import NameForge
from memagents.sample.passages import render_passages
from memagents.sample.popqa import compose_popqa
from memagents.sample.questions import compose_questions
from memagents.sample.schema import (
    RELATIONS,
    Entity,
    Fact,
    Passage,
    PopQuestion,
    Question,
    render_object,
)
from memagents.sample.sitegen import build_website
from memagents.sample.snapshots import (
    FactChange,
    SnapshotDiff,
    check_index,
    diff_between,
    evolve,
    follow,
    snapshot_date,
)
from memagents.sample.website import Website
from memagents.sample.worldgen import build_graph

__all__ = ["SIZES", "SampleWorld"]

#: Named sizes: approximate number of entities before distractors.
SIZES: dict[str, int] = {"tiny": 80, "small": 200, "medium": 1000, "large": 5000}
_MAX_ENTITIES = 20_000


def _entity_target(size: str | int) -> int:
    if isinstance(size, bool) or not isinstance(size, (str, int)):
        raise InputError(f"size must be one of {sorted(SIZES)} or an int, got {size!r}.")
    if isinstance(size, str):
        if size not in SIZES:
            raise InputError(f"Unknown size {size!r}; use one of {', '.join(SIZES)} or an int "
                             f"between 40 and {_MAX_ENTITIES}.")
        return SIZES[size]
    if not 40 <= size <= _MAX_ENTITIES:
        raise InputError(f"size={size} is out of range; pass an int between 40 and "
                         f"{_MAX_ENTITIES} (about that many entities), or a named size.")
    return size


@dataclass(frozen=True, eq=True)
class SampleWorld:
    """A generated fictional world; build it with :meth:`generate`.

    Attributes:
        seed: The seed it was generated from.
        size: The size it was asked for (a name from :data:`SIZES` or an int).
        name: The world's name (its most popular country).
        entities: All entities, sorted by id.
        facts: All facts, sorted.
        passages: One passage per entity, ids ``p0001``... in a shuffled order.
        questions: Multi-hop questions.
        popqa: PopQA-style single-hop questions.
        website: The offline web.
        fact_passages: Fact -> ids of the passages stating it (the subject's article first).
        snapshot_index: Which snapshot in time this is (0: as first generated).
        changes: The fact changes of snapshots 1 to ``snapshot_index``, in order.

    Example:
        >>> world = SampleWorld.generate(3, size="tiny")
        >>> fact = world.facts[0]
        >>> pid = world.passages_for(fact)[0]
        >>> world.passage(pid).entity_id == fact.subject_id
        True
    """

    seed: int
    size: str | int
    name: str
    entities: tuple[Entity, ...] = field(repr=False)
    facts: tuple[Fact, ...] = field(repr=False)
    passages: tuple[Passage, ...] = field(repr=False)
    questions: tuple[Question, ...] = field(repr=False)
    popqa: tuple[PopQuestion, ...] = field(repr=False)
    website: Website = field(repr=False)
    fact_passages: dict[Fact, tuple[str, ...]] = field(repr=False)
    snapshot_index: int = 0
    changes: tuple[FactChange, ...] = field(default=(), repr=False)

    @classmethod
    def generate(cls, seed: int = 0, *, size: str | int = "small",
                 snapshot: int = 0) -> SampleWorld:
        """Generate the world for ``seed``, at snapshot ``snapshot`` in time.

        Args:
            seed: Any non-negative int; equal seeds give equal worlds.
            size: ``"tiny"`` (~80 entities), ``"small"`` (~200, the default used by tests and
                the demo), ``"medium"`` (~1,000), ``"large"`` (~5,000), or an int of about
                how many entities to make (40 to 20,000).
            snapshot: 0 (the default) for the world as first generated, dated 2026-07-01;
                ``k`` (up to 12) for the same world ``3k`` months later, where some facts have
                changed and fresh news pages report them (see
                :mod:`memagents.sample.snapshots`).

        Returns:
            The world.

        Raises:
            InputError: If ``seed`` is not a non-negative int, ``size`` is unknown or
                ``snapshot`` is out of range.
        """
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise InputError(f"seed must be a non-negative int such as 0 or 42, got {seed!r}.")
        n = _entity_target(size)
        check_index(snapshot)
        rng = random.Random(seed)
        forge = NameForge(rng)
        entities, facts = build_graph(rng, forge, n)
        countries = [e for e in entities if e.type == "country"]
        name = max(countries, key=lambda e: (e.popularity, e.id)).name
        changes: tuple[FactChange, ...] = ()
        if snapshot:
            later = evolve(seed, forge, name, entities, facts, snapshot)
            facts, passages, support = later.facts, later.passages, later.support
            website, changes = later.website, later.changes
        else:
            passages, support = render_passages(seed, entities, facts)
        count = min(2000, max(24, round(0.3 * n)))
        questions = compose_questions(seed, entities, facts, passages, support, count)
        popqa = compose_popqa(entities, facts, passages)
        if not snapshot:
            website = build_website(seed, forge, name, entities, facts, passages, support)
        return cls(seed, size, name, tuple(entities), tuple(facts), tuple(passages),
                   tuple(questions), tuple(popqa), website, support, snapshot, changes)

    def __repr__(self) -> str:
        at = f", snapshot={self.snapshot_index}" if self.snapshot_index else ""
        return (f"SampleWorld(seed={self.seed}, size={self.size!r}{at}, name={self.name!r}, "
                f"entities={len(self.entities)}, passages={len(self.passages)}, "
                f"questions={len(self.questions)}, pages={len(self.website.pages)})")

    def __hash__(self) -> int:
        return hash((self.seed, self.size, self.snapshot_index))

    @property
    def date(self) -> str:
        """ISO date of this snapshot: no page is dated later (2026-07-01 for snapshot 0)."""
        return snapshot_date(self.snapshot_index)

    def snapshot(self, index: int) -> SampleWorld:
        """The same world (seed and size) at snapshot ``index`` in time.

        Example:
            >>> world = SampleWorld.generate(0, size="tiny")
            >>> later = world.snapshot(1)
            >>> later.snapshot_index, later.date, later.website.domains == world.website.domains
            (1, '2026-10-01', True)
        """
        if check_index(index) == self.snapshot_index:
            return self
        return SampleWorld.generate(self.seed, size=self.size, snapshot=index)

    def changes_since(self, index: int) -> SnapshotDiff:
        """What changed from snapshot ``index`` (earlier or equal) to this one.

        Raises:
            InputError: If ``index`` is out of range or later than this snapshot.

        Example:
            >>> later = SampleWorld.generate(0, size="tiny", snapshot=1)
            >>> old, new = later.changes_since(0).changed_facts[0]
            >>> old in later.snapshot(0).facts, new in later.facts, old in later.facts
            (True, True, False)
        """
        return diff_between(self.changes, self.website, index, self.snapshot_index)

    def answer_for(self, question: Question) -> str | None:
        """The answer this snapshot's facts give to ``question`` (of any snapshot).

        Follows the question's relation path from its start entity; None when a hop's fact
        does not exist here (it was retired).

        Example:
            >>> world = SampleWorld.generate(0, size="tiny")
            >>> all(world.answer_for(q) == q.answer for q in world.questions)
            True
            >>> later = world.snapshot(1)
            >>> stale = [q for q in world.questions if later.changes_since(0).is_stale(q)]
            >>> [(q.answer, later.answer_for(q)) for q in stale][:1]
            [('Mynande Weirorne', 'Futhova Equist')]
        """
        chain = follow(self.facts, question.start_id, question.path)
        if chain is None:
            return None
        if question.kind == "attribute":
            return render_object(chain[-1], {})
        last = chain[-1]
        return self.entity(last.subject_id if question.path[-1].startswith("^")
                           else last.object).name

    @cached_property
    def _entities(self) -> dict[str, Entity]:
        return {e.id: e for e in self.entities}

    @cached_property
    def _passages(self) -> dict[str, Passage]:
        return {p.id: p for p in self.passages}

    @cached_property
    def _surface(self) -> dict[str, Entity]:
        return {form.casefold(): e for e in self.entities for form in (e.name, *e.aliases)}

    def entity(self, entity_id: str) -> Entity:
        """Return the entity with this id.

        Raises:
            InputError: If there is none.
        """
        try:
            return self._entities[entity_id]
        except (KeyError, TypeError):
            raise InputError(f"No entity {entity_id!r}; ids look like 'person:<slug>', see "
                             "world.entities.") from None

    def find(self, name: str) -> Entity | None:
        """Return the entity whose name or alias is ``name`` (case-insensitive), or None."""
        return self._surface.get(name.casefold()) if isinstance(name, str) else None

    def passage(self, passage_id: str) -> Passage | None:
        """Return the passage with this id, or None."""
        return self._passages.get(passage_id)

    def article(self, entity_id: str) -> Passage:
        """Return the entity's own passage."""
        entity = self.entity(entity_id)
        return next(p for p in self.passages if p.entity_id == entity.id)

    def passages_for(self, fact: Fact) -> tuple[str, ...]:
        """Ids of the passages stating ``fact`` (the subject's article first).

        Raises:
            InputError: If the fact is not one of the world's facts.
        """
        if fact not in self.fact_passages:
            raise InputError(f"{fact!r} is not a fact of this world; take facts from world.facts.")
        return self.fact_passages[fact]

    def triple(self, fact: Fact) -> tuple[str, str, str]:
        """The ``(subject name, predicate phrase, object)`` triple passages use for ``fact``."""
        names = {} if fact.literal else {fact.object: self.entity(fact.object).name}
        return (self.entity(fact.subject_id).name, RELATIONS[fact.relation].phrase,
                render_object(fact, names))

    def facts_about(self, entity_id: str) -> list[Fact]:
        """Facts whose subject is the entity, in sorted order."""
        self.entity(entity_id)
        return [f for f in self.facts if f.subject_id == entity_id]

    def corpus(self) -> list[tuple[str, str]]:
        """``(passage id, title + "\\n" + text)`` for every passage, ready for indexing."""
        return [(p.id, f"{p.title}\n{p.text}") for p in self.passages]

    def stats(self) -> dict[str, Any]:
        """Counts and distributions describing the world (JSON-serialisable)."""
        pops = sorted(e.popularity for e in self.entities)
        pages = self.website.pages.values()

        def count(values: Any) -> dict[str, int]:
            return {str(k): v for k, v in sorted(Counter(values).items())}

        return {
            "seed": self.seed, "size": self.size, "name": self.name,
            "snapshot": self.snapshot_index, "date": self.date, "changes": len(self.changes),
            "entities": len(self.entities),
            "entities_by_type": count(e.type for e in self.entities),
            "distractors": sum(1 for e in self.entities if e.distractor_of),
            "facts": len(self.facts),
            "facts_by_relation": count(f.relation for f in self.facts),
            "passages": len(self.passages),
            "passage_words_mean": round(statistics.fmean(
                len(p.text.split()) for p in self.passages), 1),
            "triples": sum(len(p.triples) for p in self.passages),
            "questions": len(self.questions),
            "questions_by_hops": count(q.hops for q in self.questions),
            "questions_by_kind": count(q.kind for q in self.questions),
            "question_paths": len({q.path for q in self.questions}),
            "popqa": len(self.popqa),
            "pages": len(self.website.pages),
            "pages_by_domain": count(p.domain for p in pages),
            "pages_by_kind": count(p.kind for p in pages),
            "links": sum(len(p.links) for p in pages),
            "popularity": {"min": pops[0], "median": int(statistics.median(pops)),
                           "max": pops[-1]},
        }
