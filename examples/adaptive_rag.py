"""Adaptive RAG over a graph memory: retrieve only when the model's own memory is not enough.

Builds a GraphMemory over the project's fictional sample world (its passages with their known
triples, so no extraction call is spent), compiles the adaptive-RAG workflow (gate -> recall
from the memory -> conflict-aware answer, with a closed-book fast path) and asks a few of the
world's PopQA-style questions, from the most to the least popular subject. Nothing in the world
can be recalled from a model's training data, so a well-calibrated gate retrieves for all of
them; the answers are scored with PopQA's containment rule.

Run against OpenAI (or any OpenAI-compatible server via OPENAI_BASE_URL)::

    export OPENAI_API_KEY=sk-...
    python examples/adaptive_rag.py --llm openai:gpt-4o-mini --folder ./rag-memory

The tests run this same code against the loopback server (tests/test_gate_workflow.py).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from memagents.eval.scoring import is_correct
from memagents.gate.workflow import build_adaptive_rag
from memagents.graphmem import GraphMemory
from memagents.sample import SampleWorld


def pick_questions(world: SampleWorld, n: int = 3) -> list[Any]:
    """``n`` PopQA-style questions spread from the most to the least popular subject."""
    ranked = sorted(world.popqa, key=lambda q: (-q.s_pop, q.id))
    if n >= len(ranked):
        return ranked
    if n == 1:
        return ranked[:1]
    step = (len(ranked) - 1) / (n - 1)
    return [ranked[round(i * step)] for i in range(n)]


def build_memory(memory: GraphMemory, world: SampleWorld) -> None:
    """Store every passage of ``world`` with its known triples (no LLM call)."""
    memory.add_triples(
        [(f"{p.title}\n{p.text}", [list(t) for t in p.triples]) for p in world.passages],
        ids=[p.id for p in world.passages],
    )


def run(
    llm: Any,
    folder: str,
    *,
    n: int = 3,
    seed: int = 0,
    size: str = "small",
    gate: Any = None,
    embeddings: str = "hash",
) -> list[dict[str, Any]]:
    """Ask ``n`` of the world's questions through the adaptive-RAG workflow.

    Args:
        llm: A chat model or a spec such as ``"openai:gpt-4o-mini"``.
        folder: The graph memory's folder (created, and reused on later runs).
        n: Number of questions.
        seed: Sample-world seed.
        size: Sample-world size.
        gate: Gate policy name or object (default: Adapt-LLM on ``llm``).
        embeddings: Embedding spec of the memory (``"hash"``: offline, lexical).

    Returns:
        One plain dict per question: ``question``, ``answer``, ``answer_source``,
        ``retrieved``, ``conflict``, ``sources`` (passage ids), ``correct``, ``s_pop``.
    """
    world = SampleWorld.generate(seed, size=size)
    results = []
    with GraphMemory.open(folder, embeddings=embeddings, use_filter=False) as memory:
        build_memory(memory, world)
        graph = build_adaptive_rag(llm, memory, gate=gate, k=3)
        for q in pick_questions(world, n):
            out = graph.invoke(
                {"question": q.question, "metadata": {"s_pop": q.s_pop, "prop": q.prop}}
            )
            results.append({
                "question": q.question,
                "s_pop": q.s_pop,
                "answer": out["answer"],
                "answer_source": out["answer_source"],
                "retrieved": bool(out["decision"]["retrieve"]),
                "conflict": bool(out.get("conflict")),
                "sources": [d.id for d in out.get("documents") or []],
                "gold_passage": q.gold_passage_id,
                "correct": is_correct(out["answer"], list(q.possible_answers)),
            })
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llm", default=None, help="chat model spec (default: MEMAGENTS_LLM)")
    parser.add_argument("--folder", default="./rag-memory")
    parser.add_argument("--gate", default=None, help="policy: adapt-llm (default), always, ...")
    parser.add_argument("-n", type=int, default=3, help="number of questions")
    args = parser.parse_args(argv)
    from memagents.config import get_settings

    llm = args.llm or get_settings().llm
    if not llm:
        print("set --llm openai:MODEL or MEMAGENTS_LLM (and OPENAI_API_KEY / OPENAI_BASE_URL)")
        return 2
    for r in run(llm, args.folder, n=args.n, gate=args.gate):
        how = "retrieved " + ", ".join(r["sources"]) if r["retrieved"] else "closed-book"
        mark = "correct" if r["correct"] else "wrong"
        print(f"{r['question']} (s_pop {r['s_pop']})\n  -> {r['answer']!r} "
              f"[{r['answer_source']}; {how}; {mark}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
