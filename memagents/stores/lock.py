"""An exclusive, inter-process lock on a memory folder.

An embedded memory (SQLite in WAL mode plus a Chroma ``PersistentClient`` or a numpy index) is
safe for one writing process at a time. :class:`FolderLock` makes that rule explicit: the first
process to open a memory folder takes an OS-level lock (``fcntl.flock`` on POSIX, via the
`filelock <https://py-filelock.readthedocs.io>`_ package) on ``FOLDER/.memagents.lock`` and
records who it is in ``FOLDER/.memagents.owner``. A second process gets a
:class:`~memagents.errors.StoreLockedError` naming the holder instead of corrupting the store.

The operating system drops the lock when the holding process dies, even on ``SIGKILL``, so a
crash never leaves a memory folder locked. A stale ``.memagents.owner`` file may remain after a
crash; it is only informational and is overwritten by the next holder.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

import filelock
from typing_extensions import Self

from memagents.errors import StorageError, StoreLockedError

__all__ = ["LOCK_FILENAME", "OWNER_FILENAME", "FolderLock"]

LOCK_FILENAME = ".memagents.lock"
"""Name of the lock file created inside a memory folder."""

OWNER_FILENAME = ".memagents.owner"
"""Name of the JSON file that records the current holder (pid, host, start time)."""


class FolderLock:
    """Exclusive inter-process lock on a memory folder.

    Re-entrant within one ``FolderLock`` object: each :meth:`acquire` must be paired with a
    :meth:`release`, and the lock is given up when the count drops to zero. The object may be
    acquired in one thread and released in another (``asyncio.to_thread`` callers). A *different*
    ``FolderLock`` object on the same folder, even in the same process, contends like another
    process would.

    Args:
        folder: The memory folder; created if missing.

    Example:
        >>> import tempfile
        >>> from memagents.stores.lock import FolderLock
        >>> folder = tempfile.mkdtemp()
        >>> with FolderLock(folder) as lock:
        ...     lock.is_held
        True
        >>> lock.is_held
        False
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self._folder = Path(folder)
        try:
            self._folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(
                f"cannot create memory folder {self._folder} ({exc}); check the path and its "
                "permissions."
            ) from exc
        self._lock = filelock.FileLock(
            self._folder / LOCK_FILENAME,
            thread_local=False,  # acquire and release may happen on different threads
            fallback_to_soft=False,  # a soft lock would survive a crash; refuse instead
            preserve_lock_file=True,  # a stable path: no unlink races between holders
        )
        self._mutex = threading.RLock()

    @property
    def folder(self) -> Path:
        """The locked folder."""
        return self._folder

    @property
    def lock_path(self) -> Path:
        """Path of the lock file (``FOLDER/.memagents.lock``)."""
        return self._folder / LOCK_FILENAME

    @property
    def owner_path(self) -> Path:
        """Path of the owner record (``FOLDER/.memagents.owner``)."""
        return self._folder / OWNER_FILENAME

    @property
    def is_held(self) -> bool:
        """Whether this object currently holds the lock."""
        return bool(self._lock.is_locked)

    def acquire(self, timeout: float = 0) -> None:
        """Take the lock, or raise if another holder has it.

        Args:
            timeout: Seconds to wait for the lock. ``0`` (default) makes one attempt; a negative
                value waits indefinitely.

        Raises:
            StoreLockedError: Another process (or another ``FolderLock`` object) holds the folder.
            StorageError: The lock file cannot be created or locked (permissions, a filesystem
                without ``flock`` support).
        """
        with self._mutex:
            first = not self._lock.is_locked
            try:
                if timeout == 0:
                    self._lock.acquire(blocking=False)
                else:
                    self._lock.acquire(timeout=timeout)
            except filelock.Timeout:
                raise self._locked_error() from None
            except RuntimeError as exc:
                if "Deadlock" in str(exc):  # a blocking wait on a lock held by this very thread
                    raise self._locked_error() from None
                raise
            except OSError as exc:
                raise StorageError(
                    f"cannot lock memory folder {self._folder} ({exc}); check its permissions, "
                    "and use a local filesystem that supports file locks."
                ) from exc
            if first:
                self._write_owner()

    def release(self) -> None:
        """Give up one level of the lock; the last release unlocks the folder.

        Releasing a lock that is not held is a no-op.
        """
        with self._mutex:
            if not self._lock.is_locked:
                return
            if self._lock.lock_counter <= 1:
                with contextlib.suppress(OSError):  # informational file only
                    self.owner_path.unlink(missing_ok=True)
            self._lock.release()

    def owner(self) -> dict[str, Any] | None:
        """The holder recorded in ``FOLDER/.memagents.owner``: ``pid``, ``host``, ``since``.

        Returns ``None`` when no record exists or it is unreadable. The record may be stale if
        its holder crashed; :meth:`acquire` is the only reliable test.
        """
        try:
            data = json.loads(self.owner_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _write_owner(self) -> None:
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "started_at": time.time(),
        }
        try:
            fd, tmp = tempfile.mkstemp(dir=self._folder, prefix=".memagents.owner.", suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(record, fh)
            os.replace(tmp, self.owner_path)
        except OSError:
            pass  # the lock itself is what matters; the record only improves error messages

    def _locked_error(self) -> StoreLockedError:
        info = self.owner() or {}
        pid = info.get("pid")
        host = info.get("host")
        since = info.get("since")
        who = "another process" if pid is None else f"process {pid}"
        if host is not None:
            who += f" on {host}"
        if since is not None:
            who += f" (since {since})"
        if pid == os.getpid() and host == socket.gethostname():
            return StoreLockedError(
                f"memory folder {self._folder} is already open in this process (pid {pid}): a "
                "memory folder can be open once at a time; close the other handle first, or "
                "use another folder."
            )
        return StoreLockedError(
            f"memory folder {self._folder} is in use by {who}: one process at a time can open "
            "a memory folder. Wait for that process to finish or close it, or use another "
            "folder."
        )

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        state = "held" if self.is_held else "free"
        return f"FolderLock({str(self._folder)!r}, {state})"
