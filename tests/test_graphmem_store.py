"""MemoryStore: a graph memory as a LangGraph BaseStore, checked against InMemoryStore.

The differential suite (memagents.testing.store_conformance) runs on the reference itself (it
must pass there) and on ``memory.as_store()`` with hash embeddings and no LLM; the rest covers
what the suite cannot see: durability, the passages mirrored into the graph, PPR over
extracted triples, the outbox, and errors.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.store.base import BaseStore, GetOp, InvalidNamespaceError, PutOp
from langgraph.store.memory import InMemoryStore

from memagents.adapters.store import STORE_FILE, MemoryStore, memory_namespace
from memagents.errors import ConfigError, InputError
from memagents.graphmem import GraphMemory
from memagents.testing import ScriptedChatModel
from memagents.testing.store_conformance import (
    ReferenceStore,
    Step,
    StoreConformanceTests,
    run_differential,
)


# ------------------------------------------------------------------------- conformance
class TestReferencePassesItsOwnSuite(StoreConformanceTests):
    @pytest.fixture
    def store(self) -> BaseStore:
        return ReferenceStore()


class TestGraphMemoryStoreConformance(StoreConformanceTests):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[BaseStore]:
        with GraphMemory.open(tmp_path, embeddings="hash") as memory, memory.as_store() as store:
            yield store


class _KeepsCreatedAt(ReferenceStore):
    """A subtly wrong store: overwrites keep created_at (InMemoryStore resets it)."""

    def batch(self, ops: Any) -> list[Any]:
        ops = list(ops)
        old = {(op.namespace, op.key): self._data.get(op.namespace, {}).get(op.key)
               for op in ops if isinstance(op, PutOp)}
        out = super().batch(ops)
        for (ns, key), item in old.items():
            if item is not None and key in self._data.get(ns, {}):
                self._data[ns][key].created_at = item.created_at
        return out


def test_the_suite_catches_wrong_stores() -> None:
    # plain InMemoryStore lists namespaces a delete merely touched, and ranks nothing
    reports = {r.scenario: r for r in run_differential(InMemoryStore, scenarios=["crud", "query"])}
    assert "('nowhere',)" in str(reports["crud"].mismatches)
    assert "unscored" in str(reports["query"].mismatches)
    report = run_differential(_KeepsCreatedAt, scenarios=["crud"])[0]
    assert [m.detail for m in report.mismatches] == [
        "'a': created_at did not change, unlike the reference"
    ]
    with pytest.raises(AssertionError, match="created_at did not change"):
        report.assert_ok()


def test_custom_ops_and_unknown_scenarios() -> None:
    ops = [Step.put(("x",), "k", {"v": 1}), Step.get(("x",), "k"), Step.search(("x",))]
    assert run_differential(ReferenceStore, ops=ops)[0].ok
    with pytest.raises(ValueError, match="unknown scenarios"):
        run_differential(ReferenceStore, scenarios=["nope"])


# ---------------------------------------------------------------------------- fixtures
@pytest.fixture
def memory(tmp_path: Path) -> Iterator[GraphMemory]:
    with GraphMemory.open(tmp_path, embeddings="hash") as mem:
        yield mem


@pytest.fixture
def store(memory: GraphMemory) -> Iterator[MemoryStore]:
    with memory.as_store() as s:
        yield s


def _view(items: list[Any]) -> list[tuple[Any, ...]]:
    return [(i.namespace, i.key, i.value, i.created_at, i.updated_at, getattr(i, "score", None))
            for i in items]


# ------------------------------------------------------------------------- behaviour
def test_items_become_passages_and_follow_overwrites_and_deletes(
    memory: GraphMemory, store: MemoryStore
) -> None:
    ns = ("users", "ada")
    g = memory_namespace(ns)
    store.put(ns, "m1", {"text": "Ada likes tea"})
    assert [(h.id, h.text) for h in memory.get(["m1"], namespace=g)] == [
        ("m1", '{"text": "Ada likes tea"}')
    ]
    assert memory.get(["m1"], namespace=g)[0].metadata == {
        "store_namespace": ["users", "ada"], "store_key": "m1", "store_field": "$"
    }
    store.put(ns, "m1", {"text": "Ada likes coffee"})
    assert "coffee" in memory.get(["m1"], namespace=g)[0].text
    store.put(ns, "m2", {"text": "hidden", "tags": ["a", "b"]}, index=["tags[*]", "nope"])
    assert sorted(h.id for h in memory.get(
        ['["m2", "tags[*].0"]', '["m2", "tags[*].1"]'], namespace=g)) == [
        '["m2", "tags[*].0"]', '["m2", "tags[*].1"]']
    store.put(ns, "m2", {"text": "private"}, index=False)
    store.delete(ns, "m1")
    assert memory.stats(g)["passages"]["indexed"] == 0
    assert store.get(ns, "m2").value == {"text": "private"}  # type: ignore[union-attr]
    assert (memory.folder / STORE_FILE).is_file()


def test_index_fields_config(memory: GraphMemory) -> None:
    with memory.as_store(index={"dims": 7, "fields": ["title", "body"]}) as store:
        store.put(("d",), "k", {"title": "Velmora harbour", "body": "fish market", "x": "no"})
        ids = [h.id for h in memory.get(['["k", "title"]', '["k", "body"]', "k"],
                                        namespace=memory_namespace(("d",)))]
        assert ids == ['["k", "title"]', '["k", "body"]']
        hits = store.search(("d",), query="fish market")
        assert [(h.key, h.score is not None) for h in hits] == [("k", True)]


def test_search_is_isolated_by_namespace(store: MemoryStore, memory: GraphMemory) -> None:
    store.put(("users", "ada"), "a1", {"text": "Ada was born in Velmora"})
    store.put(("users", "bob"), "b1", {"text": "Bob was born in Velmora too"})
    store.put(("users", "bob"), "b2", {"text": "Bob sails boats"})
    ada = store.search(("users", "ada"), query="born in Velmora")
    assert [(i.namespace, i.key) for i in ada] == [(("users", "ada"), "a1")]
    both = store.search(("users",), query="born in Velmora")
    assert {i.key for i in both} == {"a1", "b1", "b2"} and both[-1].key == "b2"
    hits = memory.search("born in Velmora", k=5, namespace=memory_namespace(("users", "bob")))
    assert sorted(h.id for h in hits) == ["b1", "b2"]
    assert sorted(memory.namespaces()) == ['store:["users", "ada"]', 'store:["users", "bob"]']


def test_persistence_across_reopen(tmp_path: Path) -> None:
    ops = [("n", "1", "Oskar founded Quillmere Press"), ("n", "2", "Velmora is a harbour"),
           ("m", "3", "Quillmere Press prints maps")]
    with GraphMemory.open(tmp_path, embeddings="hash") as memory, memory.as_store() as store:
        for ns, key, text in ops:
            store.put((ns, "x"), key, {"text": text})
        store.delete(("n", "x"), "2")
        before = [_view(store.search(()))] + [
            _view(store.search((), query=q)) for q in ("Quillmere Press", "harbour")
        ] + [store.list_namespaces(), store.get(("m", "x"), "3")]
    with GraphMemory.open(tmp_path, embeddings="hash") as memory, memory.as_store() as store:
        after = [_view(store.search(()))] + [
            _view(store.search((), query=q)) for q in ("Quillmere Press", "harbour")
        ] + [store.list_namespaces(), store.get(("m", "x"), "3")]
    assert after == before
    assert sorted(k for _, k, *_ in before[1]) == ["1", "3"]
    assert all(score is not None for *_, score in before[1])


def test_extractor_variant_searches_with_ppr(tmp_path: Path) -> None:
    facts = {
        "Oskar Thandrell founded Quillmere Press.": [["Oskar Thandrell", "founded", "Quillmere Press"]],
        "Oskar Thandrell was born in Velmora.": [["Oskar Thandrell", "born in", "Velmora"]],
        "Brena Voss was born in Ostrel.": [["Brena Voss", "born in", "Ostrel"]],
        "Ostrel has a famous press museum.": [["Ostrel", "has", "press museum"]],
    }
    rules = [(re.compile(re.escape(text)), {"entities": sorted({t[0] for t in triples}),
                                            "triples": triples})
             for text, triples in facts.items()]
    llm = ScriptedChatModel(rules=rules)
    with (
        GraphMemory.open(tmp_path, llm=llm, embeddings="hash") as memory,
        memory.as_store(index={"fields": ["text"]}, use_filter=False) as store,
    ):
        assert store.add_options == {"extract": True}
        for i, text in enumerate(facts):
            store.put(("kb",), f"p{i}", {"text": text})
        assert len(llm.calls) == len(facts)  # one extraction per passage
        store.put(("kb",), "p0", {"text": "Oskar Thandrell founded Quillmere Press."})
        assert len(llm.calls) == len(facts)  # unchanged text: cached, no call
        question = "Where was the founder of Quillmere Press born?"
        hits = store.search(("kb",), query=question, limit=2)
        direct = memory.search(question, k=2, namespace=memory_namespace(("kb",)),
                               use_filter=False)
        assert direct.explanation is not None and direct.explanation.used_graph
        assert [h.key for h in hits] == [json.loads(h.id)[0] for h in direct]
        assert {h.key for h in hits} == {"p0", "p1"}
        assert [h.score for h in hits] == pytest.approx([h.score for h in direct])


def test_outbox_replays_a_failed_graph_update(tmp_path: Path, monkeypatch: Any) -> None:
    with GraphMemory.open(tmp_path, embeddings="hash") as memory, memory.as_store() as store:
        real = memory.add

        def broken(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("disk on fire")

        monkeypatch.setattr(memory, "add", broken)
        with pytest.raises(RuntimeError, match="disk on fire"):
            store.put(("o",), "k", {"text": "survives the crash"})
        item = store.get(("o",), "k")
        assert item is not None and item.value == {"text": "survives the crash"}
        hits = store.search(("o",), query="crash")  # the graph is stale: unscored
        assert [(h.key, h.score) for h in hits] == [("k", None)]
        monkeypatch.setattr(memory, "add", real)
    with GraphMemory.open(tmp_path, embeddings="hash") as memory, memory.as_store() as store:
        hits = store.search(("o",), query="crash")  # replayed from the outbox on reopen
        assert [(h.key, h.score is not None) for h in hits] == [("k", True)]
        assert store._tables.dirty() == []


def test_errors(store: MemoryStore, memory: GraphMemory) -> None:
    assert store.supports_ttl is False
    with pytest.raises(NotImplementedError, match="TTL"):
        store.put(("a",), "k", {"v": 1}, ttl=1.5)
    with pytest.raises(NotImplementedError, match="TTL"):
        store.batch([PutOp(("a",), "k", {"v": 1}, ttl=3)])
    for bad in [(), ("a.b",), ("a", ""), ("langgraph", "x"), ("nul\x00",)]:
        with pytest.raises(InvalidNamespaceError):
            store.put(bad, "k", {"v": 1})
    with pytest.raises(InvalidNamespaceError):
        store.get(("a.b",), "k")
    with pytest.raises(InvalidNamespaceError):
        store.batch([GetOp(("a.b",), "k")])  # below the public API too
    with pytest.raises(InvalidNamespaceError):
        asyncio.run(store.asearch(("x", "")))
    with pytest.raises(InvalidNamespaceError):
        store.list_namespaces(prefix=("a.b",))
    with pytest.raises(ValueError, match="Unknown operation"):
        store.batch(["not an op"])  # type: ignore[list-item]
    with pytest.raises(InputError, match="JSON"):
        store.batch([PutOp(("a",), "ok", {"v": 1}), PutOp(("a",), "k", {"v": {1, 2}})])
    assert store.list_namespaces() == []  # the whole batch was refused
    store.put(("a",), "k", {"v": 1})
    with pytest.raises(ValueError, match="Unsupported operator"):
        store.search(("a",), filter={"v": {"$in": [1]}})
    with pytest.raises(InputError, match="max_input_chars"):
        store.put(("a",), "big", {"text": "x" * (memory.settings.max_input_chars + 1)})
    with pytest.raises(ConfigError, match="embeddings"):
        memory.as_store(index={"embed": "openai:text-embedding-3-small"})
    with pytest.raises(ConfigError, match="fields"):
        memory.as_store(index={"fields": "text"})
    memory.close()
    with pytest.raises(InputError, match="closed"):
        store.get(("a",), "k")


def test_search_without_query_is_a_listing(store: MemoryStore) -> None:
    for i in range(5):
        store.put(("l", str(i % 2)), f"k{i}", {"i": i})
    keys = [i.key for i in store.search(("l",))]
    assert keys == ["k0", "k2", "k4", "k1", "k3"]  # namespace by namespace, insertion order
    assert [i.key for i in store.search(("l",), filter={"i": {"$gte": 2}}, offset=1)] == [
        "k4", "k3"]
    assert all(i.score is None for i in store.search(("l",), query="   "))


def test_scores_merge_across_graphs_with_the_cosine_as_tie_break(store: MemoryStore) -> None:
    store.put(("s", "a"), "apple", {"text": "red apple"})
    store.put(("s", "b"), "car", {"text": "blue car"})
    store.put(("s", "c"), "pie", {"text": "apple pie"})
    hits = store.search(("s",), query="apple")
    scores = [h.score for h in hits]  # dense hits: the raw cosine (was min-max: 1.0 each)
    assert scores == sorted(scores, reverse=True) and scores[0] < 1.0
    assert hits[-1].key == "car"
