"""Graph memory on both backends: SQLite (a folder) and Postgres (shared by workers).

Equivalences (incremental == one-shot, delete == never added, the stored graph equals the
in-memory one) run on both backends, and on Postgres with the adds spread over several workers;
the LangGraph store conformance suite runs on a Postgres memory (its SQLite run is in
``test_graphmem_store.py``); a worker's graph follows the others' writes incrementally, within
the refresh interval (a fake clock), and equals a graph loaded from scratch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.store.base import BaseStore
from test_graphmem_memory import IDS, PASSAGES, WORLD

from memagents.errors import ConfigError, StorageError
from memagents.graphmem import GraphMemory
from memagents.testing.store_conformance import StoreConformanceTests

pytest_plugins = ["conftest_postgres"]

Opener = Callable[..., GraphMemory]


@pytest.fixture(params=["sqlite", "postgres"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """``opener(name, **kw)``: a memory named ``name`` on the test's backend; on Postgres
    every call is another worker (its own connection and in-memory graph)."""
    opened: list[GraphMemory] = []
    urls: dict[str, str] = {}

    def open_memory(name: str, **kw: Any) -> GraphMemory:
        kw.setdefault("embeddings", "hash:256")
        if request.param == "postgres":
            if name not in urls:
                urls[name] = request.getfixturevalue("postgres_databases")(tmp_path / name)
            kw.setdefault("database_url", urls[name])
            kw.setdefault("refresh_interval", 0)
        memory = GraphMemory.open(tmp_path / name, **kw)
        opened.append(memory)
        return memory

    yield open_memory
    for memory in opened:
        memory.close()


def _stored_equals_live(memory: GraphMemory, namespace: str = "default") -> bool:
    stored = {(u, v, round(w, 6), k) for u, v, w, k in memory.db.edges(namespace)}
    live = {(e.u, e.v, round(e.weight, 6), e.kind) for e in memory.index(namespace).edges()}
    nodes = set(memory.db.nodes(namespace)) == set(memory.index(namespace).nodes())
    return stored == live and nodes


# ------------------------------------------------------------------ equivalences
def test_incremental_equals_one_shot_and_delete_equals_never_added(opener: Opener) -> None:
    third = len(PASSAGES) // 3
    one_shot = opener("one")
    one_shot.add_triples(PASSAGES, ids=IDS)
    stepwise = opener("steps")
    stepwise.add_triples(PASSAGES[:third], ids=IDS[:third])
    stepwise.add_triples(PASSAGES[third:], ids=IDS[third:])
    assert stepwise.index().canonical() == one_shot.index().canonical()
    first = opener("first")
    first.add_triples(PASSAGES[:third], ids=IDS[:third])
    assert sorted(one_shot.delete(IDS[third:]).deleted) == sorted(IDS[third:])
    assert one_shot.index().canonical() == first.index().canonical()
    for memory in (one_shot, stepwise, first):
        assert _stored_equals_live(memory)


def test_workers_interleaving_adds_and_deletes_build_the_one_shot_graph(
    postgres_url: str, tmp_path: Path
) -> None:
    third = len(PASSAGES) // 3
    with GraphMemory.open(tmp_path / "sqlite", embeddings="hash:256") as reference:
        reference.add_triples(PASSAGES[third:], ids=IDS[third:])
        expected = reference.index().canonical()
        expected_edges = {(u, v, round(w, 6)) for u, v, w, _ in reference.db.edges("default")}
    workers = [GraphMemory.open(tmp_path / f"w{i}", embeddings="hash:256",
                                database_url=postgres_url, refresh_interval=0) for i in range(3)]
    try:
        for start in range(0, len(PASSAGES), 8):  # round robin, each worker's graph stale
            worker = workers[(start // 8) % 3]
            worker.add_triples(PASSAGES[start:start + 8], ids=IDS[start:start + 8])
        workers[1].delete(IDS[:third])
        for worker in workers:
            assert worker.index().canonical() == expected
            assert _stored_equals_live(worker)
        stored = {(u, v, round(w, 6)) for u, v, w, _ in workers[0].db.edges("default")}
        assert stored == expected_edges, "the stored graph equals SQLite's"
        assert workers[2].db.counts("default") == {
            "pending": 0, "failed": 0, "indexed": len(PASSAGES) - third}
    finally:
        for worker in workers:
            worker.close()


def test_search_results_are_the_same_on_both_backends(opener: Opener, tmp_path: Path) -> None:
    memory = opener("m")
    memory.add_triples(PASSAGES, ids=IDS, namespace="ns")
    with GraphMemory.open(tmp_path / "reference", embeddings="hash:256") as reference:
        reference.add_triples(PASSAGES, ids=IDS, namespace="ns")
        for q in WORLD.questions[:4]:
            got = memory.search(q.question, k=5, namespace="ns")
            want = reference.search(q.question, k=5, namespace="ns")
            assert got.ids == want.ids
            assert [h.score for h in got] == pytest.approx([h.score for h in want], abs=1e-9)
    assert memory.namespaces() == ["ns"] and memory.search("x", namespace="other") == []


# ------------------------------------------------------------------ refreshing
def test_a_stale_worker_answers_from_its_graph_and_refreshes_within_the_interval(
    postgres_url: str, tmp_path: Path
) -> None:
    now = [0.0]
    writer = GraphMemory.open(tmp_path / "a", embeddings="hash:256", database_url=postgres_url)
    reader = GraphMemory.open(tmp_path / "b", embeddings="hash:256", database_url=postgres_url,
                              refresh_interval=5.0)
    try:
        reader.db.sync.clock = lambda: now[0]
        half = len(PASSAGES) // 2
        writer.add_triples(PASSAGES[:half], ids=IDS[:half])
        q = WORLD.questions[0].question
        graph = reader.index()  # loaded now, at the writer's first version
        before = reader.search(q, k=5)
        writer.add_triples(PASSAGES[half:], ids=IDS[half:])
        now[0] = 4.9  # within the interval: the reader answers from the graph it has
        assert reader.search(q, k=5).ids == before.ids and len(reader.index()) == half
        now[0] = 5.0  # the interval is over: it catches up, incrementally
        after = reader.search(q, k=5)
        assert reader.index() is graph and reader.db.sync.refreshes == 1
        assert len(graph) == len(PASSAGES) and after.ids == writer.search(q, k=5).ids
        with GraphMemory.open(tmp_path / "c", embeddings="hash:256",
                              database_url=postgres_url) as fresh:
            assert graph.canonical() == fresh.index().canonical()
        writer.delete(IDS[half:])
        now[0] = 10.0
        assert len(reader.index()) == half and reader.db.sync.refreshes == 2
        assert reader.index().canonical() == writer.index().canonical()
    finally:
        writer.close()
        reader.close()


def test_a_stale_writer_catches_up_before_it_writes(postgres_url: str, tmp_path: Path) -> None:
    a = GraphMemory.open(tmp_path / "a", embeddings="hash:256", database_url=postgres_url,
                         refresh_interval=3600)
    b = GraphMemory.open(tmp_path / "b", embeddings="hash:256", database_url=postgres_url,
                         refresh_interval=3600)
    try:
        a.add_triples(PASSAGES[:10], ids=IDS[:10])
        b.index()  # b's graph is at a's first write
        a.add_triples(PASSAGES[10:20], ids=IDS[10:20])
        b.add_triples(PASSAGES[20:30], ids=IDS[20:30])  # b is stale: its write catches up
        assert len(b.index()) == 30 and _stored_equals_live(b)
        a.db.sync.interval = 0
        assert a.index().canonical() == b.index().canonical()
    finally:
        a.close()
        b.close()


# --------------------------------------------------------------------- opening
def test_open_refuses_bad_urls_and_names_an_unreachable_server(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="postgresql://"):
        GraphMemory.open(tmp_path, embeddings="hash", database_url="mysql://x@y/z")
    with pytest.raises(ConfigError, match="refresh_interval"):
        GraphMemory.open(tmp_path, embeddings="hash", database_url="postgresql://x@y/z",
                         refresh_interval=-1)
    dead = "postgresql://nobody:secret@127.0.0.1:9/none?connect_timeout=2"
    with pytest.raises(StorageError, match="PostgreSQL is running") as err:
        GraphMemory.open(tmp_path, embeddings="hash", database_url=dead)
    assert "secret" not in str(err.value) and "127.0.0.1:9" in str(err.value)


def test_the_setting_selects_postgres_and_no_folder_lock_is_taken(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEMAGENTS_DATABASE_URL", postgres_url)
    with GraphMemory.open(tmp_path, embeddings="hash:256") as one, \
            GraphMemory.open(tmp_path, embeddings="hash:256") as two:  # same folder: no lock
        one.add_triples(PASSAGES[:2], ids=IDS[:2])
        assert one.db.shared and repr(one).startswith("GraphMemory('postgresql://")
        assert [h.id for h in two.get(IDS[:2])] == IDS[:2]
        assert not (tmp_path / "memory.db").exists()


# ------------------------------------------------------------- store conformance
class TestGraphMemoryStoreConformanceOnPostgres(StoreConformanceTests):
    @pytest.fixture
    def store(self, tmp_path: Path, postgres_url: str) -> Iterator[BaseStore]:
        with GraphMemory.open(tmp_path, embeddings="hash", database_url=postgres_url) as memory, \
                memory.as_store() as store:
            yield store


# ---------------------------------------------------------------------- pgvector
def _pgvector_server(postgres_server: Any) -> Iterator[Any]:
    import importlib.util

    import psycopg

    with psycopg.connect(postgres_server.url()) as conn:
        if conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone():
            yield postgres_server
            return
    spec = importlib.util.find_spec("pgserver")  # a wheel that bundles PostgreSQL + pgvector
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("no PostgreSQL with pgvector here: apt-get install postgresql-15-pgvector "
                    "(from the PostgreSQL apt repository) or pip install pgserver")
    from memagents.stores.postgres_server import TemporaryPostgres

    bundled = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    with TemporaryPostgres(bundled) as server:
        yield server


@pytest.fixture(scope="module")
def pgvector_server(postgres_server: Any) -> Iterator[Any]:
    yield from _pgvector_server(postgres_server)


def test_vectors_live_in_a_pgvector_column_when_the_server_has_it(
    pgvector_server: Any, tmp_path: Path
) -> None:
    url = pgvector_server.create_schema("vec")
    q = WORLD.questions[0].question
    with GraphMemory.open(tmp_path / "a", embeddings="hash:256", database_url=url) as memory:
        memory.add_triples(PASSAGES, ids=IDS)
        assert memory.db.sql.query(
            "SELECT pg_typeof(vec)::text, vector_dims(vec) FROM vectors LIMIT 1"
        ) == [("vector", 256)]
        hits = memory.search(q, k=5)
    with GraphMemory.open(tmp_path / "b", embeddings="hash:256", database_url=url) as other, \
            GraphMemory.open(tmp_path / "c", embeddings="hash:256") as reference:
        reference.add_triples(PASSAGES, ids=IDS)
        again = other.search(q, k=5)
        assert other.usage.embedding_texts == 1, "every vector came back from pgvector"
        assert again.ids == hits.ids == reference.search(q, k=5).ids
        assert other.index().canonical() == reference.index().canonical()


def test_memory_cli_reads_and_writes_a_postgres_memory(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With MEMAGENTS_DATABASE_URL set the folder holds no memory.db: the commands that
    refuse a folder without a memory (a typo) must still open the shared one."""
    import json

    from typer.testing import CliRunner

    from memagents.cli import app

    monkeypatch.setenv("MEMAGENTS_DATABASE_URL", postgres_url)
    data = tmp_path / "p.jsonl"
    data.write_text("\n".join(json.dumps({"id": i, "text": t, "triples": tr})
                              for i, (t, tr) in zip(IDS, PASSAGES)) + "\n", encoding="utf-8")
    runner = CliRunner()
    added = runner.invoke(app, ["memory", "add", "-f", str(data), "--folder",
                                str(tmp_path / "worker1"), "--embeddings", "hash:256", "--json"])
    assert added.exit_code == 0, added.output
    assert not (tmp_path / "worker1" / "memory.db").exists()
    other = tmp_path / "worker2"  # another worker's folder: empty
    found = runner.invoke(app, ["memory", "stats", "--folder", str(other), "--embeddings",
                                "hash:256", "--json"])
    assert found.exit_code == 0, found.output
    assert json.loads(found.stdout)["passages"]["indexed"] == len(IDS)


def test_langgraph_store_items_are_shared_by_the_workers(tmp_path: Path, postgres_url: str) -> None:
    """The store adapter's items live in the memory's Postgres database, not in a worker's
    folder: what one worker puts, another gets, lists and finds; concurrent puts from two
    workers all land with distinct positions; a delete is seen by both."""
    import threading

    other = postgres_url + ("&" if "?" in postgres_url else "?") + "application_name=worker2"
    with GraphMemory.open(tmp_path / "a", embeddings="hash:256", database_url=postgres_url,
                          refresh_interval=0) as ma, \
            GraphMemory.open(tmp_path / "b", embeddings="hash:256", database_url=other,
                             refresh_interval=0) as mb, \
            ma.as_store() as a, mb.as_store() as b:
        a.put(("users", "ada"), "born", {"text": "Ada was born in Velmora"})
        item = b.get(("users", "ada"), "born")
        assert item is not None and item.value == {"text": "Ada was born in Velmora"}
        assert [h.key for h in b.search(("users",), query="Where was Ada born?")] == ["born"]

        def put_many(store: BaseStore, who: str) -> None:
            for i in range(15):
                store.put(("users", who), f"note{i}", {"text": f"{who} note number {i}"})

        threads = [threading.Thread(target=put_many, args=(s, w)) for s, w in ((a, "bo"), (b, "cy"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        listed = a.search(("users",), limit=100)
        assert len(listed) == 31 and len({(i.namespace, i.key) for i in listed}) == 31
        assert sorted(b.list_namespaces()) == [("users", "ada"), ("users", "bo"), ("users", "cy")]
        seqs = a._tables.db.query("SELECT seq FROM store_items")
        assert len({r[0] for r in seqs}) == 31, "two workers numbered items alike"
        b.delete(("users", "ada"), "born")
        assert a.get(("users", "ada"), "born") is None
        assert "born" not in [h.key for h in a.search(("users",), query="Where was Ada born?")]
        assert a._tables.dirty() == [], "every outbox row replayed"
    assert not (tmp_path / "a" / "store.db").exists() and not (tmp_path / "b" / "store.db").exists()


def test_items_a_worker_kept_in_its_folder_move_into_the_shared_database(
    tmp_path: Path, postgres_url: str
) -> None:
    """Stores of Postgres memories used to keep their items in each worker's store.db: the
    next opening puts them into the shared database (newer versions there win) and keeps the
    file, renamed; nothing is lost."""
    from memagents.adapters.store.adapter import memory_namespace
    from memagents.adapters.store.tables import PreparedPut, StoreTables

    folder = tmp_path / "worker1"
    folder.mkdir()
    old = StoreTables(folder / "store.db")
    old.write([PreparedPut(("users", "ada"), "born", '{"text": "Ada was born in Velmora"}',
                           {"$.text": "Ada was born in Velmora"},
                           memory_namespace(("users", "ada"))),
               PreparedPut(("users", "ada"), "tea", '{"text": "Ada likes green tea"}',
                           {"$.text": "Ada likes green tea"}, memory_namespace(("users", "ada")))],
              [])
    old.close()
    with GraphMemory.open(tmp_path / "worker2", embeddings="hash:256",
                          database_url=postgres_url) as m2, m2.as_store() as other:
        other.put(("users", "ada"), "tea", {"text": "Ada now prefers coffee"})  # newer
    with GraphMemory.open(folder, embeddings="hash:256", database_url=postgres_url) as memory, \
            memory.as_store() as store:
        assert store.get(("users", "ada"), "born").value == {"text": "Ada was born in Velmora"}
        assert store.get(("users", "ada"), "tea").value == {"text": "Ada now prefers coffee"}
        assert [h.key for h in store.search(("users",), query="Where was Ada born?",
                                            limit=1)] == ["born"]
    assert not (folder / "store.db").exists() and (folder / "store.db.imported").is_file()
