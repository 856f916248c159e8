"""A sample-world question answered by the browse agent over the offline web, with citations.

The sample world's website (353 pages on 4 ``.test`` domains) is served on loopback by
:func:`memagents.web.offline.offline_web`, with a local search index over it and the safe
fetcher (robots.txt honoured, private addresses refused, only the served hosts allowed). The
browse agent searches, reads pages and answers; each action is printed as it happens, then the
answer with the pages it cites, in BrowseComp's response format.

Run against OpenAI (or any OpenAI-compatible server via OPENAI_BASE_URL)::

    export OPENAI_API_KEY=sk-...
    python examples/browse_agent.py --llm openai:gpt-4o-mini
    python examples/browse_agent.py --llm openai:gpt-4o-mini --multi-hop
    python examples/browse_agent.py --llm openai:gpt-4o-mini --question "Who founded ...?"

No network is used besides the model: the web is on 127.0.0.1. The tests run this same code
against the loopback OpenAI server (tests/test_web_examples.py).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from memagents.sample import SampleWorld
from memagents.web.browse import BrowseSettings, build_browse_agent
from memagents.web.offline import offline_web


def pick_question(world: SampleWorld, *, multi_hop: bool = False) -> tuple[str, str]:
    """``(question, gold answer)``: "Where was BAND formed?" for the world's first band, or
    with ``multi_hop`` the world's first two-hop question."""
    if multi_hop:
        question = next(q for q in world.questions if q.hops == 2)
        return question.question, question.answer
    fact = next(f for f in world.facts if f.relation == "formed_in")
    return (f"Where was {world.entity(fact.subject_id).name} formed?",
            world.entity(fact.object).name)


def describe(step: dict[str, Any]) -> str:
    """One line for one action of the transcript."""
    head = f"[{step.get('n')}] {step.get('kind')}"
    if step.get("kind") == "search":
        head += f" {step.get('query')!r}"
    elif step.get("kind") == "fetch":
        head += f" {step.get('url')}"
    if step.get("error"):
        return f"{head} -> refused or failed: {step['error']}"
    if step.get("kind") == "search":
        return f"{head} -> {len(step.get('urls') or [])} result(s)"
    if step.get("kind") == "fetch":
        date = f", published {step['published']}" if step.get("published") else ""
        return f"{head} -> {step.get('title')!r}{date} (id {step.get('ref')})"
    return head


def run(llm: Any, *, question: str | None = None, multi_hop: bool = False, seed: int = 0,
        max_tool_calls: int = 10, echo: Any = print) -> dict[str, Any]:
    """Answer ``question`` (default: :func:`pick_question`) over the offline web, printing each
    action through ``echo``; returns the agent's final state."""
    world = SampleWorld.generate(seed)
    gold = None
    if question is None:
        question, gold = pick_question(world, multi_hop=multi_hop)
    echo(f"question: {question}" + (f"  (gold: {gold})" if gold else ""))
    with offline_web(world) as web:
        echo(f"offline web: {len(world.website.pages)} pages on {', '.join(web.hosts)} "
             f"(127.0.0.1:{web.server.port})")
        agent = build_browse_agent(llm, web.search, web.fetcher,
                                   settings=BrowseSettings(max_tool_calls=max_tool_calls))
        final: dict[str, Any] = {}
        for mode, chunk in agent.stream({"question": question}, stream_mode=["updates", "values"]):
            if mode == "values":
                final = chunk
                continue
            for node, change in chunk.items():
                if node == "act" and change and change.get("steps"):
                    echo(describe(change["steps"][-1]))
    echo(f"answer: {final.get('answer')}  (confidence {final.get('confidence') or 0:.0f}%, "
         f"{final.get('tool_calls')} tool call(s), stopped: {final.get('stop_reason')})")
    for url in final.get("citations") or []:
        echo(f"  cited: {url}")
    for note in final.get("notes") or []:
        echo(f"  note: {note}")
    echo("BrowseComp response:")
    echo(final.get("response") or "")
    return final


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llm", default=None, help="chat model spec (default: MEMAGENTS_LLM)")
    parser.add_argument("--question", default=None, help="your own question about the world")
    parser.add_argument("--multi-hop", action="store_true",
                        help="the world's first two-hop question instead of a one-hop one")
    parser.add_argument("--seed", type=int, default=0, help="sample world seed")
    parser.add_argument("--max-tool-calls", type=int, default=10,
                        help="searches plus fetches allowed")
    args = parser.parse_args(argv)
    from memagents.config import get_settings

    llm = args.llm or get_settings().llm
    if not llm:
        print("set --llm openai:MODEL or MEMAGENTS_LLM (and OPENAI_API_KEY / OPENAI_BASE_URL)")
        return 2
    run(llm, question=args.question, multi_hop=args.multi_hop, seed=args.seed,
        max_tool_calls=args.max_tool_calls)
    return 0


if __name__ == "__main__":
    sys.exit(main())
