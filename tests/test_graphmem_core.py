"""Unit tests of the graph-memory core: normalisation, graph, incremental updates, PPR, search.

Everything runs offline with a deterministic character-trigram hash embedder defined below.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter

import networkx as nx
import numpy as np
import pytest
from scipy import sparse
from scipy.sparse.linalg import spsolve

from memagents.errors import ConfigError, EmbeddingError, InputError
from memagents.graphmem.core.config import PRESETS, GraphConfig, PPRConfig, Preset, SearchConfig
from memagents.graphmem.core.graph import PASSAGE, PHRASE, GraphIndex
from memagents.graphmem.core.normalize import (
    clean_triples,
    fact_id,
    fact_text,
    normalize_phrase,
    phrase_id,
)
from memagents.graphmem.core.ppr import PPRSolver, personalized_pagerank
from memagents.graphmem.core.search import GraphSearcher, LinkedFact


def trigram_embed(texts: list[str], dim: int = 64) -> np.ndarray:
    """Signed hashing of character trigrams: similar strings get similar unit vectors."""
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for i, text in enumerate(texts):
        padded = f"  {text.lower()}  "
        for j in range(len(padded) - 2):
            h = int.from_bytes(hashlib.md5(padded[j : j + 3].encode()).digest()[:4], "little")
            out[i, h % dim] += 1.0 if h & (1 << 31) else -1.0
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return np.divide(out, norms, out=np.zeros_like(out), where=norms > 0)


class TableEmbed:
    """Embeds from a fixed table (unknown strings: a far-away constant) and counts calls."""

    def __init__(self, table: dict[str, list[float]], dim: int = 4) -> None:
        self.table = table
        self.dim = dim
        self.seen: Counter[str] = Counter()

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.seen.update(texts)
        rows = [self.table.get(t, [0.0] * (self.dim - 1) + [1.0]) for t in texts]
        return np.asarray(rows, dtype=np.float32)


# --------------------------------------------------------------------------- normalisation
def test_normalize_phrase_follows_the_official_rule() -> None:
    assert normalize_phrase("Pierre de Rivaz") == "pierre de rivaz"
    assert normalize_phrase("  St. John's  Wood! ") == "st  john s  wood"  # inner doubles kept
    assert normalize_phrase("Dröm") == "dr m"
    assert normalize_phrase("$") == ""
    assert normalize_phrase(1990) == "1990"


def test_clean_triples_drops_and_counts_malformed() -> None:
    raw = [
        ["Rome", "capital of", "Italy"],
        ["Rome", "capital of", "Italy"],  # exact duplicate
        ["rome", "capital of", "italy"],  # differs before normalisation: kept
        ["Our World", "broadcast via satellite"],  # arity 2
        ["A", "b", "C", "d"],  # arity 4
        "abc",  # a string is not a triple even with 3 characters
        None,
        ["Trinidad dollar", "abbreviated as", "$"],  # object normalises to ''
        ["...", "is", "x"],  # subject normalises to ''
        ["x", "!!", "y"],  # empty predicate is fine
        [1, 2, 3],  # stringified
    ]
    reasons: Counter[str] = Counter()
    kept, dropped = clean_triples(raw, reasons=reasons)
    assert kept == [
        ("Rome", "capital of", "Italy"),
        ("rome", "capital of", "italy"),
        ("x", "!!", "y"),
        ("1", "2", "3"),
    ]
    assert dropped == 7
    assert reasons == Counter({"arity": 4, "empty_phrase": 2, "duplicate": 1})


def test_stable_ids() -> None:
    assert fact_text(("Rome", "Capital-of", "Italy")) == "('rome', 'capital of', 'italy')"
    assert phrase_id("rome") == "entity-" + hashlib.md5(b"rome").hexdigest()
    assert fact_id(("Rome", "x", "Italy")) == fact_id(("rome", "X", "italy!"))


# --------------------------------------------------------------------------- graph structure
def _hand_index(cap: int = 100) -> tuple[GraphIndex, TableEmbed]:
    s = 0.85
    table = {
        "alpha": [1.0, 0.0, 0.0, 0.0],
        "alpha prime": [0.9, float(np.sqrt(1 - 0.81)), 0.0, 0.0],
        "beta": [s, 0.0, float(np.sqrt(1 - s * s)), 0.0],
        "gamma": [0.0, 0.0, 0.0, 1.0],
        "x1": [1.0, 0.0, 0.0, 0.0],  # identical to alpha but only 2 alnum characters
    }
    embed = TableEmbed(table)
    index = GraphIndex(GraphConfig(synonymy_max_neighbors=cap), embed=embed)
    index.add(
        [
            (
                "p1",
                "first",
                [("Alpha", "r", "Beta"), ("Alpha", "s", "Beta"), ("Alpha", "is", "ALPHA")],
            ),
            ("p2", "second", [("Beta", "t", "Gamma"), ("Alpha prime", "u", "Gamma")]),
            ("p3", "third", [("X1", "v", "Gamma"), ("bad",)]),
        ]
    )
    return index, embed


def _weights(index: GraphIndex) -> dict[tuple[str, str], tuple[float, str]]:
    return {(e.u[1], e.v[1]): (round(e.weight, 6), e.kind) for e in index.edges()}


def test_hand_built_graph_weights() -> None:
    index, _ = _hand_index()
    assert index.phrases() == ["alpha", "alpha prime", "beta", "gamma", "x1"]
    assert index.dropped_triples == 1
    w = _weights(index)
    c_ab = 0.85  # cos(alpha, beta)
    c_apb = round(0.9 * 0.85, 6)  # cos(alpha prime, beta) = 0.765 < 0.8: no edge
    assert c_apb < 0.8
    # fact count 2 in both directions, overwritten by synonymy in both: 0.85 + 0.85
    assert w[("alpha", "beta")] == (round(2 * c_ab, 6), "fact+synonym")
    # mutual synonyms, no fact: 0.9 + 0.9
    assert w[("alpha", "alpha prime")] == (1.8, "synonym")
    # x1 has 2 alnum characters: no outgoing synonymy, but alpha -> x1 exists (cos 1)
    assert w[("alpha", "x1")] == (1.0, "synonym")
    assert w[("beta", "x1")] == (0.85, "synonym")
    # plain fact edges: 2 x count
    assert w[("beta", "gamma")] == (2.0, "fact")
    assert w[("alpha prime", "gamma")] == (2.0, "fact")
    assert w[("gamma", "x1")] == (2.0, "fact")
    # passage edges weigh 1; the self-loop triple adds no edge but its phrase is in p1
    assert w[("p1", "alpha")] == (1.0, "passage") and w[("p1", "beta")] == (1.0, "passage")
    assert ("alpha", "alpha") not in w
    assert sorted(k for k in w if k[0] == "p3") == [("p3", "gamma"), ("p3", "x1")]
    assert w[("alpha prime", "x1")] == (0.9, "synonym")
    assert len(w) == 7 + 8  # 7 passage edges, 8 phrase pairs
    adj = index.matrices().adjacency
    assert (adj != adj.T).nnz == 0


def test_synonymy_cap_overwrites_one_direction_only() -> None:
    index, _ = _hand_index(cap=1)
    w = _weights(index)
    # alpha keeps only its nearest (x1, 1.0); beta's nearest are alpha and x1 (0.85 both),
    # the tie goes to 'alpha': alpha -> beta stays the fact count 2, beta -> alpha is 0.85
    assert w[("alpha", "beta")] == (2.85, "fact+synonym")
    assert w[("alpha", "x1")] == (1.0, "synonym")
    assert w[("alpha", "alpha prime")] == (0.9, "synonym")  # alpha prime -> alpha only
    assert ("alpha prime", "x1") not in w and ("beta", "x1") not in w


def test_doubling_off_keeps_the_larger_direction() -> None:
    index = GraphIndex(GraphConfig(parallel_edge_doubling=False), embed=trigram_embed)
    index.add([("p", "t", [("aaa", "r", "zzz"), ("zzz", "q", "aaa")])])
    assert _weights(index)[("aaa", "zzz")] == (2.0, "fact")


def test_embed_called_once_per_string_and_upsert() -> None:
    index, embed = _hand_index()
    assert max(embed.seen.values()) == 1
    before = index.canonical()
    delta = index.add(
        [
            (
                "p1",
                "first",
                [("Alpha", "r", "Beta"), ("Alpha", "s", "Beta"), ("Alpha", "is", "ALPHA")],
            )
        ]
    )
    assert delta.unchanged_passages == ("p1",) and delta.is_empty
    assert index.canonical() == before
    index.remove(["p2"])
    index.add([("p2", "second", [("Beta", "t", "Gamma"), ("Alpha prime", "u", "Gamma")])])
    assert index.canonical() == before
    assert max(embed.seen.values()) == 1  # removed strings kept their cached vectors
    delta = index.add([("p3", "third, edited", [("Gamma", "w", "Delta")])])
    assert delta.replaced_passages == ("p3",)
    assert (PHRASE, "x1") in delta.removed_nodes and (PHRASE, "delta") in delta.added_nodes
    assert index.prune_vectors() >= 2  # 'third' and 'x1' (and the old fact) are stale


def test_bad_input_and_embed_failure_leave_index_unchanged() -> None:
    index, _ = _hand_index()
    before = index.canonical()
    with pytest.raises(InputError):
        index.add([("p9", "a", []), ("p9", "b", [])])
    with pytest.raises(InputError):
        index.add([("p9", "a")])  # type: ignore[list-item]
    with pytest.raises(InputError):
        index.add([("p9", "a", "not a list")])

    def broken(texts: list[str]) -> np.ndarray:
        raise RuntimeError("model offline")

    index.embed = broken
    with pytest.raises(EmbeddingError):
        index.add([("p9", "brand new", [("new", "r", "thing")])])
    index.embed = lambda texts: np.ones((len(texts), 3), np.float32)  # wrong dimension
    with pytest.raises(EmbeddingError):
        index.add([("p9", "brand new", [("new", "r", "thing")])])
    assert index.canonical() == before
    delta = index.remove(["p1", "nope"])
    assert delta.removed_passages == ("p1",) and delta.unknown_passages == ("nope",)


# ------------------------------------------------------------------ incremental == one-shot
_WORDS = [
    "river",
    "rivers",
    "city",
    "cities",
    "king",
    "kings",
    "queen",
    "museum",
    "museums",
    "bridge",
    "bridges",
    "north",
    "northern",
    "paris",
    "parisian",
    "al",
    "x",
    "lake",
]


def _random_corpus(seed: int, n: int = 40) -> list[tuple[str, str, list[list[str]]]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        triples: list[list[str]] = []
        for _ in range(rng.randint(0, 5)):
            s = " ".join(rng.sample(_WORDS, rng.randint(1, 2)))
            o = " ".join(rng.sample(_WORDS, rng.randint(1, 2)))
            triples.append([s.title(), rng.choice(["in", "of", "near"]), o])
        if rng.random() < 0.2:
            triples.append(["only two", "elements"])
        out.append((f"p{i:03d}", f"passage {i} " + " ".join(t[0] for t in triples), triples))
    return out


def _edge_map(index: GraphIndex) -> dict[tuple, tuple[float, str]]:
    return {(e.u, e.v): (e.weight, e.kind) for e in index.edges()}


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("cap", [2, 100])
def test_incremental_equals_one_shot_and_delete_equals_never_added(seed: int, cap: int) -> None:
    corpus = _random_corpus(seed)
    config = GraphConfig(synonymy_max_neighbors=cap, synonymy_threshold=0.6)
    rng = random.Random(seed + 100)
    order = corpus[:]
    rng.shuffle(order)
    cut1, cut2 = sorted(rng.sample(range(1, len(order)), 2))
    one_shot = GraphIndex(config, embed=trigram_embed)
    one_shot.add(corpus)
    assert one_shot.stats()["directed_synonymy"] > 0
    incremental = GraphIndex(config, embed=trigram_embed)
    mirror: dict[tuple, tuple[float, str]] = {}  # rebuilt from deltas only, like a database
    for part in (order[:cut1], order[cut1:cut2], order[cut2:]):
        delta = incremental.add(part)
        for e in delta.changed_edges:
            mirror[(e.u, e.v)] = (e.weight, e.kind)
        for key in delta.removed_edges:
            del mirror[key]
    assert incremental.canonical() == one_shot.canonical()
    assert mirror == _edge_map(one_shot)

    removed = [p for p, _, _ in order[cut2:]]
    delta = incremental.remove(removed)
    for e in delta.changed_edges:
        mirror[(e.u, e.v)] = (e.weight, e.kind)
    for key in delta.removed_edges:
        del mirror[key]
    never = GraphIndex(config, embed=trigram_embed)
    never.add([c for c in corpus if c[0] not in set(removed)])
    assert incremental.canonical() == never.canonical()
    assert mirror == _edge_map(never)
    a, b = incremental.matrices(), never.matrices()
    assert a.phrases == b.phrases and a.passages == b.passages
    assert (a.adjacency != b.adjacency).nnz == 0
    assert np.array_equal(a.fact_vectors, b.fact_vectors)


# ------------------------------------------------------------------------------------- PPR
def _random_graph(n: int, seed: int, isolated: int = 2) -> sparse.csr_array:
    rng = np.random.default_rng(seed)
    dense = np.triu(rng.random((n, n)) * (rng.random((n, n)) < 0.15), 1)
    dense[:, :isolated] = 0
    dense[:isolated, :] = 0
    return sparse.csr_array(dense + dense.T)


def _exact_ppr(adj: sparse.csr_array, reset: np.ndarray, d: float) -> np.ndarray:
    w = adj.toarray()
    deg = w.sum(axis=0)
    m = np.divide(w, deg, out=np.zeros_like(w), where=deg > 0)
    z = np.linalg.solve(np.eye(len(w)) - d * m, reset / reset.sum())
    return z / z.sum()


@pytest.mark.parametrize("method", ["chebyshev", "power"])
@pytest.mark.parametrize("damping", [0.5, 0.85])
@pytest.mark.parametrize("threads", [1, 3])
def test_ppr_matches_dense_linear_algebra(method: str, damping: float, threads: int) -> None:
    adj = _random_graph(40, seed=1)
    rng = np.random.default_rng(2)
    reset = rng.random((40, 3)) * (rng.random((40, 3)) < 0.3)
    reset[0, 0] = 1.0  # an isolated node seeded: its mass flows back through the reset
    cfg = PPRConfig(
        damping=damping, tol=1e-13, method=method, max_iter=1000, dtype="float64", threads=threads
    )
    solver = PPRSolver(adj, cfg)
    assert len(solver._blocks) == threads
    got = solver.run(reset)
    for j in range(3):
        assert np.allclose(got[:, j], _exact_ppr(adj, reset[:, j], damping), atol=1e-11)
        assert np.allclose(solver.run(reset[:, j]), got[:, j], atol=1e-12)
    assert np.allclose(got.sum(axis=0), 1.0)


def test_ppr_matches_networkx_with_personalization() -> None:
    adj = _random_graph(30, seed=5, isolated=1)
    g = nx.from_scipy_sparse_array(adj)
    rng = np.random.default_rng(3)
    reset = rng.random(30)
    personalization = {i: float(reset[i]) for i in range(30)}
    expected = nx.pagerank(
        g,
        alpha=0.5,
        personalization=personalization,
        weight="weight",
        dangling=personalization,
        tol=1e-12,
        max_iter=1000,
    )
    got = personalized_pagerank(adj, reset, PPRConfig(tol=1e-12, dtype="float64"))
    assert np.allclose(got, [expected[i] for i in range(30)], atol=1e-9)


def test_ppr_dangling_and_reset_cleaning() -> None:
    adj = sparse.csr_array(np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0]], dtype=float))
    solver = PPRSolver(adj)
    assert np.allclose(solver.run(np.array([0.0, 0.0, 5.0])), [0, 0, 1])  # isolated keeps all
    cleaned = solver.run(np.array([1.0, np.nan, -3.0]))
    assert np.allclose(cleaned, solver.run(np.array([1.0, 0.0, 0.0])))
    with pytest.raises(InputError):
        solver.run(np.array([0.0, -1.0, np.nan]))
    with pytest.raises(InputError):
        PPRSolver(sparse.csr_array(np.array([[0, 1.0], [0.0, 0]])))
    with pytest.raises(InputError):
        PPRSolver(sparse.csr_array(np.array([[0, -1.0], [-1.0, 0]])))
    with pytest.raises(ConfigError):
        PPRConfig(damping=1.0)


def test_locality_reordering_is_used_on_community_graphs_and_exact() -> None:
    # 300 cliques of 10 nodes in a ring, labels shuffled: no locality until renumbered
    rng = np.random.default_rng(0)
    n, size = 3000, 10
    label = rng.permutation(n)
    rows, cols = [], []
    for c in range(n // size):
        members = [c * size + i for i in range(size)] + [((c + 1) % (n // size)) * size]
        for a in members:
            for b in members:
                if a < b:
                    rows.append(label[a])
                    cols.append(label[b])
    w = rng.uniform(1, 2, len(rows))
    adj = sparse.coo_array((np.r_[w, w], (np.r_[rows, cols], np.r_[cols, rows])), (n, n))
    adj = adj.tocsr()
    solver = PPRSolver(adj, PPRConfig(dtype="float64", tol=1e-12))
    assert solver._perm is not None
    reset = rng.random(n) * (rng.random(n) < 0.01)
    lap = sparse.identity(n) - 0.5 * adj @ sparse.diags(1 / adj.sum(axis=0))
    exact = spsolve(lap.tocsc(), reset)
    assert np.allclose(solver.run(reset), exact / exact.sum(), atol=1e-11)
    assert PPRSolver(_random_graph(40, seed=1))._perm is None  # already local: left alone


def test_solver_leaves_the_callers_matrix_alone() -> None:
    adj = _random_graph(20, seed=4)
    before = adj.copy()
    PPRSolver(adj).run(np.ones(20))
    PPRSolver(adj, PPRConfig(method="power")).run(np.ones(20))
    assert (adj != before).nnz == 0


def test_float32_solver_agrees() -> None:
    adj = _random_graph(50, seed=9)
    reset = np.random.default_rng(1).random(50)
    a = PPRSolver(adj, PPRConfig(tol=1e-10, dtype="float64")).run(reset)
    b = PPRSolver(adj, PPRConfig(tol=1e-6, dtype="float32")).run(reset)
    assert np.abs(a - b).sum() < 1e-5


# ----------------------------------------------------------------------------------- search
def _search_index() -> GraphIndex:
    index = GraphIndex(PRESETS["hipporag2"].graph, embed=trigram_embed)
    index.add(
        [
            ("a", "Ada Lovelace was born in London", [("Ada Lovelace", "born in", "London")]),
            ("b", "London is the capital of England", [("London", "capital of", "England")]),
            ("c", "Paris is in France", [("Paris", "in", "France")]),
            ("d", "An orphan passage without triples", []),
        ]
    )
    return index


def test_search_ranks_the_multi_hop_chain_and_explains() -> None:
    index = _search_index()
    question = "Where was Ada Lovelace born?"
    dense = GraphSearcher(index, "hipporag2").search(question, k=4).hits
    assert dense[1].passage_id == "c"  # lexically, Paris/France comes second ...
    one_fact = Preset(name="one", search=SearchConfig(name="one", linking_top_k=1))
    result = GraphSearcher(index, one_fact).search(question, k=3)
    assert [h.rank for h in result.hits] == [1, 2, 3]
    # ... but through the phrase 'london' the graph brings the second hop up
    assert [h.passage_id for h in result.hits[:2]] == ["a", "b"]
    exp = result.explanation
    assert exp.preset == "one" and exp.used_graph and not exp.filter_ran
    assert exp.query_encodes == 1
    assert [f.triple for f in exp.kept_facts] == [("ada lovelace", "born in", "london")]
    assert [(s.phrase, s.weight) for s in exp.seed_phrases] == [
        ("ada lovelace", 1.0),
        ("london", 0.5),
    ]  # london is in 2 passages
    assert all(h.ppr_score > 0 for h in result.hits)


def test_seed_ties_are_broken_by_first_appearance() -> None:
    index = _search_index()
    preset = Preset(name="t", search=SearchConfig(seed_phrase_top_k=1, linking_top_k=1))
    for _ in range(3):
        exp = GraphSearcher(index, preset).search("Ada Lovelace born London").explanation
        # subject and object of the top fact tie (one passage each): the subject wins
        assert [s.phrase for s in exp.seed_phrases] == ["ada lovelace"]


def test_search_is_independent_of_insertion_order() -> None:
    corpus = _random_corpus(7)
    one = GraphIndex(embed=trigram_embed)
    one.add(corpus)
    two = GraphIndex(embed=trigram_embed)
    two.add(corpus[::-1])
    for preset in ("hipporag2", "default"):
        for q in ("museum near the northern river", "kings of paris", "bridges"):
            a = GraphSearcher(one, preset).search(q, k=10)
            b = GraphSearcher(two, preset).search(q, k=10)
            assert a == b


def test_filter_and_dense_fallbacks() -> None:
    index = _search_index()
    searcher = GraphSearcher(index, "default")
    seen: list[list[LinkedFact]] = []

    def keep_paris(question: str, facts: list[LinkedFact]) -> list[tuple[str, str, str]]:
        seen.append(facts)
        return [("Paris", "in", "France"), ("not", "a", "candidate")]

    res = searcher.search("Paris France capital", fact_filter=keep_paris)
    assert res.explanation.filter_ran and len(seen[0]) == 3
    assert [f.triple for f in res.explanation.kept_facts] == [("paris", "in", "france")]
    res = searcher.search("Paris France capital", fact_filter=lambda q, f: [])
    assert not res.explanation.used_graph
    assert res.explanation.fallback_reason == "the filter kept no fact"
    assert [h.score for h in res.hits] == sorted((h.score for h in res.hits), reverse=True)

    bare = GraphIndex(embed=trigram_embed)
    bare.add([("x", "no triples here", []), ("y", "nothing either", [])])
    res = GraphSearcher(bare).search("triples")
    assert res.explanation.fallback_reason == "no facts in the index"
    assert [h.passage_id for h in res.hits] == ["x", "y"]


def test_empty_index_and_bad_queries() -> None:
    searcher = GraphSearcher(GraphIndex(embed=trigram_embed))
    res = searcher.search("anything")
    assert res.hits == () and res.explanation.fallback_reason == "empty index"
    with pytest.raises(InputError):
        searcher.search("   ")
    with pytest.raises(InputError):
        GraphSearcher(_search_index()).search("ok", k=0)
    with pytest.raises(ConfigError):
        GraphSearcher(_search_index(), "no-such-preset")


def test_search_many_matches_search_and_default_window() -> None:
    index = _search_index()
    searcher = GraphSearcher(index, "default")
    questions = ["Where was Ada Lovelace born?", "capital of England", "Paris"]
    many = searcher.search_many(questions, k=4)
    for batch, single in zip(many, [searcher.search(q, k=4) for q in questions]):
        assert [h.passage_id for h in batch.hits] == [h.passage_id for h in single.hits]
        assert np.allclose([h.score for h in batch.hits], [h.score for h in single.hits], atol=1e-6)
        seeds_b, seeds_s = batch.explanation.seed_phrases, single.explanation.seed_phrases
        assert [(p.phrase, p.passages) for p in seeds_b] == [(p.phrase, p.passages) for p in seeds_s]
        assert [p.weight for p in seeds_b] == pytest.approx([p.weight for p in seeds_s], rel=1e-6)
    assert many[0].explanation.query_encodes == 1  # the default preset encodes once
    hits = many[0].hits
    window = PRESETS["default"].search.rerank_window
    head = [h.dense_score for h in hits[:window]]
    assert head == sorted(head, reverse=True)  # the window is ordered by dense cosine


def test_two_instructions_encode_twice() -> None:
    calls: list[list[str]] = []

    def embed(texts: list[str]) -> np.ndarray:
        calls.append(list(texts))
        return trigram_embed(texts)

    index = GraphIndex(embed=embed)
    index.add([("a", "Ada was born in London", [("Ada", "born in", "London")])])
    preset = Preset(
        name="i", search=SearchConfig(fact_query_instruction="F: ", passage_query_instruction="P: ")
    )
    res = GraphSearcher(index, preset).search("Ada?")
    assert res.explanation.query_encodes == 2
    assert calls[-1] == ["F: Ada?", "P: Ada?"]


def test_networkx_export_and_stats() -> None:
    index, _ = _hand_index()
    g = index.to_networkx()
    stats = index.stats()
    assert g.number_of_nodes() == stats["nodes"] == 8
    assert g.number_of_edges() == stats["edges"]
    assert g.nodes[(PASSAGE, "p1")]["kind"] == PASSAGE
    assert g.edges[(PHRASE, "beta"), (PHRASE, "gamma")]["weight"] == 2.0
