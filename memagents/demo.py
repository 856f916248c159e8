"""The offline demo behind ``memagents demo`` and ``make demo``.

Builds the sample world, indexes its passages twice with the configured embedder (``hash`` by
default: offline, lexical): into the embedded vector store for dense retrieval, and into a
:class:`~memagents.graphmem.GraphMemory` (the world's known triples, or LLM extraction when a
chat model is configured). Answers the world's multi-hop questions both ways and reports
recall@k of the gold passages.

Example:
    >>> import tempfile
    >>> from rich.console import Console
    >>> with tempfile.TemporaryDirectory() as d:
    ...     report = run_demo(size="tiny", folder=d, backend="numpy", console=Console(quiet=True))
    >>> 0.0 < report["dense"]["recall@5"] <= 1.0 and 0.0 < report["graph"]["recall@5"] <= 1.0
    True
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from memagents.config import Settings, get_settings
from memagents.eval import recall_at_k
from memagents.models import embed_texts, resolve_embeddings
from memagents.sample import SampleWorld
from memagents.stores import open_vector_index

__all__ = ["run_demo"]

KS = (1, 2, 5, 10)


def run_demo(
    *,
    seed: int = 0,
    size: str | int = "small",
    k: int = 5,
    folder: str | Path | None = None,
    backend: str | None = None,
    settings: Settings | None = None,
    console: Console | None = None,
) -> dict[str, Any]:
    """Index the sample world and measure dense retrieval recall; returns the report dict."""
    console = console or Console()
    overrides: dict[str, Any] = {"vector_backend": backend} if backend else {}
    settings = settings or get_settings(**overrides)
    with tempfile.TemporaryDirectory(prefix="memagents-demo-") as tmp:
        root = Path(folder) if folder is not None else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        return _run(seed, size, k, root, settings, console)


def _run(
    seed: int, size: str | int, k: int, root: Path, settings: Settings, console: Console
) -> dict[str, Any]:
    t0 = time.perf_counter()
    world = SampleWorld.generate(seed, size=size)
    console.print(
        f"[bold]Sample world[/bold] {world.name!r} (seed {seed}): {len(world.entities)} entities, "
        f"{len(world.passages)} passages, {len(world.questions)} multi-hop questions"
    )
    embeddings = resolve_embeddings(settings.embeddings, settings)
    corpus = world.corpus()
    ids = [pid for pid, _ in corpus]
    index = open_vector_index(root, f"demo-{world.name.lower()}-{seed}", settings=settings)
    try:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("embedding passages", total=len(corpus))
            step = 64
            for start in range(0, len(corpus), step):
                chunk = corpus[start : start + step]
                vectors = embed_texts(embeddings, [text for _, text in chunk])
                index.add([pid for pid, _ in chunk], vectors)
                progress.advance(task, len(chunk))
        indexed_s = time.perf_counter() - t0
        questions = list(world.questions)
        qvecs = embed_texts(embeddings, [q.question for q in questions])
        depth = max(max(KS), k)
        rankings = [[pid for pid, _ in index.query(v, depth)] for v in qvecs]
    finally:
        index.close()
    graph_rankings, how, gate_rows = _graph_rankings(
        world, root, settings, questions, depth, console
    )
    report = {
        "world": world.name,
        "seed": seed,
        "passages": len(ids),
        "questions": len(questions),
        "embeddings": settings.embeddings,
        "vector_backend": settings.vector_backend,
        "index_seconds": round(indexed_s, 3),
        "dense": _recalls(rankings, [q.gold_passage_ids for q in questions], k),
        "graph": _recalls(graph_rankings, [q.gold_passage_ids for q in questions], k),
        "graph_triples": how,
        "gate": gate_rows,
    }
    _print(report, questions, {"dense": rankings, "graph": graph_rankings}, k, console)
    _print_gate(gate_rows, console)
    return report


def _graph_rankings(
    world: SampleWorld,
    root: Path,
    settings: Settings,
    questions: Sequence[Any],
    depth: int,
    console: Console,
) -> tuple[list[list[str]], str, list[dict[str, Any]]]:
    from memagents.graphmem import GraphMemory

    with GraphMemory.open(root / "graph", settings=settings) as memory:
        ids = [p.id for p in world.passages]
        texts = [p.title + "\n" + p.text for p in world.passages]
        with console.status("building the graph memory"):
            if memory.has_llm:
                how = "extracted by the configured LLM"
                memory.add(texts, ids=ids)
            else:
                how = "the sample world's known triples (no LLM configured)"
                memory.add_triples(list(zip(texts, [list(p.triples) for p in world.passages])),
                                   ids=ids)
        stats = memory.stats()["graph"]
        console.print(
            f"graph memory: {stats['nodes']} nodes ({stats['phrases']} phrases), "
            f"{stats['edges']} edges; triples: {how}"
        )
        rankings = [memory.search(q.question, k=depth).ids for q in questions]
        return rankings, how, _gate_rows(world, memory)


def _gate_rows(world: SampleWorld, memory: Any) -> list[dict[str, Any]]:
    """Retrieve-or-recall on the world's PopQA-style questions: how often the popularity
    policy retrieves, and whether the graph memory's top hit then holds an answer."""
    from memagents.gate import PopularityThreshold, has_answer

    items = list(world.popqa)
    top1 = {q.id: memory.search(q.question, k=1) for q in items}
    rows = []
    for threshold in (100, 1000, 10000):
        policy = PopularityThreshold(threshold)
        retrieved = [q for q in items if policy.decide(q.question, metadata={"s_pop": q.s_pop})
                     .retrieve]
        hits = [has_answer(top1[q.id][0].text if top1[q.id] else "", q.possible_answers)
                for q in retrieved]
        rows.append({
            "threshold": threshold,
            "retrieval_rate": round(len(retrieved) / len(items), 4),
            "top1_has_answer": round(sum(hits) / len(hits), 4) if hits else None,
        })
    return rows


def _print_gate(rows: list[dict[str, Any]], console: Console) -> None:
    table = Table(title="Retrieve-or-recall (popularity policy) on the PopQA-style questions")
    table.add_column("threshold", justify="right")
    table.add_column("retrieval rate", justify="right")
    table.add_column("graph top-1 holds an answer, when retrieving", justify="right")
    for row in rows:
        rate = row["top1_has_answer"]
        table.add_row(f"{row['threshold']:,}", f"{row['retrieval_rate']:.3f}",
                      "-" if rate is None else f"{rate:.3f}")
    console.print(table)
    console.print(
        "Answers need a chat model: with MEMAGENTS_LLM set, examples/adaptive_rag.py runs the "
        "whole gate -> recall -> conflict-aware answer loop."
    )


def _recalls(
    rankings: Sequence[Sequence[str]], golds: Sequence[Sequence[str]], k: int
) -> dict[str, float]:
    out = {}
    for kk in sorted(set(KS) | {k}):
        out[f"recall@{kk}"] = round(
            sum(recall_at_k(r, g, kk) for r, g in zip(rankings, golds)) / max(len(golds), 1), 4
        )
    return out


def _print(
    report: dict[str, Any],
    questions: Sequence[Any],
    rankings: dict[str, Any],
    k: int,
    console: Console,
) -> None:
    table = Table(title=f"Retrieval recall, graph vs dense ({report['embeddings']} embeddings)")
    table.add_column("questions")
    table.add_column("method")
    for key in report["dense"]:
        table.add_column(key, justify="right")
    for hops in sorted({q.hops for q in questions}):
        idx = [i for i, q in enumerate(questions) if q.hops == hops]
        for method, ranks in rankings.items():
            sub = _recalls([ranks[i] for i in idx], [questions[i].gold_passage_ids for i in idx], k)
            table.add_row(f"{hops}-hop ({len(idx)})", method, *(f"{v:.3f}" for v in sub.values()))
    for method in rankings:
        table.add_row("all", method, *(f"{v:.3f}" for v in report[method].values()), style="bold")
    console.print(table)
    console.print(
        f"indexed {report['passages']} passages into {report['vector_backend']} "
        f"in {report['index_seconds']:.2f}s"
    )
