"""``memagents hypermem ...``: ask questions through the HGMem loop from the command line.

``memagents hypermem ask "QUESTION" --memory DIR`` opens the knowledge index in ``DIR``, runs
:class:`~memagents.hypermem.agent.HypergraphAgent` and prints the answer; ``--show`` prints the
memory's evolution per step as it happens (the loop is streamed with
``stream_mode="updates"``: each node's memory diff), ``--json`` the full result, ``--html FILE``
writes the picture of the memory the loop built.

Capabilities never import each other, so this module does not know what a memory folder holds:
the command that opens ``--memory`` comes from the typer context (``ctx.obj[OPEN_INDEX]``, an
:data:`IndexOpener`). ``memagents`` (:mod:`memagents.cli`, the interface layer) sets graph
memory's opener; a program embedding :data:`hypermem_app` passes its own::

    CliRunner().invoke(hypermem_app, ["ask", "...", "--memory", "dir"],
                       obj={OPEN_INDEX: my_opener})

Errors are library errors (:class:`~memagents.errors.MemagentsError`) naming the option to fix;
``memagents.cli.main`` prints them as one line and exits 1.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from memagents.console import strict_json
from memagents.errors import ConfigError, InputError

__all__ = ["OPEN_INDEX", "IndexOpener", "ShowPrinter", "hypermem_app"]

#: The key of the typer context object holding the :data:`IndexOpener`.
OPEN_INDEX = "open_knowledge_index"

#: ``opener(folder, namespace=..., embeddings=...)``: a context manager yielding the
#: :class:`~memagents.base.knowledge.KnowledgeIndex` stored in ``folder`` (closed on exit).
#: It raises a :class:`~memagents.errors.MemagentsError` naming ``--memory`` when the folder
#: holds no index.
IndexOpener = Callable[..., AbstractContextManager[Any]]

hypermem_app = typer.Typer(
    help="Hypergraph working memory: multi-step questions over a graph memory.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


@hypermem_app.callback()
def _group() -> None:
    """Hypergraph working memory: multi-step questions over a graph memory."""


class Merge(str, Enum):
    """``--merge`` values (see :class:`~memagents.hypermem.nodes.HypergraphOptions`)."""

    auto = "auto"
    always = "always"
    never = "never"


class ShowPrinter:
    """Prints the loop's updates as they stream: each memory diff (``+`` added, ``~``
    updated, ``-`` merged away, ``!`` refused), the planner's judgement and the next
    sub-queries.

    >>> lines = []
    >>> show = ShowPrinter(lines.append)
    >>> show("plan", {"judgement": "explore", "concerns": [{"text": "Who?"}]})
    >>> show("subqueries", {"subqueries": [{"query": "Who edited it?", "points": []}]})
    >>> print("\\n".join(lines))
    [plan] explore: 1 concern(s)
    [subqueries] next:
      - Who edited it? (global)
    """

    def __init__(self, echo: Callable[[str], Any]) -> None:
        self.echo = echo

    def __call__(self, node: str, update: dict[str, Any]) -> None:
        from memagents.hypermem.core import MemoryDiff

        if node == "retrieve" and update.get("step"):
            found = update.get("context") or {}
            self.echo(f"── step {update['step']}: retrieved {len(found.get('passages') or ())} "
                      f"passage(s), {len(found.get('entities') or ())} entit(ies)")
        if update.get("diff"):
            summary = MemoryDiff.from_dict(update["diff"]).summary().splitlines()
            self.echo(f"[{node}] memory " + summary[0])
            for line in summary[1:]:
                self.echo(f"  {line}")
        if node == "plan" and update.get("judgement"):
            self.echo(f"[plan] {update['judgement']}: {len(update.get('concerns') or ())} "
                      "concern(s)")
        if node == "subqueries" and update.get("subqueries"):
            self.echo("[subqueries] next:")
            for s in update["subqueries"]:
                where = f"local: {', '.join(s['points'])}" if s.get("points") else "global"
                self.echo(f"  - {s['query']} ({where})")


def _opener(ctx: typer.Context) -> IndexOpener:
    obj = ctx.obj if isinstance(ctx.obj, dict) else {}
    opener = obj.get(OPEN_INDEX)
    if opener is None:
        raise ConfigError("nothing can open --memory here: run `memagents hypermem ask` (it "
                          "opens graph memory folders), or invoke hypermem_app with "
                          f"obj={{{OPEN_INDEX!r}: opener}}.")
    return opener  # type: ignore[no-any-return]


def _chat_model(llm: str | None) -> str:
    from memagents.config import get_settings

    spec = llm or get_settings().llm
    if not spec:
        raise ConfigError("no chat model configured: pass --llm (e.g. --llm openai:gpt-4o-mini) "
                          "or set MEMAGENTS_LLM, with OPENAI_API_KEY (or OPENAI_BASE_URL for "
                          "an OpenAI-compatible server).")
    return str(spec)


@hypermem_app.command("ask")
def ask(
    ctx: typer.Context,
    question: Annotated[str, typer.Argument(help="The question.")],
    memory: Annotated[Path, typer.Option(
        "--memory", help="Folder of the graph memory to read (built with `memagents memory "
                         "add`).")],
    namespace: Annotated[str | None, typer.Option(
        "--namespace", "-n", help="Namespace of the memory to read (default: its default).")
    ] = None,
    llm: Annotated[str | None, typer.Option(
        help="Chat model spec, e.g. openai:gpt-4o-mini (default: MEMAGENTS_LLM).")] = None,
    embeddings: Annotated[str | None, typer.Option(
        help="Embedding spec the memory was built with (default: MEMAGENTS_EMBEDDINGS).")
    ] = None,
    steps: Annotated[int | None, typer.Option(
        "--steps", min=1, help="Most retrieval rounds (default: 3).")] = None,
    merge: Annotated[Merge, typer.Option(
        help="Merge memory points: auto (not for single-fact questions), always or never.")
    ] = Merge.auto,
    show: Annotated[bool, typer.Option(
        "--show", help="Print the memory's evolution per step as it happens.")] = False,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the full result (answer, memory, evidence, diffs) as JSON.")
    ] = False,
    html: Annotated[Path | None, typer.Option(
        "--html", help="Write the picture of the final memory to this HTML file.")] = None,
) -> None:
    """Answer QUESTION with the HGMem loop over the memory in --memory."""
    from memagents.hypermem.agent import HypergraphAgent

    spec = _chat_model(llm)
    opener = _opener(ctx)
    options: dict[str, Any] = {"merge": merge.value}
    if steps is not None:
        options["max_steps"] = steps
    # with --json the evolution goes to stderr, so stdout stays one JSON document
    echo = (lambda line: typer.echo(line, err=True)) if as_json else typer.echo
    printer = ShowPrinter(echo) if show else None
    diffs: list[dict[str, Any]] = []

    def on_update(node: str, update: dict[str, Any]) -> None:
        if update.get("diff"):
            diffs.append({"node": node, **update["diff"]})
        if printer is not None:
            printer(node, update)

    with opener(memory, namespace=namespace, embeddings=embeddings) as index:
        agent = HypergraphAgent(index=index, llm=spec, **options)
        result = agent.ask(question, on_update=on_update)
    if html is not None:
        _write_html(result.memory, html, question)
    if as_json:
        typer.echo(strict_json({**result.to_dict(), "diffs": diffs}))
        return
    typer.echo(f"answer: {result.answer}")
    state = {True: "known", False: "not known", None: "no answer call"}[result.known]
    typer.echo(f"  ({state}; {result.steps} step(s), stopped: {result.stop_reason}; "
               f"{result.usage.llm_calls} LLM call(s); {len(result.memory)} memory point(s))")
    if result.explanation:
        typer.echo(f"explanation: {result.explanation}")
    if result.evidence:
        typer.echo("evidence: " + ", ".join(p.id for p in result.evidence))
    if html is not None:
        typer.echo(f"memory picture: {html}")


def _write_html(memory: Any, path: Path, question: str) -> None:
    try:
        memory.write_html(path, f"HGMem: {question}")
    except OSError as exc:
        reason = ("a part of the path is a file, not a folder"
                  if isinstance(exc, FileExistsError | NotADirectoryError)
                  else exc.strerror or type(exc).__name__)
        raise InputError(f"cannot write --html {str(path)!r} ({reason}): pass a file path you "
                         "can write to.") from exc


if __name__ == "__main__":  # pragma: no cover
    sys.exit(hypermem_app())
