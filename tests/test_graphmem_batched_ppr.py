"""Batched PPR: many reset vectors in one pass, rank_many, and the async batching window."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import sparse

from memagents.base.ops import AddOp, SearchOp
from memagents.errors import ConfigError, InputError
from memagents.graphmem import GraphMemory, batching
from memagents.graphmem.batching import RankRequest, WindowBatcher, rank_many
from memagents.graphmem.core import batched_ppr
from memagents.graphmem.core.batched_ppr import solve_block
from memagents.graphmem.core.config import PPRConfig, Preset, SearchConfig
from memagents.graphmem.core.graph import GraphIndex
from memagents.graphmem.core.ppr import PPRSolver
from memagents.graphmem.core.search import GraphSearcher, LinkedFact
from memagents.sample import SampleWorld

WORLD = SampleWorld.generate(0, size="tiny")
PASSAGES = [(p.title + "\n" + p.text, list(p.triples)) for p in WORLD.passages]
IDS = [p.id for p in WORLD.passages]
QUESTIONS = [q.question for q in WORLD.questions[:6]]


def _graph(n: int, m: int, seed: int, communities: int = 1) -> sparse.csr_array:
    """A random symmetric graph; with communities, nodes of one community are scattered
    (so the solver renumbers them: the reverse Cuthill-McKee path)."""
    rng = np.random.default_rng(seed)
    size = n // communities
    base = rng.integers(0, communities, m) * size
    u, v = base + rng.integers(0, size, m), base + rng.integers(0, size, m)
    perm = rng.permutation(n)
    u, v = perm[u], perm[v]
    w = rng.uniform(1, 3, m)
    keep = u != v
    adj = sparse.coo_array(
        (np.r_[w[keep], w[keep]], (np.r_[u[keep], v[keep]], np.r_[v[keep], u[keep]])),
        shape=(n, n),
    ).tocsr()
    adj.sum_duplicates()
    return adj


def _resets(n: int, b: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    r = rng.random((n, b)) * (rng.random((n, b)) < 0.05)
    r[rng.integers(0, n, b), np.arange(b)] += 1.0
    return r


# ------------------------------------------------------------------ the block solver
@pytest.mark.parametrize("method", ["chebyshev", "power"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("damping", [0.5, 0.85])
def test_batched_equals_single_bit_for_bit(
    method: str, dtype: str, threads: int, damping: float
) -> None:
    adj = _graph(1500, 6000, seed=threads, communities=6)
    solver = PPRSolver(
        adj, PPRConfig(method=method, dtype=dtype, threads=threads, damping=damping)
    )
    resets = _resets(1500, 7, seed=1)
    probs, iterations = solve_block(solver, resets)
    assert probs.shape == (1500, 7)
    for j in range(7):
        alone, its = solver.solve(resets[:, j])
        assert np.array_equal(probs[:, j], alone)  # identical, so within any tolerance
        assert iterations[j] == its
        assert probs[:, j].sum() == pytest.approx(1.0)


def test_columns_that_converge_drop_out_and_the_rest_go_on() -> None:
    # power iteration at damping 0.85 stops these columns at different steps
    adj = _graph(3000, 9000, seed=0)
    solver = PPRSolver(adj, PPRConfig(method="power", damping=0.85, threads=1))
    resets = _resets(3000, 8, seed=3)
    probs, iterations = solve_block(solver, resets)
    assert len(set(iterations.tolist())) > 1, "the test needs columns finishing apart"
    for j in range(8):
        alone, its = solver.solve(resets[:, j])
        assert np.array_equal(probs[:, j], alone) and iterations[j] == its


def test_max_columns_rows_sequences_and_the_exact_residual_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    solver = PPRSolver(_graph(800, 3000, seed=2), PPRConfig(threads=2))
    resets = _resets(800, 5, seed=4)
    full, its = solve_block(solver, resets)
    part, its2 = solve_block(
        solver, [resets[:, j] for j in range(5)], rows=slice(700, None), max_columns=2
    )
    assert np.array_equal(part, full[700:]) and np.array_equal(its, its2)
    one, _ = solve_block(solver, resets[:, 0])
    assert np.array_equal(one[:, 0], full[:, 0])
    monkeypatch.setattr(batched_ppr, "_EXACT_BAND", np.inf)  # every stop decided exactly
    exact, its3 = solve_block(solver, resets)
    assert np.array_equal(exact, full) and np.array_equal(its3, its)


def test_block_width_follows_the_cache_budget_and_threads_follow_the_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    solver = PPRSolver(_graph(2000, 8000, seed=8))  # float32: 32 KB per column and array
    assert solver.threads == 1
    assert batched_ppr.block_width(solver) == batched_ppr.MAX_COLUMNS
    monkeypatch.setattr(batched_ppr, "CACHE_BYTES", 4 * 2000 * 4 * 3)
    assert batched_ppr.block_width(solver) == 3
    monkeypatch.setattr(batched_ppr, "CACHE_BYTES", 1)
    assert batched_ppr.block_width(solver) == 1  # too large a graph: one column at a time
    resets = _resets(2000, 4, seed=9)
    probs, _ = solve_block(solver, resets)
    assert np.array_equal(probs[:, 3], solver.solve(resets[:, 3])[0])
    # a batch worth it runs in several threads though the single solver uses one
    monkeypatch.setattr(batched_ppr, "_THREAD_MIN_NNZ", 1)
    monkeypatch.setattr(batched_ppr.os, "cpu_count", lambda: 2)
    parts = batched_ppr._chunks(solver, 64, 4)
    assert len(parts) == 2 and sum(len(p) for p in parts) == -(-2000 // 64)
    wide, _ = solve_block(solver, resets, max_columns=4)
    assert np.array_equal(wide, probs)


def test_bad_resets_are_named() -> None:
    solver = PPRSolver(_graph(50, 100, seed=5))
    resets = np.ones((50, 3))
    resets[:, 1] = 0.0
    with pytest.raises(InputError, match="reset column 1"):
        solve_block(solver, resets)
    with pytest.raises(InputError, match="shape"):
        solve_block(solver, np.ones((49, 2)))
    with pytest.raises(InputError, match="max_columns"):
        solve_block(solver, np.ones((50, 2)), max_columns=0)


def test_graphs_without_edges_or_damping() -> None:
    empty = PPRSolver(sparse.csr_array((4, 4)))
    probs, its = solve_block(empty, np.eye(4)[:, :2] + 0.5)
    assert np.allclose(probs.sum(axis=0), 1) and its.tolist() == [0, 0]
    flat = PPRSolver(_graph(30, 60, seed=6), PPRConfig(damping=0.0))
    r = _resets(30, 3, seed=7)
    assert np.array_equal(solve_block(flat, r)[0][:, 2], flat.solve(r[:, 2])[0])


# ------------------------------------------------------------------ rank_many
def _embed(texts: list[str]) -> np.ndarray:
    """Bag of letters: deterministic, and equal texts get equal vectors (exact ties)."""
    out = np.zeros((len(texts), 26), np.float32)
    for i, t in enumerate(texts):
        for ch in t.lower():
            if "a" <= ch <= "z":
                out[i, ord(ch) - 97] += 1
    return out


def _index() -> GraphIndex:
    index = GraphIndex(embed=_embed)
    index.add(
        [
            ("p1", "ada born velm", [("ada", "born in", "velm")]),
            ("p2", "velm in ostria", [("velm", "is in", "ostria")]),
            ("p3", "twin one", [("ostria", "has", "twin")]),  # p3 and p4: the same structure
            ("p4", "twin one", [("ostria", "has", "twin")]),
            ("p5", "bo born kell", [("bo", "born in", "kell")]),
        ]
    )
    return index


@pytest.mark.parametrize("preset", ["default", "hipporag2"])
def test_rank_many_equals_rank_including_ties(preset: str) -> None:
    searcher = GraphSearcher(_index(), preset)
    questions = ["where was ada born", "twin one", "what is in ostria", "bo kell"]
    links = searcher.link_many(questions)
    requests = [RankRequest(searcher, lk, 5) for lk in links]
    together = rank_many(requests)
    for req, got in zip(requests, together):
        assert got == searcher.rank(req.linking, 5)
        assert got.explanation.used_graph
    twins = {h.passage_id: h for h in together[1].hits if h.passage_id in ("p3", "p4")}
    assert twins["p3"].ppr_score == twins["p4"].ppr_score  # an exact tie...
    ids = [h.passage_id for h in together[1].hits]
    assert ids.index("p3") < ids.index("p4")  # ...broken by passage order, as alone


def test_one_failing_search_does_not_poison_the_batch() -> None:
    # passage_node_weight 0 and only the lowest-scored fact kept: a reset with no mass
    preset = Preset(name="x", search=SearchConfig(passage_node_weight=0.0, linking_top_k=5))
    searcher = GraphSearcher(_index(), preset)
    links = searcher.link_many(["where was ada born", "twin one", "bo kell"])
    worst = links[1].candidates[-1]
    assert worst.score == 0.0
    requests = [
        RankRequest(searcher, links[0], 3),
        RankRequest(searcher, links[1], 3, kept=[worst]),
        RankRequest(searcher, links[2], 3),
        RankRequest(searcher, links[2], 0),  # bad k, refused before any PPR
    ]
    out = rank_many(requests, return_exceptions=True)
    assert isinstance(out[1], InputError) and isinstance(out[3], InputError)
    assert out[0] == searcher.rank(links[0], 3) and out[2] == searcher.rank(links[2], 3)
    with pytest.raises(InputError, match="no positive"):
        rank_many(requests)
    assert isinstance(worst, LinkedFact)


# ------------------------------------------------------------------ GraphMemory
class _Counter:
    """Counts PPR invocations: single solves and batched solves (with their widths)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.single = 0
        self.batched: list[int] = []
        solve = PPRSolver.solve

        def counting_solve(solver: PPRSolver, reset: np.ndarray) -> Any:
            self.single += 1
            return solve(solver, reset)

        def counting_many(solver: PPRSolver, resets: Any, **kw: Any) -> Any:
            self.batched.append(len(resets))
            return solve_block(solver, resets, **kw)

        monkeypatch.setattr(PPRSolver, "solve", counting_solve)
        monkeypatch.setattr(batching, "solve_block", counting_many)


@pytest.fixture
def memory(tmp_path: Path) -> Any:
    with GraphMemory.open(tmp_path, embeddings="hash:256") as mem:
        mem.add_triples(PASSAGES, ids=IDS)
        yield mem


def _same(a: Any, b: Any) -> bool:
    return [(h.id, h.score) for h in a] == [(h.id, h.score) for h in b]


def test_batch_ranks_consecutive_searches_together(
    memory: GraphMemory, monkeypatch: pytest.MonkeyPatch
) -> None:
    alone = [memory.search(q, k=5) for q in QUESTIONS]
    count = _Counter(monkeypatch)
    ops = [SearchOp(query=q, k=5) for q in QUESTIONS[:3]]
    ops += [AddOp(items=("Zed Quorn likes tea.",), options={"extract": False})]
    ops += [SearchOp(query=q, k=5) for q in QUESTIONS[3:]]
    out = memory.batch(ops)
    assert count.batched == [3, 3] and count.single == 0
    assert out[3].added
    assert all(_same(got, want) for got, want in zip(out[:3], alone))
    after = [memory.search(q, k=5) for q in QUESTIONS[3:]]  # the later ones see the add
    assert all(_same(got, want) for got, want in zip(out[4:], after))
    assert count.single == 3 and count.batched == [3, 3]  # sync search: one PPR each
    with pytest.raises(InputError):
        memory.batch([SearchOp(query=QUESTIONS[0], k=5), SearchOp(query=" ", k=5)])


async def test_async_searches_arriving_together_share_one_ppr(
    memory: GraphMemory, monkeypatch: pytest.MonkeyPatch
) -> None:
    alone = [memory.search(q, k=5) for q in QUESTIONS]
    count = _Counter(monkeypatch)
    memory.ppr_batch_window_ms = 60_000  # the batch starts when max_batch calls wait
    memory._ppr_batcher.max_batch = len(QUESTIONS)
    out = await asyncio.gather(*(memory.asearch(q, k=5) for q in QUESTIONS))
    assert count.batched == [len(QUESTIONS)] and count.single == 0
    assert memory._ppr_batcher.batches == 1
    assert all(_same(got, want) for got, want in zip(out, alone))
    # abatch runs consecutive searches concurrently: they meet in the window too
    memory._ppr_batcher.max_batch = 2
    both = await memory.abatch([SearchOp(query=q, k=5) for q in QUESTIONS[:2]])
    assert count.batched[-1] == 2 and _same(both[1], alone[1])


async def test_window_zero_disables_batching(
    memory: GraphMemory, monkeypatch: pytest.MonkeyPatch
) -> None:
    memory.ppr_batch_window_ms = 0
    count = _Counter(monkeypatch)
    out = await asyncio.gather(*(memory.asearch(q, k=5) for q in QUESTIONS[:3]))
    assert count.single == 3 and count.batched == [] and memory._ppr_batcher.batches == 0
    assert _same(out[2], memory.search(QUESTIONS[2], k=5))


async def test_a_failing_async_search_fails_alone(
    memory: GraphMemory, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan_rank = GraphSearcher.plan_rank

    def flaky(self: GraphSearcher, linking: Any, k: int = 10, **kw: Any) -> Any:
        if linking.question == QUESTIONS[1]:
            raise RuntimeError("boom")
        return plan_rank(self, linking, k, **kw)

    monkeypatch.setattr(GraphSearcher, "plan_rank", flaky)
    memory.ppr_batch_window_ms = 60_000
    memory._ppr_batcher.max_batch = 3
    out = await asyncio.gather(
        *(memory.asearch(q, k=5) for q in QUESTIONS[:3]), return_exceptions=True
    )
    assert isinstance(out[1], RuntimeError)
    assert _same(out[0], memory.search(QUESTIONS[0], k=5))
    assert _same(out[2], memory.search(QUESTIONS[2], k=5))


def test_window_setting_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ppr_batch_window_ms"):
        GraphMemory.open(tmp_path, embeddings="hash:256", ppr_batch_window_ms=-1)
    with GraphMemory.open(tmp_path, embeddings="hash:256", ppr_batch_window_ms=5) as memory:
        assert memory.ppr_batch_window_ms == 5.0
        with pytest.raises(ConfigError):
            memory.ppr_batch_window_ms = float("nan")
    with pytest.raises(ConfigError, match="max_batch"):
        WindowBatcher(list, max_batch=0)


# ------------------------------------------------------------------ the window itself
async def test_a_caller_cancelled_in_the_window_is_dropped() -> None:
    seen: list[list[int]] = []

    def run(items: list[int]) -> list[int]:
        seen.append(list(items))
        return [i * 10 for i in items]

    batcher: WindowBatcher[int, int] = WindowBatcher(run, window_ms=60_000, max_batch=3)
    a = asyncio.ensure_future(batcher.submit(1))
    b = asyncio.ensure_future(batcher.submit(2))
    await asyncio.sleep(0)
    a.cancel()
    await asyncio.sleep(0)
    c = asyncio.ensure_future(batcher.submit(3))  # the third call fills the batch
    assert await b == 20 and await c == 30
    assert a.cancelled() and seen == [[2, 3]]


async def test_a_caller_cancelled_while_its_batch_runs_breaks_nothing() -> None:
    started, release = threading.Event(), threading.Event()
    seen: list[list[int]] = []

    def run(items: list[int]) -> list[Any]:
        seen.append(list(items))
        started.set()
        release.wait(10)
        return [ValueError("odd") if i % 2 else i for i in items]

    batcher: WindowBatcher[int, int] = WindowBatcher(run, window_ms=60_000, max_batch=3)
    tasks = [asyncio.ensure_future(batcher.submit(i)) for i in (2, 3, 4)]
    await asyncio.to_thread(started.wait, 10)
    tasks[0].cancel()
    late = asyncio.ensure_future(batcher.submit(6))  # waits for the running batch
    release.set()
    out = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(out[0], asyncio.CancelledError)
    assert isinstance(out[1], ValueError) and out[2] == 4
    batcher.max_batch = 1  # let the waiting call go without its window
    extra = await batcher.submit(8)
    assert extra == 8 and await late == 6
    assert seen[0] == [2, 3, 4] and sorted(i for batch in seen[1:] for i in batch) == [6, 8]


async def test_a_failing_batch_function_reaches_every_caller() -> None:
    def run(items: list[int]) -> list[int]:
        raise OSError("disk gone")

    batcher: WindowBatcher[int, int] = WindowBatcher(run, window_ms=60_000, max_batch=2)
    out = await asyncio.gather(batcher.submit(1), batcher.submit(2), return_exceptions=True)
    assert all(isinstance(e, OSError) for e in out)
    short: WindowBatcher[int, int] = WindowBatcher(lambda items: [], window_ms=0)
    with pytest.raises(RuntimeError, match="0 results for 1 items"):
        await short.submit(1)
