"""A real PostgreSQL server for the Postgres tests (a pytest plugin).

Register it in a test module with ``pytest_plugins = ["conftest_postgres"]``. The server is
started once per session by :class:`~memagents.stores.postgres_server.TemporaryPostgres`
(``initdb`` + ``pg_ctl`` in a temporary folder, on a free loopback port) and stopped at the
end. Without PostgreSQL's server programs, or without psycopg, the tests that use it are
skipped with a message saying what to install (``make test`` installs both where it can).

Fixtures:

* ``postgres_server``: the running server (session);
* ``postgres_url``: the URL of a fresh, empty memory for one test (a schema of its own in the
  session's test database: creating one takes a millisecond, a database a quarter second);
* ``postgres_databases``: ``folder -> URL``, one fresh memory per distinct folder, for
  running folder-based tests on Postgres.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from memagents.stores.postgres_server import INSTALL_HINT, TemporaryPostgres, find_postgres_bin

_NAMES = itertools.count()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[TemporaryPostgres]:
    """One PostgreSQL server for the whole session (or a skip naming what to install)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed: pip install 'memagents[postgres]' (or make test)")
    if find_postgres_bin() is None:
        pytest.skip(INSTALL_HINT)
    server = TemporaryPostgres()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: TemporaryPostgres) -> str:
    """A fresh, empty memory (schema) for this test."""
    return postgres_server.create_schema(f"t{next(_NAMES)}")


@pytest.fixture
def postgres_databases(postgres_server: TemporaryPostgres) -> Callable[[str | Path], str]:
    """``url_for(folder)``: the same fresh database every time for the same folder."""
    urls: dict[str, str] = {}

    def url_for(folder: str | Path) -> str:
        key = str(Path(folder).resolve())
        if key not in urls:
            urls[key] = postgres_server.create_schema(f"t{next(_NAMES)}")
        return urls[key]

    return url_for
