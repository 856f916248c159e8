"""Guard the public facade: `memagents.__all__` is sorted, complete and importable."""

from __future__ import annotations

import importlib

import pytest

import memagents

PACKAGES = [
    "memagents",
    "memagents.base",
    "memagents.models",
    "memagents.stores",
    "memagents.testing",
    "memagents.sample",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_resolvable(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported), f"{name}.__all__ must be sorted"
    assert len(set(exported)) == len(exported), f"{name}.__all__ has duplicates"
    for symbol in exported:
        assert hasattr(module, symbol), f"{name}.__all__ names {symbol!r} but it is missing"


def test_facade_exports_every_public_name() -> None:
    public = {
        n
        for n in dir(memagents)
        if not n.startswith("_") and not isinstance(getattr(memagents, n), type(memagents))
    }
    public -= {"annotations"}
    assert public == set(memagents.__all__)


def test_facade_members_snapshot() -> None:
    # Changing the public surface is a deliberate act: update this list with the change.
    assert memagents.__all__ == EXPECTED


EXPECTED = [
    "AddResult",
    "BackendError",
    "BudgetExceeded",
    "ConfigError",
    "DeleteResult",
    "EmbeddingError",
    "GraphMemory",
    "Hit",
    "InputError",
    "LLMError",
    "MemagentsError",
    "Memory",
    "NamespaceError",
    "SearchHits",
    "Settings",
    "StorageError",
    "StoreLockedError",
    "WebFetchError",
    "get_settings",
]


def test_import_memagents_is_cheap() -> None:
    """``import memagents`` loads no heavy library; names load their modules when used."""
    import subprocess
    import sys

    code = (
        "import sys, memagents; "
        "heavy = [m for m in ('scipy', 'langgraph', 'torch', 'langchain_core', 'chromadb', "
        "'numpy', 'pydantic_settings') if m in sys.modules]; "
        "print(heavy); memagents.GraphMemory; print('scipy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["[]", "True"], out.stdout + out.stderr


def test_lazy_facade_knows_where_each_name_lives() -> None:
    assert set(memagents._WHERE) == set(memagents.__all__)
