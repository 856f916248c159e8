"""Run the checks on planted candidates with the sample-world oracle (an honest simulation).

:func:`run_planted` plants good and bad candidates (:mod:`.planted`), scripts two oracles
(:class:`~.oracle.WorldOracle`): the agents' model, which "remembers" the closed-book leaks,
and the second solver's model, which answers the planted non-unique question differently,
then runs the verification half of the workflow (every check after composition) and reports,
per kind, which check rejected each candidate. The guidance agent solves against the world's
exact facts (an oracle knowledge base, so shortcuts and redundancy are decided strictly).

Example:
    >>> from memagents.sample import SampleWorld
    >>> expected_check("stale"), expected_check("good")
    ('freshness', None)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from memagents.browsecomp.candidate import Candidate
from memagents.browsecomp.checks import TablePopularity
from memagents.browsecomp.factbase import FactBase
from memagents.browsecomp.pipeline import build_synthesis, make_guide, run_synthesis
from memagents.browsecomp.research.oracle import WorldOracle
from memagents.browsecomp.research.planted import BAD_KINDS, plant
from memagents.browsecomp.synthesis import SynthesisSettings
from memagents.sample import SampleWorld
from memagents.web.browse import BrowseSettings, build_browse_agent

__all__ = ["expected_check", "run_planted"]

ModelFor = Callable[[WorldOracle, str], Any]


def expected_check(kind: str) -> str | None:
    """The check that must reject a planted ``kind`` (``None``: it must be accepted)."""
    return BAD_KINDS.get(kind)


def _chain(c: Candidate) -> list[tuple[str, str, str]]:
    return [(h.subject, h.relation, h.object) for h in c.hops]


async def run_planted(world: SampleWorld, web: Any, model_for: ModelFor, *, anchor: str,
                      threshold: float = 5_000.0, n_good: int = 4,
                      concurrency: int = 4) -> dict[str, Any]:
    """Plant, verify, compare (see the module docstring).

    Args:
        world: The served world (a snapshot with fresh pages).
        web: Its :class:`~memagents.web.offline.OfflineWeb`.
        model_for: ``(oracle, name) -> chat model`` answering through ``oracle`` (a scripted
            model in-process, or a client of the loopback server).
        anchor / threshold / n_good / concurrency: The run's settings.

    Returns:
        ``{"rows": [{"kind", "expected", "rejected_by", "ok"}...], "stats", "candidates",
        "agreement"}``.
    """
    planted = await plant(world, web.fetcher, anchor=anchor, n_good=n_good,
                          threshold=threshold)
    leaks = [c.question for c in planted.get("closed_book", ())]
    alternatives = {c.question: "an unrelated place" for c in planted.get("second_solver", ())}
    agents, second = WorldOracle(world, leaks=leaks), WorldOracle(world,
                                                                  alternatives=alternatives)
    kinds: dict[str, str] = {}
    for kind, cands in planted.items():
        for c in cands:
            agents.register(c.question, _chain(c))
            second.register(c.question, _chain(c))
            kinds[c.id] = kind
    settings = SynthesisSettings(anchor=anchor, popularity_threshold=threshold)
    second_agent = build_browse_agent(model_for(second, "second-solver"), web.search,
                                      web.fetcher, settings=BrowseSettings(
                                          max_tool_calls=2 * settings.solver_tool_calls))

    async def second_solver(question: str) -> dict[str, Any]:
        return dict(await second_agent.ainvoke({"question": question}))

    graph = build_synthesis(
        model_for(agents, "agents"), web.search, web.fetcher, settings=settings,
        guide=make_guide(FactBase.from_world(world)),
        popularity=TablePopularity({e.name: e.popularity for e in world.entities}),
        second_solver=second_solver)
    out = await run_synthesis(graph, [], verify=[c for cs in planted.values() for c in cs],
                              concurrency=concurrency)
    rows = []
    for data in out["candidates"]:
        c = Candidate.from_dict(data)
        kind = kinds.get(c.id, "?")
        failed = [r.name for r in c.failed]
        rows.append({"kind": kind, "expected": expected_check(kind),
                     "rejected_by": failed[0] if failed else None,
                     "reason": c.failed[0].reason if c.failed else "",
                     "ok": (failed[:1] == [expected_check(kind)]) if expected_check(kind)
                     else c.status == "accepted"})
    rows.sort(key=lambda r: (r["kind"] != "good", r["kind"]))
    agreement = sum(r["ok"] for r in rows) / len(rows) if rows else 0.0
    return {"rows": rows, "stats": out.get("stats", {}), "candidates": out["candidates"],
            "agreement": agreement, "planted": {k: len(v) for k, v in planted.items()}}
