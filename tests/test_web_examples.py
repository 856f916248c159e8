"""examples/browse_agent.py runs as a user would run it, against the loopback OpenAI server
(the spec path: ``--llm openai:gpt-4o-mini`` with OPENAI_BASE_URL), over the offline web."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest

from memagents.testing import OpenAIServer

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "browse_agent.py"


def _load_example() -> Any:
    spec = importlib.util.spec_from_file_location("browse_agent_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def loopback(monkeypatch: pytest.MonkeyPatch, openai_server: OpenAIServer) -> OpenAIServer:
    """OPENAI_BASE_URL / OPENAI_API_KEY pointing at the loopback server, no retries."""
    for name, value in {**openai_server.env(), "MEMAGENTS_MAX_RETRIES": "0",
                        "MEMAGENTS_BACKOFF_BASE": "0"}.items():
        monkeypatch.setenv(name, value)
    return openai_server


def _policy(private: str) -> Any:
    """Tries a robots-disallowed page first, then searches, fetches the first result and
    answers from its text, citing it."""
    def reply(body: dict[str, Any]) -> dict[str, Any]:
        prompt = "\n".join(str(m["content"]) for m in body["messages"])
        entity = re.search(r"Question: Where was (.+) formed\?", prompt).group(1)  # type: ignore[union-attr]
        if "[1] fetch" not in prompt:
            return {"action": "fetch", "url": private}
        if "[2] search" not in prompt:
            return {"action": "search", "query": f"{entity} formed"}
        if "[3] fetch" not in prompt:
            url = re.findall(r"^ {3}(https?://\S+)$", prompt, flags=re.MULTILINE)[0]
            return {"action": "fetch", "url": url}
        url = re.search(r'<web_page id="P\d+" url="([^"]+)"', prompt).group(1)  # type: ignore[union-attr]
        city = re.search(r"formed in ([A-Z][\w-]+)", prompt).group(1)  # type: ignore[union-attr]
        return {"action": "answer", "exact_answer": city, "confidence": 85,
                "explanation": f"{url} says {entity} formed in {city}.", "citations": [url]}
    return reply


@pytest.mark.integration
def test_example_answers_with_citations_over_the_offline_web(
        loopback: OpenAIServer, capsys: pytest.CaptureFixture[str]) -> None:
    from memagents.sample import SampleWorld

    example = _load_example()
    world = SampleWorld.generate(0)
    question, gold = example.pick_question(world)
    private = next(u for u in world.website.pages if "/private/" in u)
    loopback.add_rule(lambda body: True, _policy(private))
    assert example.main(["--llm", "openai:gpt-4o-mini"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == f"question: {question}  (gold: {gold})"
    assert lines[1].startswith("offline web: 353 pages on ")
    assert lines[2].startswith(f"[1] fetch {private} -> refused or failed: refused")
    assert "robots.txt" in lines[2]
    assert re.fullmatch(r"\[2\] search '.+ formed' -> 5 result\(s\)", lines[3])
    band_page = re.match(r"\[3\] fetch (\S+) -> '(.+)', published \d{4}-\d\d-\d\d \(id P2\)",
                         lines[4])
    assert band_page is not None and band_page.group(2) in question
    assert lines[5] == (f"answer: {gold}  (confidence 85%, 3 tool call(s), stopped: "
                        "answered)")
    assert lines[6] == f"  cited: {band_page.group(1)}"
    assert lines[-1] == "Confidence: 85%" and f"Exact Answer: {gold}" in out
    assert len(loopback.chat_requests) == 4
    assert all(r["model"] == "gpt-4o-mini" for r in loopback.chat_requests)
    assert json.dumps(loopback.chat_requests[-1]).count("formed in") >= 1


def test_example_main_without_model_explains(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("MEMAGENTS_LLM", raising=False)
    assert _load_example().main([]) == 2
    assert "MEMAGENTS_LLM" in capsys.readouterr().out


def test_pick_question_multi_hop() -> None:
    from memagents.sample import SampleWorld

    world = SampleWorld.generate(0)
    question, gold = _load_example().pick_question(world, multi_hop=True)
    chosen = next(q for q in world.questions if q.question == question)
    assert chosen.hops == 2 and chosen.answer == gold
