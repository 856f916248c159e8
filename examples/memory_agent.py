"""An agent that remembers across threads through a GraphMemory-backed LangGraph store.

Thread 1 tells the agent a fact; thread 2 (a new conversation, same user) asks about it; the
agent recalls it with Personalized PageRank search over its graph memory. A different user
sees nothing.

Run against OpenAI (or any OpenAI-compatible server via OPENAI_BASE_URL)::

    export OPENAI_API_KEY=sk-...
    python examples/memory_agent.py --llm openai:gpt-4o-mini --folder ./agent-memory

The tests run this same code against the loopback server (tests/test_example_agent.py).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from memagents.graphmem import GraphMemory
from memagents.graphmem.workflow import build_memory_agent

CONVERSATION = [
    ("alice", "thread-1", "Please remember: my sister Ilse Varnholt lives in Quillmere."),
    ("alice", "thread-2", "Where does my sister live?"),
    ("bob", "thread-3", "Where does my sister live?"),
]


def ask(agent: Any, user: str, thread: str, text: str) -> str:
    """Send one user message in a thread; return the agent's final reply."""
    config = {"configurable": {"user_id": user, "thread_id": thread}}
    out = agent.invoke({"messages": [("user", text)]}, config)
    return str(out["messages"][-1].content)


def run(llm: Any, folder: str, *, embeddings: str | None = None) -> list[tuple[str, str, str]]:
    """Play :data:`CONVERSATION`; returns ``(user, question, answer)`` triples."""
    transcript = []
    with GraphMemory.open(folder, llm=llm, embeddings=embeddings) as memory:
        agent = build_memory_agent(llm, store=memory.as_store(index={"fields": ["text"]}))
        for user, thread, text in CONVERSATION:
            transcript.append((user, text, ask(agent, user, thread, text)))
    return transcript


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llm", default=None, help="chat model spec (default: MEMAGENTS_LLM)")
    parser.add_argument("--folder", default="./agent-memory")
    parser.add_argument("--embeddings", default=None, help="embedding spec (default: settings)")
    args = parser.parse_args(argv)
    from memagents.config import get_settings

    llm = args.llm or get_settings().llm
    if not llm:
        print("set --llm openai:MODEL or MEMAGENTS_LLM (and OPENAI_API_KEY / OPENAI_BASE_URL)")
        return 2
    for user, question, answer in run(llm, args.folder, embeddings=args.embeddings):
        print(f"[{user}] {question}\n  -> {answer}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
