"""The synthesis workflow on the offline web with the sample-world oracle (a simulation):
planted candidates, seeds end to end, resume after a crash, faults."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from memagents.browsecomp.candidate import Candidate, normalize_text
from memagents.browsecomp.checks import TablePopularity
from memagents.browsecomp.factbase import FactBase
from memagents.browsecomp.pipeline import CHECKS, build_synthesis, make_guide, run_synthesis
from memagents.browsecomp.research.oracle import WorldOracle
from memagents.browsecomp.research.planted import BAD_KINDS
from memagents.browsecomp.research.simulate import run_planted
from memagents.browsecomp.synthesis import SynthesisSettings
from memagents.errors import InputError
from memagents.models import Budget
from memagents.sample import SampleWorld
from memagents.testing import ScriptedChatModel
from memagents.web.offline import OfflineWeb, offline_web

ANCHOR = "2026-07-01"


@pytest.fixture(scope="module")
def world() -> SampleWorld:
    return SampleWorld.generate(0).snapshot(1)


@pytest.fixture
def web(world: SampleWorld) -> Iterator[OfflineWeb]:
    with offline_web(world) as running:
        yield running


def _scripted(oracle: WorldOracle, name: str = "") -> ScriptedChatModel:
    return ScriptedChatModel(rules=[oracle.rule()])


def _run(web: OfflineWeb, coro: Any) -> Any:
    async def main() -> Any:
        try:
            return await coro
        finally:
            await web.fetcher.aclose()
    return asyncio.run(main())


def _seeds(world: SampleWorld) -> list[str]:
    changed = world.changes_since(0).changed_facts
    return list(dict.fromkeys(world.entity(new.subject_id).name for _, new in changed
                              if not new.literal))


def _graph(world: SampleWorld, web: OfflineWeb, oracle: WorldOracle, **kw: Any) -> Any:
    settings = kw.pop("settings", SynthesisSettings(anchor=ANCHOR))
    return build_synthesis(
        kw.pop("llm", _scripted(oracle)), kw.pop("search", web.search), web.fetcher,
        settings=settings, guide=make_guide(FactBase.from_world(world)),
        popularity=TablePopularity({e.name: e.popularity for e in world.entities}), **kw)


def test_every_check_rejects_its_planted_bad_candidate_and_accepts_the_good(
        world: SampleWorld, web: OfflineWeb) -> None:
    out = _run(web, run_planted(world, web, _scripted, anchor=ANCHOR))
    assert set(out["planted"]) == {"good", *BAD_KINDS}, "every bad kind could be planted"
    assert out["planted"]["good"] >= 3
    bad = [(r["kind"], r["rejected_by"], r["reason"]) for r in out["rows"] if not r["ok"]]
    assert not bad, bad
    assert out["agreement"] == 1.0
    accepted = [Candidate.from_dict(c) for c in out["candidates"]
                if c["status"] == "accepted"]
    assert len(accepted) == out["planted"]["good"]
    for c in accepted:  # every gate ran and passed, in order
        assert [r.name for r in c.checks] == list(CHECKS)
        assert all(r.passed for r in c.checks)


def test_seeds_end_to_end_counts_add_up(world: SampleWorld, web: OfflineWeb) -> None:
    oracle = WorldOracle(world)
    seeds = _seeds(world)
    out = _run(web, run_synthesis(_graph(world, web, oracle), seeds, concurrency=3))
    stats, cands = out["stats"], [Candidate.from_dict(c) for c in out["candidates"]]
    assert stats["seeds"] == len(seeds) == len(cands)
    assert {normalize_text(c.seed) for c in cands} == {normalize_text(s) for s in seeds}
    rejected = sum(v for k, v in stats.items() if k.startswith("rejected:"))
    assert rejected + stats["accepted"] == len(cands)
    assert stats["accepted"] == sum(c.status == "accepted" for c in cands)
    for c in cands:
        assert c.status in ("accepted", "rejected")
        if c.status == "rejected":
            assert c.failed, "a rejected candidate says which check failed"
    assert oracle.calls["extract"] >= len(seeds) and oracle.calls["compose"] >= len(seeds)
    assert stats["fetches"] > 0 and stats["llm_calls"] > 0


def test_a_killed_run_resumes_without_redoing_or_duplicating(
        world: SampleWorld, web: OfflineWeb) -> None:
    seeds = _seeds(world)[:4]

    class Flaky:
        """A search backend that crashes (not a backend error: a bug) once for one seed."""

        def __init__(self) -> None:
            self.crashed = False
            self.queries: list[str] = []

        async def asearch(self, query: str, k: int = 10) -> Any:
            self.queries.append(query)
            if query == seeds[-1] and not self.crashed:
                self.crashed = True
                raise RuntimeError("killed midway")
            return await web.search.asearch(query, k=k)

        def search(self, query: str, k: int = 10) -> Any:
            return web.search.search(query, k=k)

    flaky = Flaky()
    saver = InMemorySaver()
    graph = _graph(world, web, WorldOracle(world), search=flaky, checkpointer=saver)

    async def both() -> tuple[str, dict[str, Any]]:
        try:
            await run_synthesis(graph, seeds, concurrency=1, thread_id="run-1")
        except RuntimeError as exc:
            first = str(exc)
        else:
            first = "no crash"
        done_before = len([q for q in flaky.queries if q in seeds])
        out = await run_synthesis(graph, seeds, concurrency=1, thread_id="run-1")
        redone = len([q for q in flaky.queries if q in seeds]) - done_before
        return f"{first}|{redone}", out

    summary, out = _run(web, both())
    first, redone = summary.split("|")
    assert first == "killed midway"
    assert int(redone) == 1, "only the crashed seed runs again"
    assert out["stats"]["seeds"] == len(seeds), "no seed counted twice"
    ids = [c["id"] for c in out["candidates"]]
    assert len(ids) == len(set(ids)) == len(seeds)


def test_a_failing_search_backend_rejects_its_seeds_and_the_run_goes_on(
        world: SampleWorld, web: OfflineWeb) -> None:
    from memagents.web.search.base import SearchError

    class Down:
        async def asearch(self, query: str, k: int = 10) -> Any:
            raise SearchError("searxng is down (connection refused): start it or set "
                              "MEMAGENTS_SEARXNG_URL", backend="searxng", kind="unavailable")

        def search(self, query: str, k: int = 10) -> Any:
            raise AssertionError("not used")

    out = _run(web, run_synthesis(_graph(world, web, WorldOracle(world), search=Down()),
                                  ["Nithorn Works", "Zaenund Mills"]))
    assert out["stats"]["rejected:explore"] == 2 and out["stats"]["accepted"] == 0
    reasons = [c["checks"][-1]["reason"] for c in out["candidates"]]
    assert all("SearchError" in r and "down" in r for r in reasons)


def test_unusable_model_replies_are_rejected_and_counted_never_released(
        world: SampleWorld, web: OfflineWeb) -> None:
    oracle = WorldOracle(world)

    def reply(messages: list[Any]) -> str:
        text = "\n".join(str(m.content) for m in messages)
        if "You write hard" in text:  # the composer answers with something off the chain
            return json.dumps({"question": "Who is it?", "answer": "Nobody In Particular",
                               "constraints": [{"target": "?answer", "relation": "x",
                                                "value": "y", "hop": 7}]})
        return oracle.reply(text)

    llm = ScriptedChatModel(rules=[(lambda _m: True, reply)])
    out = _run(web, run_synthesis(_graph(world, web, oracle, llm=llm), _seeds(world)[:3]))
    assert out["stats"]["accepted"] == 0
    assert out["stats"]["rejected:compose"] == 3
    reason = out["candidates"][0]["checks"][-1]["reason"]
    assert "no entity of the chain" in reason and "do not exist" in reason


def test_a_budget_stops_the_run_cleanly(world: SampleWorld, web: OfflineWeb) -> None:
    oracle = WorldOracle(world)
    graph = _graph(world, web, oracle, budget=Budget(max_llm_calls=3))
    out = _run(web, run_synthesis(graph, _seeds(world)[:3], concurrency=1))
    assert out["stats"]["accepted"] == 0 and out["stats"]["seeds"] == 3
    reasons = " ".join(c["checks"][-1]["reason"] for c in out["candidates"])
    assert "budget exhausted" in reasons


def test_arguments_are_checked() -> None:
    with pytest.raises(InputError, match="anchor"):
        SynthesisSettings(anchor="July 2026")
    with pytest.raises(InputError, match="hops"):
        SynthesisSettings(anchor=ANCHOR, hops=1)

    async def empty() -> None:
        await run_synthesis(object(), [])
    with pytest.raises(InputError, match="no seeds"):
        asyncio.run(empty())
