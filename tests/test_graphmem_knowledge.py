"""GraphMemory as a KnowledgeIndex: entities (phrases), relations (facts), neighbours and
dense passage search, per namespace, read-only, on small hand-made graphs."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from memagents.base import EntityHit, KnowledgeIndex, RelationHit, SearchHits
from memagents.errors import InputError, NamespaceError
from memagents.graphmem import GraphMemory, MemoryHit
from memagents.graphmem.core.normalize import fact_text

PASSAGES = [
    ("Ada Korvin was born in Velm.", [("Ada Korvin", "born in", "Velm")]),
    ("Velm is a town in Ostria.", [("Velm", "is in", "Ostria"), ("Velm", "is a", "town")]),
    ("Ostria borders the Kestrel Republic.", [("Ostria", "borders", "Kestrel Republic")]),
    ("Ada Korvin founded Quillmere Press.", [("Ada Korvin", "founded", "Quillmere Press")]),
    ("Ada - Korvin wrote poems.", [("Ada - Korvin", "wrote", "poems")]),
    ("Nothing to extract here.", []),
    ("Velm lies in Ostria, say the maps.", [("Velm", "is in", "Ostria")]),
]
IDS = ["p1", "p2", "p3", "p4", "p5", "p6", "p7"]
META = [{"n": i} for i in range(len(PASSAGES))]


def _open(folder: Path) -> GraphMemory:
    return GraphMemory.open(folder, embeddings="hash:256")


@pytest.fixture
def memory(tmp_path: Path):
    with _open(tmp_path) as mem:
        mem.add_triples(PASSAGES, ids=IDS, metadata=META)
        yield mem


def _cos(memory: GraphMemory, query: str, texts: list[str]) -> np.ndarray:
    emb = memory.embeddings
    mat = np.asarray(emb.embed_documents(texts), dtype=np.float64)
    q = np.asarray(emb.embed_query(query), dtype=np.float64)
    return np.asarray(mat @ q)


def _reference(memory: GraphMemory, query: str, keys: list[str], texts: list[str]) -> list[str]:
    """Keys by descending cosine (rounded against float32 noise), ties by key."""
    cos = _cos(memory, query, texts)
    return [key for _, key in sorted(zip((-round(c, 5) for c in cos), keys))]


# ------------------------------------------------------------------ protocol
def test_graph_memory_is_a_knowledge_index(memory: GraphMemory) -> None:
    assert isinstance(memory, KnowledgeIndex)


# ------------------------------------------------------------------ entities
def test_search_entities_ranks_phrases_by_cosine_ties_by_name(memory: GraphMemory) -> None:
    phrases = memory.index().phrases()
    for query in ("Where was Ada Korvin born?", "Velm town", "the press of Quillmere"):
        hits = memory.search_entities(query, k=len(phrases))
        assert all(isinstance(h, EntityHit) for h in hits)
        assert [h.name for h in hits] == _reference(memory, query, phrases, phrases)
        cos = dict(zip(phrases, _cos(memory, query, phrases)))
        assert all(h.score == pytest.approx(cos[h.name], abs=1e-5) for h in hits)
    top = memory.search_entities("Velm", k=3)
    assert len(top) == 3 and top[0].name == "velm" and top[0].score == pytest.approx(1.0)
    # "Ada - Korvin" normalises to "ada   korvin": the same words, the same vector; the tie
    # goes to the smaller name
    tied = memory.search_entities("Ada Korvin", k=2)
    assert [h.name for h in tied] == ["ada   korvin", "ada korvin"]
    assert tied[0].score == tied[1].score == pytest.approx(1.0)


def test_entity_fields_sources_description_type(memory: GraphMemory) -> None:
    [velm] = memory.get_entities(["velm"])
    assert velm.score is None and velm.entity_type is None
    assert velm.sources == ("p1", "p2", "p7")
    # the fact found in two passages first, then fact order
    assert velm.description == "velm is in ostria; ada korvin born in velm; velm is a town"
    [kestrel] = memory.get_entities(["Kestrel Republic"])
    assert kestrel.sources == ("p3",)
    assert kestrel.description == "ostria borders kestrel republic"


def test_search_entities_filters(memory: GraphMemory) -> None:
    within = ["Ostria", "velm", "nowhere", "town"]
    hits = memory.search_entities("Velm", k=5, within=within)
    assert hits[0].name == "velm"
    assert {h.name for h in hits} == {"ostria", "velm", "town"}
    assert [h.name for h in memory.search_entities("Velm", within="velm")] == ["velm"]
    assert memory.search_entities("Velm", within=[]) == []
    assert memory.search_entities("Velm", within=["nowhere"]) == []
    everything = memory.search_entities("Velm", k=100)
    rest = memory.search_entities("Velm", k=100, exclude=["VELM", "ostria", "nowhere"])
    assert [h.name for h in rest] == [h.name for h in everything if h.name not in {"velm", "ostria"}]
    both = memory.search_entities("Velm", k=5, within=within, exclude=["velm"])
    assert [h.name for h in both] == [h.name for h in hits if h.name != "velm"]


def test_get_entities_in_the_order_asked(memory: GraphMemory) -> None:
    got = memory.get_entities(["Town", "nowhere", "ada korvin", "town", "Quillmere Press!"])
    assert [e.name for e in got] == ["town", "ada korvin", "quillmere press"]
    assert all(isinstance(e, EntityHit) and e.score is None for e in got)
    assert [e.name for e in memory.get_entities("velm")] == ["velm"]
    assert memory.get_entities([]) == [] and memory.get_entities(["nowhere"]) == []


# ---------------------------------------------------------------- neighbours
def test_entity_neighbours_hops(memory: GraphMemory) -> None:
    assert memory.entity_neighbours(["Velm"]) == ["ada korvin", "ostria", "town"]
    assert memory.entity_neighbours(["velm"], hops=2) == [
        "ada korvin", "kestrel republic", "ostria", "quillmere press", "town",
    ]
    # the names asked are never returned, even when reachable from each other
    assert memory.entity_neighbours(["velm", "ostria"]) == ["ada korvin", "kestrel republic", "town"]
    assert memory.entity_neighbours("ada korvin", hops=1) == ["quillmere press", "velm"]
    # far enough reaches the whole component, and no further
    assert memory.entity_neighbours(["town"], hops=10) == [
        "ada korvin", "kestrel republic", "ostria", "quillmere press", "velm",
    ]
    assert memory.entity_neighbours(["nowhere"], hops=2) == []
    assert memory.entity_neighbours(["poems", "nowhere"]) == ["ada   korvin"]


def test_entity_neighbours_follow_synonymy_only_on_request(memory: GraphMemory) -> None:
    stats = memory.stats()["graph"]
    assert stats["synonymy_edges"] >= 1  # "ada korvin" ~ "ada   korvin" (the same vector)
    assert "ada   korvin" not in memory.entity_neighbours(["ada korvin"])
    assert "ada   korvin" in memory.entity_neighbours(["ada korvin"], synonyms=True)
    assert "poems" in memory.entity_neighbours(["ada korvin"], hops=2, synonyms=True)


def test_entity_neighbours_refuses_bad_hops(memory: GraphMemory) -> None:
    for hops in (0, -1, 1.5, True, "1"):
        with pytest.raises(InputError, match="hops"):
            memory.entity_neighbours(["velm"], hops=hops)  # type: ignore[arg-type]


# ----------------------------------------------------------------- relations
def test_search_relations_ranks_facts_with_sources(memory: GraphMemory) -> None:
    facts = memory.index().facts()
    texts = [fact_text(f) for f in facts]
    for query in ("Where is Velm?", "who founded the press"):
        hits = memory.search_relations(query, k=len(facts))
        assert all(isinstance(h, RelationHit) for h in hits)
        got = [(h.subject, h.predicate, h.object) for h in hits]
        assert got == _reference(memory, query, facts, texts)  # type: ignore[arg-type]
    [best] = memory.search_relations("velm is in ostria", k=1)
    assert best.text == "velm is in ostria" and best.score == pytest.approx(1.0)
    assert best.sources == ("p2", "p7") and best.entities == ("velm", "ostria")
    assert len(memory.search_relations("velm", k=2)) == 2


def test_search_relations_touching_entities(memory: GraphMemory) -> None:
    hits = memory.search_relations("Velm", k=10, entities=["Ostria"])
    assert {h.text for h in hits} == {"velm is in ostria", "ostria borders kestrel republic"}
    assert hits[0].text == "velm is in ostria"
    hits = memory.search_relations("Velm", k=10, entities="quillmere press")
    assert [h.text for h in hits] == ["ada korvin founded quillmere press"]
    assert memory.search_relations("Velm", entities=[]) == []
    assert memory.search_relations("Velm", entities=["nowhere"]) == []


# ------------------------------------------------------------------ passages
def test_search_passages_dense_hits(memory: GraphMemory) -> None:
    query = "Where is the town of Velm?"
    hits = memory.search_passages(query, k=len(IDS))
    assert isinstance(hits, SearchHits) and all(isinstance(h, MemoryHit) for h in hits)
    assert hits.ids == _reference(memory, query, IDS, [t for t, _ in PASSAGES])
    assert [h.rank for h in hits] == list(range(1, len(IDS) + 1))
    cos = dict(zip(IDS, _cos(memory, query, [t for t, _ in PASSAGES])))
    for h in hits:
        i = IDS.index(h.id)
        assert h.text == PASSAGES[i][0] and h.metadata == META[i] and h.namespace == "default"
        assert h.score == pytest.approx(cos[h.id], abs=1e-5) and h.dense_score == h.score
        assert not h.used_graph and h.stable_score() == h.score
    assert "p6" in hits.ids  # a passage with no triples is still found by its text
    assert memory.search_passages(query, k=2).ids == hits.ids[:2]


def test_search_passages_within(memory: GraphMemory) -> None:
    hits = memory.search_passages("Velm", k=5, within=["p3", "p1", "nope"])
    assert sorted(hits.ids) == ["p1", "p3"] and hits.ids[0] == "p1"
    assert [h.rank for h in hits] == [1, 2]
    assert memory.search_passages("Velm", within="p4").ids == ["p4"]
    assert memory.search_passages("Velm", within=[]).ids == []


# ------------------------------------------------------- namespaces, deletes
def test_namespaces_are_isolated(memory: GraphMemory) -> None:
    memory.add_triples([("Rurik sailed to Velm.", [("Rurik", "sailed to", "Velm")])],
                       ids=["o1"], namespace="other")
    assert memory.get_entities(["rurik"]) == []
    assert [e.sources for e in memory.get_entities(["velm"], namespace="other")] == [("o1",)]
    assert memory.entity_neighbours(["velm"], namespace="other") == ["rurik"]
    names = {h.name for h in memory.search_entities("Velm", k=100, namespace="other")}
    assert names == {"rurik", "velm"}
    rels = memory.search_relations("Velm", k=10, namespace="other")
    assert [r.text for r in rels] == ["rurik sailed to velm"]
    assert memory.search_passages("Velm", k=10, namespace="other").ids == ["o1"]
    assert "o1" not in memory.search_passages("Velm", k=10).ids
    assert memory.search_entities("Velm", namespace="empty") == []
    with pytest.raises(NamespaceError):
        memory.get_entities(["velm"], namespace="")


def test_empty_memory_answers_nothing(tmp_path: Path) -> None:
    with _open(tmp_path) as memory:
        assert memory.search_entities("anything") == []
        assert memory.get_entities(["anything"]) == []
        assert memory.entity_neighbours(["anything"], hops=2) == []
        assert memory.search_relations("anything") == []
        hits = memory.search_passages("anything")
        assert isinstance(hits, SearchHits) and hits == [] and hits.notes
        assert memory.usage.embedding_calls == 0  # no query was embedded
        # passages without triples: passages but no entities or relations
        memory.add_triples([("A bare note.", [])], ids=["n1"])
        assert memory.search_entities("note") == [] and memory.search_relations("note") == []
        assert memory.search_passages("note").ids == ["n1"]


def test_deletes_and_adds_are_reflected(memory: GraphMemory) -> None:
    assert memory.entity_neighbours(["ostria"]) == ["kestrel republic", "velm"]
    memory.delete(["p3", "p7"])
    assert memory.get_entities(["kestrel republic"]) == []
    assert memory.entity_neighbours(["ostria"]) == ["velm"]
    assert memory.get_entities(["velm"])[0].sources == ("p1", "p2")
    assert memory.search_relations("velm is in ostria", k=1)[0].sources == ("p2",)
    assert "ostria borders kestrel republic" not in {
        r.text for r in memory.search_relations("borders", k=100)
    }
    assert set(memory.search_passages("Velm", k=10).ids) == {"p1", "p2", "p4", "p5", "p6"}
    memory.add_triples([("Ostria borders Lumen.", [("Ostria", "borders", "Lumen")])], ids=["p8"])
    assert memory.entity_neighbours(["ostria"]) == ["lumen", "velm"]
    assert memory.get_entities(["lumen"])[0].sources == ("p8",)


def test_reads_never_change_the_graph(memory: GraphMemory) -> None:
    before = (memory.index().version, memory.index().canonical(), memory.stats()["persisted_edges"])
    memory.search_entities("Velm", within=["velm"], exclude=["town"])
    memory.get_entities(["velm"])
    memory.entity_neighbours(["velm"], hops=3, synonyms=True)
    memory.search_relations("Velm", entities=["velm"])
    memory.search_passages("Velm", within=["p1"])
    after = (memory.index().version, memory.index().canonical(), memory.stats()["persisted_edges"])
    assert after == before


# ---------------------------------------------------------------- bad input
def test_bad_input_is_refused(memory: GraphMemory) -> None:
    with pytest.raises(InputError):
        memory.search_entities("", k=3)
    with pytest.raises(InputError):
        memory.search_relations("Velm", k=0)
    with pytest.raises(InputError):
        memory.search_passages("Velm", k="2")  # type: ignore[arg-type]
    with pytest.raises(InputError):
        memory.get_entities([1, 2])  # type: ignore[list-item]
    with pytest.raises(InputError):
        memory.entity_neighbours(None)  # type: ignore[arg-type]
    with pytest.raises(InputError):
        memory.search_entities("Velm", within=5)  # type: ignore[arg-type]
    memory.close()
    with pytest.raises(InputError, match="closed"):
        memory.get_entities(["velm"])


def test_reads_run_beside_writes(memory: GraphMemory) -> None:
    errors: list[BaseException] = []

    def read() -> None:
        try:
            for _ in range(20):
                assert memory.search_entities("Velm", k=1)[0].name == "velm"
                assert "ada korvin" in memory.entity_neighbours(["velm"])
                assert memory.search_passages("Velm", k=1).ids
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(5):
        memory.add_triples([(f"Velm hosts fair {i}.", [("Velm", "hosts", f"fair {i}")])],
                           ids=[f"f{i}"])
    for t in threads:
        t.join()
    assert not errors
    assert memory.entity_neighbours(["velm"]) == [
        "ada korvin", "fair 0", "fair 1", "fair 2", "fair 3", "fair 4", "ostria", "town",
    ]
