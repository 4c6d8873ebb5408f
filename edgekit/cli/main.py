"""Entry point: every way a command can end becomes an exit code and, unless it succeeded, one line on stderr.

    0 ok · 1 a run or check failed · 2 bad input (recipe, path, option, usage) · 130 interrupted (Ctrl-C)

A traceback only with EDGEKIT_DEBUG=1. Usage errors come from typer's own (vendored) click, so they are caught
through ``typer.TyperException``: the torch-free install has no ``click`` package to import."""

from __future__ import annotations

import os
import sys
import warnings

import typer
from rich.markup import escape

from edgekit.cli.app import app, errors
from edgekit.cli import recipe_cmds, init, shrink, search, curve, bench, report, check  # noqa: F401, I001  (registers the commands, in --help order)
from edgekit.errors import EdgekitError

INTERRUPTED = 130  # 128 + SIGINT, what shells report for a command stopped by Ctrl-C


def _fail(message: str, code: int) -> int:
    errors.print(f"[red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return code


def usage_line(e: typer.TyperException) -> str:
    """A usage error as one line that names the command and where its help is."""
    ctx = getattr(e, "ctx", None)
    if ctx is not None and ctx.parent is None and e.format_message() == "Missing command.":
        names = ", ".join(ctx.command.list_commands(ctx))
        return f"no command given; commands: {names} (`{ctx.command_path} -h` for help)"
    text = " ".join(e.format_message().split())  # click wraps some messages over several lines
    return f"{ctx.command_path}: {text} (`{ctx.command_path} -h` for help)" if ctx is not None else text


def main(argv: list[str] | None = None) -> int:
    # a deprecation inside transformers' torch integration, printed once per process into every text-recipe log
    warnings.filterwarnings("ignore", message=r".*_pytree\._register_pytree_node is deprecated")
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
    except KeyboardInterrupt:  # raised outside a command (while importing or parsing)
        return _fail("interrupted", INTERRUPTED)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else _fail(str(e.code), 1))
    if code == INTERRUPTED:
        # typer turns a KeyboardInterrupt inside a command into exit code 130 without a word; commands that hold
        # state (shrink, bench) raise Interrupted with the details instead, so this is the generic fallback
        return _fail("interrupted", INTERRUPTED)
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
