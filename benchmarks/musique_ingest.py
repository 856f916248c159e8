"""Ingest benchmark: all 1,890 MuSiQue passages through the real ``openai`` client.

A loopback OpenAI-compatible server (``memagents.testing.OpenAIServer``) replays the shared
GPT-3.5 OpenIE output as the LLM's answers, so extraction goes end to end through
``openai:gpt-4o-mini`` resolution, ``ChatOpenAI``, HTTP, JSON-mode parsing, schema validation,
the extraction cache, embedding and graph construction. Reported: LLM calls (must be one per
passage), tokens, wall time, and our overhead per passage excluding model time (LLM round
trips and embedding), with ``max_concurrency=1`` so client-side latencies add up to wall time.
Embedding runs on a background thread while the next chunk is extracted, so with a local model
``wall_s`` is about the embedding time and the LLM time hides behind it.

With ``--recall`` (a semantic model), the vectors the memory stored are checked against one
plain ``SentenceTransformer.encode`` of every string (cosine of each pair) and recall@k on the
50 dev questions is computed from both (dense, ``hipporag2`` and ``default`` rankings), so a
faster encoding path shows that it changed no ranking.

``--ab REV`` measures the speed-up over a git revision: both run as fresh processes, back to
back, alternating which goes first (``--rounds``), on the same data; the revision's own copy of
this script runs its code (``git archive``). The machine is shared and loaded: compare the
pairs, not absolute times across runs.

Run: ``.venv/bin/python benchmarks/musique_ingest.py [--embeddings hash|sentence-transformers:all-MiniLM-L6-v2]
[--limit N] [--recall] [--ab REV --rounds 1]``. Writes ``benchmarks/results/musique_ingest.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import numpy as np
from langchain_core.embeddings import Embeddings

from memagents.config import Settings
from memagents.eval import load_musique, mean_recall
from memagents.eval.musique import musique_dir
from memagents.graphmem import GraphMemory
from memagents.models import embeddings_id, resolve_embeddings
from memagents.testing import OpenAIServer

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
KS = (1, 2, 5, 10)


class TimedEmbeddings(Embeddings):
    """Wraps an embedder and accumulates the seconds spent inside it."""

    def __init__(self, inner: Embeddings) -> None:
        self.inner = inner
        self.seconds = 0.0
        self.model = getattr(inner, "model_name_or_path", None) or type(inner).__name__
        self.request_size = getattr(inner, "request_size", None)  # requests as embed_texts

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        t = time.perf_counter()
        try:
            return self.inner.embed_documents(texts)
        finally:
            self.seconds += time.perf_counter() - t

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def ingest(args: argparse.Namespace) -> dict[str, Any]:
    """Index the passages into a fresh memory; the report (and recall with ``--recall``)."""
    data = load_musique()
    passages = data.passages[: args.limit]
    texts = [text for _, text, _ in passages]
    ids = [pid for pid, _, _ in passages]
    answers = {
        text: {"entities": o.get("extracted_entities", []), "triples": raw}
        for (_, text, raw), o in zip(data.passages, data.openie)
    }

    def reply(body: dict[str, Any]) -> dict[str, Any]:
        prompt = body["messages"][-1]["content"]
        passage = prompt.split("Passage:\n", 1)[1]
        return answers[passage]

    with OpenAIServer(require_json_word=False) as server, tempfile.TemporaryDirectory() as tmp:
        server.add_rule(lambda body: True, reply)
        settings = Settings.load(
            llm="openai:gpt-4o-mini",
            openai_base_url=server.base_url,
            max_concurrency=1,
            embeddings=args.embeddings,
        )
        inner = resolve_embeddings(args.embeddings, settings)
        emb = TimedEmbeddings(inner)
        memory = GraphMemory.open(tmp, settings=settings, embeddings=emb, use_filter=False)
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        result = memory.add(texts, ids=ids)
        wall = time.perf_counter() - t0
        usage = memory.usage.as_dict()
        stats = memory.stats()["graph"]
        t1 = time.perf_counter()
        again = memory.add(texts, ids=ids)
        readd = time.perf_counter() - t1
        quality = recall(memory, emb, data, passages) if args.recall else None
        memory.close()
        n = len(texts)
        embed_s = emb.seconds
        # Usage.latency_s sums LLM and embedding request latencies; remove the embedding part
        llm_s = max(0.0, usage["latency_s"] - embed_s)
        report = {
            "passages": n,
            "embeddings": args.embeddings,
            "encoder": {
                "workers": getattr(inner, "workers", None),
                "batch_size": getattr(inner, "batch_size", None),
                "request_size": getattr(inner, "request_size", None),
            },
            "load_average_at_start": round(load, 2),
            "llm_calls": result.llm_calls,
            "llm_calls_per_passage": round(result.llm_calls / n, 4),
            "server_chat_requests": len(server.chat_requests),
            "prompt_tokens": usage["prompt_tokens"],
            "completion_tokens": usage["completion_tokens"],
            "embedding_calls": result.embedding_calls,
            "failed": len(result.failed),
            "dropped_triples": result.dropped_triples,
            "wall_s": round(wall, 2),
            "llm_round_trip_s": round(llm_s, 2),
            "embedding_s": round(embed_s, 2),
            "overhead_ms_per_passage": round(1000 * max(0.0, wall - llm_s - embed_s) / n, 2),
            "llm_round_trip_ms_per_passage": round(1000 * llm_s / n, 2),
            "graph": stats,
            "re_add_unchanged": {
                "llm_calls": again.llm_calls,
                "embedding_calls": again.embedding_calls,
                "seconds": round(readd, 2),
            },
        }
        if quality is not None:
            report["recall"] = quality
    return report


def recall(
    memory: GraphMemory, emb: TimedEmbeddings, data: Any, passages: list[Any]
) -> dict[str, Any]:
    """Recall@k from the memory's stored vectors and from one plain encode of every string."""
    from memagents.graphmem.core.config import PRESETS
    from memagents.graphmem.core.graph import GraphIndex
    from memagents.graphmem.core.search import GraphSearcher
    from memagents.graphmem.db import text_key
    from memagents.graphmem.prefetch import graph_strings

    strings = list(dict.fromkeys(graph_strings(passages)))
    stored = memory.db.vectors(embeddings_id(emb), [text_key(s) for s in strings])
    mine = np.stack([stored[text_key(s)] for s in strings])
    model = getattr(emb.inner, "_model", None)
    if model is None:
        raise SystemExit("--recall needs a sentence-transformers model (--embeddings ...)")
    t = time.perf_counter()
    plain = np.asarray(model.encode(strings, batch_size=64, normalize_embeddings=True,
                                    convert_to_numpy=True, show_progress_bar=False), np.float32)
    plain_s = time.perf_counter() - t
    questions = [q["question"] for q in data.questions]
    qids = [q["id"] for q in data.questions]
    qvec = np.asarray(model.encode(questions, normalize_embeddings=True, convert_to_numpy=True,
                                   show_progress_bar=False), np.float32)
    golds = [data.gold[q] for q in qids]
    cos = np.sum(mine * plain, axis=1)
    out: dict[str, Any] = {
        "strings": len(strings),
        "cosine_stored_vs_plain_encode": {"min": round(float(cos.min()), 7),
                                          "mean": round(float(cos.mean()), 7)},
        "max_abs_difference": float(np.abs(mine - plain).max()),
        "plain_encode_s": round(plain_s, 2),
        "questions": len(qids),
    }
    for name, vectors in (("stored_by_ingest", mine), ("plain_encode", plain)):
        lookup = dict(zip(strings, vectors))

        def embed(texts: list[str], lookup: dict[str, np.ndarray] = lookup) -> np.ndarray:
            return np.stack([lookup[t] for t in texts])

        ranks: dict[str, dict[str, float]] = {}
        for preset in ("hipporag2", "default"):
            index = GraphIndex(PRESETS[preset].graph, embed=embed)
            index.add(passages)
            if preset == "hipporag2":
                m = index.matrices()
                dense = [[m.passages[j] for j in np.argsort(-(m.passage_vectors @ v))[:10]]
                         for v in qvec]
                ranks["dense"] = _rounded(mean_recall(dense, golds, KS))
            hits = GraphSearcher(index, preset).search_many(questions, k=10,
                                                            query_vectors=(qvec, qvec))
            ranks[preset] = _rounded(mean_recall([[h.passage_id for h in r.hits] for r in hits],
                                                 golds, KS))
        out[name] = ranks
    out["identical"] = out["stored_by_ingest"] == out["plain_encode"]
    return out


def _rounded(rec: dict[int, float]) -> dict[str, float]:
    return {f"R@{k}": round(v, 4) for k, v in rec.items()}


def child(script: Path, pythonpath: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Run ``script`` (one ingest) in a fresh process; its report."""
    cmd = [sys.executable, str(script), "--embeddings", args.embeddings]
    if args.limit is not None:
        cmd += ["--limit", str(args.limit)]
    # the data folder as this tree finds it (another tree would look beside itself)
    env = {**os.environ, "PYTHONPATH": str(pythonpath),
           "MEMAGENTS_DATA_DIR": str(musique_dir().parent)}
    subprocess.run(cmd, check=True, env=env, cwd=pythonpath, stdout=subprocess.DEVNULL)
    report: dict[str, Any] = json.loads(
        (script.parent / "results" / "musique_ingest.json").read_text()
    )
    return report


def ab(args: argparse.Namespace) -> dict[str, Any]:
    """Back-to-back runs of ``args.ab`` (a git revision) and of this working tree."""
    root = HERE.parent
    rev = subprocess.run(["git", "rev-parse", "--short", args.ab], cwd=root, check=True,
                         capture_output=True, text=True).stdout.strip()
    pairs = []
    with tempfile.TemporaryDirectory() as old, tempfile.TemporaryDirectory() as new:
        archive = subprocess.run(["git", "archive", args.ab], cwd=root, check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", old], input=archive, check=True)
        # a copy of this script, so that its child writes its report beside itself
        new_script = Path(new) / "benchmarks" / "musique_ingest.py"
        (new_script.parent / "results").mkdir(parents=True)
        new_script.write_text(Path(__file__).read_text())
        old_script = Path(old) / "benchmarks" / "musique_ingest.py"
        for r in range(args.rounds):
            runs = [("before", old_script, Path(old)), ("after", new_script, root)]
            got: dict[str, dict[str, Any]] = {}
            for name, script, path in runs if r % 2 == 0 else runs[::-1]:
                print(f"round {r + 1}: {name} ...", flush=True)
                got[name] = child(script, path, args)
            pairs.append({
                "first": "before" if r % 2 == 0 else "after",
                "before_wall_s": got["before"]["wall_s"],
                "after_wall_s": got["after"]["wall_s"],
                "before_embedding_s": got["before"]["embedding_s"],
                "after_embedding_s": got["after"]["embedding_s"],
                "speedup": round(got["before"]["wall_s"] / got["after"]["wall_s"], 2),
                "load_average": [got["before"].get("load_average_at_start"),
                                 got["after"].get("load_average_at_start")],
            })
    return {"revision": rev, "embeddings": args.embeddings, "passages": args.limit or 1890,
            "pairs": pairs,
            "median_speedup": round(float(np.median([p["speedup"] for p in pairs])), 2)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embeddings", default="hash")
    parser.add_argument("--limit", type=int, default=None, help="first N passages only")
    parser.add_argument("--recall", action="store_true",
                        help="check the stored vectors and recall@k against a plain encode")
    parser.add_argument("--ab", metavar="REV", default=None,
                        help="also time the git revision REV against this tree, back to back")
    parser.add_argument("--rounds", type=int, default=1, help="A/B pairs (with --ab)")
    args = parser.parse_args(argv)
    comparison = ab(args) if args.ab else None
    report = ingest(args)
    if comparison is not None:
        report["ab"] = comparison
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "musique_ingest.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
