"""Quality floors on real data: the shared MuSiQue sample through GraphMemory with MiniLM.

The setting of the official reference rankings: all-MiniLM-L6-v2 for every embedding, the
shared GPT-3.5 triples, recognition filter off, 50 dev questions. Deterministic. Needs the
local embedder (installed by ``make test``) and the shared data; skipped cleanly without them.
Encoding the 35k graph strings takes two to three minutes on two cores.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings

from memagents.eval import MusiqueData, load_musique, mean_recall, paired_wins
from memagents.graphmem import GraphMemory

pytest.importorskip(
    "sentence_transformers", reason="local embedder not installed (make local / make test)"
)
# encoding 35k strings takes 2-3 minutes on two idle cores; more on a busy machine
pytestmark = [pytest.mark.realdata, pytest.mark.timeout(1500)]


class CachedEmbeddings(Embeddings):
    """Embeds each distinct string once across the memories of this module."""

    def __init__(self, inner: Embeddings) -> None:
        self.inner = inner
        self.model = "all-MiniLM-L6-v2"
        self.cache: dict[str, list[float]] = {}

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if missing:
            self.cache.update(zip(missing, self.inner.embed_documents(missing)))
        return [self.cache[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


@pytest.fixture(scope="module")
def musique(shared_data: Path) -> MusiqueData:
    if not (shared_data / "musique" / "corpus.json").is_file():
        pytest.skip(f"no musique/ in {shared_data}")
    return load_musique(shared_data)


@pytest.fixture(scope="module")
def rankings(
    musique: MusiqueData, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    from memagents.models import SentenceTransformerEmbeddings

    emb = CachedEmbeddings(SentenceTransformerEmbeddings("all-MiniLM-L6-v2", batch_size=128))
    out: dict[str, Any] = {}
    questions = [(q["id"], q["question"]) for q in musique.questions]
    for preset in ("hipporag2", "default"):
        folder = tmp_path_factory.mktemp(preset)
        with GraphMemory.open(folder, embeddings=emb, preset=preset) as memory:
            result = memory.add_triples(
                [(text, triples) for _, text, triples in musique.passages],
                ids=[pid for pid, _, _ in musique.passages],
            )
            assert result.ok and result.llm_calls == 0
            out[preset] = {qid: memory.search(q, k=10).ids for qid, q in questions}
            out[f"{preset}_stats"] = memory.stats()
    yield out


def _recall(musique: MusiqueData, tops: dict[str, list[str]]) -> dict[int, float]:
    qids = [q["id"] for q in musique.questions]
    return mean_recall([tops[q] for q in qids], [musique.gold[q] for q in qids], (2, 5, 10))


def test_default_preset_beats_the_official_floors(
    musique: MusiqueData, rankings: dict[str, Any]
) -> None:
    # official 0.422 / 0.622 / 0.755; dense 0.458 / 0.555 / 0.630; measured 0.467/0.632/0.755
    # (held out in benchmarks/musique_defaults_cv.py: 0.461 / 0.632 / 0.755). The floors leave
    # about two questions of slack (one gold passage moving past the cut-off changes a recall
    # by 0.005-0.01): MiniLM's vectors differ in their last bits between CPUs and near-tied
    # rankings can flip on another machine.
    r = _recall(musique, rankings["default"])
    assert r[2] >= 0.445 and r[5] >= 0.61 and r[10] >= 0.735, r
    official = musique.reference["hipporag2_official"]
    for k in (2, 5, 10):
        wins, losses = paired_wins(rankings["default"], official, musique.gold, k)
        assert wins >= losses, (k, wins, losses)


def test_default_preset_only_reorders_the_faithful_top_3(rankings: dict[str, Any]) -> None:
    # rerank_window=3: ranks 4-10 are the faithful ranking's, so recall at 3 and deeper is
    # the hipporag2 preset's by construction (its graph keeps 101 synonyms, not 100: the
    # same top-10 lists on all 50 questions when measured)
    default, faithful = rankings["default"], rankings["hipporag2"]
    same = sum(
        default[q][3:] == faithful[q][3:] and set(default[q][:3]) == set(faithful[q][:3])
        for q in faithful
    )
    assert same >= 48, f"only {same}/50 rankings are the faithful one with its top 3 reordered"


def test_hipporag2_preset_reproduces_the_official_rankings(
    musique: MusiqueData, rankings: dict[str, Any]
) -> None:
    official = musique.reference["hipporag2_official"]
    same = sum(rankings["hipporag2"][q] == official[q] for q in official)
    assert same >= 47, f"only {same}/50 identical top-10 lists"


def test_graph_has_the_official_shape_without_the_empty_hub(rankings: dict[str, Any]) -> None:
    graph = rankings["default_stats"]["graph"]
    # official: 18,125 nodes of which 16,235 phrases, including the '' hub we do not build
    assert graph["passages"] == 1890 and graph["phrases"] == 16234
    assert rankings["default_stats"]["persisted_edges"] == graph["edges"]
