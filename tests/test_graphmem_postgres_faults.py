"""Faults of a Postgres graph memory shared by workers.

* PostgreSQL restarted in the middle of an add (during extraction, or just before the commit):
  the add fails with an error that says what happened and what to do, the next add resumes,
  and nothing is lost or stored twice;
* two workers adding the same passage id at the same moment: both succeed, the passage is
  stored once, with its triples once, and the stored graph has no duplicate or stale edge;
* worker processes adding at once: every passage counted exactly once, the graph equal to a
  one-shot build.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
from pathlib import Path
from typing import Any

import pytest
from test_graphmem_memory import IDS, PASSAGES, _extractor_model

from memagents.errors import StorageError
from memagents.graphmem import GraphMemory
from memagents.stores.postgres_server import TemporaryPostgres

pytest_plugins = ["conftest_postgres"]


def _one_shot(folder: Path, ids: list[str]) -> tuple[Any, set[Any]]:
    """The canonical graph and stored edges of a SQLite memory built in one add."""
    by_id = dict(zip(IDS, PASSAGES))
    with GraphMemory.open(folder, embeddings="hash:256") as memory:
        memory.add_triples([by_id[i] for i in ids], ids=ids)
        return memory.index().canonical(), _edges(memory)


def _edges(memory: GraphMemory) -> set[Any]:
    return {(u, v, round(w, 6), k) for u, v, w, k in memory.db.edges("default")}


def _triple_rows(memory: GraphMemory) -> dict[str, int]:
    rows = memory.db.sql.query(
        "SELECT passage_id, COUNT(*) FROM triples WHERE namespace = 'default' GROUP BY 1")
    return {pid: int(n) for pid, n in rows}


@pytest.mark.parametrize("when", ["extraction", "commit"])
def test_postgres_restarted_mid_add_is_a_clear_error_and_the_resume_completes(
    postgres_server: TemporaryPostgres, postgres_url: str, tmp_path: Path, when: str
) -> None:
    llm = _extractor_model()
    texts = [t for t, _ in PASSAGES[:12]]
    memory = GraphMemory.open(tmp_path / "m", llm=llm, use_filter=False,
                              embeddings="hash:256", database_url=postgres_url)
    try:
        memory.llm.max_concurrency = 1
        memory.add(texts[:4], ids=IDS[:4])
        restarted: list[str] = []
        real_generate = llm._generate
        real_commit = memory.db.commit_indexed

        def restart_once() -> None:
            if not restarted:
                restarted.append(when)
                postgres_server.restart()

        def generate(*args: Any, **kwargs: Any) -> Any:
            if when == "extraction":
                restart_once()
            return real_generate(*args, **kwargs)

        def commit(*args: Any, **kwargs: Any) -> Any:
            if when == "commit":
                restart_once()
            return real_commit(*args, **kwargs)

        llm._generate = generate  # type: ignore[method-assign]
        memory.db.commit_indexed = commit  # type: ignore[method-assign]
        with pytest.raises(StorageError, match="lost the connection") as err:
            memory.add(texts[4:], ids=IDS[4:12])
        assert restarted == [when]
        assert "nothing was written" in str(err.value) and "resumes" in str(err.value)
        assert memory.db.counts("default") == {"pending": 8, "failed": 0, "indexed": 4}
        resumed = memory.add([], ids=[])  # reconnects; resumes the pending passages
        assert sorted(resumed.resumed) == sorted(IDS[4:12]) and resumed.ok
        if when == "commit":
            assert resumed.llm_calls == 0, "extractions were cached before the restart"
        assert memory.db.counts("default") == {"pending": 0, "failed": 0, "indexed": 12}
        canonical, edges = _one_shot(tmp_path / "reference", IDS[:12])
        assert memory.index().canonical() == canonical and _edges(memory) == edges
        assert _triple_rows(memory) == {i: len(PASSAGES[IDS.index(i)][1]) for i in IDS[:12]}
    finally:
        memory.close()


def test_two_workers_adding_the_same_passages_at_once_store_them_once(
    postgres_url: str, tmp_path: Path
) -> None:
    a = GraphMemory.open(tmp_path / "a", embeddings="hash:256", database_url=postgres_url)
    b = GraphMemory.open(tmp_path / "b", embeddings="hash:256", database_url=postgres_url)
    both_ready = threading.Barrier(2, timeout=30)
    try:
        for memory in (a, b):  # both compute their graph change before either commits
            # writers that compute their change without the write lock (GraphMemory takes it
            # first, see test_graphmem_ingest_speed.py), so the commit's catch-up is tested
            memory.db.writing = lambda namespace: contextlib.nullcontext()  # type: ignore[method-assign]
            real = memory.db.commit_indexed

            def commit(*args: Any, _real: Any = real, **kwargs: Any) -> Any:
                both_ready.wait()
                return _real(*args, **kwargs)

            memory.db.commit_indexed = commit  # type: ignore[method-assign]
        results: dict[str, Any] = {}

        def add(name: str, memory: GraphMemory, ids: list[str]) -> None:
            by_id = dict(zip(IDS, PASSAGES))
            results[name] = memory.add_triples([by_id[i] for i in ids], ids=ids)

        threads = [threading.Thread(target=add, args=("a", a, IDS[:6])),
                   threading.Thread(target=add, args=("b", b, IDS[3:9]))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert results["a"].ok and results["b"].ok
        assert a.db.sync.catch_ups + b.db.sync.catch_ups == 1, "the second writer caught up"
        assert a.db.counts("default") == {"pending": 0, "failed": 0, "indexed": 9}
        canonical, edges = _one_shot(tmp_path / "reference", IDS[:9])
        assert _edges(a) == edges, "no duplicate, missing or stale edge"
        assert _triple_rows(a) == {i: len(PASSAGES[IDS.index(i)][1]) for i in IDS[:9]}
        a.db.sync.interval = b.db.sync.interval = 0
        assert a.index().canonical() == canonical == b.index().canonical()
    finally:
        a.close()
        b.close()


def _worker(url: str, folder: str, ids: list[str], out: Any) -> None:
    by_id = dict(zip(IDS, PASSAGES))
    with GraphMemory.open(folder, embeddings="hash:256", database_url=url,
                          refresh_interval=0) as memory:
        added = 0
        for start in range(0, len(ids), 5):
            chunk = ids[start:start + 5]
            result = memory.add_triples([by_id[i] for i in chunk], ids=chunk)
            added += len(result.added)
            memory.search("Who founded it?", k=3)
        out.put((added, memory.index().canonical()))


def test_worker_processes_adding_at_once_count_every_passage_once(
    postgres_url: str, tmp_path: Path
) -> None:
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    shares = [IDS[0:40:2] + IDS[40:50], IDS[1:40:2] + IDS[40:50]]  # ten ids added by both
    procs = [ctx.Process(target=_worker, args=(postgres_url, str(tmp_path / f"w{i}"), ids, out))
             for i, ids in enumerate(shares)]
    for p in procs:
        p.start()
    reports = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    canonical, edges = _one_shot(tmp_path / "reference", IDS[:50])
    with GraphMemory.open(tmp_path / "check", embeddings="hash:256",
                          database_url=postgres_url) as memory:
        assert memory.db.counts("default") == {"pending": 0, "failed": 0, "indexed": 50}
        assert memory.index().canonical() == canonical and _edges(memory) == edges
        assert _triple_rows(memory) == {i: len(PASSAGES[IDS.index(i)][1]) for i in IDS[:50]}
    assert 50 <= sum(added for added, _ in reports) <= 60  # shared ids: added by one or both
