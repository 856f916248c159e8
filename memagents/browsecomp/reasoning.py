"""A question's reasoning graph, and an exact knowledge base to solve it against.

The guidance agent (spec ``shared/docs/methods/browse_benchmarks.md`` §1.2, §6.3, §7) reads a
:class:`~memagents.browsecomp.candidate.Candidate`'s constraints as a formal query over entity
sets, WebShaper's knowledge projections: variables (``?answer``, ``?x1``...) and constants,
one edge per constraint. A variable with one positive constraint is a **projection** (the
entities one relation step from a set), with several an **intersection**, and a negated
constraint makes it a **complement** (its domain minus the projection).

- :class:`~memagents.browsecomp.factbase.FactBase` (re-exported here): a set of
  ``(subject, relation, object)`` triples, built from hops, from triples, or exactly from the
  sample world's facts, with optional entity types (complement domains).
- :class:`ReasoningGraph`: the networkx ``MultiDiGraph`` of the constraints, its validation
  (:attr:`~ReasoningGraph.problems`), the operation of each variable
  (:meth:`~ReasoningGraph.kinds`) and a deterministic bottom-up :meth:`~ReasoningGraph.solve`
  that may leave constraints out (``drop``), which is what redundancy and shortcut detection
  (:mod:`memagents.browsecomp.guidance`) are made of.
- :func:`chain_constraints` turns a hop chain into its projection chain;
  :func:`sample_candidate` formalizes a sample-world question.

Example:
    >>> kb = FactBase([("Velm Press", "founded_by", "Ada Korvin"),
    ...                ("Ada Korvin", "born_in", "Quessa")])
    >>> g = ReasoningGraph([
    ...     Constraint(id="c1", target="?x1", relation="founded_by", value="Velm Press",
    ...                inverse=True),
    ...     Constraint(id="c2", target=ANSWER, relation="born_in", value="?x1", inverse=True)])
    >>> g.problems, g.kinds(), g.depth(), sorted(g.solve(kb))
    ((), {'?answer': 'projection', '?x1': 'projection'}, 2, ['Quessa'])
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import networkx as nx

from memagents.browsecomp.candidate import ANSWER, Candidate, Constraint, Hop, normalize_text
from memagents.browsecomp.factbase import FactBase, Keys, relation_key
from memagents.errors import InputError

if TYPE_CHECKING:
    from memagents.sample import SampleWorld
    from memagents.sample.schema import Question

__all__ = [
    "FactBase",
    "Keys",
    "ReasoningGraph",
    "chain_constraints",
    "is_variable",
    "relation_key",
    "sample_candidate",
]

_MAX_PATHS = 512


def is_variable(term: str) -> bool:
    """Whether a constraint term is a variable (``?answer``, ``?x1``...) rather than a constant."""
    return term.startswith("?")


class ReasoningGraph:
    """The constraints of a question as a graph over variables and constants.

    Nodes are variables (their name) and constants (their normalized name, ``label`` the
    spelling); each constraint is an edge ``target -> value`` keyed by its id with
    ``relation``, ``inverse``, ``negated`` and ``hop``. The target depends on the value, so
    solving runs bottom-up from the constants to ``?answer``.

    Args:
        constraints: The question's clues.
        hops: How many hops the candidate has (to check each constraint's ``hop``); None
            skips that check.

    Example:
        >>> g = ReasoningGraph([
        ...     Constraint(id="c1", target=ANSWER, relation="member_of", value="Kites"),
        ...     Constraint(id="c2", target=ANSWER, relation="born_in", value="Quessa",
        ...                negated=True)])
        >>> kb = FactBase([("Ada", "member_of", "Kites"), ("Bo", "member_of", "Kites"),
        ...                ("Bo", "born_in", "Quessa")])
        >>> g.kinds(), sorted(g.solve(kb)), sorted(g.solve(kb, drop=frozenset({"c2"})))
        ({'?answer': 'complement'}, ['Ada'], ['Ada', 'Bo'])
    """

    def __init__(self, constraints: Iterable[Constraint], *, hops: int | None = None) -> None:
        self.constraints: tuple[Constraint, ...] = tuple(constraints)
        self.hops = hops
        self.graph = nx.MultiDiGraph()
        for c in self.constraints:
            for term in (c.target, c.value):
                node = self.node(term)
                if node not in self.graph:
                    var = is_variable(term)
                    self.graph.add_node(node, kind="variable" if var else "constant",
                                        label=term if var else " ".join(term.split()))
            self.graph.add_edge(self.node(c.target), self.node(c.value), key=c.id, id=c.id,
                                relation=c.relation, inverse=c.inverse, negated=c.negated,
                                hop=c.hop)
        self.by_id = {c.id: c for c in self.constraints}
        self.problems: tuple[str, ...] = tuple(self._validate())

    @classmethod
    def from_candidate(cls, candidate: Candidate) -> ReasoningGraph:
        """The graph of a candidate's constraints (hop indices checked against its hops)."""
        return cls(candidate.constraints, hops=len(candidate.hops))

    @staticmethod
    def node(term: str) -> str:
        """The node of a term: a variable's name, a constant's normalized name."""
        return term if is_variable(term) else normalize_text(term)

    @property
    def ok(self) -> bool:
        """Whether validation found no problem."""
        return not self.problems

    def variables(self) -> tuple[str, ...]:
        """Variables, ``?answer`` first, then in order of appearance."""
        found = [n for n, d in self.graph.nodes(data=True) if d["kind"] == "variable"]
        return tuple(sorted(found, key=lambda v: v != ANSWER))

    def constants(self) -> tuple[str, ...]:
        """Constants as spelled in the constraints, in order of appearance."""
        return tuple(d["label"] for _, d in self.graph.nodes(data=True)
                     if d["kind"] == "constant")

    def _validate(self) -> list[str]:
        out: list[str] = []
        ids = [c.id for c in self.constraints]
        for dup in sorted({i for i in ids if ids.count(i) > 1}):
            out.append(f"constraint id {dup!r} is used {ids.count(dup)} times; give each "
                       "constraint its own id.")
        for c in self.constraints:
            if not c.id or not c.relation.strip():
                out.append(f"constraint {c.id or '(no id)'} needs a non-empty id and relation.")
            if not is_variable(c.target):
                out.append(f"constraint {c.id} targets the constant {c.target!r}; a constraint "
                           "describes a variable (?answer, ?x1...): swap target and value and "
                           "flip `inverse`.")
            if c.hop is not None and self.hops is not None and not 0 <= c.hop < self.hops:
                out.append(f"constraint {c.id} cites hop {c.hop}, but the candidate has "
                           f"{self.hops} hop(s) (indices 0 to {self.hops - 1}); fix the index "
                           "or set hop=None.")
        variables = self.variables()
        if ANSWER not in self.graph or not self.targets(ANSWER):
            out.append(f"no constraint describes {ANSWER}; the question needs at least one "
                       f"clue about its answer.")
        else:
            reach = nx.descendants(self.graph, ANSWER) | {ANSWER}
            for v in variables:
                if v not in reach:
                    ids_v = ", ".join(c.id for c in self.targets(v)) or "none"
                    out.append(f"variable {v} is not reachable from {ANSWER} (its constraints: "
                               f"{ids_v}); link it to the answer's clues or drop it.")
        for v in variables:
            if v != ANSWER and not self.targets(v):
                users = ", ".join(c.id for c in self.constraints if c.value == v)
                out.append(f"variable {v} is used by {users} but no constraint describes it; "
                           "add a clue about it or replace it by a constant.")
        inner = self.graph.subgraph(variables)
        for cycle in sorted(sorted(cyc) for cyc in nx.simple_cycles(nx.DiGraph(inner))):
            out.append(f"the variables {' -> '.join(cycle)} form a cycle; a clue may only "
                       "depend on variables further from the answer.")
        return out

    def targets(self, variable: str, drop: frozenset[str] = frozenset()) -> list[Constraint]:
        """The constraints describing ``variable`` (minus ``drop``), in order."""
        return [c for c in self.constraints if c.target == variable and c.id not in drop]

    def _active(self, drop: frozenset[str]) -> list[str]:
        """Variables reachable from ``?answer`` through kept constraints, dependencies first."""
        unknown = sorted(set(drop) - set(self.by_id))
        if unknown:
            raise InputError(f"drop names unknown constraint id(s) {unknown}; use ids of "
                             f"{sorted(self.by_id)}.")
        if self.problems:
            raise InputError("the reasoning graph is invalid: " + " ".join(self.problems))
        kept = nx.DiGraph()
        kept.add_node(ANSWER)
        kept.add_edges_from((c.target, c.value) for c in self.constraints
                            if c.id not in drop and is_variable(c.value))
        reach = nx.descendants(kept, ANSWER) | {ANSWER}
        order = list(nx.lexicographical_topological_sort(kept.subgraph(reach)))
        return order[::-1]

    def kinds(self, drop: frozenset[str] = frozenset()) -> dict[str, str]:
        """Each reachable variable's operation: ``projection`` (one positive constraint),
        ``intersection`` (several), ``complement`` (a negated one), ``free`` (none left)."""
        out = {}
        for v in sorted(self._active(drop), key=lambda v: (v != ANSWER, v)):
            cs = self.targets(v, drop)
            positive = [c for c in cs if not c.negated]
            out[v] = ("complement" if len(positive) < len(cs) else "intersection"
                      if len(positive) > 1 else "projection" if positive else "free")
        return out

    def depth(self, drop: frozenset[str] = frozenset()) -> int:
        """The longest chain of kept constraints from ``?answer`` (its number of edges)."""
        memo: dict[str, int] = {}
        for v in self._active(drop):
            memo[v] = max((1 + memo.get(c.value, 0) for c in self.targets(v, drop)), default=0)
        return memo[ANSWER]

    def anchored(self, drop: frozenset[str] = frozenset()) -> bool:
        """Whether some constant is still reached from ``?answer`` without ``drop`` (a
        question naming nothing pins its answer by relations alone)."""
        links = nx.DiGraph()
        links.add_node(ANSWER)
        links.add_edges_from((self.node(c.target), self.node(c.value))
                             for c in self.constraints if c.id not in drop)
        return any(not is_variable(n) for n in nx.descendants(links, ANSWER))

    def through(self) -> dict[str, int]:
        """Per constraint reachable from ``?answer``, the longest chain through it."""
        order = self._active(frozenset())
        below: dict[str, int] = {}
        for v in order:
            below[v] = max((1 + below.get(c.value, 0) for c in self.targets(v)), default=0)
        above = {ANSWER: 0}
        for v in reversed(order):
            for c in self.targets(v):
                if is_variable(c.value):
                    above[c.value] = max(above.get(c.value, 0), above[v] + 1)
        return {c.id: above[c.target] + 1 + below.get(c.value, 0) for c in self.constraints
                if c.target in above}

    def solve_keys(self, kb: FactBase, drop: frozenset[str] = frozenset()) -> Keys:
        """Like :meth:`solve`, as normalized keys."""
        memo: dict[str, Keys | None] = {}
        for v in self._active(drop):
            result: Keys | None = None
            cs = self.targets(v, drop)
            for c in (c for c in cs if not c.negated):
                s = kb.project(c, self._values(c.value, memo))
                result = s if result is None else result & s
            negated = [c for c in cs if c.negated]
            if negated and result is None:
                result = frozenset.intersection(*(kb.domain(c) for c in negated))
            for c in negated:
                assert result is not None
                result = result - kb.project(c, self._values(c.value, memo))
            memo[v] = result
        found = memo[ANSWER]
        return kb.entities() if found is None else found

    @staticmethod
    def _values(term: str, memo: dict[str, Keys | None]) -> Keys | None:
        return memo.get(term) if is_variable(term) else frozenset({normalize_text(term)})

    def solve(self, kb: FactBase, drop: frozenset[str] = frozenset()) -> frozenset[str]:
        """The entities (display names) satisfying ``?answer``'s constraints in ``kb``.

        Args:
            kb: The knowledge base.
            drop: Ids of constraints to leave out; a variable left without constraints may
                be anything (and a branch cut off from ``?answer`` no longer counts).

        Raises:
            InputError: If the graph is invalid or ``drop`` names unknown ids.
        """
        return frozenset(kb.name(k) for k in self.solve_keys(kb, drop))

    def paths(self) -> list[frozenset[str]]:
        """Sub-questions as sets of kept constraint ids: one positive constraint per variable
        (or its negated ones when it has no positive one), optionally stopping at any variable
        below ``?answer`` (left free); capped at 512, in a deterministic order."""
        self._active(frozenset())

        def choose(v: str, top: bool) -> list[frozenset[str]]:
            cs = self.targets(v)
            positive = [c for c in cs if not c.negated]
            groups = [[c] for c in positive] or [cs]
            out: list[frozenset[str]] = [] if top else [frozenset()]
            for group in groups:
                subs = [frozenset(c.id for c in group)]
                for c in group:
                    if is_variable(c.value):
                        subs = [s | t for s in subs for t in choose(c.value, False)]
                out.extend(subs)
                if len(out) >= _MAX_PATHS:
                    break
            return out[:_MAX_PATHS]

        return choose(ANSWER, True)

    def to_dict(self) -> dict[str, Any]:
        """Nodes and edges as plain JSON (for a release's metadata)."""
        return {
            "nodes": [{"id": n, **d} for n, d in self.graph.nodes(data=True)],
            "edges": [{"source": u, "target": v, **d}
                      for u, v, d in self.graph.edges(data=True)],
            "problems": list(self.problems),
        }


def chain_constraints(start: str, hops: Sequence[Hop]) -> tuple[Constraint, ...]:
    """The projection chain of hops read from a named start entity: hop ``i`` leads from the
    previous node to ``?x{i+1}`` (the last to ``?answer``), forward when the previous node is
    the hop's subject (``inverse=True``: ``prev --relation--> target``), backward when it is
    the object.

    Raises:
        InputError: If a hop does not touch the node the chain has reached.

    Example:
        >>> hops = [Hop(subject="Velm Press", relation="founded_by", object="Ada"),
        ...         Hop(subject="Ada", relation="born_in", object="Quessa")]
        >>> [(c.target, c.value, c.inverse) for c in chain_constraints("Velm Press", hops)]
        [('?x1', 'Velm Press', True), ('?answer', '?x1', True)]
    """
    out, prev_term, prev_name = [], start, start
    for i, h in enumerate(hops):
        target = ANSWER if i == len(hops) - 1 else f"?x{i + 1}"
        if normalize_text(h.subject) == normalize_text(prev_name):
            inverse, prev_name = True, h.object
        elif normalize_text(h.object) == normalize_text(prev_name):
            inverse, prev_name = False, h.subject
        else:
            raise InputError(f"hop {i} ({h.subject} {h.relation} {h.object}) does not touch "
                             f"{prev_name!r}, where the chain has reached; order the hops "
                             "from the start entity.")
        out.append(Constraint(id=f"c{i + 1}", target=target, relation=h.relation,
                              value=prev_term, inverse=inverse, hop=i))
        prev_term = target
    return tuple(out)


def sample_candidate(world: SampleWorld, question: Question) -> Candidate:
    """A sample-world question as a candidate: its fact chain as hops (names as in
    :meth:`FactBase.from_world`) and constraints as the projection chain from its start."""
    from memagents.sample.schema import render_object

    names = {e.id: e.name for e in world.entities}
    hops = tuple(Hop(subject=names[f.subject_id], relation=f.relation,
                     object=render_object(f, names)) for f in question.chain)
    start = names[question.start_id]
    return Candidate(seed=start, question=question.question, answer=question.answer,
                     aliases=tuple(question.answer_aliases), hops=hops,
                     constraints=chain_constraints(start, hops))
