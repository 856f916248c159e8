"""The reasoning graph and the guidance agent's analysis on hand-made knowledge bases, and on
the sample world's exact facts."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from xml.etree import ElementTree

import pytest

from memagents.browsecomp.candidate import ANSWER, Candidate, Constraint, Hop
from memagents.browsecomp.guidance import analyze, prune, shortcut_check, uniqueness_check
from memagents.browsecomp.reasoning import (
    FactBase,
    ReasoningGraph,
    chain_constraints,
    sample_candidate,
)
from memagents.browsecomp.reasoning_picture import reasoning_html
from memagents.errors import InputError
from memagents.sample import SampleWorld

FACTS = [
    ("Velm Press", "founded_by", "Ada Korvin"),
    ("Orin Mills", "founded_by", "Bo Lantry"),
    ("Tarn Works", "founded_by", "Cy Ostra"),
    ("Velm Press", "headquartered_in", "Lumo"),
    ("Orin Mills", "headquartered_in", "Quessa"),
    ("Tarn Works", "headquartered_in", "Lumo"),
    ("Ada Korvin", "born_in", "Quessa"),
    ("Bo Lantry", "born_in", "Lumo"),
    ("Cy Ostra", "born_in", "Lumo"),
    ("Ada Korvin", "educated_at", "Kell University"),
    ("Bo Lantry", "educated_at", "Kell University"),
    ("Cy Ostra", "educated_at", "Rask College"),
    ("Quessa", "located_in", "Drassen"),
    ("Lumo", "located_in", "Firdor"),
    ("Quessa", "capital_of", "Drassen"),
    ("Kell University", "located_in", "Lumo"),
]
TYPES = {"Velm Press": "company", "Orin Mills": "company", "Tarn Works": "company",
         "Ada Korvin": "person", "Bo Lantry": "person", "Cy Ostra": "person",
         "Quessa": "city", "Lumo": "city", "Drassen": "country", "Firdor": "country",
         "Kell University": "university", "Rask College": "university"}
KB = FactBase(FACTS, types=TYPES)
CHAIN = (Hop(subject="Velm Press", relation="founded_by", object="Ada Korvin"),
         Hop(subject="Ada Korvin", relation="born_in", object="Quessa"),
         Hop(subject="Quessa", relation="located_in", object="Drassen"))


def con(cid: str, value: str, relation: str, *, target: str = ANSWER, inverse: bool = False,
        negated: bool = False, hop: int | None = None) -> Constraint:
    return Constraint(id=cid, target=target, relation=relation, value=value, inverse=inverse,
                      negated=negated, hop=hop)


def cand(answer: str, *constraints: Constraint, hops: tuple[Hop, ...] = ()) -> Candidate:
    return Candidate(seed="s", question="q?", answer=answer, hops=hops,
                     constraints=tuple(constraints))


def chain(n: int) -> Candidate:
    hops = CHAIN[:n]
    return Candidate(seed="Velm Press", question="q?", answer=hops[-1].object, hops=hops,
                     constraints=chain_constraints("Velm Press", hops))


def test_fact_base_matches_names_and_relations_loosely_and_keeps_spelling() -> None:
    kb = FactBase.from_hops(CHAIN, types={"Quessa": "city"})
    assert ("velm  press", "Founded by", "ADA KORVIN") in kb and len(kb) == 3
    assert kb.name("quessa") == "Quessa" and kb.type_of("QUESSA") == "city"
    assert ("Quessa", "born_in", "Ada Korvin") not in kb
    bigger = kb.extended([("Drassen", "located_in", "Earth")])
    assert len(bigger) == 4 and len(kb) == 3 and bigger.type_of("Quessa") == "city"
    with pytest.raises(InputError, match="three non-empty strings"):
        FactBase([("a", "", "b")])


@pytest.mark.parametrize(("hops", "answer"), [(2, "Quessa"), (3, "Drassen")])
def test_projection_chain(hops: int, answer: str) -> None:
    c = chain(hops)
    g = ReasoningGraph.from_candidate(c)
    assert g.ok and g.depth() == hops and set(g.kinds().values()) == {"projection"}
    assert g.solve(KB) == {answer}
    report = analyze(c, KB)
    assert report.unique and report.answers == (answer,) and report.depth == report.hops == hops
    assert not report.redundant and not report.shortcuts and not report.suggestions
    assert uniqueness_check(c, KB, report).passed and shortcut_check(c, KB, report).passed


def test_graph_structure_is_a_multidigraph_of_variables_and_constants() -> None:
    g = ReasoningGraph.from_candidate(chain(3))
    assert g.variables() == (ANSWER, "?x1", "?x2") and g.constants() == ("Velm Press",)
    assert g.graph.nodes["velm press"] == {"kind": "constant", "label": "Velm Press"}
    assert g.graph.edges[ANSWER, "?x2", "c3"]["relation"] == "located_in"
    assert {e["source"] for e in g.to_dict()["edges"]} == {ANSWER, "?x1", "?x2"}


def test_intersection_narrows_to_one() -> None:
    c = cand("Bo Lantry", con("c1", "Kell University", "educated_at"),
             con("c2", "Lumo", "born_in"))
    g = ReasoningGraph.from_candidate(c)
    assert g.kinds() == {ANSWER: "intersection"}
    assert g.solve(KB, drop=frozenset({"c2"})) == {"Ada Korvin", "Bo Lantry"}
    assert g.solve(KB, drop=frozenset({"c1"})) == {"Bo Lantry", "Cy Ostra"}
    assert g.solve(KB) == {"Bo Lantry"} and analyze(c, KB).unique


def test_complement_removes_one_and_uses_a_typed_domain() -> None:
    c = cand("Bo Lantry", con("c1", "Kell University", "educated_at"),
             con("c2", "Quessa", "born_in", negated=True))
    g = ReasoningGraph.from_candidate(c)
    assert g.kinds() == {ANSWER: "complement"} and g.solve(KB) == {"Bo Lantry"}
    alone = ReasoningGraph([con("c1", "Lumo", "born_in", negated=True)])
    assert alone.solve(KB) == {"Ada Korvin"}  # people (the born_in subjects' type) not born in Lumo
    untyped = FactBase(FACTS + [("Dee Marr", "educated_at", "Rask College")])
    assert alone.solve(untyped) == {"Ada Korvin"}  # without types: the relation's subjects
    typed = untyped.extended([], types=TYPES | {"Dee Marr": "person"})
    assert alone.solve(typed) == {"Ada Korvin", "Dee Marr"}


def test_complement_through_a_variable() -> None:
    # people educated at Kell University, not born in a city of Firdor
    c = cand("Ada Korvin", con("c1", "Kell University", "educated_at"),
             con("c2", "?x1", "born_in", negated=True),
             con("c3", "Firdor", "located_in", target="?x1"))
    g = ReasoningGraph.from_candidate(c)
    assert g.kinds() == {ANSWER: "complement", "?x1": "projection"}
    assert g.solve(KB) == {"Ada Korvin"} and g.depth() == 2


def test_non_unique_question_is_underdetermined_and_a_suggested_clue_restores_it() -> None:
    c = cand("Ada Korvin", con("c1", "Kell University", "educated_at"))
    report = analyze(c, KB)
    assert report.status == "underdetermined" and report.answers == ("Ada Korvin", "Bo Lantry")
    check = uniqueness_check(c, KB, report)
    assert not check.passed and check.name == "reasoning_unique"
    assert "2 entities satisfy" in check.reason and check.details["n_answers"] == 2
    adds = [s for s in report.suggestions if s.action == "add_constraint"]
    assert adds and all(s.proposal[0].id == "c2" for s in adds)
    fixed = replace(c, constraints=c.constraints + adds[0].proposal)
    assert analyze(fixed, KB).unique


def test_complement_suggestion_when_no_positive_clue_tells_the_answer_apart() -> None:
    kb = FactBase([("Ada", "member_of", "Kites"), ("Bo", "member_of", "Kites"),
                   ("Bo", "born_in", "Lumo")])
    report = analyze(cand("Ada", con("c1", "Kites", "member_of")), kb)
    (add,) = [s for s in report.suggestions if s.action == "add_constraint"]
    assert add.proposal[0].negated and add.proposal[0].value == "Lumo"
    assert "2 -> 1" in add.reason


def test_inconsistent_question_is_empty_and_blames_the_clue() -> None:
    c = cand("Cy Ostra", con("c1", "Rask College", "educated_at"), con("c2", "Quessa", "born_in"),
             hops=(Hop(subject="Cy Ostra", relation="born_in", object="Quessa"),))
    report = analyze(c, KB)
    assert report.status == "inconsistent" and report.answers == ()
    assert not uniqueness_check(c, KB, report).passed
    fixes = [s for s in report.suggestions if s.action == "fix"]
    assert [s.constraint for s in fixes] == ["", "c2"] and "not in the knowledge base" in \
        fixes[0].reason
    wrong = analyze(cand("Ada Korvin", con("c1", "Rask College", "educated_at")), KB)
    assert wrong.status == "wrong_answer" and wrong.answers == ("Cy Ostra",)


def test_redundant_constraint_is_detected_and_pruned() -> None:
    c = cand("Ada Korvin", con("c1", "Kell University", "educated_at"),
             con("c2", "Quessa", "born_in"))
    report = analyze(c, KB)
    assert report.unique and report.redundant == ("c1",) == report.prunable  # c2 alone pins
    assert not report.shortcuts  # both clues are one hop: nothing is shallower
    check = shortcut_check(c, KB, report)
    assert not check.passed and "redundant" in check.reason
    assert shortcut_check(c, KB, report, allow_redundant=True).passed
    pruned = prune(c, report)
    assert [x.id for x in pruned.constraints] == ["c2"]
    assert pruned.check("pruned").details == {"dropped": ["c1"], "orphaned": []}
    assert pruned.question == c.question and pruned.check("pruned").passed
    assert pruned.status == "pending" and analyze(pruned, KB).unique
    assert prune(pruned, analyze(pruned, KB)) == pruned


def test_shortcut_by_a_direct_unique_constant_is_detected_and_pruned_first() -> None:
    base = chain(3)
    c = replace(base, constraints=base.constraints + (
        con("c4", "Quessa", "capital_of", inverse=True),))  # the country whose capital is Quessa
    report = analyze(c, KB)
    assert report.unique and report.depth == 3
    (short,) = report.shortcuts
    assert (short.kind, short.constraints, short.depth, short.entities) == \
        ("constraint", ("c4",), 1, ("Quessa",))
    assert report.prunable == ("c4",)  # the shortcut goes, never the deep chain
    assert [s.action for s in report.suggestions] == ["prune"]
    check = shortcut_check(c, KB, report)
    assert not check.passed and check.name == "no_shortcut" and "c4 alone" in check.reason
    assert shortcut_check(prune(c, report), KB).passed


def test_needed_shortcut_is_obfuscated_not_kept_by_pruning_the_chain() -> None:
    # people born in a city of Firdor (Bo, Cy) who founded Orin Mills (Bo): the founder clue
    # pins the answer in one hop while the two-hop branch alone does not
    c = cand("Bo Lantry", con("c1", "Firdor", "located_in", target="?x1"),
             con("c2", "?x1", "born_in"), con("c3", "Orin Mills", "founded_by", inverse=True))
    report = analyze(c, KB)
    assert report.unique and [s.constraints for s in report.shortcuts] == [("c3",)]
    assert report.prunable == ()
    obf = [s for s in report.suggestions if s.action == "obfuscate"]
    assert obf and obf[0].constraint == "c3" and obf[0].entity == "Orin Mills"
    edited, clue = obf[0].proposal
    assert edited.id == "c3" and edited.value == clue.target == "?x2" and clue.id == "c4"
    assert (clue.relation, clue.value) == ("headquartered_in", "Quessa")
    deeper = analyze(replace(c, constraints=(*c.constraints[:2], edited, clue)), KB)
    assert deeper.depth == 2 and deeper.status in ("unique", "underdetermined")


def test_shortcut_by_a_fact_linking_a_constant_to_the_answer() -> None:
    kb = KB.extended([("Velm Press", "printed_in", "Drassen")])
    report = analyze(chain(3), kb)
    (link,) = report.shortcuts
    assert (link.kind, link.entities, link.relation, link.depth) == \
        ("link", ("Velm Press",), "printed_in", 1)
    assert not shortcut_check(chain(3), kb, report).passed
    assert any(s.action == "obfuscate" and s.entity == "Velm Press" for s in report.suggestions)


def test_relations_alone_pinning_the_answer_is_a_shortcut_without_a_constant() -> None:
    kb = KB.extended([("Kell University", "rector", "Ada Korvin")])
    # the rector of the alma mater of the founder of Orin Mills: only one rector exists
    c = cand("Ada Korvin", con("c1", "Orin Mills", "founded_by", target="?x1", inverse=True),
             con("c2", "?x1", "educated_at", target="?x2", inverse=True),
             con("c3", "?x2", "rector", inverse=True))
    report = analyze(c, kb)
    assert report.unique and report.redundant == ("c1", "c2") and report.prunable == ()
    assert report.shortcuts[0].constraints == ("c3",)
    assert "may be anything" in report.shortcuts[0].reason
    assert report.suggestions[0].action == "fix" and report.suggestions[0].constraint == "c3"


def test_no_false_positives_on_a_clean_three_hop_chain_in_a_crowded_world() -> None:
    crowd = [(f"Firm {i}", "founded_by", f"Person {i}") for i in range(20)]
    crowd += [(f"Person {i}", "born_in", f"Town {i % 5}") for i in range(20)]
    crowd += [(f"Town {i}", "located_in", f"Land {i % 3}") for i in range(5)]
    kb = KB.extended(crowd)
    report = analyze(chain(3), kb)
    assert report.unique and not report.redundant and not report.shortcuts
    assert not report.suggestions and "status: unique" in report.feedback()


@pytest.mark.parametrize(("constraints", "hops", "message"), [
    ((con("c1", "Quessa", "born_in"), con("c2", "Lumo", "located_in", target="?x1")), 0,
     "?x1 is not reachable"),
    ((con("c1", "?x1", "born_in"),), 0, "?x1 is used by c1 but no constraint describes it"),
    ((con("c1", "?x1", "born_in"), con("c2", "?x2", "located_in", target="?x1"),
      con("c3", "?x1", "located_in", target="?x2")), 0, "form a cycle"),
    ((con("c1", "Quessa", "born_in", hop=2),), 2, "cites hop 2, but the candidate has 2"),
    ((con("c1", "Quessa", "born_in", target="Ada"),), 0, "targets the constant 'Ada'"),
    ((con("c1", "Ada", "born_in", target="?x1"),), 0, "no constraint describes ?answer"),
    ((con("c1", "Quessa", "born_in"), con("c1", "Lumo", "born_in")), 0, "used 2 times"),
])
def test_validation_errors(constraints: tuple[Constraint, ...], hops: int, message: str) -> None:
    c = cand("Ada", *constraints, hops=CHAIN[:hops])
    g = ReasoningGraph.from_candidate(c)
    assert not g.ok and any(message in p for p in g.problems), g.problems
    with pytest.raises(InputError, match="invalid"):
        g.solve(KB)
    report = analyze(c, KB)
    assert report.status == "invalid" and report.problems == g.problems
    assert all(s.action == "fix" for s in report.suggestions)
    assert not uniqueness_check(c, KB, report).passed
    assert not shortcut_check(c, KB, report).passed


def test_unknown_drop_ids_and_broken_chains_are_refused() -> None:
    with pytest.raises(InputError, match="unknown constraint id"):
        ReasoningGraph.from_candidate(chain(2)).solve(KB, drop=frozenset({"c9"}))
    with pytest.raises(InputError, match="does not touch"):
        chain_constraints("Orin Mills", CHAIN)


def test_analysis_is_deterministic() -> None:
    c = cand("Ada Korvin", con("c1", "Kell University", "educated_at"))
    first = analyze(c, KB)
    shuffled = FactBase(list(reversed(FACTS)), types=TYPES)
    assert analyze(c, KB) == first == analyze(c, shuffled)
    assert first.to_dict() == analyze(c, KB).to_dict()


def test_sample_world_questions_are_unique_under_the_exact_facts() -> None:
    world = SampleWorld.generate(0)
    kb = FactBase.from_world(world)
    assert len(kb) == len(world.facts) and kb.type_of(world.entities[0].name)
    q = next(q for q in world.questions if q.hops >= 3 and q.kind == "bridge")
    c = sample_candidate(world, q)
    g = ReasoningGraph.from_candidate(c)
    assert g.ok and g.depth() == q.hops and g.solve(kb) == {q.answer}
    reports = [analyze(sample_candidate(world, q), kb) for q in world.questions]
    assert all(r.unique for r in reports)
    # all but one chain are clean; that one is pinned by relations alone (every label
    # founder in this world studied at one university)
    flagged = [r for r in reports if r.shortcuts or r.redundant]
    assert len(flagged) <= 2 and all(not r.prunable for r in flagged)


def test_pruning_drops_the_clues_only_a_pruned_constraint_reached() -> None:
    kb = KB.extended([("Lumo", "capital_of", "Firdor")])
    base = chain(3)
    c = replace(base, constraints=base.constraints + (
        # ... and not the country whose capital is the birthplace of Bo Lantry
        con("c4", "?x9", "capital_of", inverse=True, negated=True),
        con("c5", "Bo Lantry", "born_in", target="?x9", inverse=True)))
    report = analyze(c, kb)
    assert report.unique and report.kinds[ANSWER] == "complement" and not report.shortcuts
    # the complement alone excludes Firdor, so c1 or c3 may go too; but without c5, ?x9 may
    # be any city and the complement removes every country with a capital
    assert report.redundant == ("c1", "c3", "c4") and report.prunable == ("c4",)
    pruned = prune(c, report)
    assert [x.id for x in pruned.constraints] == ["c1", "c2", "c3"]
    assert pruned.check("pruned").details == {"dropped": ["c4"], "orphaned": ["c5"]}
    assert shortcut_check(pruned, kb).passed


def test_picture_is_one_self_contained_page(tmp_path: Path) -> None:
    base = chain(3)
    c = replace(base, question="Which <country> ...?", constraints=base.constraints + (
        con("c4", "Quessa", "capital_of", inverse=True),
        con("c5", "Firdor", "located_in", negated=True)))
    page = reasoning_html(c, analyze(c, KB), title="demo")
    svg = re.search(r"<svg.*</svg>", page, re.DOTALL)
    assert svg is not None and ElementTree.fromstring(svg.group(0)) is not None
    assert page.count('class="constraint"') == 5 and "c5: not located_in" in page
    assert "Which &lt;country&gt;" in page and "<script" not in page and "suggest prune" in page
    assert 'stroke="#f58518" stroke-width="3"' in page  # the shortcut, in orange
    assert reasoning_html(c) == reasoning_html(c)
