"""Batched PPR for many concurrent queries on the 1M-node / 5M-edge synthetic graphs.

Run: ``.venv/bin/python benchmarks/ppr_batch.py [--nodes 1000000] [--edges 5000000]
[--queries 64] [--models uniform,powerlaw]``

The graphs are those of ``ppr_scale.py`` (nodes in random order, weights in [1, 3]). Node ids
``[0.9 n, n)`` play the passages: every query's reset vector is HippoRAG-shaped, 5 random seed
nodes with weight ``U(0.5, 1)`` plus ``0.05 * U(0, 1)`` on every passage node (the min-max
dense score), and its answer is the top 10 passages by PPR probability (ties by node id). With
the default solver (Chebyshev, float32, tol 1e-6, the CPU count of threads) the script runs the
same ``--queries`` queries three ways:

* ``sequential``: one ``PPRSolver.solve`` after the other (today's cost of one search's PPR);
* ``concurrent, window 0``: all queries submitted at once to a
  :class:`~memagents.graphmem.batching.WindowBatcher` with batching off, i.e. one solve per
  query in worker threads, as concurrent ``GraphMemory.asearch`` calls run without batching;
* ``concurrent, window 2 ms``: the same through the batching window (``GraphMemory``'s
  default), each batch one ``batched_ppr.solve_block`` (blocks as wide as fit in
  ``CACHE_BYTES``: one column at a time at 1M nodes);
* ``concurrent, window 2 ms, blocks of 32``: the same with blocks forced to ``MAX_COLUMNS``.

A graph of ``--small-nodes`` nodes (MuSiQue's order of size) is run first, the same way.

For each: queries per second (queries / wall time from the first submission to the last
answer), the per-query latency distribution (submission to answer), and for the batched run
the mismatches against the sequential answers (top-10 lists that differ, goal 0; and the
largest absolute difference of any probability) and the memory the batch allocated (numpy
buffers traced by ``tracemalloc``). Results go to ``benchmarks/results/ppr_batch.json``.
The machine is shared: the JSON records the load average before each run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ppr_scale import make_graph

from memagents.graphmem.batching import WindowBatcher
from memagents.graphmem.core import batched_ppr
from memagents.graphmem.core.batched_ppr import CACHE_BYTES, MAX_COLUMNS, block_width, solve_block
from memagents.graphmem.core.config import PPRConfig
from memagents.graphmem.core.ppr import PPRSolver

RESULTS = Path(__file__).resolve().parent / "results"
TOP = 10


def make_resets(n: int, count: int, seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    first_passage = n - n // 10
    out = []
    for _ in range(count):
        r = np.zeros(n)
        r[first_passage:] = 0.05 * rng.random(n - first_passage)
        r[rng.choice(first_passage, size=5, replace=False)] = rng.uniform(0.5, 1.0, 5)
        out.append(r)
    return out


def top(passage_probs: np.ndarray) -> list[int]:
    """The best ``TOP`` passages, ties by index (as GraphSearcher orders them)."""
    cand = np.argpartition(-passage_probs, TOP - 1)[:TOP]
    return cand[np.lexsort((cand, -passage_probs[cand]))].tolist()


def latency(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {
        "p50_ms": round(float(np.percentile(a, 50)), 1),
        "p90_ms": round(float(np.percentile(a, 90)), 1),
        "p99_ms": round(float(np.percentile(a, 99)), 1),
        "max_ms": round(float(a.max()), 1),
        "mean_ms": round(float(a.mean()), 1),
    }


async def concurrent(batcher: WindowBatcher[Any, Any], items: list[Any]) -> tuple[float, list]:
    """Submit every item at once; (wall seconds, [(answer, latency ms)])."""

    async def one(item: Any) -> tuple[Any, float]:
        t = time.perf_counter()
        answer = await batcher.submit(item)
        return answer, 1000 * (time.perf_counter() - t)

    t0 = time.perf_counter()
    out = await asyncio.gather(*(one(i) for i in items))
    return time.perf_counter() - t0, out


def run_model(model: str, n: int, edges: int, args: argparse.Namespace) -> dict[str, Any]:
    t = time.perf_counter()
    adj = make_graph(n, edges, model)
    generate = time.perf_counter() - t
    solver = PPRSolver(adj, PPRConfig(), check_symmetric=False)
    del adj
    passages = slice(n - n // 10, n)
    queries = make_resets(n, args.queries)
    row: dict[str, Any] = {
        "nodes": n,
        "edges": edges,
        "generate_s": round(generate, 1),
        "threads": solver.threads,
        "block_width": block_width(solver),
    }

    # sequential single-query PPR: the reference answers
    print(f"{model}: sequential ...", flush=True)
    load = os.getloadavg()[0]
    ref, ms, its = [], [], []
    t0 = time.perf_counter()
    for r in queries:
        t = time.perf_counter()
        probs, it = solver.solve(r)
        ms.append(1000 * (time.perf_counter() - t))
        ref.append(probs[passages])
        its.append(it)
    wall = time.perf_counter() - t0
    row["sequential"] = {
        "load_average": round(load, 2),
        "queries_per_s": round(len(queries) / wall, 2),
        "latency": latency(ms),
        "iterations": int(np.median(its)),
    }
    print(f"  {row['sequential']}", flush=True)

    def one_by_one(items: list[np.ndarray]) -> list[Any]:
        return [solver.solve(r)[0][passages] for r in items]

    def batched(items: list[np.ndarray], columns: int | None = None) -> list[Any]:
        probs, _ = solve_block(solver, items, rows=passages, max_columns=columns)
        return [probs[:, j].copy() for j in range(probs.shape[1])]

    def forced(items: list[np.ndarray]) -> list[Any]:
        return batched(items, MAX_COLUMNS)

    # warm up: the thread pool, and the row chunks of both block widths (built once per graph)
    solve_block(solver, queries[:2], rows=passages, max_columns=2)
    for width in {block_width(solver), MAX_COLUMNS}:
        width = min(width, len(queries))
        if width > 1:
            batched_ppr._chunks(solver, max(64, batched_ppr._CHUNK_ELEMENTS // width), width)
    runs = [
        ("concurrent, window 0", WindowBatcher(one_by_one, window_ms=0)),
        (
            "concurrent, window 2 ms",
            WindowBatcher(batched, window_ms=2.0, max_batch=args.queries),
        ),
        (
            f"concurrent, window 2 ms, blocks of {MAX_COLUMNS}",
            WindowBatcher(forced, window_ms=2.0, max_batch=args.queries),
        ),
    ]
    for name, batcher in runs:
        print(f"{model}: {name} ...", flush=True)
        load = os.getloadavg()[0]
        traced = "window 2" in name
        if traced:
            tracemalloc.start()
        wall, out = asyncio.run(concurrent(batcher, queries))
        peak = tracemalloc.get_traced_memory()[1] if traced else None
        if traced:
            tracemalloc.stop()
        answers = [a for a, _ in out]
        mismatches = sum(top(a) != top(b) for a, b in zip(answers, ref))
        diff = max(float(np.abs(a - b).max()) for a, b in zip(answers, ref))
        row[name] = {
            "load_average": round(load, 2),
            "queries_per_s": round(len(queries) / wall, 2),
            "latency": latency([lat for _, lat in out]),
            "batches": batcher.batches,
            "top10_mismatches": int(mismatches),
            "max_abs_probability_diff": diff,
        }
        if peak is not None:
            row[name]["traced_peak_MB"] = round(peak / 2**20)
        print(f"  {row[name]}", flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=1_000_000)
    ap.add_argument("--edges", type=int, default=5_000_000)
    ap.add_argument("--queries", type=int, default=64)
    ap.add_argument("--models", default="uniform,powerlaw")
    ap.add_argument("--small-nodes", type=int, default=30_000,
                    help="also a graph of this size (MuSiQue's order), 5 edges per node; 0: no")
    args = ap.parse_args()
    out: dict[str, Any] = {
        "nodes": args.nodes,
        "edges": args.edges,
        "queries": args.queries,
        "max_columns": MAX_COLUMNS,
        "cache_bytes": CACHE_BYTES,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "models": {},
    }
    if args.small_nodes:
        small = args.small_nodes
        out["models"][f"uniform {small:,}"] = run_model("uniform", small, 5 * small, args)
    for model in args.models.split(","):
        out["models"][model] = run_model(model, args.nodes, args.edges, args)
    out["peak_rss_MB"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ppr_batch.json").write_text(json.dumps(out, indent=2) + "\n")
    print(_table(out))


def _table(out: dict[str, Any]) -> str:
    lines = [
        (
            f"PPR for {out['queries']} concurrent queries; main graphs {out['nodes']:,} nodes / "
            f"{out['edges']:,} edges; peak RSS {out['peak_rss_MB']} MB"
        ),
        "",
        "| graph | run | q/s | p50 ms | p90 ms | max ms | top-10 mismatches | load |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for model, info in out["models"].items():
        for name in [k for k in info if k == "sequential" or k.startswith("concurrent")]:
            r = info[name]
            lat = r["latency"]
            lines.append(
                f"| {model} | {name} | {r['queries_per_s']} | {lat['p50_ms']} | "
                f"{lat['p90_ms']} | {lat['max_ms']} | {r.get('top10_mismatches', '')} | "
                f"{r['load_average']} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
