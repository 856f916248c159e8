"""The graph-memory test suite again, on Postgres.

The behaviour tests of ``test_graphmem_memory.py`` (ingest, persistence, equivalences,
namespaces, faults, bad input), the knowledge-index tests and the ingest hardening tests are
imported here and run with every ``GraphMemory.open(folder, ...)`` redirected to a Postgres
database of its own (one fresh database per folder, so reopening a folder reopens its
database). Their SQLite runs stay in their own modules. Left out, with the reason: the tests
of what only a folder memory has (the folder lock, a second process refused, folder paths).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from test_graphmem_knowledge import *
from test_graphmem_memory import *
from test_graphmem_memory import IDS, PASSAGES, _open
from test_hardening_ingest import (  # noqa: F401
    test_a_bad_llm_reply_fails_its_passage_only_and_never_blocks_later_adds,
    test_a_custom_extractor_returning_surrogates_fails_that_passage_only,
    test_a_genuinely_empty_extraction_is_indexed_and_reported,
    test_async_add_fails_a_bad_reply_alone,
    test_bad_metadata_is_refused_at_add_and_changes_nothing,
    test_get_accepts_one_id_string_and_refuses_none,
    test_legacy_unstorable_cached_triples_fail_alone,
    test_lone_surrogates_in_user_input_give_a_clear_error_and_change_nothing,
    test_metadata_at_the_depth_limit_is_stored,
    test_schema_invalid_extraction_is_reasked_then_failed_and_never_cached,
)

from memagents.errors import InputError
from memagents.graphmem import GraphMemory

pytest_plugins = ["conftest_postgres"]

FOLDER_ONLY = {
    "test_second_process_cannot_open_the_same_folder": "the folder lock: Postgres has none",
    "test_reopen_in_another_process_gives_the_same_results": "its child process opens the "
    "folder; worker processes sharing a Postgres memory: test_graphmem_postgres_workers.py",
}
for _name in FOLDER_ONLY:
    globals().pop(_name, None)


@pytest.fixture(autouse=True)
def _on_postgres(postgres_databases: Callable[[str | Path], str]) -> Iterator[None]:
    """Every ``GraphMemory.open(folder, ...)`` of the imported tests opens the folder's own
    Postgres database (with a patcher of its own: a test's ``monkeypatch.undo()`` keeps it)."""
    real = GraphMemory.open.__func__  # type: ignore[attr-defined]

    def open_on_postgres(cls: type[GraphMemory], folder: Any = None, **kw: Any) -> GraphMemory:
        kw.setdefault("database_url", postgres_databases(folder))
        return real(cls, folder, **kw)  # type: ignore[no-any-return]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(GraphMemory, "open", classmethod(open_on_postgres))
        yield


def test_the_suite_really_runs_on_postgres(tmp_path: Path) -> None:
    with _open(tmp_path) as memory:
        assert memory.db.shared and memory.db.location.startswith("postgresql://")
        assert not (tmp_path / "memory.db").exists()
        memory.add_triples(PASSAGES[:3], ids=IDS[:3])
        assert memory.db.counts("default")["indexed"] == 3


def test_postgres_refuses_nul_characters_with_an_input_error(tmp_path: Path) -> None:
    with _open(tmp_path) as memory:
        with pytest.raises(InputError, match="NUL"):
            memory.add_triples([("a\x00b", [])], ids=["nul"])
        assert memory.db.counts("default") == {"pending": 0, "failed": 0, "indexed": 0}
