"""GraphMemory facade: ingest, persistence, equivalences, namespaces, faults and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from memagents.errors import (
    BudgetExceeded,
    ConfigError,
    InputError,
    NamespaceError,
    StorageError,
    StoreLockedError,
)
from memagents.graphmem import GraphMemory
from memagents.graphmem.db import GraphDB
from memagents.graphmem.extraction import ExtractionOutput
from memagents.models import Budget
from memagents.sample import SampleWorld
from memagents.testing import ScriptedChatModel

WORLD = SampleWorld.generate(0, size="tiny")
PASSAGES = [(p.title + "\n" + p.text, list(p.triples)) for p in WORLD.passages]
IDS = [p.id for p in WORLD.passages]


def _open(folder: Path, **kw) -> GraphMemory:
    kw.setdefault("embeddings", "hash:256")
    return GraphMemory.open(folder, **kw)


def _extractor_model() -> ScriptedChatModel:
    """Replies with the sample world's known triples of whichever passage it is shown."""
    by_text = {text: triples for text, triples in PASSAGES}

    def reply(messages):
        prompt = messages[-1].content
        for text, triples in by_text.items():
            if text in prompt:
                return json.dumps({"entities": [], "triples": [list(t) for t in triples]})
        return json.dumps({"entities": [], "triples": []})

    return ScriptedChatModel(default=reply)


def test_add_triples_then_search_finds_the_multi_hop_chain(tmp_path: Path) -> None:
    with _open(tmp_path) as memory:
        result = memory.add_triples(PASSAGES, ids=IDS)
        assert sorted(result.added) == sorted(IDS) and result.ok and result.llm_calls == 0
        q = WORLD.questions[0]
        hits = memory.search(q.question, k=10)
        assert len(hits) == 10 and hits[0].rank == 1
        assert [h.rank for h in hits] == list(range(1, 11))
        assert set(q.gold_passage_ids) & set(hits.ids), "a gold passage is in the top 10"
        assert hits.explanation is not None and hits.explanation.kept_facts
        assert any("filter skipped" in n for n in hits.notes)


def test_incremental_add_equals_one_shot_and_delete_equals_never_added(tmp_path: Path) -> None:
    half = len(PASSAGES) // 2
    with _open(tmp_path / "a") as one_shot, _open(tmp_path / "b") as stepwise, _open(
        tmp_path / "c"
    ) as first_half:
        one_shot.add_triples(PASSAGES, ids=IDS)
        stepwise.add_triples(PASSAGES[:half], ids=IDS[:half])
        stepwise.add_triples(PASSAGES[half:], ids=IDS[half:])
        assert stepwise.index().canonical() == one_shot.index().canonical()
        first_half.add_triples(PASSAGES[:half], ids=IDS[:half])
        deleted = one_shot.delete(IDS[half:])
        assert sorted(deleted.deleted) == sorted(IDS[half:]) and deleted.unknown == []
        assert one_shot.index().canonical() == first_half.index().canonical()
        # the persisted graph follows the in-memory one exactly
        for memory in (one_shot, stepwise, first_half):
            stored = {(u, v, round(w, 6)) for u, v, w, _ in memory.db.edges("default")}
            live = {(e.u, e.v, round(e.weight, 6)) for e in memory.index().edges()}
            assert stored == live


def test_reopen_in_another_process_gives_the_same_results(tmp_path: Path) -> None:
    q = WORLD.questions[1].question
    with _open(tmp_path) as memory:
        memory.add_triples(PASSAGES, ids=IDS)
        before = [(h.id, round(h.score, 9)) for h in memory.search(q, k=5)]
    script = (
        "import json, sys\n"
        "from memagents.graphmem import GraphMemory\n"
        f"m = GraphMemory.open(sys.argv[1], embeddings='hash:256')\n"
        f"hits = m.search({q!r}, k=5)\n"
        "print(json.dumps([[h.id, round(h.score, 9)] for h in hits]))\n"
        "print(json.dumps(m.usage.as_dict()))\n"
        "m.close()\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    after = json.loads(out[0])
    assert [x[0] for x in after] == [i for i, _ in before]
    assert [x[1] for x in after] == pytest.approx([s for _, s in before], rel=1e-6, abs=1e-9)
    usage = json.loads(out[1])
    assert usage["embedding_texts"] == 1, "reopening embeds only the query (vectors are cached)"


def test_llm_ingest_is_one_call_per_passage_and_cached(tmp_path: Path) -> None:
    llm = _extractor_model()
    texts = [t for t, _ in PASSAGES[:12]]
    with _open(tmp_path, llm=llm, use_filter=False) as memory:
        first = memory.add(texts, ids=IDS[:12])
        assert first.ok and first.llm_calls == 12 and len(llm.calls) == 12
        again = memory.add(texts, ids=IDS[:12])
        assert sorted(again.unchanged) == sorted(IDS[:12])
        assert again.llm_calls == 0 and again.embedding_calls == 0
        # same content under new ids: extraction cache hit, no LLM call
        moved = memory.add(texts[:3], ids=["x1", "x2", "x3"])
        assert moved.llm_calls == 0 and sorted(moved.added) == ["x1", "x2", "x3"]


def test_failed_extraction_is_reported_kept_and_retried(tmp_path: Path) -> None:
    texts = [t for t, _ in PASSAGES[:4]]
    broken = ScriptedChatModel(default="this is not json")
    with _open(tmp_path, llm=broken, use_filter=False) as memory:
        memory.llm.retry = type(memory.llm.retry)(max_retries=1, backoff_base=0, backoff_max=0)
        result = memory.add(texts[:2], ids=IDS[:2])
        assert set(result.failed) == set(IDS[:2]) and not result.ok
        assert all("LLMError" in err for err in result.failed.values())
        assert memory.db.counts("default")["failed"] == 2
        assert [h.id for h in memory.get(IDS[:2])] == IDS[:2], "failed passages stay stored"
    with _open(tmp_path, llm=_extractor_model(), use_filter=False) as memory:
        retry = memory.add(texts[2:], ids=IDS[2:4])
        assert sorted(retry.resumed) == sorted(IDS[:2]) and retry.ok
        assert memory.db.counts("default") == {"pending": 0, "failed": 0, "indexed": 4}


def test_budget_stops_extraction_and_the_rest_waits(tmp_path: Path) -> None:
    texts = [t for t, _ in PASSAGES[:5]]
    with _open(tmp_path, llm=_extractor_model(), budget=Budget(max_llm_calls=3)) as memory:
        memory.llm.max_concurrency = 1
        result = memory.add(texts, ids=IDS[:5])
        assert len(result.added) == 3 and len(result.failed) == 2
        assert all("BudgetExceeded" in e for e in result.failed.values())
        assert memory.usage.llm_calls == 3
        with pytest.raises(BudgetExceeded):
            memory.llm.call("graphmem.extract", ExtractionOutput, passage="x")


def test_crash_before_commit_reopens_consistent_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = [t for t, _ in PASSAGES[:6]]
    llm = _extractor_model()
    with _open(tmp_path, llm=llm, use_filter=False) as memory:
        memory.add(texts[:3], ids=IDS[:3])
        snapshot = memory.index().canonical()

        def boom(*args, **kwargs):
            raise StorageError("disk full (simulated)")

        monkeypatch.setattr(GraphDB, "commit_indexed", boom)
        with pytest.raises(StorageError):
            memory.add(texts[3:], ids=IDS[3:6])
        monkeypatch.undo()
        assert memory.index().canonical() == snapshot, "in-memory graph rolled back"
        assert memory.db.counts("default") == {"pending": 3, "failed": 0, "indexed": 3}
    calls_before = len(llm.calls)
    with _open(tmp_path, llm=llm, use_filter=False) as memory:
        assert memory.index().canonical() == snapshot
        resumed = memory.add([], ids=[])
        assert sorted(resumed.resumed) == sorted(IDS[3:6]) and resumed.llm_calls == 0
        assert len(llm.calls) == calls_before, "extractions were cached before the crash"


def test_namespaces_do_not_leak(tmp_path: Path) -> None:
    with _open(tmp_path) as memory:
        memory.add_triples(PASSAGES[:5], ids=IDS[:5], namespace="alice")
        memory.add_triples(PASSAGES[5:10], ids=IDS[5:10], namespace="bob")
        for ns, own in (("alice", set(IDS[:5])), ("bob", set(IDS[5:10]))):
            for q in WORLD.questions[:5]:
                assert set(memory.search(q.question, k=10, namespace=ns).ids) <= own
        assert memory.search("anything", namespace="carol") == []
        assert memory.delete(IDS[:5], namespace="bob").unknown == IDS[:5]
        assert sorted(memory.namespaces()) == ["alice", "bob"]
        with pytest.raises(NamespaceError):
            memory.search("x", namespace="")


def test_bad_input_gets_clear_errors(tmp_path: Path) -> None:
    with _open(tmp_path) as memory:
        with pytest.raises(ConfigError, match="MEMAGENTS_LLM"):
            memory.add(["a passage"])
        with pytest.raises(InputError, match="list"):
            memory.add_triples("text")  # type: ignore[arg-type]
        with pytest.raises(InputError, match="empty"):
            memory.add_triples([("  ", [])])
        with pytest.raises(InputError, match="string or a Document"):
            memory.add_triples([(3, [])])
        with pytest.raises(InputError, match="one entry per text"):
            memory.add_triples(PASSAGES[:2], ids=["only-one"])
        with pytest.raises(InputError, match="twice"):
            memory.add_triples([("a b", []), ("c d", [])], ids=["x", "x"])
        with pytest.raises(InputError, match="max_input_chars"):
            memory.add_triples([("x" * 300_000, [])])
        with pytest.raises(InputError, match="JSON"):
            memory.add_triples([("a b", [])], metadata=[{"when": object()}])
        with pytest.raises(InputError, match="non-empty"):
            memory.search("   ")
        with pytest.raises(InputError, match="max_input_chars"):
            memory.search("why " * 60_000)
        with pytest.raises(InputError, match="positive"):
            memory.search("why", k=0)
        assert memory.search("who?") == [], "empty memory: no hits, no error"
        result = memory.add_triples([("A b c.", [["A", "b"], ["A", "", "c"], ["$", "is", "c"]])])
        assert result.dropped_triples == 3 and result.ok
        assert memory.delete(["nope"]).unknown == ["nope"]


def test_reopen_with_other_embeddings_is_refused(tmp_path: Path) -> None:
    with _open(tmp_path) as memory:
        memory.add_triples(PASSAGES[:2], ids=IDS[:2])
    with pytest.raises(ConfigError, match="embeddings"):
        GraphMemory.open(tmp_path, embeddings="hash:128")
    with _open(tmp_path) as memory:  # the refused open released the lock
        assert len(memory.index()) == 2


def test_second_process_cannot_open_the_same_folder(tmp_path: Path) -> None:
    with _open(tmp_path):
        script = (
            "import sys\nfrom memagents.graphmem import GraphMemory\n"
            "from memagents.errors import StoreLockedError\n"
            "try:\n    GraphMemory.open(sys.argv[1], embeddings='hash:256')\n"
            "except StoreLockedError as e:\n    print('locked:', e)\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert out.startswith("locked:")
    with pytest.raises(StoreLockedError), _open(tmp_path):
        _open(tmp_path)


def test_recognition_filter_runs_when_a_model_is_configured(tmp_path: Path) -> None:
    q = WORLD.questions[0]
    first_hop = q.chain[0]
    subject = WORLD.entity(first_hop.subject_id).name.lower()
    llm = ScriptedChatModel(
        rules=[("Candidate facts", lambda m: _keep_facts_about(m, subject))],
        default=json.dumps({"entities": [], "triples": []}),
    )
    with _open(tmp_path, llm=llm) as memory:
        memory.add_triples(PASSAGES, ids=IDS)
        hits = memory.search(q.question, k=5)
        assert hits.explanation.filter_ran
        assert all(subject in " ".join(f.triple) for f in hits.explanation.kept_facts)
        assert not any("skipped" in n for n in hits.notes)
        off = memory.search(q.question, k=5, use_filter=False)
        assert not off.explanation.filter_ran


def _keep_facts_about(messages, subject: str) -> str:
    prompt = messages[-1].content
    facts = json.loads(prompt.split("Candidate facts: ", 1)[1])["fact"]
    return json.dumps({"facts": [f for f in facts if subject in " ".join(f)]})


async def test_async_twins(tmp_path: Path) -> None:
    with _open(tmp_path, llm=_extractor_model(), use_filter=False) as memory:
        result = await memory.aadd([t for t, _ in PASSAGES[:4]], ids=IDS[:4])
        assert result.ok and result.llm_calls == 4
        hits = await memory.asearch(WORLD.questions[0].question, k=3)
        assert len(hits) == 3
        gone = await memory.adelete(IDS[:1])
        assert gone.deleted == IDS[:1]


def test_documents_keep_ids_and_metadata(tmp_path: Path) -> None:
    from langchain_core.documents import Document

    docs = [Document(page_content=t, metadata={"src": i}, id=f"d{i}") for i, (t, _) in
            enumerate(PASSAGES[:3])]
    with _open(tmp_path, llm=_extractor_model(), use_filter=False) as memory:
        memory.add(docs)
        got = memory.get(["d2", "d0", "missing"])
        assert [h.id for h in got] == ["d2", "d0"]
        assert got[0].metadata == {"src": 2}
        assert docs[0].metadata == {"src": 0}, "inputs are not mutated"


async def test_async_search_runs_the_filter_on_the_async_api(tmp_path: Path) -> None:
    q = WORLD.questions[0]
    subject = WORLD.entity(q.chain[0].subject_id).name.lower()
    llm = ScriptedChatModel(rules=[("Candidate facts", lambda m: _keep_facts_about(m, subject))])
    with _open(tmp_path, llm=llm) as memory:
        memory.add_triples(PASSAGES, ids=IDS)
        sync = memory.search(q.question, k=5)
        hits = await memory.asearch(q.question, k=5)
        assert hits.explanation.filter_ran and hits.ids == sync.ids
        assert all(subject in " ".join(f.triple) for f in hits.explanation.kept_facts)
        assert len(llm.calls) == 2, "one recognition call per search"


def test_overriding_the_extraction_prompt_invalidates_the_cache(tmp_path: Path) -> None:
    from memagents.models import override_prompt, reset_prompt

    llm = _extractor_model()
    texts = [t for t, _ in PASSAGES[:2]]
    with _open(tmp_path, llm=llm, use_filter=False) as memory:
        memory.add(texts, ids=IDS[:2])
        assert len(llm.calls) == 2
        try:
            override_prompt("graphmem.extract", user="Text to analyse:\nPassage:\n{passage}")
            memory.add(texts, ids=["y1", "y2"])  # same content, new prompt: extracted again
            assert len(llm.calls) == 4
        finally:
            reset_prompt("graphmem.extract")
        memory.add(texts, ids=["z1", "z2"])  # original prompt again: cached
        assert len(llm.calls) == 4
