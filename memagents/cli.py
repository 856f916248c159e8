"""The ``memagents`` command line.

Sub-commands grow with the capabilities; each one is a thin layer over the Python API.

Example:
    >>> from typer.testing import CliRunner
    >>> result = CliRunner().invoke(app, ["config", "show", "--json"])
    >>> result.exit_code
    0
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from memagents.errors import InputError, MemagentsError
from memagents.gate.research.cli import gate_app
from memagents.graphmem.cli import memory_app, print_error

__all__ = ["app", "main"]

app = typer.Typer(
    name="memagents",
    help="Adaptive retrieval and long-term memory for LangGraph agents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Inspect the resolved settings.", no_args_is_help=True)
sample_app = typer.Typer(help="The fictional sample world the project owns.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(sample_app, name="sample")
app.add_typer(memory_app, name="memory")
app.add_typer(gate_app, name="gate")

console = Console()


@config_app.command("show")
def config_show(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Show the resolved settings (arguments, MEMAGENTS_* variables, defaults); secrets masked."""
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
    console.print(table)


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
    console.print(
        f"[green]wrote[/green] sample world seed={seed} to {directory}: "
        + ", ".join(f"{v} {k}" for k, v in counts.items())
    )


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

    run_demo(seed=seed, size=_size_arg(size), k=k, folder=folder, console=console)


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
