"""The shared typer app and consoles. Commands register themselves on ``app`` when imported."""

from __future__ import annotations

import os

import typer
from rich.console import Console

from edgekit import __version__
from edgekit.cli import sigint

app = typer.Typer(
    name="edgekit",
    help="Train or fine-tune a small model, prune and quantize it, and measure it against a prompted large model.",
    no_args_is_help=False,  # bare `edgekit` is a usage error: one line listing the commands, exit 2
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
out = Console()  # results (tables, JSON) on stdout
# progress and messages on stderr (silenced by --quiet); soft_wrap: a log line is never hard-wrapped at 80 columns
err = Console(stderr=True, soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)  # the final error line: never silenced


def _version(value: bool):
    if value:
        typer.echo(f"edgekit {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit.", metavar=""
    ),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="Only results and errors: no progress, notes or warnings.", metavar=""
    ),
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Show a traceback with an error (same as EDGEKIT_DEBUG=1).", metavar=""
    ),
):
    """Exit codes: 0 ok, 1 a run or check failed, 2 bad input, 130 interrupted (Ctrl-C)."""
    sigint.state["phase"] = "running"  # the command line is parsed: a Ctrl-C from here interrupts the command
    err.quiet = quiet
    if not err.is_terminal:  # a CI log: no carriage-return bars from libraries (tqdm, huggingface_hub)
        os.environ.setdefault("TQDM_DISABLE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if verbose:
        os.environ["EDGEKIT_DEBUG"] = "1"
