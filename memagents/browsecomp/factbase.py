"""An exact knowledge base for the reasoning graph: ``(subject, relation, object)`` triples.

Names match on :func:`~memagents.browsecomp.candidate.normalize_text` keys and relations on
:func:`relation_key` (``"founded by"`` is ``founded_by``); the first spelling of a name is kept
for display. Built from a candidate's hops, from any triples (the facts an agent read), or
exactly from the sample world's facts (:meth:`FactBase.from_world`), with optional entity types
for complement domains. :class:`~memagents.browsecomp.reasoning.ReasoningGraph` solves
questions against it.

Example:
    >>> kb = FactBase.from_hops([Hop(subject="Velm Press", relation="founded by",
    ...                              object="Ada Korvin")])
    >>> sorted(kb.extended([("Ada Korvin", "born_in", "Quessa")]).triples())
    [('Ada Korvin', 'born_in', 'Quessa'), ('Velm Press', 'founded_by', 'Ada Korvin')]
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from memagents.browsecomp.candidate import Constraint, Hop, normalize_text
from memagents.errors import InputError

if TYPE_CHECKING:
    from memagents.sample import SampleWorld

__all__ = ["FactBase", "Keys", "relation_key"]

Keys = frozenset[str]
"""A set of normalized entity keys."""


def relation_key(relation: str) -> str:
    """The matching key of a relation label: ``"Founded by"`` and ``"founded_by"`` agree.

    >>> relation_key("Founded-By "), relation_key("founded_by")
    ('founded_by', 'founded_by')
    """
    return "_".join(normalize_text(relation).replace("-", " ").replace("_", " ").split())


class FactBase:
    """An exact knowledge base: ``(subject, relation, object)`` triples with optional types.

    Names match on :func:`normalize_text` keys and relations on :func:`relation_key`; the
    first spelling of a name is kept for display.

    Args:
        triples: The facts.
        types: Entity name -> type (``"city"``...), for complement domains.

    Example:
        >>> kb = FactBase([("Quessa", "located in", "Drassen")], types={"Quessa": "city"})
        >>> ("quessa", "located_in", "DRASSEN") in kb, kb.objects("Quessa", "located_in")
        (True, frozenset({'drassen'}))
        >>> kb.name("drassen"), kb.type_of("quessa"), len(kb)
        ('Drassen', 'city', 1)
    """

    def __init__(self, triples: Iterable[tuple[str, str, str]] = (), *,
                 types: Mapping[str, str] | None = None) -> None:
        self._names: dict[str, str] = {}
        self._types: dict[str, str] = {}
        self._facts: set[tuple[str, str, str]] = set()
        self._out: dict[tuple[str, str], set[str]] = defaultdict(set)
        self._in: dict[tuple[str, str], set[str]] = defaultdict(set)
        self._pairs: dict[str, set[tuple[str, str]]] = defaultdict(set)
        self._about: dict[str, set[tuple[str, str, str]]] = defaultdict(set)
        for item in triples:
            if len(item) != 3 or not all(isinstance(t, str) and t.strip() for t in item):
                raise InputError(f"a fact must be three non-empty strings (subject, relation, "
                                 f"object), got {item!r}.")
            s, r, o = self._key(item[0]), relation_key(item[1]), self._key(item[2])
            self._facts.add((s, r, o))
            self._out[s, r].add(o)
            self._in[o, r].add(s)
            self._pairs[r].add((s, o))
            self._about[s].add((s, r, o))
            self._about[o].add((s, r, o))
        for name, kind in (types or {}).items():
            self._types[self._key(name)] = kind

    def _key(self, name: str) -> str:
        key = normalize_text(name)
        self._names.setdefault(key, " ".join(name.split()))
        return key

    def extended(self, triples: Iterable[tuple[str, str, str]], *,
                 types: Mapping[str, str] | None = None) -> FactBase:
        """A new base with these facts (and types) added; this one is unchanged."""
        mine = [(self.name(s), r, self.name(o)) for s, r, o in sorted(self._facts)]
        kinds = {self.name(k): t for k, t in self._types.items()} | dict(types or {})
        return FactBase([*mine, *triples], types=kinds)

    @classmethod
    def from_hops(cls, hops: Iterable[Hop], *, types: Mapping[str, str] | None = None
                  ) -> FactBase:
        """The facts of a candidate's hops."""
        return cls(((h.subject, h.relation, h.object) for h in hops), types=types)

    @classmethod
    def from_world(cls, world: SampleWorld) -> FactBase:
        """Every fact of a sample world, exactly: subjects and entity objects by name,
        relations by name (``born_in``), literal objects rendered as pages write them
        (``"9 April 1961"``); entities typed by their type, literals ``literal:<kind>``."""
        from memagents.sample.schema import RELATIONS, render_object

        names = {e.id: e.name for e in world.entities}
        types = {e.name: e.type for e in world.entities}
        triples = []
        for f in world.facts:
            obj = render_object(f, names)
            if f.literal:
                types.setdefault(obj, f"literal:{RELATIONS[f.relation].literal}")
            triples.append((names[f.subject_id], f.relation, obj))
        return cls(triples, types=types)

    def __len__(self) -> int:
        return len(self._facts)

    def __contains__(self, fact: object) -> bool:
        if not (isinstance(fact, tuple) and len(fact) == 3):
            return False
        s, r, o = fact
        return (normalize_text(s), relation_key(r), normalize_text(o)) in self._facts

    def name(self, key: str) -> str:
        """The display spelling of a name or key (the key itself when unknown)."""
        return self._names.get(normalize_text(key), key)

    def type_of(self, name: str) -> str | None:
        """The entity's type, if known."""
        return self._types.get(normalize_text(name))

    def entities(self) -> Keys:
        """Keys of every subject and object."""
        return frozenset(k for f in self._facts for k in (f[0], f[2]))

    def of_types(self, kinds: Iterable[str]) -> Keys:
        """Keys of the entities of any of these types."""
        wanted = set(kinds)
        return frozenset(k for k, t in self._types.items() if t in wanted)

    def objects(self, subject: str, relation: str) -> Keys:
        """Keys of ``o`` with ``subject --relation--> o``."""
        return frozenset(self._out.get((normalize_text(subject), relation_key(relation)), ()))

    def subjects(self, relation: str, obj: str) -> Keys:
        """Keys of ``s`` with ``s --relation--> obj``."""
        return frozenset(self._in.get((normalize_text(obj), relation_key(relation)), ()))

    def pairs(self, relation: str) -> frozenset[tuple[str, str]]:
        """Every ``(subject, object)`` key pair of a relation."""
        return frozenset(self._pairs.get(relation_key(relation), ()))

    def facts_about(self, name: str) -> list[tuple[str, str, str]]:
        """Key triples with ``name`` as subject or object, sorted."""
        return sorted(self._about.get(normalize_text(name), ()))

    def triples(self) -> list[tuple[str, str, str]]:
        """Every fact in display spelling, sorted."""
        return sorted((self.name(s), r, self.name(o)) for s, r, o in self._facts)

    def project(self, c: Constraint, values: Keys | None) -> Keys:
        """Entities the target of ``c`` may be, given the keys its value may be (None: any),
        ignoring negation."""
        r = relation_key(c.relation)
        if values is None:
            return frozenset(o if c.inverse else s for s, o in self.pairs(r))
        index, out = (self._out, set()) if c.inverse else (self._in, set())
        for v in values:
            out |= index.get((v, r), set())
        return frozenset(out)

    def domain(self, c: Constraint) -> Keys:
        """The complement domain of ``c``'s target: the entities of the types found at the
        target's end of the relation (plus untyped ones found there), or without types every
        entity found there."""
        ends = frozenset(o if c.inverse else s for s, o in self.pairs(c.relation))
        kinds = {self._types[k] for k in ends if k in self._types}
        return self.of_types(kinds) | frozenset(k for k in ends if k not in self._types)
