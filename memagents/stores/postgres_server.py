"""A throwaway PostgreSQL server in a temporary folder, for tests, benchmarks and trials.

:class:`TemporaryPostgres` runs ``initdb`` and ``pg_ctl`` from the machine's PostgreSQL (found
on ``PATH`` or in ``/usr/lib/postgresql/*/bin``; Debian/Ubuntu: ``apt-get install postgresql``)
in a new folder, listening on a free loopback port with trust authentication, and removes
everything on :meth:`~TemporaryPostgres.stop`. PostgreSQL refuses to run as root, so under root
the server runs as the ``postgres`` user (or ``nobody``). Durability settings are relaxed
(``fsync=off``): a killed server loses nothing, a crashed machine might.

Example:
    >>> from memagents.stores.postgres_server import find_postgres_bin
    >>> find_postgres_bin() is None or (find_postgres_bin() / "pg_ctl").exists()
    True
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from typing_extensions import Self

from memagents.errors import ConfigError, StorageError

__all__ = ["INSTALL_HINT", "TemporaryPostgres", "find_postgres_bin"]

INSTALL_HINT = (
    "PostgreSQL's server programs (initdb, pg_ctl, postgres) were not found: install them "
    "with `apt-get install postgresql` (Debian/Ubuntu) or put their folder on PATH."
)


def find_postgres_bin() -> Path | None:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``, or None."""
    found = shutil.which("pg_ctl")
    candidates = [Path(found).resolve().parent] if found else []
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for folder in candidates:
        if all((folder / name).exists() for name in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


class TemporaryPostgres:
    """A PostgreSQL server of its own, on ``127.0.0.1`` and a free port.

    Args:
        bin_dir: Folder of ``initdb``/``pg_ctl`` (default: :func:`find_postgres_bin`).
        user: The database superuser created by ``initdb`` (no password: trust auth).

    Raises:
        ConfigError: PostgreSQL is not installed (the message says how to install it).
        StorageError: ``initdb`` or the server failed (the message holds its log).
    """

    def __init__(self, bin_dir: str | Path | None = None, *, user: str = "memagents") -> None:
        folder = Path(bin_dir) if bin_dir is not None else find_postgres_bin()
        if folder is None:
            raise ConfigError(INSTALL_HINT)
        self.bin = folder
        self.user = user
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="memagents-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._owner = _unprivileged_owner()
        if self._owner is not None:
            os.chown(self.root, self._owner.pw_uid, self._owner.pw_gid)
        self._running = False
        try:
            self._run("initdb", "-D", str(self.data), "-U", user, "--auth=trust", "-E", "UTF8",
                      "--no-locale", "--no-sync")
            self.start()
        except BaseException:
            self.stop()
            raise

    def url(self, dbname: str = "postgres") -> str:
        """The URL of database ``dbname`` on this server."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def start(self) -> None:
        """Start the server (waits until it accepts connections)."""
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c full_page_writes=off -c max_connections=100")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w",
                  "-t", "60", "start")
        self._running = True

    def restart(self, mode: str = "fast") -> None:
        """Restart the server, ending every client connection (``mode``: fast, immediate)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")
        self._running = False
        self.start()

    def create_database(self, name: str) -> str:
        """Create database ``name``; return its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def create_schema(self, name: str, dbname: str = "postgres") -> str:
        """Create schema ``name`` in database ``dbname``; return a URL whose connections use
        it (``options=-csearch_path=name``): a fresh, empty memory in a millisecond."""
        import psycopg

        with psycopg.connect(self.url(dbname), autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        return f"{self.url(dbname)}?options=-csearch_path%3D{name}"

    def stop(self) -> None:
        """Stop the server and delete its folder (idempotent)."""
        if self._running:
            with contextlib.suppress(StorageError):
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
            self._running = False
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"TemporaryPostgres(port={self.port}, root={str(self.root)!r})"

    def _run(self, program: str, *args: str) -> None:
        kwargs = {}
        if self._owner is not None:
            kwargs = {"user": self._owner.pw_uid, "group": self._owner.pw_gid,
                      "extra_groups": []}
        done = subprocess.run(
            [str(self.bin / program), *args], capture_output=True, text=True, timeout=120,
            cwd=self.root, check=False, **kwargs,  # type: ignore[arg-type]
        )
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise StorageError(
                f"{program} failed ({done.returncode}): {(done.stderr or done.stdout).strip()}"
                + (f"\nserver log:\n{log}" if log else "")
            )


def _unprivileged_owner() -> pwd.struct_passwd | None:
    """Who runs the server when we are root (PostgreSQL refuses root), else None."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise ConfigError("running as root with no 'postgres' or 'nobody' user to run PostgreSQL as.")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
