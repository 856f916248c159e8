"""Tests for memagents.stores.sqlite: WAL, migrations, all-or-nothing batches, threads."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from memagents.errors import ConfigError, InputError, StorageError
from memagents.stores.sqlite import Database, Migration

SCHEMA = [
    Migration(
        1, "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);", "items"
    ),
    Migration(
        2,
        """
        CREATE TABLE tags (item_id INTEGER NOT NULL REFERENCES items(id), tag TEXT NOT NULL);
        CREATE TRIGGER tag_upper AFTER INSERT ON tags BEGIN
            UPDATE tags SET tag = upper(tag) WHERE rowid = new.rowid;
        END;
        INSERT INTO items (name) VALUES ('seed; with a semicolon')
        """,
        "tags + trigger",
    ),
]


def names(db: Database) -> list[str]:
    return [r["name"] for r in db.query("SELECT name FROM items ORDER BY id")]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "mem.sqlite", migrations=SCHEMA, name="test")
    yield database
    database.close()


def test_wal_and_pragmas(db: Database) -> None:
    assert db.query_one("PRAGMA journal_mode")[0] == "wal"
    assert db.query_one("PRAGMA foreign_keys")[0] == 1
    assert db.query_one("PRAGMA synchronous")[0] == 1  # NORMAL
    assert db.query_one("PRAGMA busy_timeout")[0] > 0


def test_memory_database_works() -> None:
    with Database(":memory:", migrations=SCHEMA) as mem:
        assert mem.version == 2
        assert names(mem) == ["seed; with a semicolon"]
    assert mem.closed
    with pytest.raises(StorageError, match="closed"):
        mem.query("SELECT 1")


def test_migrations_applied_once_and_idempotent(tmp_path: Path) -> None:
    calls: list[int] = []

    def step3(conn: sqlite3.Connection) -> None:
        calls.append(3)
        conn.execute("ALTER TABLE items ADD COLUMN note TEXT")

    path = tmp_path / "m.sqlite"
    with Database(path, migrations=SCHEMA[:1]) as first:
        assert first.version == 1
        first.execute("INSERT INTO items (name) VALUES ('a')")
    steps = [*SCHEMA, Migration(3, step3)]
    with Database(path, migrations=steps) as second:
        assert second.version == 3
        assert names(second) == ["a", "seed; with a semicolon"]  # v2 ran exactly once
    with Database(path, migrations=steps) as third:
        assert third.version == 3
        assert names(third) == ["a", "seed; with a semicolon"]
    assert calls == [3]
    # the trigger from the multi-statement migration is live
    with Database(path, migrations=steps) as db:
        db.execute("INSERT INTO tags VALUES (1, 'x')")
        assert db.query_one("SELECT tag FROM tags")["tag"] == "X"


def test_newer_database_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    Database(path, migrations=[*SCHEMA, Migration(3, "CREATE TABLE z (x)")]).close()
    with pytest.raises(StorageError, match=r"schema version 3.*up to 2.*upgrade memagents"):
        Database(path, migrations=SCHEMA)


@pytest.mark.parametrize(
    "steps",
    [
        [Migration(2, "SELECT 1"), Migration(1, "SELECT 1")],
        [Migration(1, "SELECT 1"), Migration(1, "SELECT 2")],
        [Migration(0, "SELECT 1")],
    ],
)
def test_migrations_must_increase(steps: list[Migration]) -> None:
    with pytest.raises(ConfigError, match="strictly increasing"):
        Database(":memory:", migrations=steps)


def test_failed_migration_rolls_back_that_step(tmp_path: Path) -> None:
    path = tmp_path / "f.sqlite"
    bad = Migration(2, "CREATE TABLE half (x); INSERT INTO nowhere VALUES (1);", "broken")
    with pytest.raises(StorageError, match=r"migration 2 \(broken\)"):
        Database(path, migrations=[SCHEMA[0], bad])
    with Database(path, migrations=SCHEMA[:1]) as db:
        assert db.version == 1
        assert db.query("SELECT name FROM sqlite_master WHERE name = 'half'") == []


def test_failed_batch_leaves_store_unchanged(db: Database) -> None:
    before = names(db)
    with pytest.raises(InputError, match="boom"), db.transaction("add items") as conn:
        conn.execute("INSERT INTO items (name) VALUES ('x1')")
        conn.execute("INSERT INTO items (name) VALUES ('x2')")
        raise InputError("boom")  # memagents errors pass through unchanged
    assert names(db) == before
    with pytest.raises(ZeroDivisionError), db.transaction() as conn:
        conn.execute("INSERT INTO items (name) VALUES ('y')")
        _ = 1 / 0  # any exception rolls back and is re-raised as is
    assert names(db) == before


def test_constraint_error_midway_is_storage_error_and_nothing_persists(db: Database) -> None:
    before = names(db)
    failing = pytest.raises(StorageError, match=r"add items failed.*UNIQUE.*rolled back")
    with failing as info, db.transaction("add items") as conn:
        conn.executemany("INSERT INTO items (name) VALUES (?)", [("p",), ("q",), ("p",)])
    assert isinstance(info.value.__cause__, sqlite3.IntegrityError)
    assert names(db) == before
    with pytest.raises(StorageError, match="FOREIGN KEY"):
        db.executemany("INSERT INTO tags VALUES (?, ?)", [(1, "ok"), (999, "dangling")])
    assert db.query("SELECT * FROM tags") == []
    # still usable afterwards
    db.execute("INSERT INTO items (name) VALUES ('after')")
    assert names(db)[-1] == "after"


def test_nested_transactions_join_outer(db: Database) -> None:
    with db.transaction("outer") as conn:
        conn.execute("INSERT INTO items (name) VALUES ('outer')")
        with db.transaction("inner ok"):
            db.execute("INSERT INTO items (name) VALUES ('inner')")
        with pytest.raises(StorageError), db.transaction("inner bad") as inner:
            inner.execute("INSERT INTO items (name) VALUES ('undone')")
            inner.execute("INSERT INTO items (name) VALUES ('outer')")  # UNIQUE violation
        assert db.in_transaction
    assert names(db)[-2:] == ["outer", "inner"]  # inner failure undone only its own rows

    with pytest.raises(RuntimeError), db.transaction():
        db.execute("INSERT INTO items (name) VALUES ('z1')")
        with db.transaction():
            db.execute("INSERT INTO items (name) VALUES ('z2')")
        raise RuntimeError("outer fails after inner committed its savepoint")
    assert "z1" not in names(db) and "z2" not in names(db)


def test_meta_roundtrip_and_persistence(tmp_path: Path) -> None:
    path = tmp_path / "meta.sqlite"
    with Database(path) as db:
        assert db.get_meta("embeddings", "none") == "none"
        db.set_meta("embeddings", {"spec": "hash", "dim": 64})
        db.set_meta("embeddings", {"spec": "openai:x", "dim": 1536})
    with Database(path) as db:
        assert db.get_meta("embeddings") == {"spec": "openai:x", "dim": 1536}


def test_many_threads_writing(db: Database) -> None:
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for j in range(25):
                if j % 2:
                    db.execute("INSERT INTO items (name) VALUES (?)", (f"t{n}-{j}",))
                else:
                    with db.transaction("pair") as conn:
                        conn.execute("INSERT INTO items (name) VALUES (?)", (f"t{n}-{j}",))
                        conn.execute("INSERT INTO tags VALUES (last_insert_rowid(), ?)", (f"{n}",))
                db.query("SELECT count(*) FROM items")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert db.query_one("SELECT count(*) FROM items")[0] == 1 + 8 * 25
    assert db.query_one("SELECT count(*) FROM tags")[0] == 8 * 13
    # every tag points at the row inserted in the same transaction
    orphans = db.query(
        "SELECT t.tag, i.name FROM tags t JOIN items i ON i.id = t.item_id "
        "WHERE i.name NOT LIKE 't' || t.tag || '-%'"
    )
    assert orphans == []


async def test_async_callers_via_to_thread(db: Database) -> None:
    async def add(n: int) -> None:
        await asyncio.to_thread(db.execute, "INSERT INTO items (name) VALUES (?)", (f"a{n}",))

    await asyncio.gather(*(add(n) for n in range(20)))
    assert db.query_one("SELECT count(*) FROM items WHERE name LIKE 'a%'")[0] == 20


def test_other_connection_sees_committed_data_only(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    with Database(path, migrations=SCHEMA) as writer, Database(path, migrations=SCHEMA) as reader:
        with writer.transaction() as conn:
            conn.execute("INSERT INTO items (name) VALUES ('pending')")
            assert "pending" not in names(reader)  # WAL: readers see the last commit
        assert "pending" in names(reader)


def test_unopenable_path_is_storage_error(tmp_path: Path) -> None:
    bogus = tmp_path / "not-a-db.sqlite"
    bogus.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError, match=r"not-a-db\.sqlite"):
        Database(bogus)
