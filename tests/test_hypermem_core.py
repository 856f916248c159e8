"""The storage-free core of the hypergraph memory (issue 9, item 1).

Each operation on hand-made memories (insert, update, merge, attach), including refused
requests; stable ids; diffs; queries; the budgeted rendering; serialization (round trip and
malformed input); the picture; and a seeded randomized sequence of operations checking the
invariants after every step.
"""

from __future__ import annotations

import json
import logging
import random
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import networkx as nx
import pytest

from memagents.errors import InputError
from memagents.hypermem import Entity, HypergraphMemory, MemoryDiff, MemoryPoint
from memagents.hypermem.core import (
    entity_key,
    memory_html,
    point_id,
    point_number,
    read_snapshot,
    render_points,
    snapshot_from_dict,
)
from memagents.models.tokens import get_tokenizer


def ids(points) -> list[str]:
    return [p.id for p in points]


@pytest.fixture
def memory() -> HypergraphMemory:
    """Three points: Ada/Velm/Orlen, Velm/Atlas, Bram/Kest (apart from the others)."""
    m = HypergraphMemory()
    m.insert("Ada founded Velm Press in Orlen.", ["Ada", "Velm Press", "Orlen"], sources=["p1"])
    m.insert("Velm Press printed the Orlen Atlas.", ["Velm Press", "Orlen Atlas"],
             sources=["p2"])
    m.insert("Bram taught at Kest.", ["Bram", "Kest"], sources=["p3"])
    return m


# ---------------------------------------------------------------------------- ids, entities

def test_point_ids_are_canonical_and_ordered() -> None:
    assert point_id(1) == "mp-0001" and point_id(10000) == "mp-10000"
    assert [point_number(x) for x in ("mp-0001", "mp-10000", "mp-001", "mp-00001", "x")] == [
        1, 10000, None, None, None]
    with pytest.raises(InputError):
        point_id(0)


def test_entity_keys_fold_case_width_and_spaces() -> None:
    assert entity_key(" Velm\u00a0\u00a0PRESS ") == entity_key("velm press") == "velm press"
    assert entity_key("ＡＤＡ") == "ada"  # full-width letters (NFKC)
    for bad in ("", "   ", 3):
        with pytest.raises(InputError):
            entity_key(bad)


# --------------------------------------------------------------------------------- insert

def test_insert_creates_point_entities_and_diff() -> None:
    m = HypergraphMemory(step=2)
    d = m.insert("Ada founded Velm.", ["Ada", "velm", "ADA"], sources=["p1", "p1"])
    assert d.ok and ids(d.added) == ["mp-0001"] and not d.updated and not d.removed
    p = d.added[0]
    assert p.entities == ("ada", "velm") and p.sources == ("p1",)
    assert (p.created_step, p.updated_step, p.version, p.merged_from) == (2, 2, 1, ())
    assert [e.name for e in d.entities_added] == ["Ada", "velm"]
    assert all(e.status == "absent" for e in m.entities)
    assert m.point("mp-0001") == p and "mp-0001" in m and len(m) == 1
    d2 = m.insert("Velm is in Orlen.", "Velm")  # a single name is one entity
    assert ids(d2.added) == ["mp-0002"] and not d2.entities_added


def test_insert_with_entity_objects_attaches_them() -> None:
    m = HypergraphMemory()
    d = m.insert("Rome is in Italy.", [Entity(name="Rome", ref="phrase:rome"), "Italy"])
    assert m.entity("rome").ref == "phrase:rome" and m.entity("italy").status == "absent"
    assert [e.status for e in d.entities_added] == ["indexed", "absent"]


@pytest.mark.parametrize(("description", "entities", "reason"), [
    ("  ", ["Ada"], "description is blank"),
    ("Ada.", [], "at least one entity"),
    ("Ada.", ["Ada", " "], "blank name"),
])
def test_insert_refuses_bad_content_with_a_reason(description, entities, reason, caplog) -> None:
    m = HypergraphMemory()
    with caplog.at_level(logging.WARNING, logger="memagents"):
        d = m.insert(description, entities)
    assert not d.ok and d.is_empty and reason in d.rejected[0].reason
    assert len(m) == 0 and not m.entities
    assert any(reason in r.getMessage() for r in caplog.records)


def test_insert_refuses_a_duplicate_point(memory: HypergraphMemory) -> None:
    d = memory.insert("ada  founded velm press in ORLEN.", ["Orlen", "Ada", "Velm Press"])
    assert d.rejected[0].reason == "the same point exists as mp-0001" and not d.added
    assert memory.next_id == "mp-0004"  # no id was spent


@pytest.mark.parametrize("call", [
    lambda m: m.insert(3, ["Ada"]),
    lambda m: m.insert("Ada.", [3]),
    lambda m: m.insert("Ada.", 3),
    lambda m: m.insert("Ada.", ["Ada"], sources=[1]),
    lambda m: m.insert("bad \ud800 text", ["Ada"]),
    lambda m: m.update(7, description="x"),
    lambda m: m.merge([1, 2], "x"),
    lambda m: m.attach(3),
])
def test_wrong_types_raise_input_error(call) -> None:
    with pytest.raises(InputError):
        call(HypergraphMemory())


# --------------------------------------------------------------------------------- update

def test_update_keeps_the_id_and_bumps_the_version(memory: HypergraphMemory) -> None:
    memory.step = 1
    d = memory.update("mp-0002", description="Velm Press printed the Atlas in 1901.",
                      entities=["Velm Press", "Orlen Atlas", "1901"], sources=["p4", "p2"])
    p = d.added[0] if d.added else d.updated[0]
    assert ids(d.updated) == ["mp-0002"] and not d.added
    assert (p.version, p.created_step, p.updated_step) == (2, 0, 1)
    assert p.sources == ("p2", "p4") and p.entities[-1] == "1901"
    assert [e.name for e in d.entities_added] == ["1901"]
    assert ids(memory.points_of("1901")) == ["mp-0002"]
    d2 = memory.update("mp-0002", entities=["Orlen Atlas"])  # the vertex set may shrink
    assert d2.updated[0].version == 3 and ids(memory.points_of("Velm Press")) == ["mp-0001"]
    assert memory.check() == []


def test_update_without_change_is_an_empty_diff(memory: HypergraphMemory) -> None:
    d = memory.update("mp-0001", description="Ada founded Velm Press in Orlen.", sources=["p1"])
    assert d.ok and d.is_empty and memory.point("mp-0001").version == 1


def test_update_refuses_unknown_merged_and_blank(memory: HypergraphMemory) -> None:
    assert "not a point of this memory" in memory.update("mp-0042", description="x") \
        .rejected[0].reason
    assert "not a point id" in memory.update("Point (3)", description="x").rejected[0].reason
    assert "blank" in memory.update("mp-0001", description=" ").rejected[0].reason
    assert "at least one entity" in memory.update("mp-0001", entities=[]).rejected[0].reason
    memory.merge(["mp-0001", "mp-0002"], "Velm Press, founded by Ada, printed the Atlas.")
    r = memory.update("mp-0001", description="x").rejected[0]
    assert r.op == "update" and r.ids == ("mp-0001",)
    assert r.reason == "mp-0001 was merged into mp-0004 at step 0: use mp-0004"
    assert memory.update("mp-0003", description="Bram taught at Kest.",
                         entities=["Bram", "Kest"]).is_empty


# ---------------------------------------------------------------------------------- merge

def test_merge_makes_a_new_point_and_retires_the_old(memory: HypergraphMemory) -> None:
    memory.step = 1
    d = memory.merge(["mp-0002", "mp-0001", "mp-0002"], "Ada's Velm Press printed the Atlas.")
    assert d.ok and ids(d.added) == ["mp-0004"] and d.removed == ("mp-0002", "mp-0001")
    new = d.added[0]
    assert new.merged_from == ("mp-0002", "mp-0001") and new.merged
    assert new.entities == ("velm press", "orlen atlas", "ada", "orlen")
    assert new.sources == ("p2", "p1") and (new.created_step, new.version) == (1, 1)
    assert ids(memory.points) == ["mp-0003", "mp-0004"]  # mp-0003 keeps its id
    assert ids(memory.retired) == ["mp-0001", "mp-0002"]
    assert memory.resolve("mp-0001") == "mp-0004" and memory.resolve("mp-0099") is None
    assert d.merged_into == (("mp-0002", "mp-0004"), ("mp-0001", "mp-0004"))
    assert memory.get("mp-0001") is None
    with pytest.raises(InputError, match="merged into mp-0004"):
        memory.point("mp-0001")
    assert memory.next_id == "mp-0005"


def test_merge_refuses_unknown_points_and_changes_nothing(memory: HypergraphMemory,
                                                           caplog) -> None:
    before = memory.to_dict()
    with caplog.at_level(logging.WARNING, logger="memagents"):
        d = memory.merge(["mp-0001", "mp-0009"], "Ada and someone.")
    assert d.is_empty and not d.ok and d.rejected[0].ids == ("mp-0001", "mp-0009")
    assert "mp-0009 is not a point of this memory" in d.rejected[0].reason
    assert memory.to_dict() == before
    assert "merge mp-0001, mp-0009 refused" in caplog.text


def test_merge_refuses_already_merged_points(memory: HypergraphMemory) -> None:
    memory.merge(["mp-0001", "mp-0002"], "Velm Press story.")
    d = memory.merge(["mp-0001", "mp-0003"], "Everything.")
    assert d.is_empty and "mp-0001 was merged into mp-0004" in d.rejected[0].reason
    # a second merge of the merged point: the reason follows the chain to the live point
    memory.step = 2
    memory.merge(["mp-0004", "mp-0003"], "Everything known.")
    reason = memory.merge(["mp-0002", "mp-0005"], "x").rejected[0].reason
    assert reason == "mp-0002 was merged into mp-0004 at step 0 (now part of mp-0005): use mp-0005"
    assert memory.check() == []


def test_merge_partial_keeps_the_valid_ids(memory: HypergraphMemory) -> None:
    d = memory.merge(["mp-0001", "mp-0077", "mp-0003"], "Ada and Bram.", partial=True)
    assert ids(d.added) == ["mp-0004"] and d.removed == ("mp-0001", "mp-0003")
    assert [r.ids for r in d.rejected] == [("mp-0077",)]
    d2 = memory.merge(["mp-0002", "mp-0001"], "x", partial=True)  # one valid id left
    assert d2.is_empty and "at least two live points, got 1" in d2.rejected[-1].reason


def test_merge_needs_two_points_and_a_description(memory: HypergraphMemory) -> None:
    assert "got 1" in memory.merge(["mp-0001", "mp-0001"], "x").rejected[0].reason
    assert "got 1" in memory.merge("mp-0001", "x").rejected[0].reason
    assert "blank" in memory.merge(["mp-0001", "mp-0002"], "").rejected[0].reason
    assert memory.next_id == "mp-0004"


def test_merge_groups_refuses_a_point_claimed_twice(memory: HypergraphMemory) -> None:
    d = memory.merge_groups([(["mp-0001", "mp-0002"], "Velm."), (["mp-0002", "mp-0003"], "Kest.")])
    assert ids(d.added) == ["mp-0004"] and len(d.rejected) == 1
    assert "mp-0002 was merged into mp-0004" in d.rejected[0].reason
    assert ids(memory.points) == ["mp-0003", "mp-0004"]


# --------------------------------------------------------------------------------- attach

def test_attach_adds_and_completes_entities() -> None:
    m = HypergraphMemory()
    d = m.attach("Orlen", ref="phrase:orlen", description="A river town.", entity_type="geo")
    assert [e.status for e in d.entities_added] == ["indexed"]
    m.insert("Ada met Kest.", ["Ada", "Kest"])
    assert [e.name for e in m.absent_entities()] == ["Ada", "Kest"]
    d2 = m.attach("ada", description="A printer, absent from the index.", sources=["p9"])
    assert [e.status for e in d2.entities_updated] == ["attached"]
    assert m.entity("Ada").name == "Ada" and m.entity("ADA").sources == ("p9",)
    assert [e.name for e in m.absent_entities()] == ["Kest"]
    assert m.attach("Kest", ref="phrase:kest").entities_updated[0].ref == "phrase:kest"
    assert m.attach(Entity(name="orlen", ref="phrase:orlen")).is_empty  # nothing new


def test_attach_refuses_a_conflicting_ref_and_a_blank_name() -> None:
    m = HypergraphMemory()
    m.attach("Orlen", ref="phrase:orlen")
    d = m.attach("orlen", ref="phrase:orlen-2")
    assert d.is_empty and "already linked to 'phrase:orlen'" in d.rejected[0].reason
    assert m.attach(" ").rejected[0].reason == "the entity name is blank"


# -------------------------------------------------------------------------------- queries

def test_neighbourhood_and_entity_queries(memory: HypergraphMemory) -> None:
    memory.insert("Ada sold the Orlen Atlas.", ["Ada", "Orlen Atlas"])  # mp-0004
    assert ids(memory.points_of("velm press")) == ["mp-0001", "mp-0002"]
    assert memory.points_of("nobody") == ()
    assert ids(memory.neighbours("mp-0002")) == ["mp-0001", "mp-0004"]
    assert ids(memory.neighbours("mp-0003")) == []
    # at equal distance, the point sharing more entities ranks first
    memory.insert("Velm Press and the Orlen Atlas again.", ["Velm Press", "Orlen Atlas"])
    assert ids(memory.neighbours("mp-0002"))[0] == "mp-0005"
    memory.insert("Kest is near Orlen.", ["Kest", "Orlen"])  # links the Bram group
    assert "mp-0006" not in ids(memory.neighbours("mp-0002"))
    assert ids(memory.neighbours("mp-0002", hops=2))[-1] == "mp-0006"  # via mp-0001 (Orlen)
    assert ids(memory.neighbours("mp-0002", hops=3))[-1] == "mp-0003"  # then via Kest
    assert [e.name for e in memory.entities_of(["mp-0003", "mp-0001", "mp-0404"])] == [
        "Bram", "Kest", "Ada", "Velm Press", "Orlen"]
    assert [e.name for e in memory.entity_neighbours("Bram")] == ["Kest"]
    with pytest.raises(InputError):
        memory.neighbours("mp-0404")
    with pytest.raises(InputError):
        memory.neighbours("mp-0001", hops=0)


def test_queries_follow_merges(memory: HypergraphMemory) -> None:
    memory.merge(["mp-0001", "mp-0002"], "Velm Press story.")
    assert ids(memory.neighbours("mp-0001")) == []  # mp-0004 has no neighbours
    assert [e.key for e in memory.entities_of("mp-0002")] == list(memory.point("mp-0004")
                                                                  .entities)
    assert memory.clusters() == (("mp-0003",), ("mp-0004",))


def test_clusters_group_points_sharing_entities(memory: HypergraphMemory) -> None:
    assert memory.clusters() == (("mp-0001", "mp-0002"), ("mp-0003",))


def test_step_never_goes_back() -> None:
    m = HypergraphMemory(step=3)
    assert m.advance() == 4
    with pytest.raises(InputError):
        m.step = 2
    with pytest.raises(InputError):
        HypergraphMemory(step=-1)


# ---------------------------------------------------------------------------------- diffs

def test_diffs_combine_into_an_applicable_step_diff(memory: HypergraphMemory) -> None:
    before = {p.id: p for p in memory.points}
    memory.step = 1
    step = [
        memory.insert("Orlen lies on the Sarn.", ["Orlen", "Sarn"]),           # mp-0004
        memory.update("mp-0004", description="Orlen lies on the river Sarn."),
        memory.update("mp-0003", sources=["p7"]),
        memory.merge(["mp-0004", "mp-0001"], "Ada's Orlen, on the Sarn."),     # mp-0005
        memory.merge(["mp-0001", "mp-0002"], "stale"),                         # refused
        memory.attach("Sarn", description="A river."),
    ]
    diff = MemoryDiff.merge_all(step)
    assert ids(diff.added) == ["mp-0004", "mp-0005"] and diff.added[0].version == 2
    assert ids(diff.updated) == ["mp-0003"] and diff.removed == ("mp-0004", "mp-0001")
    assert [e.name for e in diff.entities_added] == ["Sarn"]
    assert diff.entities_added[0].description == "A river." and not diff.entities_updated
    assert len(diff.rejected) == 1 and not diff.ok
    assert diff.apply_to(before) == {p.id: p for p in memory.points}
    json.dumps(diff.to_dict())  # streamable as JSON
    text = diff.summary()
    assert "- mp-0001 (merged into mp-0005)" in text and "! merge mp-0001, mp-0002" in text
    assert MemoryDiff().summary() == "step 0:\n(no change)"


# ------------------------------------------------------------------------------ rendering

def test_render_without_budget_shows_every_point(memory: HypergraphMemory) -> None:
    text = memory.render()
    assert text.splitlines() == [
        "[mp-0001] (Ada; Velm Press; Orlen) Ada founded Velm Press in Orlen.",
        "[mp-0002] (Velm Press; Orlen Atlas) Velm Press printed the Orlen Atlas.",
        "[mp-0003] (Bram; Kest) Bram taught at Kest.",
    ]
    assert HypergraphMemory().render(max_tokens=10) == "(the memory is empty)"
    assert memory.render(pids=["mp-0003", "mp-0404"]).startswith("[mp-0003]")


def test_render_keeps_within_budget_and_prefers_newest() -> None:
    m = HypergraphMemory()
    rng = random.Random(3)
    words = ["amber", "basalt", "cedar", "dune", "ember", "fjord", "grove", "heath", "inlet"]
    for i in range(40):
        m.step = i // 4
        m.insert(" ".join(rng.choices(words, k=rng.randint(3, 25))) + f" {i}.",
                 [rng.choice(words).title(), f"E{i}"])
    tok = get_tokenizer()
    full = tok.count(m.render())
    for budget in (0, 5, 20, 60, 150, 400, full - 1, full, full + 50):
        text = m.render(max_tokens=budget)
        assert tok.count(text) <= budget
        if budget >= full:
            assert "not shown" not in text and len(text.splitlines()) == 40
    text = m.render(max_tokens=150)
    shown = [line[1:8] for line in text.splitlines() if line.startswith("[mp-")]
    assert "mp-0040" in shown and "mp-0001" not in shown
    assert shown == sorted(shown)  # printed in id order
    omitted = 40 - len(shown)
    assert text.splitlines()[-1] == f"({omitted} older memory points not shown)"


def test_render_entity_descriptions_and_cuts(memory: HypergraphMemory) -> None:
    memory.attach("Ada", description="A printer.")
    memory.attach("Bram", description="A teacher.")
    text = memory.render(entity_descriptions=True, max_description_chars=12)
    assert text.splitlines()[0] == "[mp-0001] (Ada; Velm Press; Orlen) Ada founded…"
    assert text.splitlines()[-3:] == ["Entities:", "- Ada: A printer.", "- Bram: A teacher."]
    tok = get_tokenizer()
    points_only = memory.render(max_description_chars=12)
    tight = memory.render(entity_descriptions=True, max_description_chars=12,
                          max_tokens=tok.count(points_only) + 3)
    assert tight == points_only  # no room for an entity row: no dangling header
    with pytest.raises(InputError):
        memory.render(max_tokens=-1)
    with pytest.raises(InputError):
        render_points(memory.points, {}, max_tokens=5, tokenizer=object())


# -------------------------------------------------------------------------- serialization

def _busy_memory() -> HypergraphMemory:
    m = HypergraphMemory()
    m.attach("Orlen", ref="phrase:orlen", description="Town", entity_type="geo",
             sources=["p1"])
    m.insert("Ada founded Velm Press in Orlen.", ["Ada", "Velm Press", "Orlen"], sources=["p1"])
    m.insert("Velm Press printed the Atlas.", ["Velm Press", "Atlas"], sources=["p2"])
    m.insert("Ünïcode ☃ — naïve café.", ["Straße"], sources=["p3"])
    m.advance()
    m.update("mp-0002", description="Velm Press printed the Atlas in 1901.")
    m.merge(["mp-0001", "mp-0002"], "Ada's Velm Press printed the Atlas.")
    m.advance()
    m.merge(["mp-0004", "mp-0003"], "All of it.")
    m.attach("Lonely", description="linked by no point")
    return m


def test_dict_round_trip_is_exact_and_keeps_the_id_counter(tmp_path) -> None:
    m = _busy_memory()
    data = m.to_dict()
    assert data["format"] == "memagents.hypermem" and data["version"] == 1
    assert json.loads(json.dumps(data)) == data
    back = HypergraphMemory.from_dict(json.loads(json.dumps(data)))
    assert back.to_dict() == data and back.snapshot() == m.snapshot()
    assert back.resolve("mp-0001") == "mp-0005" and back.check() == []
    assert back.insert("New.", ["X"]).added[0].id == "mp-0006"  # ids are never reused
    path = m.save(tmp_path / "sub" / "memory.json")
    loaded = HypergraphMemory.load(path)
    assert loaded.to_dict() == data and read_snapshot(path) == m.snapshot()
    assert "☃" in path.read_text(encoding="utf-8")
    assert m.copy().to_dict() == data


def _corrupt(edit):
    data = json.loads(json.dumps(_busy_memory().to_dict()))
    edit(data)
    return data


@pytest.mark.parametrize(("data", "where"), [
    ([], "top level: expected an object"),
    ({"format": "x", "version": 1, "entities": [], "points": []}, "format: expected"),
    (_corrupt(lambda d: d.update(version=2)), "newer than this memagents reads"),
    (_corrupt(lambda d: d.update(version="1")), "version: expected an integer"),
    (_corrupt(lambda d: d.update(extra=1)), "unknown key(s) ['extra']"),
    (_corrupt(lambda d: d.pop("points")), "missing key(s) ['points']"),
    (_corrupt(lambda d: d["points"][0]["entities"].append("nobody")),
     "points[0].entities[5]: 'nobody' is not an entity of this memory"),
    (_corrupt(lambda d: d["points"][0].update(entities=["Ada"])), "is not an entity key"),
    (_corrupt(lambda d: d["points"][0].update(entities=[])), "at least one entity"),
    (_corrupt(lambda d: d["points"][0].update(id="mp-1")), "points[0].id: 'mp-1' is not"),
    (_corrupt(lambda d: d["points"][0].update(description="")), "must not be blank"),
    (_corrupt(lambda d: d["points"][0].update(version=0)), "version: must be at least 1"),
    (_corrupt(lambda d: d["points"][0].update(updated_step=0, created_step=2)),
     "updated_step: must be at least 2"),
    (_corrupt(lambda d: d["points"].append(d["retired"][0])), "is also"),
    (_corrupt(lambda d: d.update(next_number=3)), "next_number: must be at least 6"),
    (_corrupt(lambda d: d.update(step=0)), "step: must be at least 2"),
    (_corrupt(lambda d: d["merged_into"].pop("mp-0001")), "not mapped to a successor"),
    (_corrupt(lambda d: d["merged_into"].update({"mp-0004": "mp-0002"})),
     "merged into a newer id"),
    (_corrupt(lambda d: d["merged_into"].update({"mp-0003": "mp-0099"})),
     "mp-0099 is not a point of this memory"),
    (_corrupt(lambda d: d["entities"].append({"name": "ADA"})), "is the same entity as"),
    (_corrupt(lambda d: d["entities"][0].update(sources="p1")), "sources: expected a list"),
    (_corrupt(lambda d: d["entities"][0].update(name=" ")), "entities[0].name: must not be"),
    (_corrupt(lambda d: d.update(entities={})), "entities: expected a list"),
])
def test_malformed_input_is_refused_naming_the_problem(data, where) -> None:
    with pytest.raises(InputError) as info:
        HypergraphMemory.from_dict(data)
    assert where in str(info.value)
    assert str(info.value).startswith("not a valid hypergraph memory")


def test_unreadable_files_are_refused(tmp_path) -> None:
    with pytest.raises(InputError, match="no hypergraph memory file"):
        HypergraphMemory.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="is not JSON"):
        HypergraphMemory.load(bad)
    bad.write_bytes(b"\xff\xfe")
    with pytest.raises(InputError, match="cannot read"):
        HypergraphMemory.load(bad)


def test_a_hand_made_inconsistent_snapshot_is_refused() -> None:
    snap = _busy_memory().snapshot()
    broken = type(snap)(entities=snap.entities, points=snap.points, retired=snap.retired,
                        merged_into=(), next_number=snap.next_number, step=snap.step)
    with pytest.raises(InputError, match="not mapped to a successor"):
        HypergraphMemory.from_snapshot(broken)
    assert snapshot_from_dict(_busy_memory().to_dict()) == snap


# -------------------------------------------------------------------- randomized sequences

@pytest.mark.parametrize("seed", range(6))
def test_random_operation_sequences_keep_the_invariants(seed: int) -> None:
    rng = random.Random(seed)
    m = HypergraphMemory()
    names = [f"Entity {c}" for c in "ABCDEFGHIJKL"]
    allocated: list[int] = []
    ever_merged: set[str] = set()
    start: dict[str, MemoryPoint] = {}
    diffs: list[MemoryDiff] = []
    for _ in range(150):
        known = [p.id for p in m.points] + [p.id for p in m.retired] + ["mp-0999", "nope"]
        op = rng.random()
        if op < 0.35:
            d = m.insert(rng.choice(["", "fact "]) + str(rng.random()),
                         rng.sample(names, rng.randint(0, 4)), sources=[f"p{rng.randint(1, 9)}"])
        elif op < 0.55:
            d = m.update(rng.choice(known), description=rng.choice([None, "new " + str(_)]),
                         entities=rng.choice([None, rng.sample(names, rng.randint(0, 3))]))
        elif op < 0.8:
            d = m.merge(rng.sample(known, min(len(known), rng.randint(1, 3))), "merged " + str(rng.random()),
                        partial=rng.random() < 0.5)
        elif op < 0.9:
            d = m.attach(rng.choice(names).upper(), description=rng.choice([None, "desc"]),
                         ref=rng.choice([None, None, "ref:" + str(rng.randint(1, 2))]))
        else:
            m.advance()
            continue
        diffs.append(d)
        allocated += [point_number(p.id) for p in d.added]
        ever_merged.update(d.removed)
        assert m.check() == []
        assert all(k in {e.key for e in m.entities} for p in m.points for k in p.entities)
        assert not ever_merged & {p.id for p in m.points}          # merged ids never come back
        assert allocated == sorted(set(allocated))                # strictly increasing ids
        assert all(m.resolve(pid) in m for pid in ever_merged)     # each leads to a live point
        for r in d.rejected:
            assert r.reason and str(r).startswith(r.op)
    assert MemoryDiff.merge_all(diffs).apply_to(start) == {p.id: p for p in m.points}
    again = HypergraphMemory.from_dict(json.loads(json.dumps(m.to_dict())))
    assert again.to_dict() == m.to_dict()
    assert len(m.retired) == len(ever_merged)


# -------------------------------------------------------------------------------- picture

class _Tags(HTMLParser):
    VOID = frozenset({"meta", "br", "img", "input", "link", "hr"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.seen: set[str] = set()
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        self.seen.add(tag)
        self.attrs += attrs
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.seen.add(tag)
        self.attrs += attrs

    def handle_endtag(self, tag):
        assert self.stack and self.stack.pop() == tag, f"unbalanced </{tag}>"


def test_picture_is_self_contained_html_with_every_point(tmp_path) -> None:
    m = _busy_memory()
    m.insert("Lonely point <b>&</b>.\x0b", ["Solo"])
    page = m.to_html("HGMem <demo>")
    parser = _Tags()
    parser.feed(page)
    parser.close()
    assert parser.stack == [] and {"html", "svg", "title", "table"} <= parser.seen
    assert "script" not in parser.seen and "link" not in parser.seen
    assert not [v for k, v in parser.attrs if k in ("src", "href")]
    svg = page[page.index("<svg"): page.index("</svg>") + 6]
    ET.fromstring(svg)  # well-formed XML
    for p in m.points:
        assert f'id="{p.id}"' in page and p.id in svg
    assert "Lonely point &lt;b&gt;&amp;&lt;/b&gt;." in page and "HGMem &lt;demo&gt;" in page
    assert "mp-0001</td><td>mp-0004" in page  # merged ids listed with their successor
    assert page == HypergraphMemory.from_dict(m.to_dict()).to_html("HGMem <demo>")  # seeded
    path = m.write_html(tmp_path / "pic" / "memory.html", "HGMem <demo>")
    assert path.read_text(encoding="utf-8") == page
    empty = memory_html(HypergraphMemory().snapshot())
    assert "No memory points." in empty and "<svg" in empty


def test_networkx_export_is_bipartite(memory: HypergraphMemory) -> None:
    g = memory.to_networkx()
    assert nx.is_bipartite(g) and g.number_of_nodes() == 3 + 6
    assert {n for n, d in g.nodes(data="bipartite") if d == 1} == {
        "point:mp-0001", "point:mp-0002", "point:mp-0003"}
    assert sorted(g["point:mp-0003"]) == ["entity:bram", "entity:kest"]


def test_import_is_cheap() -> None:
    code = ("import sys, memagents.hypermem; print(sorted(m for m in ('networkx', 'numpy', "
            "'scipy', 'torch', 'tiktoken', 'openai', 'langgraph') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "[]"
