"""Insight store (CORE): credit and utility arithmetic on hand-computed examples, retrieval
ranking with and without exploration, dedup, pruning and consolidation, the token budget,
persistence round-trip, settings and verifiers."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings

from memagents.errors import ConfigError, InputError
from memagents.insights import InsightSettings, InsightStore, Problem, Rollout
from memagents.insights.records import problem_id
from memagents.insights.scoring import (
    admits,
    bootstrap_ci,
    neighbour_utility,
    running_mean,
    sampling_weights,
    success_estimate,
    ucb_bonus,
    utility,
)
from memagents.insights.solvers import insight_block, render_trace
from memagents.insights.verifiers import (
    ExactMatch,
    NumericTolerance,
    RegexMatch,
    UnitTests,
    run_verifier,
    verifier_for,
)
from memagents.models import get_tokenizer
from memagents.testing import FakeEmbeddings

AXES = ("alpha", "beta", "gamma", "delta")


class AxisEmbeddings(Embeddings):
    """Each text points along the axis of the first keyword it names (exact cosines)."""

    size = len(AXES) + 1

    def _one(self, text: str) -> list[float]:
        v = [0.0] * self.size
        for i, word in enumerate(AXES):
            if word in text.lower():
                v[i] = 1.0
                break
        else:
            v[-1] = 1.0
        return v

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._one(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._one(text)


def _open(folder: Path, **kw: object) -> InsightStore:
    kw.setdefault("embeddings", AxisEmbeddings())
    return InsightStore.open(folder, **kw)  # type: ignore[arg-type]


def _baseline(store: InsightStore, pid: str, rewards: list[float]) -> None:
    for i, r in enumerate(rewards):
        store.parts.db.record(store.namespace, Rollout(id=f"b:{pid}:{i}", kind="baseline",
                                                       problem_id=pid, reward=r))


# ---------------------------------------------------------------------------- arithmetic
def test_scoring_functions_on_hand_computed_examples() -> None:
    assert utility(1.0, 0.3) == pytest.approx(0.7)
    assert utility(0.0, 0.3) == pytest.approx(-0.3)
    n, mean = running_mean(0, 0.0, 0.7)
    n, mean = running_mean(n, mean, -0.3)
    n, mean = running_mean(n, mean, 0.7)
    assert (n, mean) == (3, pytest.approx(1.1 / 3))
    # use-weighted mean over the neighbours only: (2·0.5 + 1·(−0.1)) / 3 = 0.3
    assert neighbour_utility({"p1": (2, 0.5), "p2": (1, -0.1), "far": (9, 1.0)},
                             ["p1", "p2"]) == (pytest.approx(0.3), 3)
    assert neighbour_utility({}, ["p1"]) == (0.0, 0)
    # c·√(ln(T+1)/(1+n)): 0.3·√(ln 100 / 1) and 0.3·√(ln 100 / 9)
    assert ucb_bonus(0.3, 99, 0) == pytest.approx(0.3 * math.sqrt(math.log(100)))
    assert ucb_bonus(0.3, 99, 8) == pytest.approx(0.1 * math.sqrt(math.log(100)))
    assert ucb_bonus(0.3, 0, 0) == 0.0 and ucb_bonus(0.0, 50, 0) == 0.0
    # success estimate: the last 4 rewards, missing ones filled with b_p = 0.2
    assert success_estimate(0.2, [1.0, 1.0], 4) == pytest.approx(0.6)
    assert success_estimate(0.2, [0, 1, 1, 1, 1], 4) == pytest.approx(1.0)
    # sampling: 0.5 uniform + 0.5 failure-biased; s = (0, 0.5, 1) -> fail (1, .5, 0) / 1.5
    w = sampling_weights([0.0, 0.5, 1.0], 0.5)
    assert w.tolist() == pytest.approx([1 / 6 + 1 / 3, 1 / 6 + 1 / 6, 1 / 6])
    assert sampling_weights([1.0, 1.0], 0.0).tolist() == [0.5, 0.5]
    # admission: the candidate alone solves p (majority of samples); margin variant
    assert admits([1.0], 0.9) and not admits([0.0], 0.0)
    assert admits([1.0, 0.0, 1.0], 0.9) and not admits([1.0, 0.0, 0.0], 0.0)
    assert admits([1.0, 0.0], 0.4, rule="margin") and not admits([1.0, 0.0], 0.5, rule="margin")
    mean, low, high = bootstrap_ci([0.0, 1.0] * 50)
    assert mean == 0.5 and 0.38 < low < 0.5 < high < 0.62


def test_credit_is_reward_minus_baseline_for_every_injected_insight(tmp_path: Path) -> None:
    with _open(tmp_path) as store:
        store.add_problems([Problem(id="p1", text="alpha problem", answer="1")])
        _baseline(store, "p1", [1.0, 0.0, 0.0, 0.0])  # b_p = 0.25
        ids = store.add(["alpha insight one", "alpha insight two"]).ids
        store.record_outcome(Problem(id="p1", text="alpha problem"), insight_ids=ids,
                             reward=1.0)
        assert store.insight_uses(ids[0]) == {"p1": (1, pytest.approx(0.75))}
        rollout, fates = store.record_outcome(Problem(id="p1", text="alpha problem"),
                                              insight_ids=ids, reward=0.0)
        assert (rollout.baseline, fates) == (0.25, [])
        for iid in ids:  # equal credit: (0.75 + (−0.25)) / 2
            assert store.insight_uses(iid) == {"p1": (2, pytest.approx(0.25))}
            assert (store.insight(iid).uses, store.insight(iid).utility) == (2, 0.25)
        # an unknown problem takes the namespace's mean baseline (0.25 here)
        store.record_outcome("beta problem", insight_ids=ids[:1], reward=1.0)
        assert store.insight_uses(ids[0])[problem_id("beta problem")] == (1, pytest.approx(0.75))
        assert store.parts.db.counter("default", "retrievals") == 3


def test_retrieval_ranks_by_utility_on_similar_problems_and_explores(tmp_path: Path) -> None:
    with _open(tmp_path, neighbourhood="knn", neighbours=1, ucb_c=0.3) as store:
        store.add_problems([Problem(id="pa", text="alpha task"), Problem(id="pb",
                                                                         text="beta task")])
        _baseline(store, "pa", [0.0, 0.0])
        _baseline(store, "pb", [0.0, 0.0])
        a, b, c = store.add(["alpha rule", "beta rule", "gamma rule"]).ids
        # a helps on pa twice (+1, +1 → mean 1... then 0 → 2/3); b helps on pb once
        for iid, pid, r in [(a, "pa", 1.0), (a, "pa", 1.0), (a, "pa", 0.0), (b, "pb", 1.0)]:
            store.record_outcome(Problem(id=pid, text=f"{pid} task"), insight_ids=[iid],
                                 reward=r)
        hits = store.search("alpha question", k=3)
        # neighbours of an alpha question = [pa]: a scores 2/3, b and c have no evidence (0);
        # the cosine with the question breaks the tie (both 0 here), then creation order
        assert hits.ids == [a, b, c]
        assert [h.score for h in hits] == [pytest.approx(2 / 3), 0.0, 0.0]
        assert (hits[0].utility, hits[0].evidence, hits[0].similarity) == (
            pytest.approx(2 / 3), 3, 1.0)
        assert store.search("beta question", k=1).ids == [b]
        # exploration: T = 4 retrievals; bonus 0.3·√(ln 5 / (1 + n_i)); c was never used
        explored = store.search("alpha question", k=3, explore=True)
        bonus_c = 0.3 * math.sqrt(math.log(5))
        bonus_a = 0.3 * math.sqrt(math.log(5) / 4)
        assert explored.ids == [a, c, b]  # a: 2/3 + 0.40 = 1.07, c: 0.76, b: 0 + 0.54
        assert explored[0].score == pytest.approx(2 / 3 + bonus_a, abs=1e-5)
        assert explored[1].bonus == pytest.approx(bonus_c, abs=1e-5)
        # evaluation selection: never an insight measured to hurt on similar problems
        for i in (2, 3):  # b_pa becomes 0.5, so a failure now costs c −0.5
            store.parts.db.record("default", Rollout(id=f"b:pa:{i}", kind="baseline",
                                                     problem_id="pa", reward=1.0))
        store.record_outcome(Problem(id="pa", text="pa task"), insight_ids=[c], reward=0.0)
        assert c not in store.select("alpha question").ids
        store.configure(min_eval_utility=None)
        assert c in store.select("alpha question").ids


def test_contrast_credit_separates_insights_injected_together(tmp_path: Path) -> None:
    with _open(tmp_path, credit="contrast", neighbourhood="knn", neighbours=1) as store:
        store.add_problems([Problem(id="pa", text="alpha task")])
        _baseline(store, "pa", [0.0, 0.0, 1.0, 1.0])  # b = 0.5
        x, y = store.add(["alpha rule x", "alpha rule y"]).ids
        db = store.parts.db
        # rollout 1 injects x and leaves y out: solved; rollout 2 the other way round: failed
        for rid, inj, out, r in (("t:0", x, y, 1.0), ("t:1", y, x, 0.0)):
            db.record("default", Rollout(id=rid, kind="train", problem_id="pa", reward=r,
                                         insight_ids=(inj,), held_out=(out,)),
                      [(inj, "pa", r - 0.5)], left_out=[(out, "pa", r - 0.5)])
        assert db.left_out("default") == {x: {"pa": (1, -0.5)}, y: {"pa": (1, 0.5)}}
        assert db.rollout("default", "t:0").held_out == (y,)
        hits = store.search("alpha question", k=2)
        # contrast: x 0.5 − (−0.5) = +1, y −0.5 − 0.5 = −1 (equal credit: +0.5 and −0.5)
        assert [(h.id, h.score) for h in hits] == [(x, 1.0), (y, -1.0)]
        assert store.select("alpha question").ids == [x]
        store.configure(credit="equal")
        assert [h.score for h in store.search("alpha question", k=2)] == [0.5, -0.5]


def test_token_budget_of_the_injected_block(tmp_path: Path) -> None:
    tok = get_tokenizer()
    texts = [f"alpha rule number {i}: " + "check every intermediate value twice " * 3
             for i in range(30)]
    chosen, block, tokens = insight_block(texts, max_tokens=120, tokenizer=tok)
    assert tokens == tok.count(block) <= 120 and 0 < len(chosen) < 30
    assert chosen == list(range(len(chosen)))  # rank order kept
    # a long insight that does not fit is skipped, the next short one still goes in
    assert insight_block(["x " * 500, "Round up."], max_tokens=40)[0] == [1]
    assert insight_block([], max_tokens=40) == ([], "", 0)
    with _open(tmp_path, max_insight_tokens=150) as store:
        store.add(texts)
        selection = store.select("alpha question")
        assert 0 < selection.tokens <= 150 and len(selection.hits) < 25
        assert any("within 150 tokens" in n for n in selection.notes)
        assert selection.block.count("\n- ") == len(selection.hits)


def test_dedup_and_screening() -> None:
    from memagents.insights.reflection import insight_id, normalise, screen

    assert normalise(" Round UP the quotient. ") == "round up the quotient"
    assert insight_id("ns", "Round up.") == insight_id("ns", "round  UP")
    assert insight_id("ns", "Round up.") != insight_id("other", "Round up.")
    out = screen([("Round up.", "specific"), ("round up", "meta"), ("", "meta"),
                  ("a" * 500, "meta"), ("Two.", "meta"), ("Three.", "meta")],
                 max_chars=400, max_candidates=2)
    assert [s for _, _, s, _ in out] == ["new", "unusable", "unusable", "unusable", "new",
                                         "unusable"]
    assert out[1][3] == "repeated in the same reflection" and out[5][3].startswith("beyond")


def test_pruning_and_consolidation(tmp_path: Path) -> None:
    with InsightStore.open(tmp_path, embeddings=FakeEmbeddings()) as store:
        store.add_problems([Problem(id="p1", text="count the posts"),
                            Problem(id="p2", text="count the days")])
        _baseline(store, "p1", [0.0, 1.0])  # b = 0.5
        _baseline(store, "p2", [0.0, 1.0])
        good, twin, bad = store.add(["Add one for the end post.", "for the end post add one",
                                     "Never add anything."]).ids
        for r in (1.0, 1.0, 1.0):  # good: mean 0.5 over 3 uses; twin: 0.5 over 1 use
            store.record_outcome(Problem(id="p1", text="count the posts"),
                                 insight_ids=[good], reward=r)
        store.record_outcome(Problem(id="p2", text="count the days"), insight_ids=[twin],
                             reward=1.0)
        for _ in range(3):
            store.record_outcome(Problem(id="p2", text="count the days"), insight_ids=[bad],
                                 reward=0.0)
        dry = store.prune(min_uses=3, dry_run=True)
        assert dry.merged == [(twin, good, 1.0)] and [p[0] for p in dry.pruned] == [bad]
        assert len(store.insights()) == 3  # nothing written
        report = store.prune(min_uses=3)
        assert report.to_dict() == dry.to_dict() | {"dry_run": False}
        assert [i.id for i in store.insights()] == [good]
        # the tie on utility goes to more uses; the survivor took the twin's uses and support
        assert store.insight_uses(good) == {"p1": (3, pytest.approx(0.5)),
                                            "p2": (1, pytest.approx(0.5))}
        merged = store.insight(twin)
        assert (merged.status, merged.source["merged_into"]) == ("pruned", good)
        assert store.insight(good).support == 2 and store.insight(bad).status == "pruned"
        assert store.stats()["insights"] == {"active": 1, "pruned": 2}


def test_persistence_round_trip_and_identity(tmp_path: Path) -> None:
    with _open(tmp_path) as store:
        store.add_problems([Problem(id="p1", text="alpha problem", answer="3",
                                    verifier="numeric", tags=("fam",))])
        _baseline(store, "p1", [1.0, 0.0])
        ids = store.add(["alpha rule"], metadata=[{"by": "hand"}], tags=["t"]).ids
        store.record_outcome(Problem(id="p1", text="alpha problem"), insight_ids=ids,
                             reward=1.0)
        store.parts.db.add_point("default", "core", 10, 0.5, 0.4, 0.6, 20)
        before = (store.insights(), store.insight_uses(ids[0]), store.stats(), store.curve(),
                  store.problems())
    with _open(tmp_path) as again:
        after = (again.insights(), again.insight_uses(ids[0]), again.stats(), again.curve(),
                 again.problems())
        assert after == before
        assert after[0][0].metadata == {"by": "hand"} and after[0][0].tags == ("t",)
        assert after[4][0] == Problem(id="p1", text="alpha problem", answer="3",
                                      verifier="numeric", tags=("fam",))
        # one use of +0.5, shrunk by the kernel's one pseudo-use at 0: 0.5 / 2
        assert again.search("alpha question", k=1)[0].score == pytest.approx(0.25)
    with pytest.raises(ConfigError, match="built with embeddings"):
        InsightStore.open(tmp_path, embeddings="hash")
    with pytest.raises(ConfigError, match="built with method 'core'"):
        _open(tmp_path, settings=InsightSettings(method="expel"))
    with _open(tmp_path) as again:  # the failed opens released the folder lock
        assert again.settings.method == "core"


def test_contract_operations(tmp_path: Path) -> None:
    with _open(tmp_path) as store:
        result = store.add(["alpha rule", "beta rule"], ids=["i1", None])
        assert result.added == ["i1", result.ids[1]] and result.ids[1].startswith("ins-")
        assert store.add(["alpha rule"], ids=["i1"]).unchanged == ["i1"]
        assert store.add(["alpha rule, reworded"], ids=["i1"]).updated == ["i1"]
        assert [h.text for h in store.get("i1")] == ["alpha rule, reworded"]
        assert store.get(["nope"]) == []
        assert store.delete(["i1", "nope"]).deleted == ["i1"]
        assert store.search("beta?", k=5, namespace="elsewhere").notes
        with pytest.raises(InputError, match="unknown option"):
            store.search("x", k=1, preset="y")
        with pytest.raises(InputError):
            store.add([""])
    assert store.closed
    with pytest.raises(InputError, match="closed"):
        store.search("x")


def test_settings_validation() -> None:
    assert InsightSettings().as_dict()["top_k"] == 25
    for bad in ({"top_k": 0}, {"ucb_c": -1.0}, {"uniform_mix": 1.5}, {"method": "grpo"},
                {"admission_rule": "vote"}, {"verifier_timeout": 0}, {"baseline_samples": True}):
        with pytest.raises(ConfigError):
            InsightSettings(**bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown insight setting"):
        InsightSettings().with_(topk=3)


# ---------------------------------------------------------------------------- verifiers
def test_builtin_verifiers() -> None:
    p = Problem(id="p", text="?", answer="1,250.50")
    assert NumericTolerance()("It costs $1,250.5.", p) == 1.0
    assert NumericTolerance()("1250.6", p) == 0.0
    assert NumericTolerance(abs_tol=0.2)("1250.6", p) == 1.0
    assert ExactMatch()(" Tuesday. ", Problem(id="p", text="?", answer="tuesday")) == 1.0
    assert RegexMatch(pattern=r"\d{3}", full=True)("123", p) == 1.0
    assert RegexMatch(pattern=r"\d{3}", full=True)("1234", p) == 0.0
    assert isinstance(verifier_for(None), ExactMatch)
    assert verifier_for({"kind": "regex", "pattern": "x"}) == RegexMatch(pattern="x")
    with pytest.raises(ConfigError, match="unknown verifier"):
        verifier_for("fuzzy")
    reward, error = run_verifier(NumericTolerance(), "12", Problem(id="p", text="?"))
    assert reward == 0.0 and "no expected answer" in error


def test_verifier_that_raises_hangs_or_returns_junk_is_a_failed_rollout() -> None:
    p = Problem(id="p", text="?", answer="1")
    assert run_verifier(lambda a, q: 1 / 0, "1", p) == (
        0.0, "verifier raised ZeroDivisionError: division by zero")
    release = threading.Event()
    try:
        reward, error = run_verifier(lambda a, q: release.wait(30), "1", p, timeout=0.05)
    finally:
        release.set()
    assert reward == 0.0 and error.startswith("verifier timed out after 0.05 s")
    assert run_verifier(lambda a, q: 3.0, "1", p)[1] == "verifier failed: it returned 3.0, " \
        "outside [0, 1]"
    assert run_verifier(lambda a, q: "yes", "1", p)[0] == 0.0
    assert run_verifier(lambda a, q: True, "1", p) == (1.0, None)


def test_unit_tests_verifier_runs_code_in_a_subprocess_with_a_time_limit() -> None:
    p = Problem(id="p", text="write add")
    tests = "assert add(2, 3) == 5\nassert add(-1, 1) == 0"
    good = "```python\ndef add(a, b):\n    return a + b\n```"
    assert run_verifier(UnitTests(tests=tests), good, p) == (1.0, None)
    reward, error = run_verifier(UnitTests(tests=tests), "def add(a, b):\n    return a - b", p)
    assert reward == 0.0 and "unit tests failed: AssertionError" in error
    reward, error = run_verifier(UnitTests(tests=tests, timeout=0.5),
                                 "def add(a, b):\n    while True: pass", p, timeout=5)
    assert reward == 0.0 and "ran over 0.5 s" in error
    spec = verifier_for({"kind": "unit_tests"}, timeout=5)  # the tests are the answer
    assert run_verifier(spec, good, Problem(id="q", text="?", answer=tests)) == (1.0, None)


def test_render_trace_of_a_multi_step_run_and_cut() -> None:
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

    messages = [SystemMessage("insights"), HumanMessage("What is 6 × 7?"),
                AIMessage("", tool_calls=[{"name": "calc", "args": {"x": "6*7"}, "id": "c1"}]),
                ToolMessage("42", tool_call_id="c1", name="calc"), AIMessage("42")]
    assert render_trace(messages) == ('human: What is 6 × 7?\nai: -> calc({"x": "6*7"})\n'
                                      "tool[calc]: 42\nai: 42")
    long = " ".join(f"word{i}" for i in range(2000))
    cut = render_trace(long, max_tokens=100)
    assert "[... trace cut ...]" in cut and cut.startswith("word0") and cut.endswith("word1999")
    assert get_tokenizer().count(cut) <= 110


def test_problem_records() -> None:
    p = Problem.of({"problem": " 2 + 2? ", "answer": 4, "tags": "math"})
    assert (p.text, p.answer, p.tags, p.id) == ("2 + 2?", "4", ("math",), problem_id("2 + 2?"))
    assert Problem.of("2 + 2?") == Problem(id=p.id, text="2 + 2?")
    with pytest.raises(InputError, match="no 'problem' text"):
        Problem.of({"answer": "4"})
    from memagents.insights.records import as_problems

    with pytest.raises(InputError, match="appears twice"):
        as_problems(["a", "a"])
    assert np.isclose(utility(0.5, 0.25), 0.25)
