"""One synthesis run, ready for a release: pick the web, the models and the seeds, run the
workflow with progress events, and return what :func:`~memagents.browsecomp.release.write_release`
takes.

Two webs:

* **live** (default): a search backend from a spec (``searxng``, ``brave``, ``tavily``,
  ``local:PATH``; default: the configured ones) and the safe fetcher from settings; seeds are
  required;
* **offline** (``offline=True``): the sample world's website served on loopback at a snapshot
  (:func:`memagents.web.offline.offline_web`); seeds default to the world's entities, those
  whose facts changed in the snapshot first.

``simulate=True`` (offline only) replaces the model by the sample-world oracle
(:mod:`memagents.browsecomp.research.oracle`), an honest simulation that exercises every
stage without any LLM; its releases say so in their manifest (``model:
"simulation:world-oracle"``).

Example:
    >>> out = synthesize(anchor="2026-07-01", n=2, offline=True, simulate=True,
    ...                  max_seeds=6)
    >>> out["model"], out["stats"]["seeds"], out["stats"]["accepted"] <= 2
    ('simulation:world-oracle', 6, True)
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from memagents.browsecomp.candidate import Candidate
from memagents.browsecomp.checks import SearchHitPopularity, TablePopularity
from memagents.browsecomp.factbase import FactBase
from memagents.browsecomp.pipeline import CHECKS, build_synthesis, make_guide
from memagents.browsecomp.synthesis import SynthesisSettings
from memagents.errors import ConfigError, InputError
from memagents.models import Budget
from memagents.web.browse import BrowseSettings, build_browse_agent

__all__ = ["asynthesize", "offline_seeds", "synthesize"]

Event = Callable[[str, dict[str, Any]], None]


def offline_seeds(world: Any, limit: int) -> list[str]:
    """Seeds for the offline web: subjects of facts changed in the snapshot first (fresh
    knowledge), then every entity by type and name; at most ``limit``."""
    changed = [world.entity(new.subject_id).name
               for _, new in world.changes_since(0).changed_facts] if world.snapshot_index else []
    others = [e.name for e in sorted(world.entities, key=lambda e: (e.type, e.name))
              if e.type not in ("country", "city")]
    return list(dict.fromkeys([*changed, *others]))[:limit]


async def _stream(graph: Any, inputs: Any, config: dict[str, Any],
                  on_event: Event | None) -> dict[str, Any]:
    final: dict[str, Any] = {}
    async for namespace, mode, data in graph.astream(
            inputs, config, stream_mode=["updates", "values"], subgraphs=True):
        if mode == "values" and not namespace:
            final = data
        elif mode == "updates" and on_event is not None:
            for node, update in (data or {}).items():
                if not namespace and node == "seed":
                    on_event("seed_done", {})
                elif namespace and node in ("explore", "compose", *CHECKS, "done"):
                    candidate = (update or {}).get("candidate") or {}
                    on_event("stage", {"stage": node, "status": candidate.get("status")})
    return dict(final)


async def asynthesize(*, anchor: str, n: int, llm: Any = None, second_llm: Any = None,
                      search: str | Any = None, seeds: Sequence[str] = (),
                      offline: bool = False, world_seed: int = 0, snapshot: int = 1,
                      simulate: bool = False, hops: int = 3, concurrency: int = 4,
                      max_llm_calls: int | None = None, popularity_threshold: float = 5_000.0,
                      max_seeds: int | None = None, checkpoint: str | Path | None = None,
                      resume: str | None = None, on_event: Event | None = None
                      ) -> dict[str, Any]:
    """Run the workflow once (see the module docstring); returns ``candidates`` (at most
    ``n`` accepted, every rejected one), ``stats``, ``model``, ``settings``, ``web``,
    ``extra`` (``run_id`` to resume; ``reused``: the run had finished in ``checkpoint``).

    With a ``checkpoint``, the run's id is ``resume`` or a hash of the anchor and seeds: an
    unfinished run of that id resumes, a finished one is returned as it was (no model call;
    event ``"finished"``), so running the same command again never redoes or double-counts."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InputError(f"--n must be a positive number of questions, got {n!r}.")
    if simulate and not offline:
        raise InputError("--simulate runs the sample-world oracle, which only knows the "
                         "offline web: add --offline.")
    settings = SynthesisSettings(anchor=anchor, hops=hops,
                                 popularity_threshold=popularity_threshold)
    async with AsyncExitStack() as stack:
        web, world, search_backend, fetcher = None, None, None, None
        if offline:
            from memagents.sample import SampleWorld
            from memagents.web.offline import offline_web

            world = SampleWorld.generate(world_seed, snapshot=snapshot)
            web = stack.enter_context(offline_web(world))
            search_backend, fetcher = web.search, web.fetcher
            stack.push_async_callback(fetcher.aclose)
            seeds = list(seeds) or offline_seeds(world, max_seeds or 3 * n)
        else:
            from memagents.web.fetch import Fetcher
            from memagents.web.search import open_search

            search_backend = search if hasattr(search, "asearch") else open_search(search)
            fetcher = Fetcher()
            stack.push_async_callback(fetcher.aclose)
            if not seeds:
                raise InputError("pass seed entities to start from: --seeds FILE (one per "
                                 "line) or --seed NAME (repeatable); --offline picks them from "
                                 "the sample world.")
        seeds = list(seeds)[:max_seeds] if max_seeds else list(seeds)
        model_name, agents_llm, second = _models(llm, second_llm, simulate, world)
        guide = make_guide(FactBase.from_world(world)) if simulate else make_guide()
        popularity = (TablePopularity({e.name: e.popularity for e in world.entities})
                      if world is not None else SearchHitPopularity(search_backend))
        second_solver = None
        if second is not None:
            agent = build_browse_agent(second, search_backend, fetcher, settings=BrowseSettings(
                max_tool_calls=2 * settings.solver_tool_calls))

            async def second_solver(question: str) -> dict[str, Any]:
                return dict(await agent.ainvoke({"question": question}))
        saver = None
        if checkpoint is not None:
            from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

            saver = await stack.enter_async_context(
                AsyncSqliteSaver.from_conn_string(str(checkpoint)))
        graph = build_synthesis(agents_llm, search_backend, fetcher, settings=settings,
                                guide=guide, popularity=popularity, solver=None,
                                second_solver=second_solver, checkpointer=saver,
                                budget=Budget(max_llm_calls=max_llm_calls)
                                if max_llm_calls else None)
        run_id = resume or "synthesis-" + hashlib.sha256(
            "\x1f".join([anchor, *seeds]).encode()).hexdigest()[:12]
        config: dict[str, Any] = {"max_concurrency": concurrency,
                                  "configurable": {"thread_id": run_id}}
        inputs: Any = {"seeds": seeds}
        finished: dict[str, Any] | None = None
        if saver is not None:
            state = await graph.aget_state(config)
            if state.next:
                inputs = None  # an unfinished run of these seeds: resume it
            elif state.values:  # this run finished: reuse its results, redo nothing
                finished = dict(state.values)
            elif resume:
                raise InputError(f"--resume {resume!r}: no such run in --checkpoint "
                                 f"{str(checkpoint)!r}.")
        if on_event is not None:
            on_event("start", {"seeds": len(seeds), "run_id": run_id})
            if finished is not None:
                on_event("finished", {"run_id": run_id})
        final = finished if finished is not None else await _stream(graph, inputs, config,
                                                                     on_event)
    return _result(final, n=n, model=model_name, settings=settings, seeds=seeds,
                   offline=offline, world_seed=world_seed, snapshot=snapshot, world=world,
                   run_id=run_id, search=search, reused=finished is not None)


def _models(llm: Any, second_llm: Any, simulate: bool, world: Any) -> tuple[str, Any, Any]:
    if simulate:
        from memagents.browsecomp.research.oracle import WorldOracle
        from memagents.testing import ScriptedChatModel

        agents = WorldOracle(world)
        if llm is not None:
            raise InputError("--simulate replaces the model by the sample-world oracle: drop "
                             "--llm (or drop --simulate to use the model).")
        return ("simulation:world-oracle", ScriptedChatModel(rules=[agents.rule()]), None)
    from memagents.config import get_settings

    spec = llm or get_settings().llm
    if spec is None:
        raise ConfigError("benchmark synthesis needs a chat model: pass --llm SPEC (e.g. "
                          "openai:gpt-4o-mini) or set MEMAGENTS_LLM; --offline --simulate runs "
                          "without one.")
    name = spec if isinstance(spec, str) else type(spec).__name__
    return name, spec, second_llm


def _result(final: dict[str, Any], *, n: int, model: str, settings: SynthesisSettings,
            seeds: list[str], offline: bool, world_seed: int, snapshot: int, world: Any,
            run_id: str, search: Any, reused: bool = False) -> dict[str, Any]:
    cands = [Candidate.from_dict(c) for c in final.get("candidates") or ()]
    cands.sort(key=lambda c: (c.status != "accepted", c.seed, c.id))
    accepted = [c for c in cands if c.status == "accepted"]
    stats = dict(final.get("stats") or {})
    stats["surplus"] = max(0, len(accepted) - n)
    kept = accepted[:n] + [c for c in cands if c.status != "accepted"]
    from dataclasses import asdict

    web = ({"offline": True, "world_seed": world_seed, "snapshot": snapshot,
            "snapshot_date": world.date} if offline else
           {"offline": False, "search": search if isinstance(search, str) or search is None
            else type(search).__name__})
    return {"candidates": [c.to_dict() for c in kept], "stats": stats, "model": model,
            "settings": asdict(settings), "web": web,
            "extra": {"run_id": run_id, "seeds": len(seeds), "reused": reused}}


def synthesize(**options: Any) -> dict[str, Any]:
    """Sync twin of :func:`asynthesize` (the entry point ``memagents bench schedule`` calls)."""
    return asyncio.run(asynthesize(**options))
