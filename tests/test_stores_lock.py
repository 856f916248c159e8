"""Tests for memagents.stores.lock: one process per memory folder, released when it dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from memagents.errors import StorageError, StoreLockedError
from memagents.stores.lock import LOCK_FILENAME, OWNER_FILENAME, FolderLock

HOLDER = """
import sys
from memagents.stores.lock import FolderLock
lock = FolderLock(sys.argv[1])
lock.acquire()
print("ready", flush=True)
sys.stdin.readline()          # hold until the parent says so (or kills us)
lock.release()
print("released", flush=True)
"""


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """A child process holding the lock on tmp_path/mem."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path / "mem")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def test_other_process_is_refused_with_its_pid(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    lock = FolderLock(tmp_path / "mem")
    with pytest.raises(StoreLockedError) as info:
        lock.acquire()
    message = str(info.value)
    assert f"process {holder.pid} " in message
    assert str(tmp_path / "mem") in message
    # what is true of a memory folder: no read-only mode, no server to point at
    assert "Chroma server" not in message and "read-only" not in message
    assert "Wait for that process" in message and "another folder" in message
    assert isinstance(info.value, StorageError)
    assert not lock.is_held
    t0 = time.monotonic()
    with pytest.raises(StoreLockedError):
        lock.acquire(timeout=0.3)  # waits, then gives up
    assert time.monotonic() - t0 >= 0.25


def test_acquired_after_holder_exits(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    assert holder.stdin is not None and holder.stdout is not None
    lock = FolderLock(tmp_path / "mem")
    with pytest.raises(StoreLockedError):
        lock.acquire()
    holder.stdin.write("go\n")
    holder.stdin.flush()
    assert holder.stdout.readline().strip() == "released"
    lock.acquire(timeout=10)
    assert lock.is_held
    assert lock.owner()["pid"] == os.getpid()
    lock.release()
    assert not (tmp_path / "mem" / OWNER_FILENAME).exists()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_acquired_after_holder_is_killed(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    lock = FolderLock(tmp_path / "mem")
    with pytest.raises(StoreLockedError, match=str(holder.pid)):
        lock.acquire()
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=10)
    assert lock.owner()["pid"] == holder.pid  # the stale record is still there...
    lock.acquire(timeout=10)  # ...but the OS released the lock itself
    assert lock.is_held and lock.owner()["pid"] == os.getpid()
    lock.release()


def test_waiting_acquire_succeeds_when_released(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    assert holder.stdin is not None
    threading.Timer(0.3, lambda: (holder.stdin.write("go\n"), holder.stdin.flush())).start()
    lock = FolderLock(tmp_path / "mem")
    lock.acquire(timeout=15)
    assert lock.is_held
    lock.release()


def test_reentrant_within_one_object(tmp_path: Path) -> None:
    lock = FolderLock(tmp_path / "f")
    other = FolderLock(tmp_path / "f")
    with lock:
        lock.acquire()
        lock.release()
        assert lock.is_held  # still held once
        with pytest.raises(StoreLockedError, match="this process"):
            other.acquire()
        with pytest.raises(StoreLockedError):
            other.acquire(timeout=-1)  # a blocking wait would deadlock: refused instead
    assert not lock.is_held
    other.acquire()
    other.release()
    lock.release()  # releasing a free lock is a no-op
    assert (tmp_path / "f" / LOCK_FILENAME).exists()


def test_release_from_another_thread(tmp_path: Path) -> None:
    lock = FolderLock(tmp_path / "t")
    lock.acquire()
    worker = threading.Thread(target=lock.release)
    worker.start()
    worker.join()
    assert not lock.is_held
    with FolderLock(tmp_path / "t") as again:
        assert again.is_held


def test_owner_record_contents(tmp_path: Path) -> None:
    with FolderLock(tmp_path / "o") as lock:
        info = lock.owner()
        assert info is not None
        assert info["pid"] == os.getpid()
        assert info["host"]
        assert info["since"]
    assert lock.owner() is None
