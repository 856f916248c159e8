"""Hardening of the write path (issue 7, items 8, 9, 10, 12 and the namespace part of 13).

Bad strings (lone surrogates), schema-invalid extraction replies, concurrent error
classification and ~30 bad inputs: each gives a clear memagents error or a reported per-passage
failure, leaves the memory unchanged, and never blocks later adds.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from memagents.errors import (
    ConfigError,
    InputError,
    MemagentsError,
    NamespaceError,
    StorageError,
)
from memagents.graphmem import GraphMemory
from memagents.graphmem.extraction import ExtractionOutput, LLMExtractor
from memagents.graphmem.memory import check_namespace
from memagents.models import StructuredLLM
from memagents.models._json import ParseProblem, parse_structured
from memagents.stores import Database, Migration
from memagents.testing import ScriptedChatModel

SURROGATE = "\ud83d"  # the first half of an emoji
GOOD = ("Ada Lovelace was born in London.", [("Ada Lovelace", "born in", "London")])
OTHER = ("Bo Brant lives in Sarn.", [("Bo Brant", "lives in", "Sarn")])


def _open(folder: Path, **kw: Any) -> GraphMemory:
    kw.setdefault("embeddings", "hash:256")
    return GraphMemory.open(folder, **kw)


def _snapshot(memory: GraphMemory) -> tuple[Any, ...]:
    stats = memory.stats()
    rows = memory.db.passages("default")
    return (
        stats["passages"], stats["graph"], stats["persisted_edges"], memory.namespaces(),
        sorted((p.id, p.status) for p in rows),
    )


def _reply(rules: dict[str, Any], default: Any = None) -> ScriptedChatModel:
    """Extraction replies chosen by a word of the passage in the prompt."""

    def reply(messages: list[Any]) -> str:
        prompt = messages[1].content  # the user message holds the passage
        for word, out in rules.items():
            if word in prompt:
                return out if isinstance(out, str) else json.dumps(out)
        return json.dumps(default or {"entities": [], "triples": []})

    return ScriptedChatModel(default=reply)


def _triples_reply(text: str, triples: list[tuple[str, str, str]]) -> dict[str, Any]:
    return {"entities": sorted({t[0] for t in triples}), "triples": [list(t) for t in triples]}


# ---------------------------------------------------------------- item 10: classify_error
def test_classify_error_from_many_threads_in_a_fresh_interpreter() -> None:
    script = textwrap.dedent(
        """
        import sys, threading
        from memagents.models._retry import classify_error

        # imported with the module, never lazily by racing worker threads
        for name in ("httpx", "openai"):
            module = sys.modules.get(name)
            assert module is not None, name + " is imported lazily"
            assert not getattr(module.__spec__, "_initializing", False), name

        class Status(Exception):
            def __init__(self, code):
                super().__init__(f"HTTP {code}")
                self.status_code = code

        errors, barrier = [], threading.Barrier(32)

        def work(i):
            barrier.wait()
            try:
                for _ in range(20):
                    assert classify_error(RuntimeError("bad reply")).transient is False
                    assert classify_error(Status(503)).transient is True
                    assert classify_error(TimeoutError()).transient is True
            except BaseException as exc:
                errors.append(repr(exc))

        threads = [threading.Thread(target=work, args=(i,)) for i in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors[:3]
        import httpx
        assert classify_error(httpx.ReadTimeout("slow")).transient
        print("ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"


# ------------------------------------------------------- item 8: lone surrogates, user input
@pytest.mark.parametrize(
    "call",
    [
        lambda m: m.add_triples([(GOOD[0], [("Ada" + SURROGATE, "born in", "London")])]),
        lambda m: m.add_triples([(GOOD[0], [("Ada", "born" + SURROGATE, "London")])]),
        lambda m: m.add_triples([{"text": "Ada " + SURROGATE, "triples": []}]),
        lambda m: m.add_triples([GOOD], ids=["m" + SURROGATE]),
        lambda m: m.add_triples([GOOD], metadata=[{"note": "x" + SURROGATE}]),
        lambda m: m.add_triples([GOOD], metadata=[{"k" + SURROGATE: 1}]),
        lambda m: m.add_triples([GOOD], metadata=[{"deep": [{"x": SURROGATE}]}]),
        lambda m: m.add(["Ada " + SURROGATE]),
        lambda m: m.add_triples([GOOD], namespace="users/" + SURROGATE),
        lambda m: m.get(["m" + SURROGATE]),
        lambda m: m.delete(["m" + SURROGATE]),
        lambda m: m.search("Where was Ada" + SURROGATE + " born?"),
    ],
)
def test_lone_surrogates_in_user_input_give_a_clear_error_and_change_nothing(
    tmp_path: Path, call: Any
) -> None:
    with _open(tmp_path, llm=_reply({})) as memory:
        memory.add_triples([OTHER], ids=["keep"])
        before = _snapshot(memory)
        with pytest.raises((InputError, NamespaceError)) as caught:
            call(memory)
        message = str(caught.value)
        assert "surrogate" in message or "category Cs" in message
        assert "Traceback" not in message
        assert _snapshot(memory) == before
        # nothing is left pending: the next add works
        assert memory.add_triples([GOOD], ids=["next"]).ok
        assert memory.stats()["passages"] == {"pending": 0, "failed": 0, "indexed": 2}


def test_a_bad_llm_reply_fails_its_passage_only_and_never_blocks_later_adds(
    tmp_path: Path,
) -> None:
    bad = {"entities": ["Ada"], "triples": [["Ada" + SURROGATE, "born in", "London"]]}
    llm = _reply({"Ada": bad, "Bo Brant": _triples_reply(*OTHER)})
    with _open(tmp_path, llm=llm) as memory:
        memory.llm.retry = type(memory.llm.retry)(max_retries=1, backoff_base=0, backoff_max=0)
        result = memory.add([GOOD[0], OTHER[0]], ids=["ada", "bo"])
        assert result.added == ["bo"] and list(result.failed) == ["ada"]
        assert "surrogate" in result.failed["ada"] and "ExtractionOutput" in result.failed["ada"]
        assert memory.stats()["passages"] == {"pending": 0, "failed": 1, "indexed": 1}
        # later adds in the namespace succeed (the failed passage is retried and reported)
        later = memory.add_triples([("Cy Dorn met Bo Brant.", [("Cy Dorn", "met", "Bo Brant")])],
                                   ids=["cy"])
        assert later.added == ["cy"] and list(later.failed) == ["ada"]
        assert memory.search("Who met Bo Brant?", k=1).ids == ["cy"]
        # the failure was not cached: once the model answers properly, the passage indexes
        llm.default = lambda messages: json.dumps(_triples_reply(*GOOD))
        again = memory.add_triples([], ids=[])
        assert again.resumed == ["ada"] and again.ok
        assert memory.get("ada")[0].triples == (GOOD[1][0],)


def test_async_add_fails_a_bad_reply_alone(tmp_path: Path) -> None:
    import asyncio

    llm = _reply({"Ada": {"unexpected": True}, "Bo Brant": _triples_reply(*OTHER)})
    with _open(tmp_path, llm=llm) as memory:
        memory.llm.retry = type(memory.llm.retry)(max_retries=1, backoff_base=0, backoff_max=0)
        result = asyncio.run(memory.aadd([GOOD[0], OTHER[0]], ids=["ada", "bo"]))
        assert result.added == ["bo"] and "Field required" in result.failed["ada"]
        assert memory.add_triples([GOOD], ids=["ada2"]).added == ["ada2"]


def test_a_custom_extractor_returning_surrogates_fails_that_passage_only(tmp_path: Path) -> None:
    from memagents.graphmem.extraction import Extraction

    class Broken:
        key = "broken-v1"

        def extract(self, passages: list[str]) -> list[Extraction]:
            return [Extraction(triples=[("Ada" + SURROGATE, "x", "y")]) if "Ada" in p
                    else Extraction(triples=[("Bo Brant", "lives in", "Sarn")]) for p in passages]

        async def aextract(self, passages: list[str]) -> list[Extraction]:
            return self.extract(passages)

    with _open(tmp_path, extractor=Broken()) as memory:
        result = memory.add([GOOD[0], OTHER[0]], ids=["ada", "bo"])
        assert result.added == ["bo"] and "surrogate" in result.failed["ada"]
        assert memory.db.cached_extractions("broken-v1", []) == {}
        assert memory.add_triples([GOOD], ids=["ada2"]).added == ["ada2"]


def test_legacy_unstorable_cached_triples_fail_alone(tmp_path: Path) -> None:
    """A passage left pending with unstorable cached triples (written by an older version)
    is marked failed on its own; the other passages of the add index."""
    from memagents.graphmem.db import content_hash

    with _open(tmp_path) as memory:
        bad = (("Ada" + SURROGATE, "born in", "London"),)
        chash = content_hash(GOOD[0], bad)
        memory.db.put_extractions("user", [(chash, bad, [], 0)])
        memory.db.upsert_pending("default", [("old", GOOD[0], {}, chash, "user")])
        result = memory.add_triples([OTHER], ids=["bo"])
        assert result.added == ["bo"] and "surrogate" in result.failed["old"]
        assert "delete it" in result.failed["old"]
        assert memory.stats()["passages"] == {"pending": 0, "failed": 1, "indexed": 1}
        memory.delete(["old"])
        assert memory.add_triples([GOOD], ids=["ada"]).ok


def test_parse_structured_reasks_on_lone_surrogates() -> None:
    with pytest.raises(ParseProblem, match="lone UTF-16 surrogate"):
        parse_structured('{"entities": ["A\\ud83d"], "triples": []}', ExtractionOutput)
    # a whole emoji escaped as a surrogate pair is fine
    out = parse_structured('{"entities": ["A\\ud83d\\ude00"], "triples": []}', ExtractionOutput)
    assert out.entities == ["A\U0001f600"]
    with pytest.raises(ParseProblem, match="nested too deeply"):
        parse_structured("[" * 100_000 + "]" * 100_000, ExtractionOutput)


def test_sqlite_refuses_unstorable_strings_with_an_input_error(tmp_path: Path) -> None:
    db = Database(tmp_path / "x.db", migrations=[Migration(1, "CREATE TABLE t (x TEXT)")])
    with pytest.raises(InputError, match="surrogate"):
        db.execute("INSERT INTO t VALUES (?)", ("a" + SURROGATE,))
    with pytest.raises(InputError, match="surrogate"):
        db.query("SELECT x FROM t WHERE x = ?", ("a" + SURROGATE,))
    assert db.query("SELECT count(*) AS n FROM t")[0]["n"] == 0
    db.close()


# ------------------------------------------------ item 9: schema-invalid extraction replies
def test_schema_invalid_extraction_is_reasked_then_failed_and_never_cached(
    tmp_path: Path,
) -> None:
    llm = _reply({"Ada": {"unexpected": True}, "Bo Brant": _triples_reply(*OTHER)})
    with _open(tmp_path, llm=llm) as memory:
        memory.llm.retry = type(memory.llm.retry)(max_retries=2, backoff_base=0, backoff_max=0)
        result = memory.add([GOOD[0], OTHER[0]], ids=["ada", "bo"])
        assert result.added == ["bo"] and list(result.failed) == ["ada"]
        assert "entities" in result.failed["ada"] and "Field required" in result.failed["ada"]
        assert result.llm_calls == 1 + 3  # bo once; ada once plus two re-asks
        re_asks = [c for c in llm.calls if "could not be used" in str(c[-1].content)]
        assert len(re_asks) == 2
        key = memory.extractor.key
        assert memory.db.cached_extractions(key, [p.content_hash for p in
                                                     memory.db.passages("default")]).keys() \
            == {memory.db.passages("default", ids=["bo"])[0].content_hash}
        assert memory.stats()["passages"] == {"pending": 0, "failed": 1, "indexed": 1}


def test_a_genuinely_empty_extraction_is_indexed_and_reported(tmp_path: Path) -> None:
    llm = _reply({"Bo Brant": _triples_reply(*OTHER)}, default={"entities": [], "triples": []})
    with _open(tmp_path, llm=llm) as memory:
        result = memory.add(["Nothing happens here.", OTHER[0]], ids=["empty", "bo"])
        assert result.ok and sorted(result.added) == ["bo", "empty"]
        assert result.empty == ["empty"]
        assert len(result.notes) == 1 and "'empty'" in result.notes[0]
        assert "no triples" in result.notes[0]
        # user-given empty triples are what the user asked for: no note
        own = memory.add_triples([("Just text.", [])], ids=["own"])
        assert own.ok and own.empty == [] and own.notes == []


def test_extraction_output_requires_both_fields() -> None:
    schema = ExtractionOutput.model_json_schema()
    assert sorted(schema["required"]) == ["entities", "triples"]
    for reply in ('{"unexpected": true}', '{"triples": []}', '{"entities": []}', "{}"):
        with pytest.raises(ParseProblem, match="Field required"):
            parse_structured(reply, ExtractionOutput)
    llm = ScriptedChatModel(default='{"unexpected": true}')
    structured = StructuredLLM(llm, sleep=lambda s: None)
    structured.retry = type(structured.retry)(max_retries=1, backoff_base=0, backoff_max=0)
    out = LLMExtractor(structured).extract(["Ada was born in London."])
    assert not out[0].ok and "Field required" in (out[0].error or "")


# ------------------------------------------------------------------- item 12: bad inputs
def _bad_folders(tmp_path: Path) -> list[Any]:
    file = tmp_path / "file.txt"
    file.write_text("not a folder")
    return [file, file / "sub", str(tmp_path / "a\x00b"), tmp_path / ("x" * 300), 42, b"bytes",
            ["list"], "", tmp_path / ("bad" + SURROGATE)]


def test_open_refuses_unusable_folders_with_config_errors(tmp_path: Path) -> None:
    for folder in _bad_folders(tmp_path):
        with pytest.raises(ConfigError) as caught:
            GraphMemory.open(folder, embeddings="hash:256")
        message = str(caught.value)
        assert message.endswith(".") and len(message) < 400, message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]  # nothing created


def test_open_checks_the_namespace_before_creating_anything(tmp_path: Path) -> None:
    with pytest.raises(NamespaceError):
        GraphMemory.open(tmp_path / "new", embeddings="hash:256", namespace="a\x7fb")
    assert not (tmp_path / "new").exists()


def test_open_on_an_unwritable_folder_is_a_storage_or_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: Path, *a: Any, **kw: Any) -> None:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(StorageError, match="Permission denied"):
        GraphMemory.open(tmp_path / "locked", embeddings="hash:256")


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"metadata": [_nested(10_000)]}, "nested more than 32 levels"),
        ({"metadata": [{"score": math.nan}]}, "NaN and infinity"),
        ({"metadata": [{"score": math.inf}]}, "NaN and infinity"),
        ({"metadata": [{"scores": [1.0, -math.inf]}]}, "NaN and infinity"),
        ({"metadata": [{1: "int key"}]}, "keys must be strings"),
        ({"metadata": [{"when": object()}]}, "JSON-serialisable"),
        ({"ids": [5]}, "non-empty string"),
    ],
)
def test_bad_metadata_is_refused_at_add_and_changes_nothing(
    tmp_path: Path, kwargs: dict[str, Any], match: str
) -> None:
    with _open(tmp_path) as memory:
        memory.add_triples([OTHER], ids=["keep"])
        before = _snapshot(memory)
        with pytest.raises(InputError, match=match):
            memory.add_triples([GOOD], **kwargs)
        assert _snapshot(memory) == before
        assert memory.add_triples([GOOD], ids=["ok"]).ok


def test_metadata_at_the_depth_limit_is_stored(tmp_path: Path) -> None:
    with _open(tmp_path) as memory:
        deep = _nested(31)
        assert memory.add_triples([GOOD], ids=["deep"], metadata=[{"x": deep}]).ok
        assert memory.get("deep")[0].metadata == {"x": deep}


def test_get_accepts_one_id_string_and_refuses_none(tmp_path: Path) -> None:
    with _open(tmp_path) as memory:
        memory.add_triples([GOOD, OTHER], ids=["m0001", "m0002"])
        before = _snapshot(memory)
        assert [h.id for h in memory.get("m0001")] == ["m0001"]
        assert [h.id for h in memory.get(["m0002", "nope", "m0001"])] == ["m0002", "m0001"]
        assert [h.id for h in memory.get(("m0001",))] == ["m0001"]
        assert [h.id for h in memory.get(i for i in ["m0002", "m0001"])] == ["m0002", "m0001"]
        for bad in (None, 7, b"m0001", [None], [""], [3]):
            with pytest.raises(InputError):
                memory.get(bad)  # type: ignore[arg-type]
        assert memory.delete("nope").unknown == ["nope"]  # one id string is one id
        assert _snapshot(memory) == before


def test_every_bad_input_is_a_memagents_error(tmp_path: Path) -> None:
    """A sweep over the bad inputs of the issue: no raw exception type escapes."""
    with _open(tmp_path) as memory:
        memory.add_triples([OTHER], ids=["keep"])
        before = _snapshot(memory)
        calls = [
            lambda: memory.add_triples([GOOD], namespace="a\x7fb"),
            lambda: memory.add_triples([GOOD], namespace="a\u202eb"),
            lambda: memory.add_triples([GOOD], metadata=[_nested(10_000)]),
            lambda: memory.add_triples([GOOD], metadata=[{"x": math.nan}]),
            lambda: memory.add_triples([("Ada " + SURROGATE, [])]),
            lambda: memory.add_triples([GOOD], ids=[SURROGATE]),
            lambda: memory.get(None),  # type: ignore[arg-type]
            lambda: memory.stats(namespace="x\x85y"),
            lambda: memory.search("q", namespace="x\u2066y"),
        ]
        for call in calls:
            with pytest.raises(MemagentsError):
                call()
        assert _snapshot(memory) == before


# ------------------------------------------------------------ item 13: printable namespaces
@pytest.mark.parametrize(
    "char",
    ["\x00", "\x1f", "\x7f", "\x80", "\x85", "\x9f", "\u200e", "\u200f", "\u202a", "\u202e",
     "\u2066", "\u2069", "\u200b", "\ufeff", "\u2028", "\ue000", "\U000e0001", SURROGATE,
     "\U0010ffff"],
)
def test_namespaces_refuse_non_printable_characters(char: str) -> None:
    with pytest.raises(NamespaceError, match=f"U\\+{ord(char):04X}"):
        check_namespace(f"users{char}alice")


@pytest.mark.parametrize("name", ["users/alice", "café", "日本語", "a b", "emoji-\U0001f600",
                                  "x" * 256])
def test_namespaces_accept_printable_text(name: str) -> None:
    assert check_namespace(name) == name


def test_namespace_errors_stay_short() -> None:
    with pytest.raises(NamespaceError) as caught:
        check_namespace("x" * 10_000)
    assert len(str(caught.value)) < 300


# ----------------------------------------------------- vector stores refuse surrogates too
@pytest.mark.parametrize(
    "call",
    [
        lambda ix: ix.add(["a" + SURROGATE], [[1.0, 0.0]]),
        lambda ix: ix.add(["b"], [[1.0, 0.0]], [{"k": "v" + SURROGATE}]),
        lambda ix: ix.add(["b"], [[1.0, 0.0]], [{"k" + SURROGATE: 1}]),
        lambda ix: ix.query([1.0, 0.0], k=1, where={"k": SURROGATE}),
        lambda ix: ix.delete(["a" + SURROGATE]),
    ],
)
def test_vector_indexes_refuse_lone_surrogates(tmp_path: Path, call: Any) -> None:
    from memagents.stores.numpy_index import NumpyVectorIndex

    index = NumpyVectorIndex(tmp_path / "v.npz")
    index.add(["a"], [[1.0, 0.0]], [{"k": "v"}])
    with pytest.raises(InputError, match="surrogate"):
        call(index)
    assert index.query([1.0, 0.0], k=5) == [("a", 1.0)]
    reopened = NumpyVectorIndex(tmp_path / "v.npz")
    assert reopened.query([1.0, 0.0], k=5) == [("a", 1.0)]
