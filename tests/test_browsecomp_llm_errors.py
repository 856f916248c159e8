"""Regression: a model failure inside one seed rejects that seed (counted, with the reason)
and the run goes on; it never crashes the whole run. Found serving ``browse_synthesis`` on
LangGraph Server with a model whose extraction replies were unusable: the LLMError of one
seed's explore node failed the run."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from memagents.browsecomp.checks import TablePopularity
from memagents.browsecomp.factbase import FactBase
from memagents.browsecomp.pipeline import build_synthesis, make_guide, run_synthesis
from memagents.browsecomp.research.oracle import WorldOracle
from memagents.browsecomp.synthesis import SynthesisSettings
from memagents.sample import SampleWorld
from memagents.testing import ScriptedChatModel
from memagents.web.offline import OfflineWeb, offline_web

ANCHOR = "2026-07-01"
GOOD, BROKEN = "The Kilvivo Sessions", "Zalvel"


@pytest.fixture(scope="module")
def world() -> SampleWorld:
    return SampleWorld.generate(0).snapshot(1)


@pytest.fixture
def web(world: SampleWorld) -> Iterator[OfflineWeb]:
    with offline_web(world) as running:
        yield running


def _run(world: SampleWorld, web: OfflineWeb, reply: Any) -> dict[str, Any]:
    graph = build_synthesis(
        ScriptedChatModel(rules=[(lambda _m: True, reply)]), web.search, web.fetcher,
        settings=SynthesisSettings(anchor=ANCHOR), guide=make_guide(FactBase.from_world(world)),
        popularity=TablePopularity({e.name: e.popularity for e in world.entities}))

    async def main() -> dict[str, Any]:
        try:
            return await run_synthesis(graph, [GOOD, BROKEN], concurrency=2)
        finally:
            await web.fetcher.aclose()
    return asyncio.run(main())


def _text(messages: list[Any]) -> str:
    return "\n".join(str(m.content) for m in messages)


def test_an_unusable_extraction_reply_rejects_its_seed_only(world: SampleWorld,
                                                            web: OfflineWeb) -> None:
    oracle = WorldOracle(world)

    def reply(messages: list[Any]) -> str:
        text = _text(messages)
        if "You collect facts" in text and f"Current entity: {BROKEN}" in text:
            return "Hello from the agent."  # no JSON, on every re-ask
        return oracle.reply(text)

    out = _run(world, web, reply)
    status = {c["seed"]: c["status"] for c in out["candidates"]}
    assert status == {GOOD: "accepted", BROKEN: "rejected"}
    broken = next(c for c in out["candidates"] if c["seed"] == BROKEN)
    assert broken["checks"][-1]["name"] == "explore"
    assert "LLMError" in broken["checks"][-1]["reason"]
    assert out["stats"]["rejected:explore"] == 1 and out["stats"]["accepted"] == 1


def test_a_check_whose_model_call_fails_rejects_and_says_so(world: SampleWorld,
                                                            web: OfflineWeb) -> None:
    oracle = WorldOracle(world)

    def reply(messages: list[Any]) -> str:
        text = _text(messages)
        if "you cannot browse" in text and BROKEN in text:
            raise RuntimeError("model server down")  # the scripted model raises
        return oracle.reply(text)

    out = _run(world, web, reply)
    status = {c["seed"]: c["status"] for c in out["candidates"]}
    assert status == {GOOD: "accepted", BROKEN: "rejected"}
    broken = next(c for c in out["candidates"] if c["seed"] == BROKEN)
    assert broken["checks"][-1]["name"] == "closed_book"
    assert broken["checks"][-1]["reason"].startswith("could not run: LLMError")
