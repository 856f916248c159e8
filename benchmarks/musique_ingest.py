"""Ingest benchmark: all 1,890 MuSiQue passages through the real ``openai`` client.

A loopback OpenAI-compatible server (``memagents.testing.OpenAIServer``) replays the shared
GPT-3.5 OpenIE output as the LLM's answers, so extraction goes end to end through
``openai:gpt-4o-mini`` resolution, ``ChatOpenAI``, HTTP, JSON-mode parsing, schema validation,
the extraction cache, embedding and graph construction. Reported: LLM calls (must be one per
passage), tokens, wall time, and our overhead per passage excluding model time (LLM round
trips and embedding), with ``max_concurrency=1`` so client-side latencies add up to wall time.

Run: ``.venv/bin/python benchmarks/musique_ingest.py [--embeddings hash|sentence-transformers:all-MiniLM-L6-v2]``
Writes ``benchmarks/results/musique_ingest.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from langchain_core.embeddings import Embeddings

from memagents.config import Settings
from memagents.eval import load_musique
from memagents.graphmem import GraphMemory
from memagents.models import resolve_embeddings
from memagents.testing import OpenAIServer

RESULTS = Path(__file__).resolve().parent / "results"


class TimedEmbeddings(Embeddings):
    """Wraps an embedder and accumulates the seconds spent inside it."""

    def __init__(self, inner: Embeddings) -> None:
        self.inner = inner
        self.seconds = 0.0
        self.model = getattr(inner, "model_name_or_path", None) or type(inner).__name__

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        t = time.perf_counter()
        try:
            return self.inner.embed_documents(texts)
        finally:
            self.seconds += time.perf_counter() - t

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embeddings", default="hash")
    parser.add_argument("--limit", type=int, default=None, help="first N passages only")
    args = parser.parse_args(argv)
    data = load_musique()
    texts = [text for _, text, _ in data.passages][: args.limit]
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
        emb = TimedEmbeddings(resolve_embeddings(args.embeddings, settings))
        memory = GraphMemory.open(tmp, settings=settings, embeddings=emb, use_filter=False)
        t0 = time.perf_counter()
        result = memory.add(texts, ids=[f"m{i:04d}" for i in range(len(texts))])
        wall = time.perf_counter() - t0
        usage = memory.usage.as_dict()
        stats = memory.stats()["graph"]
        t1 = time.perf_counter()
        again = memory.add(texts, ids=[f"m{i:04d}" for i in range(len(texts))])
        readd = time.perf_counter() - t1
        memory.close()
        n = len(texts)
        embed_s = emb.seconds
        # Usage.latency_s sums LLM and embedding request latencies; remove the embedding part
        llm_s = max(0.0, usage["latency_s"] - embed_s)
        report = {
            "passages": n,
            "embeddings": args.embeddings,
            "llm_calls": result.llm_calls,
            "llm_calls_per_passage": round(result.llm_calls / n, 4),
            "server_chat_requests": len(server.chat_requests),
            "prompt_tokens": usage["prompt_tokens"],
            "completion_tokens": usage["completion_tokens"],
            "failed": len(result.failed),
            "dropped_triples": result.dropped_triples,
            "wall_s": round(wall, 2),
            "llm_round_trip_s": round(llm_s, 2),
            "embedding_s": round(embed_s, 2),
            "overhead_ms_per_passage": round(1000 * (wall - llm_s - embed_s) / n, 2),
            "llm_round_trip_ms_per_passage": round(1000 * llm_s / n, 2),
            "graph": stats,
            "re_add_unchanged": {
                "llm_calls": again.llm_calls,
                "embedding_calls": again.embedding_calls,
                "seconds": round(readd, 2),
            },
        }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "musique_ingest.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
