"""The sample world: determinism, internal consistency, names, popularity and arguments."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from memagents.errors import InputError
from memagents.sample import RELATIONS, Fact, Passage, SampleWorld, export_sample
from memagents.sample.schema import literal_aliases, render_literal, render_object

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def world() -> SampleWorld:
    return SampleWorld.generate(0)


def _passage(world: SampleWorld, pid: str) -> Passage:
    passage = world.passage(pid)
    assert passage is not None, pid
    return passage


def _names(world: SampleWorld) -> dict[str, str]:
    return {e.id: e.name for e in world.entities}


def _triple(world: SampleWorld, fact: Fact) -> tuple[str, str, str]:
    names = _names(world)
    return names[fact.subject_id], RELATIONS[fact.relation].phrase, render_object(fact, names)


# --- determinism --------------------------------------------------------------------------


def test_same_seed_gives_an_equal_world(world: SampleWorld) -> None:
    again = SampleWorld.generate(0)
    assert again == world
    assert again.stats() == world.stats()
    assert again.corpus() == world.corpus()


def test_export_is_byte_identical(world: SampleWorld, tmp_path: Path) -> None:
    first = export_sample(world, tmp_path / "a")
    second = export_sample(SampleWorld.generate(0), tmp_path / "b")
    assert first == second
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*")
                     if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*")
                     if p.is_file())
    assert files_a == files_b
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_generation_does_not_depend_on_pythonhashseed(world: SampleWorld, tmp_path: Path
                                                      ) -> None:
    here = export_sample(world, tmp_path / "here")
    code = ("import json, sys; from memagents.sample import SampleWorld, export_sample; "
            "m = export_sample(SampleWorld.generate(0), sys.argv[1]); print(json.dumps(m))")
    runs = {
        hashseed: subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path / hashseed)], cwd=REPO, text=True,
            env={**os.environ, "PYTHONHASHSEED": hashseed}, stdout=subprocess.PIPE)
        for hashseed in ("1", "4242")
    }
    for hashseed, run in runs.items():
        out, _ = run.communicate(timeout=60)
        assert run.returncode == 0
        assert json.loads(out) == here, f"PYTHONHASHSEED={hashseed} changed the world"


def test_different_seeds_give_different_worlds(world: SampleWorld) -> None:
    other = SampleWorld.generate(1)
    assert other != world
    mine = {e.name for e in world.entities}
    theirs = {e.name for e in other.entities}
    assert len(mine & theirs) < 0.1 * len(mine)
    assert {q.question for q in world.questions}.isdisjoint({q.question for q in other.questions})


# --- sizes and arguments ------------------------------------------------------------------


def test_small_world_has_the_promised_shape(world: SampleWorld) -> None:
    stats = world.stats()
    assert 150 <= stats["entities"] <= 250
    assert 150 <= stats["passages"] <= 250
    assert 40 <= stats["questions"] <= 80
    assert set(stats["questions_by_hops"]) == {"2", "3", "4"}
    assert min(stats["questions_by_hops"].values()) >= 10
    assert set(stats["questions_by_kind"]) == {"attribute", "bridge"}
    assert stats["question_paths"] >= 20
    assert len(set(stats["entities_by_type"])) >= 8
    assert stats["distractors"] >= 4 and stats["popqa"] >= 100


def test_small_world_generates_well_under_a_second() -> None:
    started = time.process_time()  # CPU time: robust to a busy machine
    SampleWorld.generate(11)
    assert time.process_time() - started < 1.0


def test_sizes_scale(world: SampleWorld) -> None:
    tiny = SampleWorld.generate(0, size="tiny")
    custom = SampleWorld.generate(0, size=400)
    assert len(tiny.entities) < len(world.entities) < len(custom.entities)
    assert 350 <= len(custom.entities) <= 480
    assert custom.size == 400 and tiny.size == "tiny"


@pytest.mark.parametrize("seed", [-1, "0", 1.5, True, None])
def test_bad_seed_raises_input_error(seed: object) -> None:
    with pytest.raises(InputError, match="seed"):
        SampleWorld.generate(seed)  # type: ignore[arg-type]


@pytest.mark.parametrize("size", ["huge", "", 10, 10**7, True, 2.0])
def test_bad_size_raises_input_error(size: object) -> None:
    with pytest.raises(InputError, match="size"):
        SampleWorld.generate(0, size=size)  # type: ignore[arg-type]


def test_bad_lookups_raise_input_error(world: SampleWorld, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="entity"):
        world.entity("person:nobody")
    with pytest.raises(InputError, match="fact"):
        world.passages_for(Fact("person:nobody", "born_in", "city:nowhere"))
    with pytest.raises(InputError, match="SampleWorld"):
        export_sample("not a world", tmp_path)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="literal kind"):
        render_literal("furlongs", "3")


# --- facts, passages and triples ----------------------------------------------------------


def test_facts_are_typed_and_functional(world: SampleWorld) -> None:
    types = {e.id: e.type for e in world.entities}
    seen: Counter[tuple[str, str]] = Counter()
    for fact in world.facts:
        relation = RELATIONS[fact.relation]
        assert types[fact.subject_id] in relation.subjects, fact
        if fact.literal:
            assert relation.literal, fact
        else:
            assert types[fact.object] in relation.objects, fact
        seen[(fact.subject_id, fact.relation)] += 1
    assert max(seen.values()) == 1, "every relation must be functional"
    for relation in (r for r in RELATIONS.values() if r.one_to_one):
        objects = Counter(f.object for f in world.facts if f.relation == relation.name)
        assert max(objects.values()) == 1, relation.name
    spouses = {(f.subject_id, f.object) for f in world.facts if f.relation == "spouse_of"}
    assert spouses and all((b, a) in spouses for a, b in spouses)


def test_every_fact_is_stated_in_its_passages(world: SampleWorld) -> None:
    for fact in world.facts:
        ids = world.passages_for(fact)
        assert ids, fact
        assert _passage(world, ids[0]).entity_id == fact.subject_id  # the subject's own article
        triple = _triple(world, fact)
        for pid in ids:
            assert triple in _passage(world, pid).triples, (fact, pid)


def test_passage_triples_are_exactly_known_facts_named_in_the_text(world: SampleWorld) -> None:
    known = {_triple(world, f) for f in world.facts}
    ids = [p.id for p in world.passages]
    assert len(set(ids)) == len(ids)
    stated = 0
    for passage in world.passages:
        assert passage.title == world.entity(passage.entity_id).name
        assert passage.title in passage.text
        assert len(passage.triples) == len(set(passage.triples)) >= 1
        for subject, predicate, obj in passage.triples:
            assert (subject, predicate, obj) in known, (passage.id, subject, predicate, obj)
            assert subject in passage.text and obj in passage.text, (passage.id, subject, obj)
        stated += len(passage.triples)
    assert stated == sum(len(world.passages_for(f)) for f in world.facts)


def test_passages_are_varied_encyclopedia_paragraphs(world: SampleWorld) -> None:
    texts = [p.text for p in world.passages]
    assert len(set(texts)) == len(texts)
    assert sum(bool(re.search(r"\b\d{1,2} [A-Z][a-z]+ \d{4}\b", t)) for t in texts) >= 50
    openings = Counter(" ".join(t.split()[1:4]) for t in texts)
    assert len(openings) >= 30, "sentence templates should vary"
    assert all(t.endswith(".") and t[0].isupper() for t in texts)


def test_corpus_and_lookups(world: SampleWorld) -> None:
    corpus = world.corpus()
    assert [pid for pid, _ in corpus] == [p.id for p in world.passages]
    pid, text = corpus[0]
    assert text == f"{_passage(world, pid).title}\n{_passage(world, pid).text}"
    entity = next(e for e in world.entities if e.aliases)
    assert world.find(entity.aliases[0].upper()) == entity
    assert world.article(entity.id).entity_id == entity.id
    fact = world.facts_about(entity.id)[0]
    assert world.triple(fact) == _triple(world, fact)
    assert world.facts_about(entity.id) and all(
        f.subject_id == entity.id for f in world.facts_about(entity.id))


# --- names and popularity -----------------------------------------------------------------


def test_names_and_aliases_are_unique(world: SampleWorld) -> None:
    forms = [form.casefold() for e in world.entities for form in (e.name, *e.aliases)]
    assert len(forms) == len(set(forms))
    assert len({e.id for e in world.entities}) == len(world.entities)
    assert all(re.fullmatch(r"[a-z]+:[a-z0-9-]+", e.id) for e in world.entities)


def test_distractors_imitate_an_entity_of_the_same_type(world: SampleWorld) -> None:
    distractors = [e for e in world.entities if e.distractor_of]
    assert len(distractors) >= 4
    in_chains = {f.subject_id for q in world.questions for f in q.chain} | {
        q.answer_id for q in world.questions}
    for d in distractors:
        original = world.entity(d.distractor_of or "")
        assert original.type == d.type and original.name != d.name
        assert set(original.name.split()) & set(d.name.split()) - {"The", "of"}, d.name
        assert world.article(d.id).kind == "distractor"
        assert d.id not in in_chains


def test_popularity_spans_orders_of_magnitude(world: SampleWorld) -> None:
    pops = sorted(e.popularity for e in world.entities)
    assert pops[0] >= 3 and pops[-1] <= 1_500_000
    assert pops[0] < 100 and pops[-1] > 100_000
    assert pops[-1] / pops[0] >= 1e4
    by_type: dict[str, list[int]] = {}
    for e in world.entities:
        by_type.setdefault(e.type, []).append(e.popularity)
    median = {t: sorted(v)[len(v) // 2] for t, v in by_type.items()}
    assert median["country"] > median["city"] > median["person"]


def _vocabulary(data: Path) -> set[str]:
    words: set[str] = set()
    for passage in json.loads((data / "musique" / "corpus.json").read_text()):
        words.update(w.lower() for w in re.findall(r"[A-Za-z]+", passage["title"] + " "
                                                    + passage["text"]))
    for row in json.loads((data / "popqa" / "popqa_dev.json").read_text()):
        words.update(w.lower() for w in re.findall(
            r"[A-Za-z]+", " ".join([row["question"], *row["possible_answers"]])))
    return words


@pytest.mark.realdata
def test_invented_names_do_not_occur_in_real_data(shared_data: Path) -> None:
    corpus, popqa = shared_data / "musique" / "corpus.json", shared_data / "popqa" / "popqa_dev.json"
    if not corpus.is_file() or not popqa.is_file():
        pytest.skip(f"shared MuSiQue/PopQA files not found under {shared_data}")
    vocabulary = _vocabulary(shared_data)
    titles = {p["title"].casefold() for p in json.loads(corpus.read_text())}
    from memagents.sample.worldgen import _FIRM, _NOUNS, _WORDS

    generic = {"the", "of", "to", "return", "river", "mount", "peak", "university", "institute",
               "tech", "press", "books", "house", "publishing", "records", "sound", "recordings",
               "music", "works", "holdings", "group", "kingdom", "republic", "sessions"}
    generic |= {w.lower() for w in (*_NOUNS, *_WORDS, *" ".join(_FIRM.values()).split())}
    for seed in (0, 1, 2):
        w = SampleWorld.generate(seed)
        for entity in w.entities:
            assert entity.name.casefold() not in titles, entity.name
            invented = {t.lower() for form in (entity.name, *entity.aliases)
                        for t in re.findall(r"[A-Za-z]{2,}", form)} - generic
            assert not invented & vocabulary, (seed, entity.name, invented & vocabulary)
        domains = {part for d in w.website.domains for part in d.split(".")[1:-1]}
        assert not domains & vocabulary


# --- questions ----------------------------------------------------------------------------


def _follow(world: SampleWorld, start: str, path: tuple[str, ...]) -> set[str]:
    """Follow a relation path over *all* facts, independently of the generator."""
    current, names = {start}, _names(world)
    values: set[str] = set()
    for i, step in enumerate(path):
        inverse, relation = step.startswith("^"), step.lstrip("^")
        nxt: set[str] = set()
        for f in world.facts:
            if f.relation != relation:
                continue
            if inverse and f.object in current:
                nxt.add(f.subject_id)
            elif not inverse and f.subject_id in current:
                if f.literal:
                    assert i == len(path) - 1, "a literal can only end a path"
                    values.add(render_literal(RELATIONS[relation].literal, f.object))
                else:
                    nxt.add(f.object)
        current = nxt
    return values | {names[c] for c in current}


def test_question_answers_are_unique(world: SampleWorld) -> None:
    for q in world.questions:
        assert _follow(world, q.start_id, q.path) == {q.answer}, q.id


def test_question_chains_are_supported_by_gold_passages(world: SampleWorld) -> None:
    names = _names(world)
    for q in world.questions:
        assert q.hops == len(q.chain) == len(q.gold_passage_ids) == len(q.path)
        assert 2 <= q.hops <= 4
        assert names[q.start_id] in q.question and q.question.endswith("?")
        node = q.start_id
        for step, fact, pid in zip(q.path, q.chain, q.gold_passage_ids):
            assert fact in world.fact_passages, (q.id, fact)
            inverse = step.startswith("^")
            assert fact.relation == step.lstrip("^")
            assert (fact.object if inverse else fact.subject_id) == node, (q.id, step)
            node = fact.subject_id if inverse else fact.object
            passage = world.passage(pid)
            assert passage is not None
            subject, _, obj = triple = _triple(world, fact)
            assert triple in passage.triples, (q.id, pid, triple)
            assert subject in passage.text and obj in passage.text
        last = q.chain[-1]
        if q.kind == "attribute":
            assert last.literal and q.answer_id is None
            kind = RELATIONS[last.relation].literal
            assert q.answer == render_literal(kind, last.object)
            assert q.answer_aliases == literal_aliases(kind, last.object)
        else:
            assert q.answer_id == node and q.answer == names[node]
            assert q.answer_aliases == world.entity(node).aliases
        assert all(a.casefold() not in q.question.casefold() for a in (q.answer,
                                                                      *q.answer_aliases))


def test_no_single_passage_links_question_start_and_answer(world: SampleWorld) -> None:
    names = _names(world)
    for q in world.questions:
        start = names[q.start_id]
        for p in world.passages:
            strings = {s for t in p.triples for s in (t[0], t[2])}
            assert not (start in strings and q.answer in strings), (q.id, p.id)


def test_questions_mix_paths_starts_and_answers(world: SampleWorld) -> None:
    assert len({q.start_id for q in world.questions}) == len(world.questions)
    assert max(Counter(q.answer for q in world.questions).values()) <= 2
    assert len({q.path[0] for q in world.questions}) >= 8
    assert any(s.startswith("^") for q in world.questions for s in q.path)
    assert [q.id for q in world.questions] == [f"q{i:04d}" for i in range(1, 61)]


# --- PopQA-style questions ----------------------------------------------------------------


def test_popqa_questions_match_facts_and_popularity(world: SampleWorld) -> None:
    popqa_prop_ids = {22, 218, 91, 182, 484, 97, 422}
    assert {q.prop_id for q in world.popqa} & popqa_prop_ids == popqa_prop_ids
    for q in world.popqa:
        subject = world.entity(q.subj_id)
        assert q.subj == subject.name and q.s_pop == subject.popularity
        assert q.subj in q.question and q.question.endswith("?")
        assert q.possible_answers[0] == q.obj
        if q.obj_id is not None:
            assert q.o_pop == world.entity(q.obj_id).popularity
        gold = world.passage(q.gold_passage_id)
        assert gold is not None and gold.entity_id == q.subj_id
        assert q.obj in gold.text
        assert any(q.obj in (t[0], t[2]) and q.subj in (t[0], t[2]) for t in gold.triples)
    pops = [q.s_pop for q in world.popqa]
    assert min(pops) < 100 and max(pops) > 100_000
