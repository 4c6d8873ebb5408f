"""The commands and how each way one can end becomes an exit code and one line on stderr (imported by
``edgekit.cli.main`` inside its Ctrl-C guard, so everything heavy is imported here, not there).

    0 ok · 1 a run or check failed · 2 bad input (recipe, path, option, usage) · 130 interrupted (Ctrl-C)

A traceback only with EDGEKIT_DEBUG=1. Usage errors come from typer's own (vendored) click, so they are caught
through ``typer.TyperException``: the torch-free install has no ``click`` package to import."""

from __future__ import annotations

import os
import sys
import warnings

import typer
from rich.markup import escape

from edgekit.cli import sigint
from edgekit.cli.app import app, errors
from edgekit.cli import recipe_cmds, init, shrink, search, curve, bench, bundle, report, check  # noqa: F401, I001  (registers the commands, in --help order)
from edgekit.errors import EdgekitError, Interrupted

INTERRUPTED = Interrupted.exit_code  # 130 = 128 + SIGINT, what shells report for a command stopped by Ctrl-C


def _fail(message: str, code: int) -> int:
    errors.print(f"[red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return code


def _command(argv: list[str] | None) -> str:
    return next((a for a in (sys.argv[1:] if argv is None else argv) if not a.startswith("-")), "")


def usage_line(e: typer.TyperException) -> str:
    """A usage error as one line that names the command and where its help is."""
    ctx = getattr(e, "ctx", None)
    if ctx is not None and ctx.parent is None and e.format_message() == "Missing command.":
        names = ", ".join(ctx.command.list_commands(ctx))
        return f"no command given; commands: {names} (`{ctx.command_path} -h` for help)"
    text = " ".join(e.format_message().split())  # click wraps some messages over several lines
    return f"{ctx.command_path}: {text} (`{ctx.command_path} -h` for help)" if ctx is not None else text


def run(argv: list[str] | None) -> int:
    # a deprecation inside transformers' torch integration, printed once per process into every text-recipe log
    warnings.filterwarnings("ignore", message=r".*_pytree\._register_pytree_node is deprecated")
    sigint.state["phase"] = "parsing"
    try:
        code = app(args=argv, standalone_mode=False, prog_name="edgekit")
    except EdgekitError as e:
        if os.environ.get("EDGEKIT_DEBUG"):
            raise
        return _fail(e.message, e.exit_code)
    except typer.TyperException as e:  # usage errors: unknown command or option, bad value, missing argument
        if os.environ.get("EDGEKIT_DEBUG"):
            raise
        return _fail(usage_line(e), e.exit_code if isinstance(e.exit_code, int) and e.exit_code else 2)
    except typer.Abort:  # end of input at a prompt
        return _fail("aborted", 1)
    except KeyboardInterrupt:  # raised outside a command's own handling: while parsing, or on its way out
        if sigint.state["phase"] != "running":
            return _fail("interrupted while reading the command line; nothing ran", INTERRUPTED)
        return _fail(f"interrupted during `edgekit {_command(argv)}`", INTERRUPTED)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else _fail(str(e.code), 1))
    if code == INTERRUPTED:
        # typer turns a KeyboardInterrupt inside a command into exit code 130 without a word; commands that hold
        # state (shrink, bench) raise Interrupted with the details instead, so this is the generic fallback
        return _fail(f"interrupted during `edgekit {_command(argv)}`", INTERRUPTED)
    return code if isinstance(code, int) else 0
