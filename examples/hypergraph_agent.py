"""A multi-hop question answered by the hypergraph working memory (HGMem) over a graph memory.

The sample world's passages go into a GraphMemory with their known triples (no extraction
call); :class:`~memagents.hypermem.HypergraphAgent` then answers one of the world's two-hop
questions with the loop: retrieve, write memory points, plan the next sub-query, retrieve
again. Each step's memory diff is printed as it streams (``+`` added, ``~`` updated, ``-``
merged away), and the final memory is written as a self-contained HTML picture.

Run against OpenAI (or any OpenAI-compatible server via OPENAI_BASE_URL)::

    export OPENAI_API_KEY=sk-...
    python examples/hypergraph_agent.py --llm openai:gpt-4o-mini --folder ./sample-memory

The tests run this same code against the loopback server (tests/test_hypermem_interfaces.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from memagents.graphmem import GraphMemory
from memagents.hypermem import HypergraphAgent, HypergraphAnswer
from memagents.hypermem.cli import ShowPrinter
from memagents.sample import Question, SampleWorld


def pick_question(world: SampleWorld) -> Question:
    """The world's first two-hop question (its first question if it has none)."""
    return next((q for q in world.questions if q.hops == 2), world.questions[0])


def build_memory(world: SampleWorld, folder: str | Path, *,
                 embeddings: str | None = None) -> GraphMemory:
    """Open the GraphMemory in ``folder``; fill it with the world's passages and their known
    triples when it is empty. The caller closes it."""
    memory = GraphMemory.open(folder, embeddings=embeddings)
    if not memory.stats()["passages"]["indexed"]:
        memory.add_triples([(p.text, [list(t) for t in p.triples]) for p in world.passages],
                           ids=[p.id for p in world.passages])
    return memory


def run(llm: Any, folder: str | Path, *, html: str | Path = "hypergraph-memory.html",
        embeddings: str | None = None, steps: int = 3, seed: int = 0,
        echo: Any = print) -> tuple[Question, HypergraphAnswer]:
    """Answer :func:`pick_question` with the loop, printing each step's memory diff through
    ``echo``; write the memory's picture to ``html``."""
    world = SampleWorld.generate(seed)
    question = pick_question(world)
    echo(f"question: {question.question}  (gold: {question.answer})")
    with build_memory(world, folder, embeddings=embeddings) as memory:
        agent = HypergraphAgent(index=memory, llm=llm, max_steps=steps)
        result = agent.ask(question.question, on_update=ShowPrinter(echo))
    result.memory.write_html(html, f"HGMem: {question.question}")
    echo(f"answer: {result.answer}  ({result.steps} step(s), stopped: {result.stop_reason}, "
         f"{result.usage.llm_calls} LLM call(s))")
    echo(f"memory picture: {html}")
    return question, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llm", default=None, help="chat model spec (default: MEMAGENTS_LLM)")
    parser.add_argument("--folder", default="./sample-memory", help="graph memory folder")
    parser.add_argument("--embeddings", default=None, help="embedding spec (default: settings)")
    parser.add_argument("--steps", type=int, default=3, help="most retrieval rounds")
    parser.add_argument("--html", default="hypergraph-memory.html", help="memory picture file")
    args = parser.parse_args(argv)
    from memagents.config import get_settings

    llm = args.llm or get_settings().llm
    if not llm:
        print("set --llm openai:MODEL or MEMAGENTS_LLM (and OPENAI_API_KEY / OPENAI_BASE_URL)")
        return 2
    run(llm, args.folder, html=args.html, embeddings=args.embeddings, steps=args.steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
