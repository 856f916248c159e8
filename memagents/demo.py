"""The offline demo behind ``memagents demo`` and ``make demo``.

Builds the sample world, indexes its passages twice with one embedder: into the embedded
vector store for dense retrieval, and into a :class:`~memagents.graphmem.GraphMemory` (the
world's known triples, or LLM extraction when a chat model is configured). Answers the world's
multi-hop questions both ways and reports recall@k of the gold passages.

The embedder (:func:`demo_embeddings`): an explicit ``embeddings`` argument, else
``MEMAGENTS_EMBEDDINGS`` (or ``embeddings`` set on the given settings), else the local MiniLM
(``sentence-transformers:all-MiniLM-L6-v2``, bundled weights, no download) - and when that
cannot load (``memagents[local]`` not installed), the offline lexical ``hash`` embedder with a
one-line note.

Example:
    >>> import tempfile
    >>> from rich.console import Console
    >>> with tempfile.TemporaryDirectory() as d:
    ...     report = run_demo(size="tiny", folder=d, backend="numpy", embeddings="hash",
    ...                       console=Console(quiet=True))
    >>> 0.0 < report["dense"]["recall@5"] <= 1.0 and 0.0 < report["graph"]["recall@5"] <= 1.0
    True
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from memagents.config import Settings, get_settings
from memagents.errors import ConfigError
from memagents.eval import recall_at_k
from memagents.models import embed_texts, resolve_embeddings
from memagents.sample import SampleWorld
from memagents.stores import open_vector_index

__all__ = ["DEMO_EMBEDDINGS", "FALLBACK_EMBEDDINGS", "demo_embeddings", "run_demo"]

KS = (1, 2, 5, 10)
#: What the demo embeds with unless told otherwise: real semantic embeddings, bundled weights.
DEMO_EMBEDDINGS = "sentence-transformers:all-MiniLM-L6-v2"
#: What it falls back to when :data:`DEMO_EMBEDDINGS` cannot load: offline, lexical.
FALLBACK_EMBEDDINGS = "hash"


def demo_embeddings(
    settings: Settings, embeddings: str | None = None
) -> tuple[Settings, Any, str | None]:
    """Choose and load the demo's embedder: ``(settings, embeddings model, note)``.

    An explicit ``embeddings`` spec, or one set on ``settings`` (``MEMAGENTS_EMBEDDINGS`` or a
    keyword), is used as is and fails loudly. Otherwise :data:`DEMO_EMBEDDINGS` is tried and,
    when it cannot load, :data:`FALLBACK_EMBEDDINGS` is used and ``note`` says why (one line).
    The returned settings carry the chosen spec, so the graph memory embeds the same way.
    """
    spec = embeddings or ("embeddings" in settings.model_fields_set and settings.embeddings)
    if spec:
        chosen = settings.model_copy(update={"embeddings": spec})
        return chosen, resolve_embeddings(spec, chosen), None
    chosen = settings.model_copy(update={"embeddings": DEMO_EMBEDDINGS})
    try:
        return chosen, resolve_embeddings(DEMO_EMBEDDINGS, chosen), None
    except ConfigError as exc:
        reason = re.split(r":\s|\s\(", " ".join(str(exc).split()), maxsplit=1)[0].rstrip(".")
        note = (
            f"note: {DEMO_EMBEDDINGS} is unavailable ({reason}); using the lexical "
            f"'{FALLBACK_EMBEDDINGS}' embedder instead (`make local` installs the local one)."
        )
    fallback = settings.model_copy(update={"embeddings": FALLBACK_EMBEDDINGS})
    return fallback, resolve_embeddings(FALLBACK_EMBEDDINGS, fallback), note


def run_demo(
    *,
    seed: int = 0,
    size: str | int = "small",
    k: int = 5,
    folder: str | Path | None = None,
    backend: str | None = None,
    embeddings: str | None = None,
    settings: Settings | None = None,
    console: Console | None = None,
) -> dict[str, Any]:
    """Index the sample world and measure dense and graph retrieval recall; returns the report.

    ``embeddings`` is an embedding spec; by default see :func:`demo_embeddings`.
    """
    console = console or Console()
    overrides: dict[str, Any] = {"vector_backend": backend} if backend else {}
    settings = settings or get_settings(**overrides)
    with tempfile.TemporaryDirectory(prefix="memagents-demo-") as tmp:
        root = Path(folder) if folder is not None else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        return _run(seed, size, k, root, settings, embeddings, console)


def _run(
    seed: int,
    size: str | int,
    k: int,
    root: Path,
    settings: Settings,
    spec: str | None,
    console: Console,
) -> dict[str, Any]:
    world = SampleWorld.generate(seed, size=size)
    console.print(
        f"[bold]Sample world[/bold] {world.name!r} (seed {seed}): {len(world.entities)} entities, "
        f"{len(world.passages)} passages, {len(world.questions)} multi-hop questions"
    )
    settings, embeddings, note = demo_embeddings(settings, spec)
    if note:
        console.print(note, markup=False, highlight=False, soft_wrap=True, style="yellow")
    t0 = time.perf_counter()
    corpus = world.corpus()
    ids = [pid for pid, _ in corpus]
    # one index and graph per embedder, so a reused --folder never mixes vector dimensions
    tag = re.sub(r"[^a-z0-9]+", "-", settings.embeddings.lower()).strip("-") or "default"
    index = open_vector_index(root, f"demo-{world.name.lower()}-{seed}-{tag}", settings=settings)
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
        world, root / f"graph-{tag}", settings, questions, depth, console
    )
    report = {
        "world": world.name,
        "seed": seed,
        "passages": len(ids),
        "questions": len(questions),
        "embeddings": settings.embeddings,
        "embeddings_note": note,
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

    with GraphMemory.open(root, settings=settings) as memory:
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
    from memagents.eval.scoring import has_answer
    from memagents.gate import PopularityThreshold

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
