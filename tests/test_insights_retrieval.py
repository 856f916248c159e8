"""Insight store (CORE): the kernel neighbourhood of retrieval on hand-computed examples:
kernel weights and scores, the leave-one-problem-out bandwidth, and store rankings with a
fixed, an infinite and an automatically chosen bandwidth (against the paper's k nearest)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings

from memagents.errors import ConfigError
from memagents.insights import InsightSettings, InsightStore, Problem, Rollout
from memagents.insights.scoring import kernel_utility, kernel_weights, loo_bandwidth

VECTORS = {
    "alpha task": (1.0, 0.0, 0.0),
    "alpha question": (1.0, 0.0, 0.0),
    "alpha like task": (0.96, 0.28, 0.0),  # cosine 0.96 with alpha
    "beta task": (0.0, 0.0, 1.0),  # cosine 0 with both
}


class TableEmbeddings(Embeddings):
    """Exact vectors for the texts above; any other text points along a fourth axis."""

    def _one(self, text: str) -> list[float]:
        return [*VECTORS.get(text, (0.0, 0.0, 0.0)), 0.0 if text in VECTORS else 1.0]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._one(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._one(text)


def _open(folder: Path, **kw: object) -> InsightStore:
    return InsightStore.open(folder, embeddings=TableEmbeddings(), **kw)  # type: ignore[arg-type]


def _problems(store: InsightStore, rows: dict[str, tuple[str, list[float]]]) -> None:
    store.add_problems([Problem(id=pid, text=text) for pid, (text, _) in rows.items()])
    for pid, (_, rewards) in rows.items():
        for i, r in enumerate(rewards):
            store.parts.db.record(store.namespace, Rollout(
                id=f"b:{pid}:{i}", kind="baseline", problem_id=pid, reward=r))


def _use(store: InsightStore, iid: str, pid: str, text: str, rewards: list[float]) -> None:
    for r in rewards:
        store.record_outcome(Problem(id=pid, text=text), insight_ids=[iid], reward=r)


# ---------------------------------------------------------------------------- arithmetic
def test_kernel_weights_and_score_by_hand() -> None:
    # relative to the nearest (0.9): exp(−0.1/0.1) = e^-1, exp(−0.4/0.1) = e^-4
    assert kernel_weights([0.9, 0.8, 0.5], 0.1).tolist() == pytest.approx(
        [1.0, math.exp(-1), math.exp(-4)])
    assert kernel_weights([0.3, -0.2], math.inf).tolist() == [1.0, 1.0]
    assert kernel_weights([], 0.1).size == 0
    # (1·3·0.5 + 0.5·2·(−0.5)) / (1·3 + 0.5·2 + 1) = 1.0 / 5
    assert kernel_utility({"p1": (3, 0.5), "p2": (2, -0.5)}, {"p1": 1.0, "p2": 0.5}) == (
        pytest.approx(0.2), 5)
    # a problem of weight < 0.01 still counts a little but is not evidence: 0.005·4·1 / 1.02
    assert kernel_utility({"far": (4, 1.0)}, {"far": 0.005}) == (
        pytest.approx(0.02 / 1.02), 0)
    # problems missing from the weights (evaluation problems) and unused ones count nothing
    assert kernel_utility({"eval": (5, 1.0)}, {"p1": 1.0}) == (0.0, 0)
    # contrast credit: 0.5 injected − 0.25 left out, no prior
    assert kernel_utility({"p1": (3, 0.5)}, {"p1": 1.0}, {"p1": (2, 0.25)}, prior=0.0) == (
        pytest.approx(0.25), 3)


def test_leave_one_problem_out_bandwidth_by_hand() -> None:
    # p0, p1 close (0.9), p2 far (0.2); x helps on p0, p1 and hurts on p2, y the opposite
    sims = np.array([[1.0, 0.9, 0.2], [0.9, 1.0, 0.2], [0.2, 0.2, 1.0]])
    counts = np.full((2, 3), 4)
    means = np.array([[0.5, 0.5, -0.5], [-0.5, -0.5, 0.5]])
    h, errors = loo_bandwidth(sims, counts, means, prior=0.0, grid=(0.1, math.inf))
    # inf: p0 and p1 predicted (0.5 − 0.5)/2 = 0 (error 0.25 each), p2 predicted 0.5 (error
    # 1): 4·(0.25 + 0.25 + 1)·2 / 24 = 0.5. h = 0.1: p0, p1 predicted from each other
    # (p2 weighs e^-7), p2 from p0 and p1 alike: ≈ 4·(0 + 0 + 1)·2 / 24 = 1/3
    assert h == 0.1
    assert errors[math.inf] == pytest.approx(0.5)
    assert errors[0.1] == pytest.approx(1 / 3, abs=1e-5)
    # every problem agrees: all bandwidths tie, the widest (smoothest) wins
    same = np.full((2, 3), 0.5)
    assert loo_bandwidth(sims, counts, same, grid=(0.1, 0.5, math.inf))[0] == math.inf
    # no insight used on two problems: nothing to cross-validate
    assert loo_bandwidth(sims, np.eye(3)[:2], same) == (math.inf, {})
    assert loo_bandwidth(np.ones((1, 1)), np.ones((1, 1)), same[:1, :1]) == (math.inf, {})


def test_settings_of_the_neighbourhood() -> None:
    s = InsightSettings()
    assert (s.neighbourhood, s.bandwidth, s.kernel_prior) == ("kernel", None, 1.0)
    assert InsightSettings(bandwidth=math.inf).bandwidth == math.inf
    for bad in ({"bandwidth": 0.0}, {"bandwidth": -1.0}, {"bandwidth": math.nan},
                {"neighbourhood": "nearest"}, {"kernel_prior": -1.0}):
        with pytest.raises(ConfigError):
            InsightSettings(**bad)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- rankings
def test_kernel_ranking_fixed_bandwidth_by_hand(tmp_path: Path) -> None:
    with _open(tmp_path, bandwidth=0.5) as store:
        # b_pa = 0.5, b_pb = 0: a reward of 1 on pa is +0.5, 0 is −0.5; 1 on pb is +1
        _problems(store, {"pa": ("alpha task", [1.0, 0.0]), "pb": ("beta task", [0.0, 0.0])})
        a, b, c = store.add(["rule a", "rule b", "rule c"]).ids
        _use(store, a, "pa", "alpha task", [1.0, 1.0])  # pa: (2, +0.5)
        _use(store, b, "pb", "beta task", [1.0, 1.0])  # pb: (2, +1.0)
        _use(store, c, "pa", "alpha task", [0.0])  # pa: (1, −0.5)
        _use(store, c, "pb", "beta task", [1.0])  # pb: (1, +1.0)
        # an alpha question: cosines pa 1, pb 0 -> weights 1 and w = e^(−1/0.5) = e^-2
        w = math.exp(-2)
        want = {a: 2 * 0.5 / (2 + 1), b: w * 2 / (w * 2 + 1),
                c: (-0.5 + w) / (1 + w + 1)}  # 0.333, 0.213, −0.171
        hits = store.search("alpha question", k=3)
        assert hits.ids == [a, b, c]
        assert [h.score for h in hits] == [pytest.approx(want[i], abs=1e-6) for i in hits.ids]
        assert [h.evidence for h in hits] == [2, 2, 2]
        assert store.select("alpha question").ids == [a, b]  # c measured to hurt here
        # every problem alike (inf): the global shrunk means, b first
        store.configure(bandwidth=math.inf)
        hits = store.search("alpha question", k=3)
        assert hits.ids == [b, a, c]
        assert [h.score for h in hits] == [pytest.approx(x, abs=1e-6) for x in (2 / 3, 1 / 3, 0.5 / 3)]
        # the paper's k nearest (k = 1: pa only): a 0.5, c −0.5, b no evidence 0
        store.configure(neighbourhood="knn", neighbours=1)
        hits = store.search("alpha question", k=3)
        assert hits.ids == [a, b, c]
        assert [h.score for h in hits] == [pytest.approx(x, abs=1e-6) for x in (0.5, 0.0, -0.5)]


def test_bandwidth_chosen_on_training_rollouts_by_hand(tmp_path: Path) -> None:
    with _open(tmp_path) as store:
        rows = {"pa": ("alpha task", [1.0, 0.0]), "pl": ("alpha like task", [1.0, 0.0]),
                "pb": ("beta task", [1.0, 0.0])}  # every b_p = 0.5
        _problems(store, rows)
        x, y = store.add(["rule x", "rule y"]).ids
        for pid, (text, _) in rows.items():  # x +0.5 on the alpha pair, −0.5 on pb; y not
            good = pid != "pb"
            _use(store, x, pid, text, [1.0 if good else 0.0])
            _use(store, y, pid, text, [0.0 if good else 1.0])
        h, errors = store.parts.ranker.bandwidth(store.namespace)
        # leave pa out: pl weighs 1, pb e = exp(−0.96/h): x predicted (0.5 − 0.5e)/(2 + e);
        # narrow: 0.25 (error 0.0625), inf: 0 (error 0.25); likewise pl. Leave pb out: pa
        # and pl weigh 1 each whatever h: predicted 1/3 (error (5/6)²). Both insights alike,
        # 6 uses: narrow (2·0.0625 + 25/36)·2/6, inf (2·0.25 + 25/36)·2/6
        narrow = (2 * 0.0625 + 25 / 36) * 2 / 6
        assert errors[math.inf] == pytest.approx((2 * 0.25 + 25 / 36) * 2 / 6)
        assert errors[0.02] == pytest.approx(narrow) and errors[0.005] == pytest.approx(narrow)
        assert h == 0.02  # the widest bandwidth of the tied narrow ones (0.05 leaks e^-19)
        # an alpha question: pa 1, pl e^(−0.04/0.02) = e^-2, pb ≈ 0
        w = math.exp(-2)
        score = (0.5 + w * 0.5) / (1 + w + 1)
        hits = store.search("alpha question", k=2)
        assert [(h.id, h.score) for h in hits] == [(x, pytest.approx(score, abs=1e-6)),
                                                   (y, pytest.approx(-score, abs=1e-6))]
        assert store.parts.ranker.bandwidth(store.namespace)[0] == h  # cached
        store.configure(bandwidth=0.3)
        assert store.parts.ranker.bandwidth(store.namespace) == (0.3, {})
