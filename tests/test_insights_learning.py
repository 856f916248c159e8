"""Insight store (CORE): the training loop. Admission accept and reject, dedup during
training, reflections that give nothing usable, verifiers that raise or hang, an empty store at
evaluation, training killed midway (resumes with counts intact, no rollout counted twice), the
ExpeL-style baseline, and reflection over multi-step LangGraph runs."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from memagents.config import get_settings
from memagents.errors import InputError
from memagents.insights import Attempt, GraphSolver, InsightStore, Problem
from memagents.testing import FakeEmbeddings, ScriptedChatModel

PROBLEMS = [Problem(id="p1", text="How many posts stand along the fence?", answer="11"),
            Problem(id="p2", text="How many posts stand along the short fence?", answer="5")]
TRICK = "TRICK: add one for the end post."


class Solver:
    """Deterministic: solved when the trick is injected, else (without insights) on every
    5th attempt at the problem. ``seen`` may be shared across instances, and a killed call
    never counts, so an interrupted run and an uninterrupted one see the same answers."""

    def __init__(self, seen: Counter[Any] | None = None, kill_at: int | None = None) -> None:
        self.seen = Counter() if seen is None else seen
        self.kill_at, self.calls = kill_at, 0

    def __call__(self, problem: Problem, insights: Any, block: str | None = None) -> Attempt:
        self.calls += 1
        if self.kill_at is not None and self.calls == self.kill_at:
            raise KeyboardInterrupt  # the process dies mid-call
        key = (problem.id, tuple(insights))
        n = self.seen[key]
        self.seen[key] += 1
        ok = any("TRICK" in i for i in insights) or (not insights and n % 5 == 0)
        return Attempt(answer=problem.answer if ok else "10",
                       trace="Key step: the end post counts." if ok else "gaps only")


def reflector(*drafts: Any) -> ScriptedChatModel:
    """A model whose reflections propose ``drafts`` (a reply dict, or a callable)."""
    reply = drafts[0] if len(drafts) == 1 else {"insights": list(drafts)}
    return ScriptedChatModel(rules=[("You study why an attempt", reply)])


def open_store(folder: Path, llm: Any, **settings: Any) -> InsightStore:
    settings.setdefault("baseline_samples", 4)
    return InsightStore.open(folder, llm=llm, embeddings=FakeEmbeddings(), **settings)


def test_admission_accepts_a_candidate_that_solves_alone_and_rejects_the_rest(
        tmp_path: Path) -> None:
    llm = reflector({"text": TRICK}, {"text": "Drink water first.", "label": "meta"})
    with open_store(tmp_path, llm) as store:
        report = store.train(10, problems=PROBLEMS[:1], solver=Solver())
        # baselines: 4 samples, the first solved -> b_p = 0.25; step 0 fails (2nd attempt
        # without insights), reflection against the correct baseline rollout, 2 candidates:
        # the trick alone solves p1 (admitted), water alone does not (rejected)
        assert report.rollouts == {"baseline": 4, "train": 4, "admission": 2}
        assert report.candidates["admitted"] == 1 and report.candidates["rejected"] == 1
        (insight,) = store.insights()
        assert insight.text == TRICK and insight.source["how"] == "reflection"
        assert insight.source["contrast"] == "b:p1:0" and insight.source["failed"] == "t:0"
        # the admission rollout is its first use on p1: 1 − 0.25; then steps 1-3 solve with it
        assert store.insight_uses(insight.id) == {"p1": (4, pytest.approx(0.75))}
        rejected = [c for c in store.parts.db.candidates("default", 0) if c["status"] ==
                    "rejected"]
        assert rejected[0]["reason"] == "solved 0 of 1 alone (b_p=0.25)"
        assert report.used == 10 and report.done and report.llm_calls == 1
        assert report.llm_calls_per_step == pytest.approx(1 / 4)


def test_dedup_during_training_adds_support_instead_of_a_copy(tmp_path: Path) -> None:
    replies = iter([{"insights": [TRICK]}, {"insights": ["trick: ADD one for the END post"]}])
    with open_store(tmp_path, reflector(lambda messages: next(replies))) as store:
        store.add_problems(PROBLEMS[:1])
        solver = Solver()
        assert store.train(10, solver=solver).candidates == {"admitted": 1}
        (first,) = store.insights()
        # a later failure (recorded online and learned from): the reflection words the same
        # insight differently; same words, cosine 1 >= 0.92, so it is a duplicate
        _, fates = store.record_outcome(PROBLEMS[0], reward=0.0, learn=True,
                                        solver=solver)
        assert [f["status"] for f in fates] == ["duplicate"]
        assert fates[0]["insight_id"] == first.id and "cosine 1.000" in fates[0]["reason"]
        assert store.parts.db.candidate_counts("default") == {"admitted": 1, "duplicate": 1}
        assert store.insight(first.id).support == 2 and len(store.insights()) == 1
        assert store.stats()["rollouts"]["online"] == 1


def test_reflections_that_give_nothing_usable_are_counted(tmp_path: Path) -> None:
    llm = reflector({"insights": [{"text": "   "}, {"text": "x" * 600}]})
    with open_store(tmp_path, llm) as store:
        report = store.train(12, problems=PROBLEMS[:1], solver=Solver())
        assert store.insights() == []
        assert report.counters["empty_reflections"] == report.counters["reflections"] >= 1
        assert report.candidates == {"unusable": 2 * report.counters["reflections"]}
    broken = ScriptedChatModel(rules=[("You study why an attempt", "not json at all")])
    config = get_settings(max_retries=0)
    with InsightStore.open(tmp_path / "b", llm=broken, embeddings=FakeEmbeddings(),
                           baseline_samples=4, config=config) as store:
        report = store.train(12, problems=PROBLEMS[:1], solver=Solver())
        assert report.used == 12 and store.insights() == []
        assert report.counters["reflection_errors"] >= 1
    with open_store(tmp_path / "c", reflector({"insights": []})) as store:
        report = store.train(8, problems=PROBLEMS[:1], solver=Solver())
        assert report.counters["empty_reflections"] >= 1 and report.candidates == {}


def test_no_contrast_without_any_correct_rollout(tmp_path: Path) -> None:
    def hopeless(problem: Problem, insights: Any, block: str | None = None) -> Attempt:
        return Attempt(answer="wrong", trace="no idea")

    with open_store(tmp_path, reflector({"insights": [TRICK]})) as store:
        report = store.train(8, problems=PROBLEMS[:1], solver=hopeless)
        assert report.counters == {"no_contrast": 4, "retrievals": 4}
        assert report.counters.get("reflections", 0) == 0


def test_verifier_that_raises_or_hangs_fails_the_rollout_and_the_run_continues(
        tmp_path: Path) -> None:
    release = threading.Event()
    calls = Counter[str]()

    def verifier(answer: str, problem: Problem) -> float:
        calls["n"] += 1
        if calls["n"] == 2:
            release.wait(30)  # hangs once
        if calls["n"] == 3:
            raise RuntimeError("checker crashed")
        return float(answer == problem.answer)

    try:
        with open_store(tmp_path, reflector({"insights": []}), verifier_timeout=0.1) as store:
            report = store.train(8, problems=PROBLEMS[:1], solver=Solver(), verifier=verifier)
            baselines = store.parts.db.rollouts("default", kinds=("baseline",))
    finally:
        release.set()
    assert report.used == 8 and not report.notes
    assert baselines[1].error.startswith("verifier timed out after 0.1 s")
    assert baselines[2].error == "verifier raised RuntimeError: checker crashed"
    assert baselines[1].reward == baselines[2].reward == 0.0


def test_a_solver_that_keeps_failing_stops_training_with_a_note(tmp_path: Path) -> None:
    def down(problem: Problem, insights: Any, block: str | None = None) -> Attempt:
        raise ConnectionError("model unreachable")

    with open_store(tmp_path, reflector({"insights": []})) as store:
        report = store.train(50, problems=PROBLEMS[:1], solver=down)
    assert report.used == 3 and "failed 3 times in a row" in report.notes[0]


def test_empty_store_at_evaluation_solves_without_insights_and_says_so(tmp_path: Path) -> None:
    with open_store(tmp_path, reflector({"insights": []})) as store:
        for mode in ("core", "random"):
            report = store.evaluate(PROBLEMS, mode=mode, solver=Solver())
            assert report.n == 2 and report.insight_tokens == 0
            assert all(r.insight_ids == () for r in report.results)
            assert any("holds no insights" in n for n in report.notes)
        assert store.evaluate(PROBLEMS, mode="none", solver=Solver()).notes == []
        with pytest.raises(InputError, match="evaluation mode"):
            store.evaluate(PROBLEMS, mode="best", solver=Solver())
        with pytest.raises(InputError, match="no training problems"):
            store.train(5, solver=Solver())


def _snapshot(store: InsightStore) -> dict[str, Any]:
    db = store.parts.db
    return {
        "rollouts": [(r.id, r.reward, r.insight_ids) for r in db.rollouts(
            "default", kinds=("baseline", "train", "admission"))],
        "uses": db.uses("default"), "insights": [(i.id, i.uses) for i in store.insights()],
        "candidates": db.candidate_counts("default"), "counters": db.counters("default")}


def test_training_killed_midway_resumes_with_counts_intact(tmp_path: Path) -> None:
    def llm() -> ScriptedChatModel:
        return reflector({"insights": [TRICK, "Drink water."]})

    budget = 40
    with open_store(tmp_path / "straight", llm()) as store:
        store.train(budget, problems=PROBLEMS, solver=Solver())
        straight = _snapshot(store)
    for kill_at in (5, 13, 14, 21):  # in baselines, a solve, an admission test, later
        seen: Counter[Any] = Counter()
        folder = tmp_path / f"killed-{kill_at}"
        with pytest.raises(KeyboardInterrupt), open_store(folder, llm()) as store:
            store.train(budget, problems=PROBLEMS, solver=Solver(seen, kill_at=kill_at))
        with open_store(folder, llm()) as store:  # a new process: the lock was released
            interrupted = store.parts.db.used("default")
            assert interrupted == kill_at - 1  # every finished rollout was recorded
            report = store.train(budget, solver=Solver(seen))
            assert report.used == budget
            assert _snapshot(store) == straight, f"killed at call {kill_at}"
        ids = [r[0] for r in straight["rollouts"]]
        assert len(ids) == len(set(ids)) == budget
    # credit bookkeeping: every use is one injected insight of a credited rollout, or a
    # seeded admission use
    credited = sum(len(r[2]) for r in straight["rollouts"] if r[0].startswith("t:"))
    seeded = sum(1 for r in straight["rollouts"] if r[0].startswith("a:")
                 and straight["candidates"].get("admitted"))
    assert sum(n for uses in straight["uses"].values() for n, _ in uses.values()) <= (
        credited + seeded)
    # a larger budget continues where the last run stopped
    with open_store(tmp_path / "straight", llm()) as store:
        more = store.train(budget + 5, solver=Solver())
        assert more.used == budget + 5 and more.rollouts["baseline"] == 8


def test_contrast_credit_training_leaves_insights_out_reproducibly(tmp_path: Path) -> None:
    def llm() -> ScriptedChatModel:
        return reflector({"insights": [TRICK, "Drink water."]})

    runs = []
    for name in ("a", "b"):
        with open_store(tmp_path / name, llm(), credit="contrast") as store:
            store.train(40, problems=PROBLEMS, solver=Solver())
            train = store.parts.db.rollouts("default", kinds=("train",))
            runs.append([(r.id, r.insight_ids, r.held_out, r.reward) for r in train])
            out = store.parts.db.left_out("default")
    assert runs[0] == runs[1]  # the leave-out draws depend on the seed and step only
    assert any(r[2] for r in runs[0]) and out  # some rollouts left insights out


def test_pruning_during_training(tmp_path: Path) -> None:
    with open_store(tmp_path, reflector({"insights": [TRICK, "Drink water."]}),
                    prune_every=2, prune_min_uses=2) as store:
        store.add(["Never count the end post."])  # hand-written, and wrong
        report = store.train(30, problems=PROBLEMS, solver=Solver())
        assert report.used == 30
        pruned = {i.text for i in store.insights(status="pruned")}
        assert "Never count the end post." in pruned
        assert TRICK in {i.text for i in store.insights()}


def test_expel_baseline_edits_one_list(tmp_path: Path) -> None:
    ops = iter([
        {"operations": [{"op": "add", "text": TRICK}, {"op": "add", "text": "Drink water."}]},
        {"operations": [{"op": "upvote", "rule": 1}, {"op": "downvote", "rule": 2},
                        {"op": "edit", "rule": 1, "text": "TRICK: add one post."}]},
        {"operations": [{"op": "downvote", "rule": 2}, {"op": "add", "text": TRICK}]},
    ])
    llm = ScriptedChatModel(rules=[("You maintain a numbered list of rules",
                                    lambda messages: next(ops, {"operations": []}))])

    calls = Counter[str]()

    def solver(problem: Problem, insights: Any, block: str | None = None) -> Attempt:
        calls["n"] += 1  # only the very first attempt is right
        return Attempt(answer=problem.answer if calls["n"] == 1 else "0", trace="Key step.")

    with InsightStore.open(tmp_path, llm=llm, embeddings=FakeEmbeddings(),
                           method="expel") as store:
        store.add_problems(PROBLEMS[:1])
        store.train(1, solver=solver)  # a correct first rollout: contrast material
        report = store.train(5, solver=solver)
        assert report.rollouts == {"train": 5}  # no baselines, no admission tests
        rules = {i.text: i for i in store.insights(status=None)}
        # water: 2 − 1 − 1 = 0 -> removed; the trick: 2 + 1 (up) + 1 (edit) + 1 (re-added = up)
        assert rules["Drink water."].status == "pruned"
        assert rules["TRICK: add one post."].votes == 5
        assert store.select("How many posts?").texts == ["TRICK: add one post."]
        counters = report.counters
        assert (counters["expel_add"], counters["expel_upvote"], counters["expel_downvote"],
                counters["expel_edit"], counters["expel_removed"]) == (2, 2, 2, 1, 1)
    with pytest.raises(Exception, match="built with method 'expel'"):
        InsightStore.open(tmp_path, embeddings=FakeEmbeddings(), method="core")


def test_reflection_reads_the_trace_of_a_multi_step_langgraph_run(tmp_path: Path) -> None:
    from langchain_core.tools import tool
    from langgraph.prebuilt import create_react_agent

    from memagents.testing import ToolCall

    @tool
    def count_gaps(length: int, spacing: int) -> int:
        """Number of gaps between posts."""
        return length // spacing

    seen: list[str] = []

    def reflect(messages: Any) -> dict[str, Any]:
        seen.append(messages[-1].content)
        return {"insights": [TRICK]}

    def agent_reply(messages: Any) -> Any:
        system = " ".join(m.content for m in messages if m.type == "system")
        if messages[-1].type == "tool":
            return "11" if "TRICK" in system else "10"
        return [ToolCall("count_gaps", {"length": 50, "spacing": 5})]

    agent = create_react_agent(ScriptedChatModel(default=agent_reply), tools=[count_gaps])
    solved = Counter[str]()

    def graph_solver(problem: Problem, insights: Any, block: str | None = None) -> Attempt:
        result = GraphSolver(agent)(problem, insights, block=block)
        solved["n"] += 1
        if solved["n"] == 1:  # the first baseline attempt happens to be right
            result.answer = problem.answer
        return result

    with open_store(tmp_path, reflector(reflect), baseline_samples=2) as store:
        report = store.train(6, problems=PROBLEMS[:1], solver=graph_solver)
        assert report.candidates.get("admitted") == 1
    failed_part = seen[0].split("SUCCESSFUL ATTEMPT")[0]
    assert 'ai: -> count_gaps({"length": 50, "spacing": 5})' in failed_part
    assert "tool[count_gaps]: 10" in failed_part and "Final answer: 10" in failed_part
