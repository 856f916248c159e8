"""The example memory agent, end to end through the real openai client on the loopback server."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from memagents.testing import OpenAIServer, ToolCall

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "memory_agent.py"


def _load_example() -> Any:
    spec = importlib.util.spec_from_file_location("memory_agent_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def _script(server: OpenAIServer) -> None:
    """A tool-calling 'model': remember statements, recall for questions, answer from tools."""

    def agent(body: dict[str, Any]) -> Any:
        messages = body["messages"]
        last = messages[-1]
        if last["role"] == "tool":
            return f"From memory: {last['content']}"
        user = last["content"]
        if "remember" in user.lower():
            fact = user.split(":", 1)[1].strip()
            return [ToolCall("remember", {"text": fact})]
        return [ToolCall("recall", {"query": user})]

    def extract(body: dict[str, Any]) -> dict[str, Any]:
        return {
            "entities": ["Ilse Varnholt", "Quillmere"],
            "triples": [["Ilse Varnholt", "lives in", "Quillmere"],
                        ["Ilse Varnholt", "sister of", "user"]],
        }

    def recognize(body: dict[str, Any]) -> dict[str, Any]:  # keep every candidate fact
        prompt = body["messages"][-1]["content"]
        return {"facts": json.loads(prompt.split("Candidate facts: ", 1)[1])["fact"]}

    server.add_rule(lambda body: bool(body.get("tools")), agent)
    server.add_rule("Passage:", extract)
    server.add_rule("Candidate facts:", recognize)


@pytest.mark.integration
def test_agent_remembers_across_threads_not_across_users(
    tmp_path: Path, openai_server: OpenAIServer
) -> None:
    _script(openai_server)
    example = _load_example()
    llm = openai_server.chat_model(max_retries=0)
    transcript = example.run(llm, str(tmp_path / "memory"), embeddings="hash")
    (_, _, saved), (_, _, alice), (_, _, bob) = transcript
    assert "Remembered" in saved
    assert "Quillmere" in alice, "alice's second thread recalls the fact"
    assert "No memories found" in bob, "bob never sees alice's memories"
    tool_rounds = [r for r in openai_server.chat_requests if r.get("tools")]
    assert len(tool_rounds) == 6  # two model turns per user message
    prompts = [r["messages"][-1]["content"] for r in openai_server.chat_requests]
    assert sum("Passage:" in p for p in prompts) == 1, "the sentence was extracted once"
    assert sum("Candidate facts:" in p for p in prompts) >= 1, "recall ran the filter"
    assert json.loads(json.dumps(transcript))  # plain data


def test_example_main_without_model_explains(capsys: pytest.CaptureFixture[str]) -> None:
    example = _load_example()
    assert example.main(["--folder", "unused"]) == 2
    assert "MEMAGENTS_LLM" in capsys.readouterr().out
