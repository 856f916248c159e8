"""PostgreSQL persistence: the :class:`~memagents.stores.sqlite.Database` interface on a server.

:class:`PostgresDatabase` gives many worker processes one database: the same ``query`` /
``transaction`` / ``get_meta`` / ``set_meta`` calls as the SQLite :class:`Database`, so code
written once in portable SQL (``?`` placeholders, ``INSERT ... ON CONFLICT``) runs on both. It
holds one `psycopg 3 <https://www.psycopg.org/psycopg3/>`_ connection per process (threads
share it under a lock, like the SQLite connection), reconnects by itself after the server
restarted, and runs versioned migrations under an advisory lock so that workers starting
together migrate once.

Writes go through :meth:`PostgresDatabase.transaction`: all or nothing, nested blocks become
savepoints. :meth:`PostgresDatabase.snapshot` reads in one ``REPEATABLE READ`` snapshot, and
:meth:`PostgresDatabase.advisory_lock` takes a transaction-scoped advisory lock, the way workers
serialise their writes to shared state instead of a folder lock.

``psycopg`` is imported when a database is opened (``pip install 'memagents[postgres]'``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import Any, NoReturn

from typing_extensions import Self

from memagents.errors import ConfigError, InputError, MemagentsError, StorageError
from memagents.stores.sqlite import META_TABLE, Migration

__all__ = ["LOCK_CLASS", "PostgresDatabase", "is_postgres_url", "safe_url"]

SCHEMA_TABLE = "memagents_schema"
"""One row per named schema (``name``, ``version``): the server-side ``PRAGMA user_version``."""
LOCK_CLASS = 0x6D656D
"""First key of every advisory lock memagents takes (``pg_advisory_xact_lock(LOCK_CLASS, n)``),
so its locks never collide with another application's single-key locks."""
_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(url: object) -> bool:
    """True for a ``postgresql://`` (or ``postgres://``) URL.

    >>> is_postgres_url("postgresql://me@127.0.0.1:5432/memory"), is_postgres_url("./data")
    (True, False)
    """
    return isinstance(url, str) and url.strip().lower().startswith(_SCHEMES)


def safe_url(url: str) -> str:
    """The URL without its password, for messages and logs.

    >>> safe_url("postgresql://ada:secret@db.local:5433/mem?sslmode=require")
    'postgresql://ada@db.local:5433/mem'
    """
    try:
        from psycopg.conninfo import conninfo_to_dict
    except ImportError:  # pragma: no cover - psycopg missing: keep only scheme and host part
        return url.split("@")[-1].split("?")[0]
    try:
        parts = conninfo_to_dict(url)
    except Exception:  # noqa: BLE001 - any parse failure: show nothing secret
        return "postgresql://(unparsable URL)"
    user = f"{parts['user']}@" if parts.get("user") else ""
    host = str(parts.get("host") or "localhost")
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"postgresql://{user}{host}{port}/{parts.get('dbname') or ''}"


class PostgresDatabase:
    """A PostgreSQL database with migrations and all-or-nothing batch writes.

    Args:
        url: ``postgresql://user:password@host:port/dbname`` (any libpq parameter may follow
            as ``?key=value``; ``options=-csearch_path=NAME`` keeps a memory in its own schema).
        migrations: Schema steps with strictly increasing versions (SQL text or a callable
            taking the transaction's connection).
        name: Label of the schema (its row in ``memagents_schema``) and in error messages.
        connect_timeout: Seconds to wait for the server when (re)connecting.

    Raises:
        ConfigError: ``psycopg`` is not installed, or the URL is not a Postgres URL.
        StorageError: The server cannot be reached, a migration failed, or the schema was
            written by a newer memagents.

    Example:
        >>> from memagents.stores.postgres import PostgresDatabase
        >>> PostgresDatabase("./memory.db")
        Traceback (most recent call last):
        ...
        memagents.errors.ConfigError: './memory.db' is not a Postgres URL: use postgresql://USER:PASSWORD@HOST:PORT/DBNAME.
    """

    dialect = "postgres"

    def __init__(
        self,
        url: str,
        *,
        migrations: Sequence[Migration] = (),
        name: str = "memagents",
        connect_timeout: float = 10.0,
    ) -> None:
        if not is_postgres_url(url):
            raise ConfigError(
                f"{url!r} is not a Postgres URL: use postgresql://USER:PASSWORD@HOST:PORT/DBNAME."
            )
        try:
            import psycopg
        except ImportError:
            raise ConfigError(
                "a postgresql:// database needs psycopg 3: pip install 'memagents[postgres]' "
                "(or pip install 'psycopg[binary]')."
            ) from None
        self._psycopg = psycopg
        self._url = url.strip()
        self._where = safe_url(self._url)
        self._name = name
        self._timeout = max(1, round(connect_timeout))
        self._migrations = tuple(migrations)
        self._lock = threading.RLock()
        self._depth = 0
        self._conn: Any = None
        self._closed = False
        self._sql: dict[str, str] = {}
        self._connect()
        try:
            self._migrate()
        except BaseException:
            self.close()
            raise

    # -- properties -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The URL without its password."""
        return self._where

    @property
    def dsn(self) -> str:
        """The URL as given, password included: for opening another connection to the same
        database (never shown to users: :attr:`url` is)."""
        return self._url

    @property
    def name(self) -> str:
        """The label used in error messages."""
        return self._name

    @property
    def lock(self) -> threading.RLock:
        """The lock every use of the connection holds (re-entrant; hold it to make several
        calls one step for the threads of this process)."""
        return self._lock

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    @property
    def version(self) -> int:
        """The schema version of ``name``."""
        row = self.query_one(f"SELECT version FROM {SCHEMA_TABLE} WHERE name = ?", (self._name,))
        return int(row[0]) if row else 0

    def has_extension(self, extension: str, *, create: bool = False) -> bool:
        """Whether ``extension`` is installed in the database (``create``: install it if the
        server has it and the user may; a refusal is not an error)."""
        if self.query_one("SELECT 1 FROM pg_extension WHERE extname = ?", (extension,)):
            return True
        if not create or not self.query_one(
            "SELECT 1 FROM pg_available_extensions WHERE name = ?", (extension,)
        ):
            return False
        try:
            with self.transaction(f"create extension {extension}") as conn:
                conn.execute(f'CREATE EXTENSION IF NOT EXISTS "{extension}"')
        except StorageError:
            return False
        return True

    # -- transactions -----------------------------------------------------------------------

    @contextmanager
    def transaction(self, operation: str = "write") -> Iterator[_Conn]:
        """Run a batch atomically: ``with db.transaction("add passages") as conn:``.

        Commits on success; on *any* exception rolls back and re-raises (psycopg errors wrapped
        in :class:`~memagents.errors.StorageError` naming ``operation``). A nested block is a
        savepoint of the outer transaction.
        """
        with self._lock:
            conn = self._connection()
            self._depth += 1
            try:
                with conn.transaction():
                    yield _Conn(self, conn, operation)
            except BaseException as exc:  # noqa: BLE001 - rolled back by psycopg; re-raise
                self._reraise(exc, operation)
            finally:
                self._depth -= 1

    @contextmanager
    def snapshot(self, operation: str = "read") -> Iterator[_Conn]:
        """Read in one consistent snapshot (``REPEATABLE READ, READ ONLY``): every query inside
        sees the database as it was when the first one ran."""
        with self._lock:
            if self._depth:
                with self.transaction(operation) as conn:  # already inside one: join it
                    yield conn
                return
            conn = self._connection()
            self._depth += 1
            try:
                with conn.transaction():
                    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    yield _Conn(self, conn, operation)
            except BaseException as exc:  # noqa: BLE001
                self._reraise(exc, operation)
            finally:
                self._depth -= 1

    @staticmethod
    def advisory_lock(conn: _Conn, key: str) -> None:
        """Take the transaction-scoped advisory lock named ``key`` in the current schema (waits
        for its holder; released when the transaction ends, also when the holder dies)."""
        conn.execute(
            "SELECT pg_advisory_xact_lock(?, hashtext(current_schema() || ' ' || ?))",
            (LOCK_CLASS, key),
        )

    # -- helpers ----------------------------------------------------------------------------

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement in its own transaction (or the open one); returns the cursor."""
        with self.transaction(_operation(sql)) as conn:
            return conn.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> int:
        """Run one statement for every parameter set, in one transaction; return rowcount."""
        with self.transaction(_operation(sql)) as conn:
            return int(conn.executemany(sql, rows).rowcount)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Fetch all rows of a query. Outside a transaction a dropped connection is reopened
        and the query retried once (reads are safe to repeat)."""
        with self._lock:
            for attempt in (0, 1):
                conn = self._connection()
                try:
                    return list(conn.execute(self._translate(sql), tuple(params)).fetchall())
                except self._psycopg.OperationalError as exc:
                    if attempt or self._depth or not conn.closed:
                        self._reraise(exc, _operation(sql))
                except BaseException as exc:  # noqa: BLE001
                    self._reraise(exc, _operation(sql))
            raise AssertionError("unreachable")  # pragma: no cover

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        """Fetch the first row of a query, or ``None``."""
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def get_meta(self, key: str, default: Any = None) -> Any:
        """Read a JSON value from the ``memagents_meta`` table."""
        row = self.query_one(f"SELECT value FROM {META_TABLE} WHERE key = ?", (key,))
        return default if row is None else json.loads(row[0])

    def set_meta(self, key: str, value: Any) -> None:
        """Store a JSON-serialisable value under ``key`` (replacing any previous value)."""
        self.execute(
            f"INSERT INTO {META_TABLE} (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value, sort_keys=True)),
        )

    def close(self) -> None:
        """Close the connection (idempotent). Later calls raise :class:`StorageError`."""
        with self._lock:
            self._closed = True
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
        return f"PostgresDatabase({self._where!r}, name={self._name!r})"

    # -- internals --------------------------------------------------------------------------

    def _translate(self, sql: str) -> str:
        """Portable ``?`` placeholders to psycopg's ``%s`` (a literal ``%`` doubled)."""
        out = self._sql.get(sql)
        if out is None:
            out = self._sql[sql] = sql.replace("%", "%%").replace("?", "%s")
        return out

    def _connect(self) -> None:
        try:
            self._conn = self._psycopg.connect(
                self._url, autocommit=True, connect_timeout=self._timeout
            )
        except self._psycopg.Error as exc:
            raise StorageError(
                f"cannot connect to the {self._name} database at {self._where} "
                f"({_first_line(exc)}); check that PostgreSQL is running there and that the URL's "
                "user, password and database name are right."
            ) from exc

    def _connection(self) -> Any:
        if self._closed:
            raise StorageError(
                f"the {self._name} database at {self._where} is closed; open it again."
            )
        if self._conn is None or self._conn.closed:
            if self._depth:  # inside a transaction whose connection died: cannot resume it
                raise StorageError(
                    f"lost the connection to the {self._name} database at {self._where} in the "
                    "middle of a transaction; it was rolled back: retry."
                )
            if self._conn is not None:
                self._conn.close()
            self._connect()
        return self._conn

    def _reraise(self, exc: BaseException, operation: str) -> NoReturn:
        wrapped = self._wrap(exc, operation)
        if wrapped is exc:
            raise exc
        raise wrapped from exc

    def _wrap(self, exc: BaseException, operation: str) -> BaseException:
        pg = self._psycopg
        if isinstance(exc, MemagentsError) or not isinstance(exc, (pg.Error, UnicodeEncodeError)):
            return exc
        done = "The batch was rolled back: nothing was written."
        text = _first_line(exc)
        if isinstance(exc, UnicodeEncodeError) or (
            isinstance(exc, pg.DataError) and ("0x00" in text or "encoding" in text)
        ):
            return InputError(
                f"{operation} failed on the {self._name} database: a string holds a character "
                f"PostgreSQL cannot store ({text}): a NUL character (\\x00) or a lone UTF-16 "
                f"surrogate; remove it. {done}"
            )
        if isinstance(exc, pg.OperationalError) and (self._conn is None or self._conn.closed):
            return StorageError(
                f"{operation} failed: lost the connection to the {self._name} database at "
                f"{self._where} ({text}). {done} Check that PostgreSQL is running; the next call "
                "reconnects (an interrupted add resumes its pending passages)."
            )
        if isinstance(exc, pg.IntegrityError):
            hint = "a constraint was violated (duplicate key or missing reference)"
        elif isinstance(exc, pg.errors.SerializationFailure | pg.errors.DeadlockDetected):
            hint = "another worker wrote the same rows at the same time; retry"
        else:
            hint = "check the server's log"
        return StorageError(
            f"{operation} failed on the {self._name} database at {self._where}: {text}; "
            f"{hint}. {done}"
        )

    def _migrate(self) -> None:
        with self.transaction("create the schema table") as conn:
            self.advisory_lock(conn, f"migrate {self._name}")
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} "
                "(name TEXT PRIMARY KEY, version INTEGER NOT NULL)"
            )
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {META_TABLE} (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )
            row = conn.execute(
                f"SELECT version FROM {SCHEMA_TABLE} WHERE name = ?", (self._name,)
            ).fetchone()
            current = int(row[0]) if row else 0
            known = self._migrations[-1].version if self._migrations else 0
            if current > known:
                raise StorageError(
                    f"the {self._name} database at {self._where} has schema version {current}, "
                    f"but this memagents knows versions up to {known}; upgrade memagents "
                    "(pip install -U memagents) to open it."
                )
            for step in self._migrations:
                if step.version <= current:
                    continue
                with self.transaction(f"migration {step.version} ({step.description})") as inner:
                    if callable(step.sql):
                        step.sql(inner)  # type: ignore[arg-type]
                    else:
                        for statement in step.sql.split(";"):
                            if statement.strip():
                                inner.execute(statement)
                    inner.execute(
                        f"INSERT INTO {SCHEMA_TABLE} (name, version) VALUES (?, ?) "
                        "ON CONFLICT (name) DO UPDATE SET version = excluded.version",
                        (self._name, step.version),
                    )


class _Conn:
    """The connection handed to a transaction block: ``execute`` / ``executemany`` with
    portable ``?`` placeholders, returning psycopg cursors (``rowcount``, ``fetchall``)."""

    def __init__(self, db: PostgresDatabase, conn: Any, operation: str) -> None:
        self._db, self._conn, self.operation = db, conn, operation

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._conn.execute(self._db._translate(sql), tuple(params))

    def savepoint(self) -> Any:
        """A nested block of the transaction: on failure only its statements are undone."""
        return self._db.transaction(self.operation)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Any:
        cur = self._conn.cursor()
        cur.executemany(self._db._translate(sql), [tuple(r) for r in rows])
        return cur


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _operation(sql: str) -> str:
    words = sql.split()
    return " ".join(words[:3]) if words else "statement"
