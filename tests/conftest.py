"""Test-wide safety net and shared fixtures.

- The network guard is installed for the whole session (from ``pytest_configure``, so imports at
  collection time are covered too, and re-armed before each test): any non-loopback connection
  raises ``NetworkBlockedError``.
- Telemetry and hub downloads are switched off before anything imports chromadb or HF libraries.
- ``clean_environ`` (autouse) strips OpenAI, ``MEMAGENTS_*`` and proxy variables from every test.
- Fixtures: ``openai_server`` (a fresh loopback :class:`~memagents.testing.OpenAIServer`) and
  ``shared_data`` (the shared evaluation data folder, or a skip).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from memagents.config import shared_data_dir
from memagents.testing import OpenAIServer, install_network_guard, uninstall_network_guard

os.environ["ANONYMIZED_TELEMETRY"] = "False"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


def pytest_configure(config: pytest.Config) -> None:
    install_network_guard()


def pytest_unconfigure(config: pytest.Config) -> None:
    uninstall_network_guard()


@pytest.fixture(autouse=True)
def _network_guard() -> None:
    """Re-arm the session guard before every test.

    pytest-socket (pulled in by langchain-tests) puts the real ``socket.socket.connect`` back
    after each test; re-installing is cheap and idempotent.
    """
    install_network_guard()


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove ``OPENAI_*``, ``MEMAGENTS_*`` (but ``MEMAGENTS_DATA_DIR``) and proxy variables for the duration of a test."""
    for name in list(os.environ):
        upper = name.upper()
        if upper == "MEMAGENTS_DATA_DIR":  # where the shared evaluation data lives
            continue
        if upper.startswith(("OPENAI_", "MEMAGENTS_")) or upper in _PROXY_VARS:
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    """A running loopback OpenAI-compatible server, fresh for each test."""
    with OpenAIServer() as server:
        yield server


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared evaluation data folder (``MEMAGENTS_DATA_DIR`` or ``../shared/data``)."""
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(
            f"shared data not found at {path}: set MEMAGENTS_DATA_DIR to the folder "
            "holding musique/, popqa/ and browse_qa/ to run this test"
        )
    return path


@pytest.fixture
def no_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    """matplotlib imports fail for this test, as if it were not installed (every already
    imported submodule is blocked too, so test order cannot matter)."""
    import sys

    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
