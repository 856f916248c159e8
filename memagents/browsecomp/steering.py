"""The guidance agent's searches: shortcuts, a pruning plan and steering suggestions.

:class:`Steering` holds one analysis run of :func:`memagents.browsecomp.guidance.analyze`:
it finds the minimal sub-questions shallower than the question that still pin the answer
(and facts linking a constant straight to it), plans which redundant clues can go without
shortening the question, and writes :class:`Suggestion` rows with ready constraints: prune a
clue, obfuscate a constant into a variable with its own clue from the knowledge base, add a
clue (or a complement) that restores uniqueness, fix a clue that excludes the answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal

import networkx as nx

from memagents.browsecomp.candidate import ANSWER, Candidate, Constraint, normalize_text
from memagents.browsecomp.reasoning import FactBase, Keys, ReasoningGraph, is_variable

__all__ = ["Shortcut", "Status", "Steering", "Suggestion"]

Status = Literal["unique", "underdetermined", "inconsistent", "wrong_answer", "invalid"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Shortcut:
    """A way to the answer shorter than the question intends.

    Attributes:
        kind: ``constraint`` (one clue), ``path`` (one branch of clues) or ``link`` (a fact
            of the knowledge base joining a constant of the question to the answer).
        constraints: The kept constraint ids (empty for a link).
        depth: Its length in hops (the question's is :attr:`GuidanceReport.depth`).
        entities: The constants it starts from.
        relation: The linking relation (links only).
        reason: One sentence for people and for the synthesis prompt.
    """

    kind: Literal["constraint", "path", "link"]
    constraints: tuple[str, ...] = ()
    depth: int = 1
    entities: tuple[str, ...] = ()
    relation: str = ""
    reason: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class Suggestion:
    """One step for the next synthesis iteration.

    Attributes:
        action: ``prune``, ``obfuscate``, ``add_constraint`` or ``fix``.
        constraint: The constraint concerned (empty when none).
        entity: The entity concerned (the constant to obfuscate, the answer to pin...).
        proposal: Constraints to apply: an edited constraint keeps its id, new ones get
            fresh ids (empty for ``prune`` and ``fix``).
        reason: One sentence saying why and what to do.
    """

    action: Literal["prune", "obfuscate", "add_constraint", "fix"]
    constraint: str = ""
    entity: str = ""
    proposal: tuple[Constraint, ...] = ()
    reason: str = ""


class Steering:
    """One analysis run: the graph, the knowledge base and the accepted answer keys, and
    the searches :func:`~memagents.browsecomp.guidance.analyze` is made of.

    Example:
        >>> from memagents.browsecomp.candidate import Candidate, Constraint
        >>> kb = FactBase([("Ada", "member_of", "Kites"), ("Bo", "member_of", "Kites"),
        ...                ("Ada", "born_in", "Quessa")])
        >>> run = Steering(Candidate(seed="Kites", question="q?", answer="Ada", constraints=(
        ...     Constraint(id="c1", target="?answer", relation="member_of", value="Kites"),)),
        ...     kb, limit=3)
        >>> keys = run.solve()
        >>> run.status(keys), run.restore(keys)[0].proposal[0].value
        ('underdetermined', 'Quessa')
    """

    def __init__(self, candidate: Candidate, kb: FactBase, limit: int) -> None:
        self.c, self.kb, self.limit = candidate, kb, limit
        self.graph = ReasoningGraph.from_candidate(candidate)
        self.accepted = {normalize_text(a) for a in (candidate.answer, *candidate.aliases)}
        self.key = normalize_text(candidate.answer)
        self.ids = [c.id for c in candidate.constraints]
        self.exclude = self.accepted | {normalize_text(t) for h in candidate.hops
                                        for t in (h.subject, h.object)}
        self.exclude |= {ReasoningGraph.node(k) for k in self.graph.constants()}

    def pins(self, keys: Keys) -> bool:
        return len(keys) == 1 and keys <= self.accepted

    def solve(self, drop: Iterable[str] = ()) -> Keys:
        return self.graph.solve_keys(self.kb, frozenset(drop))

    def status(self, keys: Keys) -> Status:
        if self.pins(keys):
            return "unique"
        if not keys:
            return "inconsistent"
        return "underdetermined" if keys & self.accepted else "wrong_answer"

    def shortcuts(self, depth: int) -> list[Shortcut]:
        found: list[Shortcut] = []
        kept: list[frozenset[str]] = []
        order = {cid: i for i, cid in enumerate(self.ids)}
        for keep in sorted(self.graph.paths(), key=lambda k: (len(k), sorted(map(order.get, k)))):
            if any(k <= keep for k in kept):
                continue
            drop = frozenset(self.ids) - keep
            d = self.graph.depth(drop)
            if d < depth and self.pins(self.solve(drop)):
                kept.append(keep)
                ids = tuple(sorted(keep, key=order.__getitem__))
                ends = tuple(self.graph.by_id[i].value for i in ids
                             if not is_variable(self.graph.by_id[i].value))
                free = sorted({self.graph.by_id[i].value for i in ids} - {
                    self.graph.by_id[i].target for i in ids} - set(ends))
                kind: Literal["constraint", "path"] = "constraint" if len(ids) == 1 else "path"
                found.append(Shortcut(kind=kind, constraints=ids, depth=d, entities=ends,
                                      reason=f"{', '.join(ids)} alone pin(s) the answer in {d} "
                                      f"hop(s), the question takes {depth}" + (
                                          f" ({', '.join(free)} may be anything)"
                                          if free else "")))
        dist = nx.single_source_shortest_path_length(self.graph.graph, ANSWER)
        for node, d in sorted(dist.items()):
            if d <= 1 or self.graph.graph.nodes[node]["kind"] != "constant":
                continue
            for s, r, o in self.kb.facts_about(node):
                if {s, o} != {node, self.key}:
                    continue
                reached = self.kb.objects(node, r) if s == node else self.kb.subjects(r, node)
                if reached == {self.key}:
                    name = self.graph.graph.nodes[node]["label"]
                    found.append(Shortcut(kind="link", depth=1, entities=(name,), relation=r,
                                          reason=f"the fact {self.kb.name(s)} {r} "
                                          f"{self.kb.name(o)} leads from {name} straight to "
                                          f"the answer, which the question reaches in {d} "
                                          "hops"))
        return found

    def prune_plan(self, redundant: tuple[str, ...], depth: int) -> tuple[str, ...]:
        """Redundant constraints that can go together, shallowest chains first, as long as
        the rest pins the answer, names a constant and keeps the question's depth (pruning a
        deep clue to keep a shortcut would be the wrong way round)."""
        through = self.graph.through()
        plan: list[str] = []
        for cid in sorted(redundant, key=lambda i: (through.get(i, 0), self.ids.index(i))):
            drop = [*plan, cid]
            if (self.pins(self.solve(drop)) and self.graph.anchored(frozenset(drop))
                    and self.graph.depth(frozenset(drop)) == depth):
                plan.append(cid)
        return tuple(sorted(plan, key=self.ids.index))

    def fresh(self, prefix: str, taken: Iterable[str]) -> str:
        used = {int(m.group(1)) for t in taken if (m := re.fullmatch(
            re.escape(prefix) + r"(\d+)", t))}
        return f"{prefix}{max(used, default=0) + 1}"

    def clues(self, entity: str, target: str, cid: str) -> list[tuple[Constraint, Keys]]:
        """Constraints on ``target`` from facts about ``entity`` (its other end not already
        in the question), with the entities each admits alone."""
        out = []
        for s, r, o in self.kb.facts_about(entity):
            forward = s == normalize_text(entity)
            other = o if forward else s
            if other in self.exclude or other == normalize_text(entity):
                continue
            clue = Constraint(id=cid, target=target, relation=r, value=self.kb.name(other),
                              inverse=not forward)
            out.append((clue, self.kb.project(clue, frozenset({other}))))
        return out

    def obfuscate(self, short: Shortcut) -> list[Suggestion]:
        out: list[Suggestion] = []
        for entity in short.entities:
            users = [c for c in self.c.constraints
                     if not is_variable(c.value) and normalize_text(c.value) ==
                     normalize_text(entity) and (not short.constraints or c.id in
                                                 short.constraints)]
            var = self.fresh("?x", self.graph.variables())
            cid = self.fresh("c", self.ids)
            for user in users:
                options = []
                for clue, alone in self.clues(entity, var, cid):
                    edited = replace(user, value=var, hop=None)
                    rest = [edited if c.id == user.id else c for c in self.c.constraints]
                    g = ReasoningGraph([*rest, clue])
                    keeps = self.pins(g.solve_keys(self.kb))
                    options.append(((not keeps, len(alone) != 1, clue.relation, clue.value),
                                    edited, clue, keeps))
                for _, edited, clue, keeps in sorted(options, key=lambda t: t[0])[:2]:
                    out.append(Suggestion(
                        action="obfuscate", constraint=user.id, entity=entity,
                        proposal=(edited, clue),
                        reason=f"replace {entity} in {user.id} by {var}, described by "
                        f"'{var} {clue.relation}{' (inverse)' if clue.inverse else ''} "
                        f"{clue.value}'" + ("" if keeps else " (then add a clue: the answer "
                                            "is no longer unique)")))
        return out

    def restore(self, keys: Keys) -> list[Suggestion]:
        cid = self.fresh("c", self.ids)
        options = []
        for clue, alone in self.clues(self.c.answer, ANSWER, cid):
            left = keys & alone
            options.append(((not self.pins(left), False, len(alone) == 1, len(left)), clue,
                            left))
        rest = sorted(keys - {self.key})
        seen: set[tuple[str, str]] = set()
        for x in rest[:50]:
            for s, r, o in self.kb.facts_about(x):
                if s != x or (r, o) in seen or o in self.exclude:
                    continue
                seen.add((r, o))
                clue = Constraint(id=cid, target=ANSWER, relation=r, value=self.kb.name(o),
                                  negated=True)
                left = keys - self.kb.project(clue, frozenset({o}))
                if left & self.accepted:
                    options.append(((not self.pins(left), True, False, len(left)), clue, left))
        out = []
        for _, clue, left in sorted(options, key=lambda t: (t[0], t[1].relation, t[1].value)):
            word = "not " if clue.negated else ""
            out.append(Suggestion(
                action="add_constraint", entity=self.c.answer, proposal=(clue,),
                reason=f"add '{ANSWER} {word}{clue.relation}"
                f"{' (inverse)' if clue.inverse else ''} {clue.value}': {len(keys)} -> "
                f"{len(left)} answer(s)"))
        return out[: self.limit]

    def blame(self) -> list[Suggestion]:
        out = [Suggestion(action="fix", reason=f"hop {i} ({h.subject} {h.relation} {h.object})"
                          " is not in the knowledge base; check its evidence")
               for i, h in enumerate(self.c.hops) if (h.subject, h.relation, h.object)
               not in self.kb]
        for cid in self.ids:
            if self.solve([cid]) & self.accepted:
                out.append(Suggestion(action="fix", constraint=cid, reason=f"{cid} excludes "
                                      "the answer; without it the answer fits again: fix or "
                                      "drop it"))
        return out

    def suggest(self, status: Status, keys: Keys, prunable: tuple[str, ...],
                shortcuts: list[Shortcut]) -> list[Suggestion]:
        """Steering for the next iteration, from the findings."""
        suggestions: list[Suggestion] = []
        if status == "underdetermined":
            suggestions += self.restore(keys)
        elif status in ("inconsistent", "wrong_answer"):
            suggestions += self.blame()
        for cid in prunable:
            suggestions.append(Suggestion(action="prune", constraint=cid, reason=f"drop {cid}: the "
                                          "other clues still pin the answer; rewrite the text"))
        for short in shortcuts:
            if set(short.constraints) & set(prunable):
                continue
            if short.kind != "link" and not short.entities:
                top = next(cid for cid in short.constraints if self.graph.by_id[cid].target == ANSWER)
                suggestions.append(Suggestion(
                    action="fix", constraint=top, reason=f"{short.reason}: the relations alone "
                    "pin the answer whatever the named entity is; end the chain with a relation "
                    "more entities share, or pick another answer"))
            else:
                suggestions += self.obfuscate(short)[: self.limit] or [Suggestion(
                    action="fix", entity=", ".join(short.entities), reason=f"{short.reason}; the "
                    "knowledge base has no other fact to describe it by: start from another "
                    "entity or drop the clue")]
        return suggestions
