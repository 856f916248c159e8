"""The ``memagents`` command line.

Sub-commands grow with the capabilities; each one is a thin layer over the Python API. The
command groups of the capabilities (``memory``, ``gate``, ``hypermem``) load lazily: ``memagents --help``
lists them from :data:`LAZY_GROUPS` without importing them, and ``memagents gate ...`` imports
the gate's commands only (not graph memory's), so the command starts in a fraction of a second.

Example:
    >>> from typer.testing import CliRunner
    >>> result = CliRunner().invoke(app, ["config", "show", "--json"])
    >>> result.exit_code
    0
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import typer
from typer.core import TyperGroup

from memagents.console import print_error
from memagents.errors import InputError, MemagentsError

__all__ = ["LAZY_GROUPS", "LazyGroup", "LazyGroupSpec", "app", "main",
           "open_graph_memory_index", "print_error"]


class LazyGroupSpec(NamedTuple):
    """Where a command group lives, and its one-line help for ``memagents --help``."""

    module: str
    attribute: str
    help: str


#: The capabilities' command groups, by name: imported only when invoked. ``help`` is the
#: group's own help (a test keeps the two equal).
LAZY_GROUPS: dict[str, LazyGroupSpec] = {
    "memory": LazyGroupSpec(
        "memagents.graphmem.cli", "memory_app",
        "Graph memory: add, search, delete, inspect and export."),
    "gate": LazyGroupSpec(
        "memagents.gate.research.cli", "gate_app",
        "Retrieve-or-recall gate: evaluate policies, tune thresholds, export training data."),
    "hypermem": LazyGroupSpec(
        "memagents.hypermem.cli", "hypermem_app",
        "Hypergraph working memory: multi-step questions over a graph memory."),
    "bench": LazyGroupSpec(
        "memagents.browsecomp.cli", "bench_app",
        "Browse benchmarks: synthesize, release, re-verify and schedule; grade answers."),
    "insights": LazyGroupSpec(
        "memagents.insights.cli", "insights_app",
        "Insight store (CORE): learn insights from failed and successful attempts."),
}


@contextmanager
def open_graph_memory_index(folder: Path, *, namespace: str | None = None,
                            embeddings: str | None = None) -> Iterator[Any]:
    """The graph memory in ``folder`` as the KnowledgeIndex ``memagents hypermem ask --memory``
    reads (the interface layer wires one capability to another; they never import each other).
    """
    from memagents.config import get_settings
    from memagents.errors import ConfigError
    from memagents.graphmem import GraphMemory

    root = Path(folder)
    if get_settings().database_url is None and not (root / "memory.db").is_file():
        raise InputError(f"--memory {str(root)!r} holds no graph memory: pass the folder of a "
                         "memory built with `memagents memory add` (or GraphMemory).")
    try:
        memory = GraphMemory.open(root, embeddings=embeddings,
                                  **({"namespace": namespace} if namespace else {}))
    except ConfigError as exc:  # in the command line's terms
        message = str(exc).replace("embeddings=", "--embeddings")
        if "this memory was built" in message:
            message = f"--memory {str(root)!r}: {message}"
        raise ConfigError(message) from exc
    with memory:
        yield memory


def load_group(name: str) -> Any:
    """The click command of the lazy group ``name`` (importing its module)."""
    spec = LAZY_GROUPS[name]
    sub_app = getattr(importlib.import_module(spec.module), spec.attribute)
    return typer.main.get_command(sub_app)


class LazyGroup(TyperGroup):
    """The top-level group: the groups of :data:`LAZY_GROUPS` are listed from their spec and
    imported when a command line invokes them.

    ``resolve_command`` (the group named on the command line) loads the real group;
    ``get_command`` alone (help listings, completion) gets a stub carrying the one-line help.
    A group registered for real (``app.add_typer``) is used as registered.
    """

    def list_commands(self, ctx: Any) -> list[str]:
        names = super().list_commands(ctx)
        return names + [n for n in LAZY_GROUPS if n not in names]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in LAZY_GROUPS:
            return TyperGroup(name=cmd_name, help=LAZY_GROUPS[cmd_name].help)
        return command

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name = args[0] if args else None
        if name in LAZY_GROUPS and name not in self.commands:
            self.add_command(load_group(name), name)
        return super().resolve_command(ctx, args)


app = typer.Typer(
    name="memagents",
    help="Adaptive retrieval and long-term memory for LangGraph agents.",
    cls=LazyGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # what the capabilities' command groups are given (see memagents.hypermem.cli.OPEN_INDEX)
    context_settings={"obj": {"open_knowledge_index": open_graph_memory_index}},
)
config_app = typer.Typer(help="Inspect the resolved settings.", no_args_is_help=True)
sample_app = typer.Typer(help="The fictional sample world the project owns.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(sample_app, name="sample")


def _console() -> Any:
    from rich.console import Console

    return Console()


@config_app.command("show")
def config_show(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Show the resolved settings (arguments, MEMAGENTS_* variables, defaults); secrets masked."""
    from rich.table import Table

    from memagents.config import env_vars, get_settings

    values = get_settings().masked()
    if as_json:
        typer.echo(json.dumps(values, indent=2, default=str))
        return
    table = Table(title="memagents settings")
    table.add_column("setting")
    table.add_column("value")
    table.add_column("environment variable", style="dim")
    for name, value in values.items():
        names = env_vars(name)
        variable = names[0] + (f" (or {', '.join(names[1:])})" if len(names) > 1 else "")
        table.add_row(name, "" if value is None else str(value), variable)
    _console().print(table)


@sample_app.command("export")
def sample_export(
    directory: Path = typer.Argument(..., help="Folder to write the sample world into."),
    seed: int = typer.Option(0, help="Seed of the world (same seed, same bytes)."),
    size: str = typer.Option("small", help="World size: small, medium, large or a number."),
) -> None:
    """Write the sample world (entities, facts, passages, questions, website) to DIRECTORY."""
    from memagents.sample import SampleWorld, export_sample

    world = SampleWorld.generate(seed, size=_size_arg(size))
    try:
        manifest = export_sample(world, directory)
    except OSError as exc:
        reason = ("a part of the path is a file, not a folder"
                  if isinstance(exc, FileExistsError | NotADirectoryError) else exc.strerror)
        raise InputError(f"cannot write DIRECTORY {str(directory)!r} ({reason}): pass a folder "
                         "you can write to.") from exc
    counts = manifest.get("counts", {})
    _console().print(
        f"[green]wrote[/green] sample world seed={seed} to {directory}: "
        + ", ".join(f"{v} {k}" for k, v in counts.items())
    )


@sample_app.command("serve")
def sample_serve(
    seed: int = typer.Option(0, min=0, help="Seed of the world."),
    snapshot: int = typer.Option(
        0, min=0, help="Snapshot in time: 0 as first generated, each later one 3 months on."),
    port: int = typer.Option(8800, min=0, max=65535, help="Port on 127.0.0.1 (0: a free one)."),
    size: str = typer.Option("small", help="World size: tiny, small, medium, large or a number."),
) -> None:
    """Serve the sample world's website on 127.0.0.1 under its domain names, until Ctrl-C."""
    from memagents.sample import MAX_SNAPSHOT, SampleWorld
    from memagents.sample.webserver import PortInUseError, WebServer

    if snapshot > MAX_SNAPSHOT:
        raise InputError(f"--snapshot {snapshot} is out of range; use 0 to {MAX_SNAPSHOT}.")
    try:
        world = SampleWorld.generate(seed, size=_size_arg(size), snapshot=snapshot)
    except InputError as exc:  # seed and snapshot are checked above: the size is wrong
        raise InputError(f"--size {size}: {exc}") from None
    try:
        server = WebServer(world, port=port)
    except PortInUseError:
        raise InputError(f"--port {port} is in use; pick another or --port 0 (a free port)."
                         ) from None
    except InputError as exc:
        raise InputError(f"--port {port}: {exc}") from None
    for line in _serve_banner(server, world):
        typer.echo(line)
    _stop_on_signals()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        typer.echo("stopped")
    finally:
        server.close()


def _stop_on_signals() -> None:
    """Make Ctrl-C (and SIGTERM) stop a server even if started where SIGINT is ignored."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return
    for name in ("SIGINT", "SIGTERM"):
        signal.signal(getattr(signal, name), signal.default_int_handler)


def _serve_banner(server: Any, world: Any) -> list[str]:
    """What ``memagents sample serve`` prints: the domains, the port and the settings to use."""
    pages: dict[str, int] = {}
    for page in world.website.pages.values():
        pages[page.domain] = pages.get(page.domain, 0) + 1
    first = next((h for h in server.hosts if h.startswith("wiki.")), server.hosts[0])
    return [
        (f"Serving sample world seed={world.seed} snapshot={world.snapshot_index} "
         f"({world.date}), {len(world.website.pages)} pages, on http://{server.address}"),
        *(f"  {host}  ({pages.get(host, 0)} pages)" for host in server.hosts),
        "Point the web fetcher at it with:",
        *(f"  export {name}={value}" for name, value in server.environment.items()),
        f"Try: curl -H 'Host: {first}' http://{server.address}/",
        "Press Ctrl-C to stop.",
    ]


@app.command("demo")
def demo(
    seed: int = typer.Option(0, help="Seed of the sample world."),
    size: str = typer.Option("small", help="Sample world size."),
    k: int = typer.Option(5, min=1, help="Passages retrieved per question."),
    folder: Path | None = typer.Option(
        None, help="Memory folder (default: a fresh temporary folder)."
    ),
) -> None:
    """Index the sample world offline and report retrieval recall."""
    from memagents.demo import run_demo

    run_demo(seed=seed, size=_size_arg(size), k=k, folder=folder, console=_console())


def _size_arg(size: str) -> str | int:
    return int(size) if size.isdigit() else size


def _click_exception_types() -> tuple[type[BaseException], ...]:
    """Click's exception class, and typer's vendored copy of it (typer >= 0.25 ships one)."""
    import click

    types: list[type[BaseException]] = [click.ClickException]
    try:
        from typer._click.exceptions import ClickException as VendoredClickException
    except ImportError:  # older typer uses click itself
        pass
    else:
        types.append(VendoredClickException)
    return tuple(types)


def _os_error_message(exc: OSError) -> str:
    """One line for a file-system error no command turned into a clearer one."""
    where = f" {str(exc.filename)!r}" if exc.filename is not None else ""
    return (f"cannot use{where}: {exc.strerror or exc}; check the path given on the command "
            "line and its permissions.")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``memagents`` script: the one place errors become messages.

    Library errors (:class:`MemagentsError`) and file-system errors print one plain line
    (``error: ...``, no rich markup, no wrapping) and exit 1; usage errors exit 2.
    """
    try:
        rv = app(args=argv, standalone_mode=False)
    except MemagentsError as exc:  # CLIError (also a click exception) included
        print_error(getattr(exc, "message", None) or exc)
        return 1
    except OSError as exc:
        print_error(_os_error_message(exc))
        return 1
    except UnicodeError as exc:
        print_error(f"{exc}: use UTF-8 text.")
        return 1
    except typer.Exit as exc:  # pragma: no cover - typer control flow
        return int(exc.exit_code or 0)
    except typer.Abort:  # pragma: no cover
        return 130
    except _click_exception_types() as exc:  # usage errors: bad option, bad value
        exc.show()  # type: ignore[attr-defined]
        return int(getattr(exc, "exit_code", 2))
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
