"""SQLite persistence: one connection, WAL mode, versioned migrations, one transaction per batch.

:class:`Database` wraps a single ``sqlite3`` connection shared by every thread of the process
(access is serialised by a re-entrant lock, so plain threads and ``asyncio.to_thread`` callers
are safe). It opens the file in WAL mode with ``synchronous=NORMAL``, ``foreign_keys=ON`` and a
busy timeout, then applies pending :class:`Migration` steps, each in its own transaction, bumping
``PRAGMA user_version``.

Writes go through :meth:`Database.transaction`: the whole batch commits, or on any exception it
is rolled back and the store is left exactly as it was. Nested ``transaction()`` blocks join the
outer transaction through savepoints.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn

from typing_extensions import Self

from memagents.errors import ConfigError, InputError, MemagentsError, StorageError

__all__ = ["META_TABLE", "Database", "Migration"]

META_TABLE = "memagents_meta"
"""Key/value table every :class:`Database` creates for :meth:`Database.get_meta`."""

Params = Sequence[Any] | dict[str, Any]


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: SQL text (one or more statements) or a callable taking the connection.

    The step runs inside a transaction; do not ``COMMIT`` from it.

    Example:
        >>> from memagents.stores.sqlite import Database, Migration
        >>> steps = [Migration(1, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")]
        >>> with Database(":memory:", migrations=steps) as db:
        ...     db.version
        1
    """

    version: int
    sql: str | Callable[[sqlite3.Connection], None]
    description: str = ""


class Database:
    """A SQLite database with migrations and all-or-nothing batch writes.

    Args:
        path: Database file (parent folders are created) or ``":memory:"``.
        migrations: Schema steps with strictly increasing versions, starting at 1 or above.
        name: Label used in error messages (``"graph"``, ``"insights"``...).
        busy_timeout: Seconds to wait for another process's write lock before failing.

    Raises:
        ConfigError: The migration versions are not strictly increasing positive integers.
        StorageError: The file cannot be opened, a migration failed, or the file was written by
            a newer memagents.

    Example:
        >>> from memagents.stores.sqlite import Database, Migration
        >>> db = Database(":memory:", migrations=[Migration(1, "CREATE TABLE t (x INTEGER)")])
        >>> with db.transaction("add numbers") as conn:
        ...     _ = conn.executemany("INSERT INTO t VALUES (?)", [(1,), (2,)])
        >>> [row["x"] for row in db.query("SELECT x FROM t ORDER BY x")]
        [1, 2]
        >>> db.set_meta("embeddings", {"spec": "hash", "dim": 512})
        >>> db.get_meta("embeddings")["dim"]
        512
        >>> db.close()
    """

    def __init__(
        self,
        path: str | Path,
        *,
        migrations: Sequence[Migration] = (),
        name: str = "memagents",
        busy_timeout: float = 30.0,
    ) -> None:
        self._migrations = _check_migrations(migrations)
        self._name = name
        self._memory = str(path) == ":memory:"
        self._path = str(path) if self._memory else str(Path(path))
        self._lock = threading.RLock()
        self._depth = 0
        self._conn: sqlite3.Connection | None = None
        try:
            if not self._memory:
                Path(self._path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self._path, check_same_thread=False, isolation_level=None, timeout=busy_timeout
            )
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL").fetchone()
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
        except (sqlite3.Error, OSError) as exc:
            raise StorageError(
                f"cannot open the {name} database at {self._path} ({exc}); check that the path "
                "is a writable folder on a local disk and the file is a SQLite database."
            ) from exc
        self._conn = conn
        try:
            self._migrate()
        except BaseException:
            self.close()
            raise

    # -- properties -------------------------------------------------------------------------

    @property
    def path(self) -> str:
        """The database file path, or ``":memory:"``."""
        return self._path

    @property
    def name(self) -> str:
        """The label used in error messages."""
        return self._name

    @property
    def version(self) -> int:
        """The schema version (``PRAGMA user_version``)."""
        row = self.query_one("PRAGMA user_version")
        return int(row[0]) if row is not None else 0

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._conn is None

    @property
    def in_transaction(self) -> bool:
        """Whether a :meth:`transaction` block is open (in any thread)."""
        return self._depth > 0

    # -- transactions -----------------------------------------------------------------------

    @contextmanager
    def transaction(self, operation: str = "write") -> Iterator[sqlite3.Connection]:
        """Run a batch of statements atomically: ``with db.transaction("add passages") as conn:``.

        The outermost block starts with ``BEGIN IMMEDIATE`` (taking the write lock up front) and
        commits on success. On *any* exception the batch is rolled back and the exception is
        re-raised: memagents errors unchanged, ``sqlite3`` errors wrapped in
        :class:`~memagents.errors.StorageError` naming ``operation``. A nested block runs in a
        savepoint of the outer transaction: if it fails, only its own statements are undone.

        Args:
            operation: What the batch does, for error messages.

        Yields:
            The connection; use it only inside the block.
        """
        with self._lock:
            conn = self._connection()
            if self._depth > 0:
                savepoint = f"memagents_sp_{self._depth}"
                self._run(operation, conn.execute, f"SAVEPOINT {savepoint}")
                self._depth += 1
                try:
                    yield conn
                except BaseException as exc:  # noqa: BLE001 - roll back on anything, re-raise
                    self._undo(conn, f"ROLLBACK TO {savepoint}", f"RELEASE {savepoint}")
                    self._reraise(exc, operation)
                else:
                    self._run(operation, conn.execute, f"RELEASE {savepoint}")
                finally:
                    self._depth -= 1
                return
            self._run(operation, conn.execute, "BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:  # noqa: BLE001 - roll back on anything, re-raise
                self._undo(conn, "ROLLBACK")
                self._reraise(exc, operation)
            finally:
                self._depth = 0

    # -- helpers ----------------------------------------------------------------------------

    def execute(self, sql: str, params: Params = ()) -> sqlite3.Cursor:
        """Run one statement in its own transaction (or the open one), returning the cursor.

        Read ``rowcount``/``lastrowid`` from the cursor; use :meth:`query` to fetch rows.
        """
        with self.transaction(_operation(sql)) as conn:
            return conn.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Params]) -> int:
        """Run one statement for every parameter set, all in one transaction; return rowcount."""
        with self.transaction(_operation(sql)) as conn:
            return conn.executemany(sql, rows).rowcount

    def query(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """Fetch all rows of a query (rows index by position and by column name)."""
        with self._lock:
            conn = self._connection()
            rows: list[sqlite3.Row] = self._run(
                _operation(sql), lambda: conn.execute(sql, params).fetchall()
            )
            return rows

    def query_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        """Fetch the first row of a query, or ``None``."""
        with self._lock:
            conn = self._connection()
            row: sqlite3.Row | None = self._run(
                _operation(sql), lambda: conn.execute(sql, params).fetchone()
            )
            return row

    def get_meta(self, key: str, default: Any = None) -> Any:
        """Read a JSON value from the database's key/value ``memagents_meta`` table."""
        row = self.query_one(f"SELECT value FROM {META_TABLE} WHERE key = ?", (key,))
        return default if row is None else json.loads(row[0])

    def set_meta(self, key: str, value: Any) -> None:
        """Store a JSON-serialisable value under ``key`` (replacing any previous value)."""
        encoded = json.dumps(value, sort_keys=True)
        self.execute(
            f"INSERT INTO {META_TABLE} (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, encoded),
        )

    def close(self) -> None:
        """Close the connection (idempotent). Later calls raise :class:`StorageError`."""
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.close()
                finally:
                    self._conn = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Database({self._path!r}, name={self._name!r})"

    # -- internals --------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StorageError(
                f"the {self._name} database at {self._path} is closed; open it again."
            )
        return self._conn

    def _run(self, operation: str, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except (sqlite3.Error, UnicodeEncodeError) as exc:
            raise self._wrap(exc, operation) from exc

    @staticmethod
    def _undo(conn: sqlite3.Connection, *statements: str) -> None:
        for statement in statements:
            # SQLite may already have rolled back by itself (e.g. after SQLITE_FULL)
            with contextlib.suppress(sqlite3.Error):
                conn.execute(statement)

    def _reraise(self, exc: BaseException, operation: str) -> NoReturn:
        wrapped = self._wrap(exc, operation)
        if wrapped is exc:
            raise exc
        raise wrapped from exc

    def _wrap(self, exc: BaseException, operation: str) -> BaseException:
        if isinstance(exc, UnicodeEncodeError):  # a lone surrogate in a bound string
            return InputError(
                f"{operation} failed on the {self._name} database: a string holds "
                f"{exc.object[exc.start : exc.end]!r}, a lone UTF-16 surrogate (half of a "
                "character, e.g. a broken emoji) that cannot be stored as UTF-8; remove it. "
                "Nothing was written."
            )
        if isinstance(exc, MemagentsError) or not isinstance(exc, sqlite3.Error):
            return exc
        if isinstance(exc, sqlite3.IntegrityError):
            hint = "a constraint was violated (duplicate key or missing reference)"
        elif "locked" in str(exc) or "busy" in str(exc):
            hint = "another process is writing; close it or retry later"
        else:
            hint = "check the disk and the file's permissions"
        return StorageError(
            f"{operation} failed on the {self._name} database at {self._path}: {exc}; "
            f"{hint}. The batch was rolled back: nothing was written."
        )

    def _migrate(self) -> None:
        current = self.version
        known = self._migrations[-1].version if self._migrations else 0
        if current > known:
            raise StorageError(
                f"the {self._name} database at {self._path} has schema version {current}, but "
                f"this memagents knows versions up to {known}; upgrade memagents "
                "(pip install -U memagents) to open it."
            )
        with self.transaction("create the meta table") as conn:
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {META_TABLE} "
                "(key TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )
        for step in self._migrations:
            if step.version <= current:
                continue
            label = f"migration {step.version}" + (
                f" ({step.description})" if step.description else ""
            )
            with self.transaction(label) as conn:
                if callable(step.sql):
                    step.sql(conn)
                else:
                    for statement in _split_statements(step.sql):
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {int(step.version)}")


def _check_migrations(migrations: Sequence[Migration]) -> tuple[Migration, ...]:
    steps = tuple(migrations)
    previous = 0
    for step in steps:
        if not isinstance(step, Migration):
            raise ConfigError(f"migrations must be Migration objects, got {type(step).__name__}.")
        if isinstance(step.version, bool) or not isinstance(step.version, int):
            raise ConfigError(f"migration version must be an int, got {step.version!r}.")
        if step.version <= previous:
            raise ConfigError(
                f"migration versions must be strictly increasing positive integers; got "
                f"{step.version} after {previous}. Renumber the migrations."
            )
        previous = step.version
    return steps


def _split_statements(script: str) -> list[str]:
    """Split SQL text into complete statements (``executescript`` would COMMIT implicitly)."""
    statements: list[str] = []
    buffer = ""
    for part in script.split(";"):
        buffer += part + ";"
        if sqlite3.complete_statement(buffer):
            if buffer.strip(" \t\r\n;"):
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip(" \t\r\n;"):
        statements.append(buffer.rstrip(";").strip())  # the last statement had no semicolon
    return statements


def _operation(sql: str) -> str:
    words = sql.split()
    return " ".join(words[:3]) if words else "statement"
