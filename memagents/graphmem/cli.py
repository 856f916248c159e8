"""``memagents memory ...``: the graph memory from the command line.

A thin layer over :class:`~memagents.graphmem.memory.GraphMemory`: every command opens the
memory in ``--folder`` (default: the ``home`` setting), does one thing and closes it. Library
errors end a command with a clean message and exit code 1 (:class:`CLIError`); ``--json``
prints machine-readable output on stdout.

Example:
    >>> import tempfile
    >>> from typer.testing import CliRunner
    >>> line = '{"text": "Rome is in Italy.", "triples": [["Rome", "in", "Italy"]]}'
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     added = CliRunner().invoke(memory_app, ["add", "-f", "-", "--folder", folder],
    ...                                input=line)
    ...     result = CliRunner().invoke(memory_app, ["stats", "--folder", folder, "--json"])
    >>> added.exit_code, result.exit_code, json.loads(result.stdout)["passages"]
    (0, 0, {'pending': 0, 'failed': 0, 'indexed': 1})
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from memagents.config import get_settings
from memagents.console import print_error, strict_json
from memagents.errors import InputError, MemagentsError
from memagents.graphmem import export as ex
from memagents.graphmem.memory import GraphMemory
from memagents.graphmem.results import AddResult

try:  # recent typer vendors click: its commands catch this ClickException, not click's
    from typer._click.exceptions import ClickException as _ClickException
except ImportError:  # pragma: no cover - older typer on top of click
    from click import ClickException as _ClickException  # type: ignore[assignment]

__all__ = ["CLIError", "memory_app", "print_error", "read_passages"]

memory_app = typer.Typer(help="Graph memory: add, search, delete, inspect and export.",
                         no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
console = Console()
err_console = Console(stderr=True)

Folder = Annotated[Path | None, typer.Option(help="Memory folder (default: the home setting).")]
Namespace = Annotated[str, typer.Option("--namespace", "-n", help="Namespace to work in.")]
EmbeddingsOpt = Annotated[str | None, typer.Option(help="Embedding spec, e.g. hash (default: "
                                                    "MEMAGENTS_EMBEDDINGS).")]
LLMOpt = Annotated[str | None, typer.Option(help="Chat model spec (default: MEMAGENTS_LLM).")]
PresetOpt = Annotated[str, typer.Option(help="default or hipporag2.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of rich output.")]

#: The keys of a ``--file`` JSONL line (``add --help`` and the errors list them).
JSONL_KEYS = ("text", "id", "metadata", "triples")


class CLIError(MemagentsError, _ClickException):
    """A library error as a clean message and exit code 1: ``memagents.cli.main`` catches it as
    a :class:`MemagentsError`, a standalone typer app as a click exception.

    >>> CLIError("no chat model").exit_code
    1
    """

    def show(self, file: Any = None) -> None:
        print_error(self.message)


@contextmanager
def _guard() -> Iterator[None]:
    """Turn any MemagentsError inside the block into a CLIError."""
    try:
        yield
    except CLIError:
        raise
    except MemagentsError as exc:
        raise CLIError(str(exc)) from exc


def _os_reason(exc: OSError) -> str:
    """``Permission denied``...: the OS's words without errno and path."""
    if isinstance(exc, FileExistsError | NotADirectoryError):
        return "a part of the path is a file, not a folder"
    return exc.strerror or type(exc).__name__


def _check_folder(root: Path) -> None:
    """Refuse a ``--folder`` that is, or lies under, an existing file."""
    for path in (root, *root.parents):
        if path.exists() and not path.is_dir():
            where = "is a file" if path == root else f"lies under the file {str(path)!r}"
            raise InputError(f"--folder {str(root)!r} {where}, not a folder: pass a folder path "
                             "(a missing folder is created).")


@contextmanager
def _open(
    folder: Path | None, namespace: str, embeddings: str | None, llm: str | None, preset: str,
    *, create: bool = False,
) -> Iterator[GraphMemory]:
    """Open the memory for the block (errors inside become CLIErrors), then close it. Only
    ``add`` creates a memory: the other commands refuse a folder without one (a typo)."""
    with _guard():
        root = Path(folder) if folder is not None else Path(get_settings().home)
        _check_folder(root)
        shared = get_settings().database_url is not None  # Postgres: the folder holds no tables
        if not create and not shared and not (root / "memory.db").is_file():
            raise InputError(f"no memory in {str(root)!r}: check --folder (default: the home "
                             "setting, MEMAGENTS_HOME) or add passages with `memory add`; a "
                             "memory in Postgres is found through MEMAGENTS_DATABASE_URL.")
        try:
            memory = GraphMemory.open(
                root, llm=llm, embeddings=embeddings, preset=preset, namespace=namespace)
        except OSError as exc:
            raise InputError(f"cannot open --folder {str(root)!r} ({_os_reason(exc)}): pass a "
                             "folder you can write to.") from exc
        with memory:
            yield memory


def _echo_json(data: Any) -> None:
    typer.echo(strict_json(data))


def _table(title: str, columns: Sequence[str], rows: Iterable[Sequence[str]], **kw: Any) -> Table:
    table = Table(*columns, title=title, **kw)
    for row in rows:
        table.add_row(*row)
    return table


# ---------------------------------------------------------------- reading inputs
def read_passages(path: str) -> list[dict[str, Any]]:
    """Passages from a ``.txt`` file (one per blank-line-separated paragraph), a ``.jsonl``
    file (objects with ``text`` and optional ``id``, ``metadata``, ``triples``) or ``-``
    (stdin: JSONL when its first character is ``{``, else paragraphs).

    Raises:
        InputError: Missing or unreadable file, text that is not UTF-8, unsupported extension,
            or a malformed JSONL line.

    >>> import tempfile, os
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = os.path.join(d, "notes.txt")
    ...     _ = open(p, "w").write("First passage.\\n\\n\\nSecond\\npassage.\\n")
    ...     read_passages(p)
    [{'text': 'First passage.'}, {'text': 'Second\\npassage.'}]
    """
    if path == "-":
        raw = _decode(_read_stdin(), "stdin (--file -)")
        return _jsonl(raw, "stdin") if raw.lstrip().startswith("{") else _paragraphs(raw)
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix not in (".txt", ".jsonl"):
        raise InputError(
            f"cannot read {path!r}: unsupported file extension {suffix or '(none)'!r}. Use .txt "
            "(one passage per blank-line-separated paragraph), .jsonl (one JSON object per line "
            "with 'text' and optional 'id', 'metadata', 'triples'), or - for stdin."
        )
    if not file.is_file():
        raise InputError(f"--file {path!r} does not exist or is not a file; check the path.")
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read --file {path!r} ({_os_reason(exc)}); check the path and "
                         "its permissions.") from exc
    raw = _decode(data, f"--file {path!r}")
    return _jsonl(raw, path) if suffix == ".jsonl" else _paragraphs(raw)


def _read_stdin() -> bytes:
    """Standard input as bytes (decoded strictly by the caller, never with surrogates)."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is not None:
        return stream.read()  # type: ignore[no-any-return]
    return sys.stdin.read().encode("utf-8", "surrogateescape")


def _decode(data: bytes, name: str) -> str:
    """UTF-8 text (a BOM is dropped), or InputError naming the source and the fix."""
    if b"\x00" in data[:4096]:
        raise InputError(f"{name} is binary or UTF-16, not UTF-8 text: convert it to UTF-8 "
                         "(e.g. iconv -f UTF-16 -t UTF-8) and try again.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{name} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}): "
            "convert it to UTF-8 (e.g. iconv -f LATIN1 -t UTF-8) and try again."
        ) from None


def _paragraphs(raw: str) -> list[dict[str, Any]]:
    return [{"text": p.strip()} for p in re.split(r"\n\s*\n", raw) if p.strip()]


def _jsonl(raw: str, name: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for no, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line, parse_constant=_no_constant)
        except json.JSONDecodeError as exc:
            raise InputError(f"{name} line {no} is not valid JSON ({exc.msg}); fix it.") from None
        except ValueError as exc:  # NaN / Infinity
            raise InputError(f"{name} line {no}: {exc}.") from None
        problem = _problem(obj)
        if problem:
            raise InputError(f"{name} line {no}: {problem}.")
        out.append(obj)
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number; use a finite number, a string or null")


def _problem(obj: Any) -> str | None:
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
        return "must be a JSON object with a string 'text'"
    extra = set(obj) - set(JSONL_KEYS)
    if extra:
        return f"unknown keys {sorted(extra)}: use {', '.join(JSONL_KEYS)}"
    if "id" in obj and (not isinstance(obj["id"], str) or not obj["id"].strip()):
        return "'id' must be a non-empty string"
    if not isinstance(obj.get("metadata", {}), dict):
        return "'metadata' must be a JSON object"
    if "triples" in obj and not isinstance(obj["triples"], list):
        return "'triples' must be a list of [subject, predicate, object] lists"
    return None


# ---------------------------------------------------------------------- add
def _merge(total: AddResult | None, part: AddResult) -> AddResult:
    if total is None:
        return part
    for name in ("ids", "added", "updated", "unchanged", "resumed", "pending"):
        bucket = getattr(total, name)
        bucket += [i for i in getattr(part, name) if i not in bucket]
    for pid in part.added + part.updated + part.resumed + part.unchanged:
        total.failed.pop(pid, None)  # an earlier call's failure, retried by this one
    total.failed.update(part.failed)
    total.dropped_triples += part.dropped_triples
    total.llm_calls += part.llm_calls
    total.embedding_calls += part.embedding_calls
    return total


def _ingest(memory: GraphMemory, items: list[dict[str, Any]], show: bool) -> AddResult:
    """add() the passages without triples, then add_triples() the rest.

    Passages without triples go first: without an LLM, add() refuses before storing anything,
    so a mixed file stores nothing. The progress bar follows the library's progress callback.
    """
    if not items:  # retry what earlier adds left failed or pending
        return memory.add([])
    total: AddResult | None = None
    with Progress(console=err_console, transient=True, disable=not show) as bar:
        for with_triples in (False, True):
            group = [it for it in items if ("triples" in it) == with_triples]
            if not group:
                continue
            label = "storing passages with triples" if with_triples else "extracting triples"
            task = bar.add_task(label, total=len(group))

            def progress(done: int, todo: int, task: Any = task) -> None:
                bar.update(task, completed=done, total=max(todo, 1))

            ids = [it.get("id") for it in group]
            meta = [it.get("metadata") or {} for it in group]
            if with_triples:
                pairs = [(it["text"], it["triples"]) for it in group]
                part = memory.add_triples(pairs, ids=ids, metadata=meta, progress=progress)
            else:
                texts = [it["text"] for it in group]
                part = memory.add(texts, ids=ids, metadata=meta, progress=progress)
            total = _merge(total, part)
    return total or AddResult(namespace=memory.namespace)


_NO_LLM = ("passages without triples need a chat model to extract them: pass --llm (e.g. "
           "--llm openai:gpt-4o-mini with OPENAI_API_KEY or OPENAI_BASE_URL set) or set "
           "MEMAGENTS_LLM, or give each passage its own triples in a .jsonl --file: "
           '{"text": "...", "triples": [["subject", "predicate", "object"]]}.')


@memory_app.command("add")
def add(
    texts: Annotated[list[str] | None, typer.Argument(help="Passages to add.")] = None,
    file: Annotated[str | None, typer.Option("--file", "-f", help="A .txt or .jsonl file, or - "
                                             "for stdin.")] = None,
    folder: Folder = None,
    namespace: Namespace = "default",
    embeddings: EmbeddingsOpt = None,
    llm: LLMOpt = None,
    preset: PresetOpt = "default",
    as_json: JsonOpt = False,
) -> None:
    """Add passages: triples extracted by a chat model (--llm), or your own (JSONL "triples").

    Passages come as arguments or from --file: a .txt file holds one passage per paragraph;
    a .jsonl file (or stdin: --file -) holds one JSON object per line, with these keys:

      "text": the passage (required)
      "id": a string id (default: derived from the text)
      "metadata": a JSON object stored with the passage
      "triples": [["subject", "predicate", "object"], ...] (no chat model needed)

    Passages without "triples" need a chat model: --llm or MEMAGENTS_LLM.

    Without passages, retries the failed and pending passages of the namespace.
    """
    with _guard():  # read (and fail) before the memory folder is created
        items = [{"text": t} for t in texts or []] + (read_passages(file) if file else [])
        if any("triples" not in it for it in items) and not (llm or get_settings().llm):
            raise InputError(_NO_LLM + " Nothing was stored.")
    with _open(folder, namespace, embeddings, llm, preset, create=True) as memory:
        if not items:
            counts = memory.stats()["passages"]
            if not counts["failed"] and not counts["pending"]:
                raise InputError("nothing to add: give passages as arguments or --file PATH "
                                 "(no failed or pending passages to retry either).")
            if not memory.has_llm:
                raise InputError(f"{counts['failed'] + counts['pending']} failed or pending "
                                 "passage(s) wait for triple extraction. " + _NO_LLM)
        result = _ingest(memory, items, show=not as_json)
    if as_json:
        _echo_json({**asdict(result), "ok": result.ok})
        return
    rows = [(name, str(len(getattr(result, name))))
            for name in ("added", "updated", "unchanged", "resumed", "pending")]
    rows += [("failed", f"[red]{len(result.failed)}[/red]" if result.failed else "0"),
             ("dropped triples", str(result.dropped_triples)),
             ("LLM calls", str(result.llm_calls)), ("embedding calls", str(result.embedding_calls))]
    console.print(_table(f"memory add ({result.namespace})", ("", ""), rows, show_header=False))
    for pid, error in result.failed.items():
        console.print(f"[red]failed[/red] {escape(pid)}: {escape(error)}")
    if result.failed:
        console.print("[dim]failed passages stay stored; `memagents memory add` (with or without "
                      "new passages) retries them[/dim]")
    if result.pending:
        console.print(f"[yellow]{len(result.pending)} passage(s) wait for triple extraction: set "
                      "MEMAGENTS_LLM (or pass --llm) and run `memagents memory add` again[/yellow]")


# ------------------------------------------------------------------- search
@memory_app.command("search")
def search(
    query: Annotated[str, typer.Argument(help="The question or text to search for.")],
    k: Annotated[int, typer.Option("-k", "--k", min=1, help="How many passages.")] = 5,
    explain: Annotated[bool, typer.Option("--explain", help="Show seeds and facts.")] = False,
    folder: Folder = None,
    namespace: Namespace = "default",
    embeddings: EmbeddingsOpt = None,
    llm: LLMOpt = None,
    preset: PresetOpt = "default",
    as_json: JsonOpt = False,
) -> None:
    """Rank stored passages for QUERY with Personalized PageRank."""
    with _open(folder, namespace, embeddings, llm, preset) as memory:
        hits = memory.search(query, k)
    expl = hits.explanation
    if as_json:
        _echo_json({
            "query": query, "namespace": namespace, "notes": hits.notes,
            "hits": [{"rank": h.rank, "id": h.id, "score": h.score, "dense_score": h.dense_score,
                      "ppr_score": h.ppr_score, "text": h.text, "metadata": h.metadata}
                     for h in hits],
            "explanation": asdict(expl) if expl is not None else None,
        })
        return
    if not hits:
        console.print(f"no hits in namespace {escape(namespace)!r}")
    table = Table(title=f"memory search ({namespace}): {escape(query)}")
    for column in ("rank", "id", "score", "dense", "ppr"):
        table.add_column(column, justify="left" if column == "id" else "right", no_wrap=True,
                         min_width={"rank": 4, "id": 2}.get(column, 6))
    id_width = max((len(h.id) for h in hits), default=2)
    width = max(20, console.width - 44 - id_width)  # what the other columns leave
    table.add_column("text", overflow="ellipsis", no_wrap=True, max_width=width)
    for h in hits:
        table.add_row(str(h.rank), escape(h.id), f"{h.score or 0:.4f}", f"{h.dense_score or 0:.3f}",
                      f"{h.ppr_score or 0:.4f}", escape(h.text.replace("\n", " ")))
    if hits:
        console.print(table)
    if explain and expl is not None:
        how = "graph (PPR)" if expl.used_graph else f"dense fallback: {expl.fallback_reason}"
        console.print(f"[bold]ranking[/bold]: {escape(how)}; preset {expl.preset}; "
                      f"recognition filter {'ran' if expl.filter_ran else 'did not run'}")
        console.print(_table(
            "linked facts", ("subject", "predicate", "object", "score", "cosine"),
            ([*(escape(x) for x in f.triple), f"{f.score:.3f}", f"{f.cosine:.3f}"]
             for f in expl.kept_facts),
        ))
        console.print(_table(
            "seed phrases", ("phrase", "weight", "passages"),
            ([escape(sp.phrase), f"{sp.weight:.4f}", str(sp.passages)] for sp in expl.seed_phrases),
        ))
    for note in hits.notes:
        console.print(f"[dim]{escape(note)}[/dim]")


# ------------------------------------------------------------------- delete
@memory_app.command("delete")
def delete(
    ids: Annotated[list[str], typer.Argument(help="Passage ids to delete.")],
    folder: Folder = None,
    namespace: Namespace = "default",
    embeddings: EmbeddingsOpt = None,
    llm: LLMOpt = None,
    preset: PresetOpt = "default",
    as_json: JsonOpt = False,
) -> None:
    """Delete passages; the graph is left as if they had never been added."""
    with _open(folder, namespace, embeddings, llm, preset) as memory:
        result = memory.delete(ids)
    if as_json:
        _echo_json(asdict(result))
        return
    console.print(f"[green]deleted[/green] {len(result.deleted)}: "
                  + escape(", ".join(result.deleted) or "-"))
    if result.unknown:
        console.print(f"[yellow]unknown[/yellow] {len(result.unknown)}: "
                      + escape(", ".join(result.unknown)))


# -------------------------------------------------------------------- stats
@memory_app.command("stats")
def stats(
    folder: Folder = None,
    namespace: Namespace = "default",
    embeddings: EmbeddingsOpt = None,
    llm: LLMOpt = None,
    preset: PresetOpt = "default",
    as_json: JsonOpt = False,
) -> None:
    """Passages by status, graph size, embeddings, preset and namespaces."""
    with _open(folder, namespace, embeddings, llm, preset) as memory:
        data = {**memory.stats(), "namespaces": memory.namespaces(), "folder": str(memory.folder)}
    data.pop("usage", None)  # this process's usage: only the embedding of this command
    if as_json:
        _echo_json(data)
        return
    rows = [(f"passages {status}", str(n)) for status, n in data["passages"].items()]
    rows += [(f"graph {name.replace('_', ' ')}", str(n)) for name, n in data["graph"].items()]
    rows += [("embeddings", escape(data["embeddings"])), ("preset", escape(data["preset"])),
             ("namespaces", escape(", ".join(data["namespaces"]) or "-"))]
    title = f"memory {escape(data['folder'])} ({escape(namespace)})"
    console.print(_table(title, ("", ""), rows, show_header=False))


# ------------------------------------------------------------------- export
@memory_app.command("export")
def export(
    out: Annotated[Path, typer.Argument(help="File to write.")],
    fmt: Annotated[str | None, typer.Option("--format", help="graphml, html or png "
                                            "(default: from OUT's extension).")] = None,
    query: Annotated[str | None, typer.Option("--query", "-q", help="Export only this "
                                              "query's subgraph.")] = None,
    hops: Annotated[int, typer.Option("--hops", min=0, help="Neighbour hops around it.")] = 1,
    k: Annotated[int, typer.Option("-k", "--k", min=1, help="Top hits in the subgraph.")] = 5,
    max_nodes: Annotated[int, typer.Option("--max-nodes", min=1, help="Picture size cap.")] = 150,
    folder: Folder = None,
    namespace: Namespace = "default",
    embeddings: EmbeddingsOpt = None,
    llm: LLMOpt = None,
    preset: PresetOpt = "default",
    as_json: JsonOpt = False,
) -> None:
    """Write the namespace graph as GraphML, or a query's subgraph as GraphML, HTML or PNG."""
    kind = (fmt or out.suffix.lstrip(".") or "graphml").lower()
    if kind not in ("graphml", "html", "png"):
        with _guard():
            raise InputError(f"unknown export format {kind!r} (from --format or OUT's extension):"
                             " use --format graphml, html or png.")
    with _open(folder, namespace, embeddings, llm, preset) as memory:
        if query is not None:
            graph = ex.query_subgraph(memory, query, k, hops, namespace, max_nodes=max_nodes)
            title = f"memagents: {query}"
        else:
            graph = ex.export_graph(memory.index())
            title = f"memagents graph ({namespace})"
            if kind != "graphml" and graph.number_of_nodes() > max_nodes:
                raise InputError(f"the namespace graph has {graph.number_of_nodes()} nodes, too "
                                 f"many to draw (--max-nodes {max_nodes}): pass --query, raise "
                                 "--max-nodes, or use --format graphml.")
        try:
            if kind == "graphml":
                ex.to_graphml(graph, out)
            elif kind == "html":
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(ex.subgraph_html(graph, title), encoding="utf-8")
            else:
                ex.write_png(graph, out, title)
        except OSError as exc:
            raise InputError(f"cannot write OUT {str(out)!r} ({_os_reason(exc)}): pass a file "
                             "path in a folder you can write to.") from exc
    summary = {"path": str(out), "format": kind, "nodes": graph.number_of_nodes(),
               "edges": graph.number_of_edges(), "query": query}
    if as_json:
        _echo_json(summary)
        return
    console.print(f"[green]wrote[/green] {escape(str(out))} ({kind}): {summary['nodes']} nodes, "
                  f"{summary['edges']} edges")
    if graph.graph.get("truncated"):
        console.print(f"[dim]neighbourhood cut at --max-nodes {max_nodes}[/dim]")
