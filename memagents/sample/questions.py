"""Multi-hop questions composed from chains of known facts.

A chain starts at a named entity and follows 2 to 4 functional relations (forward, or backward
along a one-to-one relation such as ``capital_of``), so its answer is unique by construction.
The question nests one noun phrase per hop ("the publisher of the book ...") and ends with a
question template for the last hop; some final pairs read more naturally fused ("In which
country was X born?" for ``born_in`` then ``located_in``).

Chains are rejected when a single passage names both the start entity and the answer (a
shortcut that skips the reasoning), when they revisit an entity, touch a distractor, or when
the answer string already occurs in the question.

Example:
    >>> from memagents.sample import SampleWorld
    >>> world = SampleWorld.generate(0, size="tiny")
    >>> q = world.questions[0]
    >>> q.hops == len(q.chain) == len(q.gold_passage_ids) and q.answer not in q.question
    True
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from memagents.sample.schema import (
    RELATIONS,
    Entity,
    Fact,
    Passage,
    Question,
    literal_aliases,
    render_object,
)

__all__ = ["HopSpec", "compose_questions"]


@dataclass(frozen=True)
class HopSpec:
    """How one hop reads inside a question.

    Attributes:
        relation: Relation name.
        source: Entity type the hop starts from.
        inverse: Followed from object to subject (one-to-one relations only).
        nouns: Noun-phrase templates with ``{x}`` (``"the founder of {x}"``); empty when the
            hop can only be the last one (a literal).
        asks: Question templates with ``{x}`` for when the hop is the last one.

    Example:
        >>> HopSpec("capital_of", "country", True, ("the capital of {x}",), ()).key
        '^capital_of@country'
    """

    relation: str
    source: str
    inverse: bool
    nouns: tuple[str, ...]
    asks: tuple[str, ...]

    @property
    def key(self) -> str:
        """``"relation@source"``, with ``"^"`` in front for an inverse hop."""
        return ("^" if self.inverse else "") + f"{self.relation}@{self.source}"


def _split(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split("|") if t.strip())


def _h(relation: str, source: str, nouns: str, asks: str, inverse: bool = False) -> HopSpec:
    return HopSpec(relation, source, inverse, _split(nouns), _split(asks))


_HOPS: tuple[HopSpec, ...] = (
    _h("author", "book", "the author of {x}|the writer of {x}",
       "Who wrote {x}?|Who is the author of {x}?"),
    _h("publisher", "book", "the publisher of {x}|the company that published {x}",
       "Which company published {x}?|Who is the publisher of {x}?"),
    _h("born_in", "person", "the birthplace of {x}|the city where {x} was born",
       "In which city was {x} born?|Where was {x} born?|What is the birthplace of {x}?"),
    _h("educated_at", "person", "the alma mater of {x}|the university attended by {x}",
       "Which university did {x} attend?|Where was {x} educated?|"
       "What is the alma mater of {x}?"),
    _h("employer", "person", "the employer of {x}|the company that employs {x}",
       "Which company employs {x}?|Who is the employer of {x}?"),
    _h("spouse_of", "person", "the spouse of {x}",
       "Who is {x} married to?|Who is the spouse of {x}?"),
    _h("member_of", "person", "the band of {x}|the band that {x} plays in",
       "Which band is {x} a member of?|Which band includes {x}?"),
    _h("located_in", "city", "the country containing {x}|the country where {x} lies",
       "In which country is {x} located?|Which country contains {x}?"),
    _h("located_in", "university", "the home city of {x}|the city where {x} is located",
       "In which city is {x} located?|Where is {x}?"),
    _h("located_in", "mountain", "the country containing {x}|the country where {x} stands",
       "In which country is {x}?"),
    _h("capital_of", "country", "the capital of {x}|the capital city of {x}",
       "What is the capital of {x}?|Which city is the capital of {x}?", inverse=True),
    _h("capital_of", "city", "the country whose capital is {x}",
       "Which country has {x} as its capital?|Which country's capital is {x}?"),
    _h("founded_by", "company", "the founder of {x}|the person who founded {x}",
       "Who founded {x}?|Who is the founder of {x}?"),
    _h("founded_by", "person", "the company founded by {x}",
       "Which company did {x} found?|Which company was founded by {x}?", inverse=True),
    _h("headquartered_in", "company", "the headquarters city of {x}|the city where {x} is based",
       "Where is {x} headquartered?|In which city is {x} based?|"
       "What is the headquarters city of {x}?"),
    _h("formed_in", "band", "the hometown of {x}|the city where {x} was formed",
       "In which city was {x} formed?|What is the hometown of {x}?"),
    _h("signed_to", "band", "the record label of {x}|the label that signed {x}",
       "Which label is {x} signed to?|Which label signed {x}?"),
    _h("released_by", "album", "the band that released {x}|the band behind {x}",
       "Which band released {x}?|Who released {x}?"),
    _h("flows_through", "river", "the city crossed by {x}|the city that {x} flows through",
       "Which city does {x} flow through?|Which city is crossed by {x}?"),
)
_LITERAL_ASKS: dict[str, tuple[str, ...]] = {
    "born_on": ("When was {x} born?", "What is the date of birth of {x}?"),
    "founded_in": ("In what year was {x} founded?", "What is the founding year of {x}?"),
    "founded_in@band": ("In what year was {x} formed?", "What is the formation year of {x}?"),
    "released_in": ("In what year was {x} released?", "What is the release year of {x}?"),
    "published_in": ("In what year was {x} published?",
                     "What is the publication year of {x}?"),
    "occupation": ("What is the occupation of {x}?",),
    "genre": ("What genre is {x}?",),
    "industry": ("In which industry does {x} operate?", "What is the industry of {x}?"),
    "elevation": ("How high is {x}?",),
    "length": ("How long is {x}?",),
}
_LITERALS = tuple(sorted(k for k in _LITERAL_ASKS if "@" not in k))
_FUSED: dict[tuple[str, str], str] = {
    ("born_in@person", "located_in@city"): "In which country was {x} born?",
    ("headquartered_in@company", "located_in@city"): "In which country is {x} headquartered?",
    ("formed_in@band", "located_in@city"): "In which country was {x} formed?",
    ("educated_at@person", "located_in@university"): "In which city did {x} study?",
}
_HOPS_FROM: dict[str, tuple[HopSpec, ...]] = {}
for _spec in _HOPS:
    _HOPS_FROM[_spec.source] = _HOPS_FROM.get(_spec.source, ()) + (_spec,)


@dataclass(frozen=True)
class _Chain:
    start: str
    specs: tuple[HopSpec, ...]
    facts: tuple[Fact, ...]
    nodes: tuple[str, ...]  # start, then each hop's target entity; a literal end is not a node

    @property
    def signature(self) -> tuple[str, ...]:
        return tuple(s.key for s in self.specs)


class _Graph:
    def __init__(self, entities: Sequence[Entity], facts: Sequence[Fact]) -> None:
        self.entities = {e.id: e for e in entities}
        self.forward = {(f.subject_id, f.relation): f for f in facts}
        self.backward = {(f.object, f.relation): f for f in facts
                         if not f.literal and RELATIONS[f.relation].one_to_one}

    def step(self, node: str, spec: HopSpec) -> tuple[Fact, str] | None:
        if spec.inverse:
            fact = self.backward.get((node, spec.relation))
            return (fact, fact.subject_id) if fact else None
        fact = self.forward.get((node, spec.relation))
        return (fact, fact.object) if fact and not fact.literal else None

    def chains(self, start: str, max_hops: int) -> list[_Chain]:
        found: list[_Chain] = []
        stack = [_Chain(start, (), (), (start,))]
        while stack:
            chain = stack.pop()
            node = self.entities[chain.nodes[-1]]
            if chain.specs:
                for relation in _LITERALS:
                    fact = self.forward.get((node.id, relation))
                    if fact and fact.literal and len(chain.specs) < max_hops:
                        asks = _LITERAL_ASKS.get(f"{relation}@{node.type}",
                                                 _LITERAL_ASKS[relation])
                        spec = HopSpec(relation, node.type, False, (), asks)
                        found.append(_Chain(start, chain.specs + (spec,),
                                            chain.facts + (fact,), chain.nodes))
            if len(chain.specs) >= 2:
                found.append(chain)
            if len(chain.specs) >= max_hops:
                continue
            for spec in _HOPS_FROM.get(node.type, ()):
                hop = self.step(node.id, spec)
                if hop is None or hop[1] in chain.nodes or self.entities[hop[1]].distractor_of:
                    continue
                stack.append(_Chain(start, chain.specs + (spec,), chain.facts + (hop[0],),
                                    chain.nodes + (hop[1],)))
        return found


def _trailing(template: str) -> bool:
    """Whether words follow ``{x}`` ("the city where {x} was born"): such templates nest badly."""
    return not template.rstrip("?").endswith("{x}")


def _pick(templates: Sequence[str], nested_trailing: bool, rng: random.Random) -> str:
    fitting = [t for t in templates if not (nested_trailing and _trailing(t))]
    return rng.choice(fitting or list(templates))


def _phrase(chain: _Chain, names: dict[str, str], rng: random.Random) -> str:
    specs = chain.specs
    fused = _FUSED.get((specs[-2].key, specs[-1].key)) if len(specs) >= 2 else None
    if fused and rng.random() < 0.3:
        fused = None
    inner = specs[:-2] if fused else specs[:-1]
    x, trailing = names[chain.start], False
    for spec in inner:
        template = _pick(spec.nouns, trailing, rng)
        x, trailing = template.format(x=x), _trailing(template)
    if fused and not trailing:
        return fused.format(x=x)
    if fused:  # the fused form would nest badly: phrase the last two hops separately
        template = _pick(specs[-2].nouns, trailing, rng)
        x, trailing = template.format(x=x), _trailing(template)
    return _pick(specs[-1].asks, trailing, rng).format(x=x)


def compose_questions(seed: int, entities: Sequence[Entity], facts: Sequence[Fact],
                      passages: Sequence[Passage], support: dict[Fact, tuple[str, ...]],
                      count: int) -> list[Question]:
    """Pick about ``count`` multi-hop questions with a mix of hop counts and relation paths.

    Args:
        seed: The world seed.
        entities: All entities.
        facts: All facts.
        passages: All passages (used for gold passages and the shortcut test).
        support: Fact -> ids of the passages stating it.
        count: How many questions to aim for.

    Returns:
        Questions ``q0001``... in a shuffled order: a third of them 2-hop, a third 3-hop and
        the rest 4-hop when the world allows; about 30% ask for a literal (``attribute``).
    """
    rng = random.Random(f"{seed}:questions")
    graph = _Graph(entities, facts)
    names = {e.id: e.name for e in entities}
    article = {p.entity_id: p.id for p in passages}
    where: dict[str, set[str]] = {}
    for p in passages:
        for subject, _, obj in p.triples:
            where.setdefault(subject.casefold(), set()).add(p.id)
            where.setdefault(obj.casefold(), set()).add(p.id)
    starts = sorted(e.id for e in entities if not e.distractor_of)
    if len(starts) > 1500:
        starts = sorted(rng.sample(starts, 1500))
    pools: dict[int, dict[tuple[str, ...], list[_Chain]]] = {2: {}, 3: {}, 4: {}}
    for start in starts:
        for chain in graph.chains(start, 4):
            pools[len(chain.specs)].setdefault(chain.signature, []).append(chain)
    quotas = {2: round(count * 0.34), 3: round(count * 0.34)}
    quotas[4] = count - quotas[2] - quotas[3]
    picker = _Picker(lambda c: _build(c, graph, names, article, support, where, random.Random(
        f"{seed}:q:{c.signature}:{c.start}")))
    for hops in (2, 3, 4):
        signatures = sorted(pools[hops])
        rng.shuffle(signatures)
        for sig in signatures:
            rng.shuffle(pools[hops][sig])
        attribute = {s: pools[hops][s] for s in signatures if s[-1].split("@")[0] in _LITERALS}
        bridge = {s: pools[hops][s] for s in signatures if s not in attribute}
        taken = picker.take(attribute, round(quotas[hops] * 0.3))
        taken += picker.take(bridge, quotas[hops] - taken)
        picker.take(attribute, quotas[hops] - taken)
    for hops in (4, 3, 2):
        picker.take(pools[hops], count - len(picker.questions))
    questions = picker.questions
    rng.shuffle(questions)
    return [_renumber(q, i) for i, q in enumerate(questions, start=1)]


class _Picker:
    """Round-robin over relation paths; one question per start entity, an answer at most twice."""

    def __init__(self, build: Callable[[_Chain], Question | None]) -> None:
        self.build = build
        self.questions: list[Question] = []
        self.starts: set[str] = set()
        self.answers: dict[str, int] = {}

    def take(self, pools: dict[tuple[str, ...], list[_Chain]], quota: int) -> int:
        taken = 0
        while taken < quota and any(pools.values()):
            for chains in pools.values():
                if taken >= quota:
                    break
                while chains:
                    chain = chains.pop()
                    if chain.start in self.starts:
                        continue
                    question = self.build(chain)
                    if question is None or self.answers.get(question.answer, 0) >= 2:
                        continue
                    self.starts.add(chain.start)
                    self.answers[question.answer] = self.answers.get(question.answer, 0) + 1
                    self.questions.append(question)
                    taken += 1
                    break
        return taken


def _build(chain: _Chain, graph: _Graph, names: dict[str, str], article: dict[str, str],
           support: dict[Fact, tuple[str, ...]], where: dict[str, set[str]],
           rng: random.Random) -> Question | None:
    last = chain.facts[-1]
    literal = chain.specs[-1].relation in _LITERAL_ASKS and not chain.specs[-1].nouns
    if literal:
        kind = RELATIONS[last.relation].literal
        answer, aliases, answer_id = render_object(last, names), literal_aliases(kind, last.object), None
    else:
        answer_id = chain.nodes[-1]
        answer, aliases = names[answer_id], graph.entities[answer_id].aliases
    text = _phrase(chain, names, rng)
    if any(a.casefold() in text.casefold() for a in (answer, *aliases)):
        return None
    start_name = names[chain.start].casefold()
    if where.get(start_name, set()) & where.get(answer.casefold(), set()):
        return None  # one passage names both ends: a shortcut
    gold = []
    for spec, fact, source in zip(chain.specs, chain.facts, chain.nodes):
        ids = support[fact]
        gold.append(article[source] if article[source] in ids else ids[0])
    path = tuple(("^" if s.inverse else "") + s.relation for s in chain.specs)
    return Question("", text, answer, tuple(aliases), len(chain.facts), chain.facts, tuple(gold),
                    "attribute" if literal else "bridge", path, chain.start, answer_id)


def _renumber(q: Question, index: int) -> Question:
    return Question(f"q{index:04d}", q.question, q.answer, q.answer_aliases, q.hops, q.chain,
                    q.gold_passage_ids, q.kind, q.path, q.start_id, q.answer_id)
