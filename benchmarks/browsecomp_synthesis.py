"""Browse benchmark synthesis end to end on the offline web: an ORACLE SIMULATION.

Run: ``.venv/bin/python benchmarks/browsecomp_synthesis.py`` (under a minute; ``--seeds N``
for another number of seeds, ``--concurrency N``, ``--sequential N``).

**Oracle simulation, not a model result.** No LLM exists here. The unchanged workflow
(:func:`memagents.browsecomp.pipeline.build_synthesis`: explore, compose, quotes, freshness,
credibility, guidance, popularity, closed-book probe, solvable and unique gates, seeds fanned
out with ``Send``) browses the sample world's website (``SampleWorld.generate(0).snapshot(1)``,
four ``.test`` hostnames served by one loopback server, reached through the safe fetcher's
resolve map and host allowlist, robots.txt obeyed) and talks to its "model" through the real
``openai`` client (``ChatOpenAI`` -> HTTP -> :class:`~memagents.testing.OpenAIServer` on
loopback), whose replies come from :class:`~memagents.browsecomp.research.oracle.WorldOracle`:
an honest sample-world oracle (facts quoted from the page text *shown in the prompt*, a
question composed over the chain, "unknown" to the closed-book probe, an oracle browse policy
reading one page per hop). Parsing, budgets, fetches, quotes and every check run for real; only
the judgement is scripted. The guidance agent solves against the world's exact facts (an
oracle knowledge base), popularity is the world's popularity table, as ``memagents bench
synthesize --offline --simulate`` does.

Measured:

* **Synthesis run** (anchor 2026-07-01, ``--seeds`` seeds from
  :func:`~memagents.browsecomp.run.offline_seeds`: facts changed in the snapshot first): seeds
  in, questions accepted, entered / rejected per stage (the stage table), LLM calls (the
  pipeline's usage count and the server's request count), fetches (the pipeline's own count and
  the web server's HTTP requests, robots.txt and the solvers' reads included), searches and
  solver tool calls per accepted question;
* **time**: wall time of the run, the time inside the oracle's reply functions (on the server),
  the time inside the model client calls (LangChain callbacks around every chat call: HTTP
  round trip, the openai client, the oracle), summed and as the union of the intervals when at
  least one call was in flight. The oracle itself takes almost nothing, so the model time
  subtracted is in effect the client stack and the loopback round trip, the part a real
  model's latency replaces. *Wall time excluding model time* is measured on a **sequential
  run** (concurrency 1, the same seeds, its own web server and a cold page cache): wall minus
  the summed call time, exactly the time spent outside model calls (fetching, extraction,
  checks, LangGraph), divided by the questions accepted. For the concurrent run, wall minus
  the union (the time no model call was in flight) is given too; it is a lower bound, since
  work overlapping a model call is not counted;
* **planted candidates** (:func:`~memagents.browsecomp.research.simulate.run_planted`) through
  the same real-client path: good candidates and one bad candidate per kind (quote missing,
  stale, single domain, shortcut, non-unique, popular, closed-book leak, second solver
  disagrees): which check rejected each, agreement with the expected check (goal 100%);
* **release and re-verification**: the accepted questions written as a release (BrowseComp
  CSV with a canary, manifest, dedup), then re-verified against snapshot 2 (2027-01-01) and 3
  (2027-04-01) of the same world served by the same server: kept / retired / unverified and
  the reasons. A control release re-verified the same way shows that the re-verification
  retires what changed: one-hop questions on each fact snapshot 2 supersedes, quoted from the
  pages fetched at snapshot 1.

Writes ``benchmarks/results/browsecomp_synthesis.json`` and prints markdown tables.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from langchain_core.callbacks import BaseCallbackHandler
from langchain_openai import ChatOpenAI

from memagents.browsecomp.candidate import Candidate, Hop
from memagents.browsecomp.checks import TablePopularity, evidence_for
from memagents.browsecomp.factbase import FactBase
from memagents.browsecomp.pipeline import build_synthesis, make_guide
from memagents.browsecomp.release import write_release
from memagents.browsecomp.report import stage_rows
from memagents.browsecomp.research.oracle import WorldOracle
from memagents.browsecomp.research.simulate import run_planted
from memagents.browsecomp.reverify import areverify
from memagents.browsecomp.run import offline_seeds
from memagents.browsecomp.synthesis import SynthesisSettings
from memagents.sample import SampleWorld
from memagents.testing import OpenAIServer
from memagents.web.offline import offline_web

RESULTS = Path(__file__).resolve().parent / "results"
LABEL = "oracle simulation (sample-world oracle through the real openai client; no LLM)"
ANCHOR = "2026-07-01"
WORLD_SEED, SNAPSHOT, LATER = 0, 1, (2, 3)


class CallClock(BaseCallbackHandler):
    """Start and end of every chat-model call (inline callbacks, so the stamps are taken on
    the caller's side around the whole client call)."""

    run_inline = True

    def __init__(self) -> None:
        self.open: dict[Any, float] = {}
        self.spans: list[tuple[float, float]] = []
        self.errors = 0
        self.lock = threading.Lock()

    def on_chat_model_start(self, serialized: Any, messages: Any, *, run_id: Any,
                            **kwargs: Any) -> None:
        with self.lock:
            self.open[run_id] = time.perf_counter()

    def on_llm_end(self, response: Any, *, run_id: Any, **kwargs: Any) -> None:
        self._close(run_id)

    def on_llm_error(self, error: BaseException, *, run_id: Any, **kwargs: Any) -> None:
        self.errors += 1
        self._close(run_id)

    def _close(self, run_id: Any) -> None:
        with self.lock:
            start = self.open.pop(run_id, None)
            if start is not None:
                self.spans.append((start, time.perf_counter()))

    def reset(self) -> None:
        with self.lock:
            self.open.clear()
            self.spans.clear()
            self.errors = 0

    def summed(self) -> float:
        return sum(b - a for a, b in self.spans)

    def union(self) -> float:
        total, end = 0.0, float("-inf")
        for a, b in sorted(self.spans):
            if b <= end:
                continue
            total += b - max(a, end)
            end = b
        return total


class TimedOracle:
    """A :class:`WorldOracle` installed on the server for one model name, with the seconds
    spent inside its reply function."""

    def __init__(self, oracle: WorldOracle, server: OpenAIServer, model: str) -> None:
        self.oracle, self.seconds, self.lock = oracle, 0.0, threading.Lock()
        inner = oracle.reply

        def timed(prompt: str) -> str:
            t = time.perf_counter()
            try:
                return inner(prompt)
            finally:
                with self.lock:
                    self.seconds += time.perf_counter() - t
        oracle.reply = timed  # type: ignore[method-assign]
        oracle.install(server, model=model)


def client_for(server: OpenAIServer, model: str, clock: CallClock) -> ChatOpenAI:
    return ChatOpenAI(base_url=server.base_url, api_key=server.api_key, model=model,
                      max_retries=0, timeout=60, callbacks=[clock])


def build(world: SampleWorld, web: Any, llm: Any) -> Any:
    settings = SynthesisSettings(anchor=ANCHOR)
    return build_synthesis(
        llm, web.search, web.fetcher, settings=settings,
        guide=make_guide(FactBase.from_world(world)),
        popularity=TablePopularity({e.name: e.popularity for e in world.entities}))


async def synthesis_run(world: SampleWorld, web: Any, server: OpenAIServer, seeds: list[str],
                        *, concurrency: int, model: str) -> dict[str, Any]:
    clock = CallClock()
    timed = TimedOracle(WorldOracle(world), server, model)
    graph = build(world, web, client_for(server, model, clock))
    requests0 = len(server.chat_requests)
    web.server.reset_stats()
    t0 = time.perf_counter()
    out = await graph.ainvoke({"seeds": seeds}, {"max_concurrency": concurrency})
    wall = time.perf_counter() - t0
    cands = [Candidate.from_dict(c) for c in out.get("candidates") or ()]
    stats = dict(out.get("stats") or {})
    accepted = [c for c in cands if c.status == "accepted"]
    http = dict(web.server.counts())
    server_calls = len(server.chat_requests) - requests0
    per = max(1, len(accepted))
    return {
        "seeds": len(seeds), "concurrency": concurrency, "accepted": len(accepted),
        "stages": stage_rows(stats), "stats": stats,
        "rejections": dict(Counter(c.failed[0].name for c in cands if c.failed)),
        "oracle_calls": dict(timed.oracle.calls),
        "llm_calls": stats.get("llm_calls", 0), "server_chat_requests": server_calls,
        "client_errors": clock.errors,
        "web_http_requests": sum(http.values()), "web_http_by_host": http,
        "per_accepted": {
            "llm_calls": stats.get("llm_calls", 0) / per,
            "server_chat_requests": server_calls / per,
            "pipeline_fetches": stats.get("fetches", 0) / per,
            "web_http_requests": sum(http.values()) / per,
            "searches": stats.get("searches", 0) / per,
            "solver_tool_calls": stats.get("solver_tool_calls", 0) / per},
        "time": {
            "wall_s": wall, "oracle_reply_s": timed.seconds,
            "model_calls_summed_s": clock.summed(), "model_calls_union_s": clock.union(),
            "wall_excl_model_s": wall - clock.union(),
            "wall_excl_oracle_s": wall - timed.seconds,
            "wall_excl_model_per_accepted_s": (wall - clock.union()) / per,
            "wall_excl_model_sequential_s": (wall - clock.summed()) if concurrency == 1
            else None,
            "wall_excl_model_sequential_per_accepted_s": (wall - clock.summed()) / per
            if concurrency == 1 else None},
        "candidates": [c.to_dict() for c in cands],
    }


async def planted(world: SampleWorld, web: Any, server: OpenAIServer) -> dict[str, Any]:
    clock = CallClock()
    names: list[str] = []

    def model_for(oracle: WorldOracle, name: str) -> Any:
        model = f"planted-{name}"
        oracle.install(server, model=model)
        names.append(model)
        return client_for(server, model, clock)

    before = len(server.chat_requests)
    t0 = time.perf_counter()
    out = await run_planted(world, web, model_for, anchor=ANCHOR)
    wall = time.perf_counter() - t0
    rows = out["rows"]
    by_kind: dict[str, dict[str, Any]] = {}
    for r in rows:
        k = by_kind.setdefault(r["kind"], {"n": 0, "ok": 0, "expected": r["expected"],
                                           "rejected_by": []})
        k["n"] += 1
        k["ok"] += int(r["ok"])
        k["rejected_by"].append(r["rejected_by"])
    good = [r for r in rows if r["kind"] == "good"]
    bad = [r for r in rows if r["kind"] != "good"]
    return {"rows": rows, "by_kind": by_kind, "agreement": out["agreement"],
            "good_accepted": sum(r["ok"] for r in good), "good": len(good),
            "bad_rejected_by_expected_check": sum(r["ok"] for r in bad), "bad": len(bad),
            "planted": out["planted"], "server_chat_requests": len(server.chat_requests) - before,
            "models": names, "wall_s": wall}


async def control_candidates(world: SampleWorld, fetcher: Any) -> list[dict[str, Any]]:
    """A control for re-verification: one-hop questions resting on each fact that the next
    snapshot supersedes, quoted from the pages stating it, fetched now (as the synthesis agent
    would have quoted them). Re-verification must retire every one of them."""
    later = world.snapshot(LATER[0])
    out = []
    for old, _new in later.changes_since(world.snapshot_index).changed_facts:
        subject, relation, obj = world.triple(old)
        hop = Hop(subject=subject, relation=relation, object=obj)
        evidence = []
        for page in sorted(world.website.pages.values(), key=lambda p: p.url):
            if old not in page.facts or page.kind == "private" or len(evidence) >= 2:
                continue
            got = await fetcher.afetch(page.url)
            ev = evidence_for(hop, got.final_url or page.url, got.text or "",
                              title=got.title or "", fetched_at=got.fetched_at or "",
                              published=got.published, sha256=got.sha256)
            if ev is not None:
                evidence.append(ev)
        if evidence:
            out.append(Candidate(seed=subject, question=f"Control: {subject}, {relation}?",
                                 answer=obj, hops=(replace(hop, evidence=tuple(evidence)),),
                                 anchor=ANCHOR, status="accepted").to_dict())
    return out


async def release_and_reverify(releases: dict[str, list[dict[str, Any]]], web: Any,
                               folder: Path, stats: dict[str, int]) -> dict[str, Any]:
    """Write each list of candidates as a release (its own output folder), then re-verify
    every release against each later snapshot served by the same server."""
    written, out = {}, {}
    for name, cands in releases.items():
        release = write_release(folder / name, [Candidate.from_dict(c) for c in cands],
                                anchor=ANCHOR, manifest_info={
            "model": "simulation:world-oracle (openai client, loopback server)",
            "stats": stats if name == "synthesized" else {},
            "web": {"offline": True, "world_seed": WORLD_SEED, "snapshot": SNAPSHOT}})
        written[name] = release
        out[name] = {"version": release.version, "questions": len(release.candidates),
                     "answers": sorted({c.answer for c in release.candidates}),
                     "dropped_by_dedup": len(release.dropped),
                     "files": sorted(p.name for p in release.path.iterdir()), "reverify": []}
    for index in LATER:
        later = web.set_snapshot(index)
        for name, release in written.items():
            report = await areverify(release.path, web.fetcher)
            reasons = Counter(r for item in report.items for r in item.reasons)
            out[name]["reverify"].append({
                "snapshot": index, "snapshot_date": later.date, **report.summary(),
                "reasons": dict(reasons),
                "new_version": report.release.version if report.release else None,
                "kept_in_new_version": len(report.release.candidates)
                if report.release else None})
        await web.fetcher.aclose()
    return out


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    world = SampleWorld.generate(WORLD_SEED).snapshot(SNAPSHOT)
    seeds = offline_seeds(world, args.seeds)
    with OpenAIServer() as server, offline_web(world) as web, \
            tempfile.TemporaryDirectory() as tmp:
        hosts = list(web.hosts)
        allow = list(web.fetcher.settings.allow_hosts)
        run = await synthesis_run(world, web, server, seeds, concurrency=args.concurrency,
                                  model="oracle-agents")
        seq = None
        if args.sequential:
            with offline_web(world) as fresh:  # its own server and a cold page cache
                seq = await synthesis_run(world, fresh, server, seeds[:args.sequential],
                                          concurrency=1, model="oracle-agents-sequential")
                await fresh.aclose()
        plant = await planted(world, web, server)
        rel = await release_and_reverify(
            {"synthesized": run["candidates"],
             "control_superseded": await control_candidates(world, web.fetcher)},
            web, Path(tmp), run["stats"])
        await web.aclose()
    return {"label": LABEL, "anchor": ANCHOR, "world": {"seed": WORLD_SEED,
            "snapshot": SNAPSHOT, "date": world.date, "pages": len(world.website.pages)},
            "web": {"hosts": hosts, "allow_hosts": allow, "served_from": "127.0.0.1"},
            "run": {k: v for k, v in run.items() if k != "candidates"},
            "accepted_questions": [
                {"seed": c["seed"], "question": c["question"], "answer": c["answer"],
                 "hops": len(c["hops"])} for c in run["candidates"]
                if c["status"] == "accepted"],
            "sequential": seq and {k: v for k, v in seq.items() if k != "candidates"},
            "planted": plant, "release": rel,
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                        "load_average": os.getloadavg()}}


def print_tables(res: dict[str, Any]) -> None:
    run = res["run"]
    print(f"## Browse benchmark synthesis ({res['label']})\n")
    print(f"{run['seeds']} seeds, concurrency {run['concurrency']}: **{run['accepted']} "
          f"accepted**; hosts {', '.join(res['web']['hosts'])}\n")
    print("| stage | entered | rejected | passed |\n| --- | ---: | ---: | ---: |")
    for r in run["stages"]:
        print(f"| {r['stage']} | {r['entered']} | {r['rejected']} | {r['passed']} |")
    p, t = run["per_accepted"], run["time"]
    print("\n| per accepted question | value |\n| --- | ---: |")
    for k, v in p.items():
        print(f"| {k} | {v:.1f} |")
    print(f"| wall time excl. model (s) | {t['wall_excl_model_per_accepted_s']:.2f} |")
    print(f"\nwall {t['wall_s']:.1f} s, model calls in flight {t['model_calls_union_s']:.1f} s "
          f"(summed {t['model_calls_summed_s']:.1f} s), oracle replies "
          f"{t['oracle_reply_s']:.1f} s")
    s = res["sequential"]
    if s:
        st = s["time"]
        print(f"sequential ({s['seeds']} seeds, concurrency 1, cold cache): {s['accepted']} "
              f"accepted, wall {st['wall_s']:.1f} s, model calls {st['model_calls_summed_s']:.1f}"
              f" s, excl. model {st['wall_excl_model_sequential_s']:.1f} s "
              f"({st['wall_excl_model_sequential_per_accepted_s']:.2f} s per accepted)")
    pl = res["planted"]
    print("\n| planted kind | n | expected check | rejected by | ok |\n| --- | ---: | --- | --- "
          "| ---: |")
    for kind, k in sorted(pl["by_kind"].items(), key=lambda kv: kv[0] != "good"):
        print(f"| {kind} | {k['n']} | {k['expected'] or '(accepted)'} | "
              f"{', '.join(str(x) for x in k['rejected_by'])} | {k['ok']}/{k['n']} |")
    print(f"\nagreement {pl['agreement']:.3f}")
    print("\n| release | questions | re-verified against | kept | retired | unverified | "
          "reasons |\n| --- | ---: | --- | ---: | ---: | ---: | --- |")
    for name, rel in res["release"].items():
        for rv in rel["reverify"]:
            print(f"| {name} ({rel['version']}) | {rel['questions']} | snapshot "
                  f"{rv['snapshot']} ({rv['snapshot_date']}) | {rv['kept']} | {rv['retired']} | "
                  f"{rv['unverified']} | {rv['reasons']} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--seeds", type=int, default=60)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--sequential", type=int, default=60,
                    help="seeds of the sequential (concurrency 1) timing run (0: none)")
    ap.add_argument("--out", type=Path, default=RESULTS / "browsecomp_synthesis.json")
    args = ap.parse_args()
    t0 = time.perf_counter()
    res = asyncio.run(main_async(args))
    res["total_wall_s"] = time.perf_counter() - t0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2, default=str) + "\n")
    print_tables(res)
    print(f"\n(total {res['total_wall_s']:.0f} s; {args.out})")


if __name__ == "__main__":
    main()
