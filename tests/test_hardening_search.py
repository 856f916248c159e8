"""Hardening (issue 7, items 1 and 7): machine-independent search, stable store scores.

* Item 1: a question gets the same scores and ranking alone (``search``) or in a batch
  (``search_many``): cosines are computed per question with one row-wise kernel, so the two
  agree bit for bit on any machine (a BLAS matrix product picks other kernels by batch
  shape and CPU). Every ranking breaks ties explicitly (score, then id).
* Item 7: ``MemoryStore``'s ``SearchItem.score`` for dense hits is the raw cosine, as
  ``InMemoryStore`` returns for the same embeddings, not the cosine min-max rescaled per query
  (which scored a lone item 1.0 for any query and broke thresholds).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
from langgraph.store.memory import InMemoryStore

from memagents.adapters.store import memory_namespace
from memagents.graphmem import GraphMemory
from memagents.graphmem.core.graph import GraphIndex
from memagents.graphmem.core.search import GraphSearcher
from memagents.models.embeddings import HashEmbeddings
from memagents.testing import ScriptedChatModel


# ------------------------------------------------------------------- item 1: search
def _random_embed(texts: list[str], dim: int = 384) -> np.ndarray:
    """Dense pseudo-random unit vectors, one fixed vector per text (like a real model)."""
    rows = []
    for t in texts:
        seed = int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "little")
        rows.append(np.random.default_rng(seed).standard_normal(dim))
    return np.asarray(rows, dtype=np.float32)


def _big_index() -> GraphIndex:
    index = GraphIndex(embed=_random_embed)
    names = [f"entity{i:03d}" for i in range(120)]
    docs = []
    for i in range(80):
        a, b, c = names[i], names[(7 * i + 3) % 120], names[(13 * i + 5) % 120]
        docs.append((f"p{i:03d}", f"{a} knows {b} and {c}", [(a, "knows", b), (b, "met", c)]))
    index.add(docs)
    return index


def _snapshot(result: object) -> tuple[object, ...]:
    hits = result.hits  # type: ignore[attr-defined]
    ex = result.explanation  # type: ignore[attr-defined]
    return (
        [(h.passage_id, h.score, h.dense_score, h.ppr_score, h.rank) for h in hits],
        [(f.triple, f.score, f.cosine) for f in ex.candidate_facts],
        ex.seed_phrases,
        ex.used_graph,
    )


@pytest.mark.parametrize("preset", ["default", "hipporag2"])
def test_batch_and_single_search_agree_bit_for_bit(preset: str) -> None:
    # Exact equality on purpose: same machine, same kernel per question, by construction.
    # Before the fix the batch went through a BLAS matrix product and a single search
    # through vecdot; their last bits differ (0.16448576122985192 != 0.16448574918951253).
    index = _big_index()
    searcher = GraphSearcher(index, preset)
    questions = [f"who does entity{i:03d} know?" for i in (1, 17, 42, 99, 5, 63)]
    many = searcher.search_many(questions, k=10)
    for question, batch in zip(questions, many, strict=True):
        assert _snapshot(batch) == _snapshot(searcher.search(question, k=10))
    # the batch's composition and order do not matter either
    again = searcher.search_many(list(reversed(questions)), k=10)
    assert [_snapshot(r) for r in reversed(again)] == [_snapshot(r) for r in many]


def test_seed_phrase_ties_follow_first_appearance_in_the_ranked_facts() -> None:
    # one fact: its subject and object get the same weight; the tie goes to the subject
    # ("zulu"), first in the fact, as in the official implementation (a stable sort of its
    # phrase-score dict), not to the phrase text ("alpha" < "zulu")
    index = GraphIndex(embed=_random_embed)
    index.add([("p1", "zulu likes alpha", [("zulu", "likes", "alpha")]),
               ("p2", "other text", [])])
    for preset in ("default", "hipporag2"):
        result = GraphSearcher(index, preset).search("zulu likes alpha", k=2)
        seeds = result.explanation.seed_phrases
        assert [s.phrase for s in seeds] == ["zulu", "alpha"]
        assert seeds[0].weight == pytest.approx(seeds[1].weight)


def test_tied_passages_rank_by_id() -> None:
    # identical texts give identical cosines; the tie goes to the smaller id, whatever the
    # insertion order
    def embed(texts: list[str]) -> np.ndarray:
        return np.asarray([[1.0, 0.0] if "same" in t else [0.0, 1.0] for t in texts], np.float32)

    index = GraphIndex(embed=embed)
    index.add([("b", "same text", []), ("c", "unrelated", []), ("a", "same text", [])])
    hits = GraphSearcher(index, "default").search("same", k=3).hits
    assert [h.passage_id for h in hits] == ["a", "b", "c"]
    assert hits[0].score == pytest.approx(hits[1].score)


# ------------------------------------------------------------------- item 7: store scores
DIM = 64
TEXTS = {
    "m1": "Ada Lovelace was born in London",
    "m2": "Ada likes green tea in the morning",
    "m3": "The harbour of Velmora exports fish",
    "m4": "Green tea is grown on hills",
}
QUERIES = ["Where was Ada born?", "green tea", "fish harbour", "quantum chromodynamics",
           "Ada Lovelace"]


def _reference(texts: dict[str, str]) -> InMemoryStore:
    ref = InMemoryStore(index={"dims": DIM, "embed": HashEmbeddings(dim=DIM), "fields": ["text"]})
    for key, text in texts.items():
        ref.put(("kb",), key, {"text": text})
    return ref


def _scores(store: object, query: str) -> dict[str, float | None]:
    return {h.key: h.score for h in store.search(("kb",), query=query, limit=50)}  # type: ignore[attr-defined]


def test_lone_item_score_is_the_cosine_and_varies_by_query(tmp_path: Path) -> None:
    ref = _reference({"m1": TEXTS["m1"]})
    with (
        GraphMemory.open(tmp_path, embeddings=HashEmbeddings(dim=DIM)) as memory,
        memory.as_store(index={"fields": ["text"]}) as store,
    ):
        store.put(("kb",), "m1", {"text": TEXTS["m1"]})
        got = [_scores(store, q)["m1"] for q in QUERIES]
        want = [_scores(ref, q)["m1"] for q in QUERIES]
    assert got == pytest.approx(want, abs=1e-5)
    assert len({round(s, 4) for s in got}) == len(QUERIES)  # was 1.0 for every query
    assert max(got) < 1.0


def test_scores_and_thresholds_match_in_memory_store(tmp_path: Path) -> None:
    ref = _reference(TEXTS)
    with (
        GraphMemory.open(tmp_path, embeddings=HashEmbeddings(dim=DIM)) as memory,
        memory.as_store(index={"fields": ["text"]}) as store,
    ):
        for key, text in TEXTS.items():
            store.put(("kb",), key, {"text": text})
        for query in QUERIES:
            got, want = _scores(store, query), _scores(ref, query)
            assert got.keys() == want.keys()
            assert [got[k] for k in want] == pytest.approx(list(want.values()), abs=1e-5)
            for threshold in (0.0, 0.1, 0.2, 0.3, 0.5, 0.8):
                if any(abs(s - threshold) < 1e-4 for s in want.values() if s is not None):
                    continue  # too close to call within float32 rounding
                kept = {k for k, s in got.items() if s is not None and s >= threshold}
                assert kept == {k for k, s in want.items() if s is not None and s >= threshold}


def test_multi_field_items_pool_the_best_cosine(tmp_path: Path) -> None:
    fields = ["title", "body"]
    items = {"a": {"title": "green tea", "body": "grown on hills"},
             "b": {"title": "fish market", "body": "Velmora harbour"}}
    ref = InMemoryStore(index={"dims": DIM, "embed": HashEmbeddings(dim=DIM), "fields": fields})
    with (
        GraphMemory.open(tmp_path, embeddings=HashEmbeddings(dim=DIM)) as memory,
        memory.as_store(index={"fields": fields}) as store,
    ):
        for key, value in items.items():
            ref.put(("kb",), key, value)
            store.put(("kb",), key, value)
        for query in ["harbour", "tea hills", "market"]:
            got, want = _scores(store, query), _scores(ref, query)
            assert got == pytest.approx(want, abs=1e-5)


def test_graph_hits_score_the_ppr_probability(tmp_path: Path) -> None:
    # with extracted triples the score is the documented PPR probability: in [0, 1], summing
    # to at most 1 over the passages of one graph
    triples = {"m1": [["Ada Lovelace", "born in", "London"]], "m2": [["Ada", "likes", "green tea"]]}
    llm = ScriptedChatModel(rules=[
        (re.compile(re.escape(TEXTS[k])), {"entities": sorted({t[0] for t in v}), "triples": v})
        for k, v in triples.items()
    ])
    with (
        GraphMemory.open(tmp_path, llm=llm, embeddings=HashEmbeddings(dim=DIM)) as memory,
        memory.as_store(index={"fields": ["text"]}, use_filter=False) as store,
    ):
        for key in ("m1", "m2"):
            store.put(("kb",), key, {"text": TEXTS[key]})
        scores = [s for s in _scores(store, "Where was Ada born?").values() if s is not None]
        direct = memory.search("Where was Ada born?", namespace=memory_namespace(("kb",)),
                               use_filter=False)
        assert direct.explanation is not None and direct.explanation.used_graph
        assert sorted(scores) == pytest.approx(sorted(h.ppr_score for h in direct))
    assert len(scores) == 2
    assert all(0.0 <= s <= 1.0 for s in scores) and sum(scores) <= 1.0 + 1e-9
