"""Entry point: any EdgekitError becomes one line on stderr and its exit code; a traceback only with EDGEKIT_DEBUG=1."""

from __future__ import annotations

import os
import sys

from rich.markup import escape

from edgekit.cli.app import app, err
from edgekit.cli import bench, recipe_cmds, shrink  # noqa: F401  (registers the commands)
from edgekit.errors import EdgekitError


def main(argv: list[str] | None = None) -> int:
    try:
        app(args=argv, standalone_mode=False)
    except EdgekitError as e:
        if os.environ.get("EDGEKIT_DEBUG"):
            raise
        err.print(f"[red]error:[/] {escape(e.message)}", highlight=False, soft_wrap=True)
        return e.exit_code
    except KeyboardInterrupt:
        err.print("[red]interrupted[/]")
        return 130
    except SystemExit as e:  # typer.Exit / click usage errors carry their own code
        return e.code if isinstance(e.code, int) else 0
    except Exception as e:
        import click

        if isinstance(e, click.exceptions.ClickException):
            e.show()
            return 2
        if isinstance(e, click.exceptions.Exit):
            return e.exit_code
        if isinstance(e, click.exceptions.Abort):
            return 130
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
