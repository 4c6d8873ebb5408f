"""The shared typer app and console. Commands register themselves on ``app`` when imported."""

from __future__ import annotations

import typer
from rich.console import Console

from edgekit import __version__

app = typer.Typer(
    name="edgekit",
    help="Train or fine-tune a small model, prune and quantize it, and measure it against a prompted large model.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()  # results (tables, JSON) on stdout
err = Console(stderr=True)  # progress and messages on stderr


def _version(value: bool):
    if value:
        typer.echo(f"edgekit {__version__}")
        raise typer.Exit()


@app.callback()
def root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit.")):
    """Exit codes: 0 ok, 1 a run or check failed, 2 bad input."""
