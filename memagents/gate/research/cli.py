"""``memagents gate ...``: evaluate policies, tune popularity thresholds, export training data.

Example:
    >>> from typer.testing import CliRunner
    >>> CliRunner().invoke(gate_app, ["--help"]).exit_code
    0
"""

from __future__ import annotations

import typer

from memagents.gate.research.cli_eval import evaluate, export_training
from memagents.gate.research.cli_tune import tune

__all__ = ["gate_app"]

gate_app = typer.Typer(
    help="Retrieve-or-recall gate: evaluate policies, tune thresholds, export training data.",
    no_args_is_help=True,
)
gate_app.command("eval")(evaluate)
gate_app.command("tune")(tune)
gate_app.command("export-training")(export_training)
