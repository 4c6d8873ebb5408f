"""Entry point: every way a command can end becomes an exit code and, unless it succeeded, one line on stderr.

    0 ok · 1 a run or check failed · 2 bad input (recipe, path, option, usage) · 130 interrupted (Ctrl-C)

A traceback only with EDGEKIT_DEBUG=1. The commands and the mapping of errors to exit codes live in
``edgekit.cli.commands``; this module imports nothing heavy at the top, so Ctrl-C is handled at both edges of a
command, not only inside it (``edgekit.cli.sigint``): while typer, rich and the commands are still importing
(half a second or more on a busy machine) it ends with exit 130 and a line, not a KeyboardInterrupt traceback;
and once the exit code is decided a Ctrl-C is ignored, so interpreter shutdown cannot turn a finished run into
a death by signal with no line."""

from __future__ import annotations

import sys

from edgekit.cli import sigint  # a leaf: standard library only
from edgekit.errors import Interrupted  # a leaf with no imports

INTERRUPTED = Interrupted.exit_code  # 130 = 128 + SIGINT, what shells report for a command stopped by Ctrl-C


def _interrupted(where: str) -> int:
    sys.stderr.write(f"error: interrupted {where}\n")  # a plain write: rich may be what was being imported
    sys.stderr.flush()
    return INTERRUPTED


def main(argv: list[str] | None = None) -> int:
    """``argv`` None: a process of its own (the console script, ``python -m edgekit``); a list: called in-process."""
    previous = sigint.install()
    try:
        try:
            from edgekit.cli import commands
        except KeyboardInterrupt:
            return _interrupted("while starting (importing edgekit and its command-line libraries); nothing ran")
        return commands.run(argv)
    except KeyboardInterrupt:  # after the command's own handling: it had ended, but its exit code was lost
        return _interrupted("while the command was ending (run it again to see its result)")
    finally:
        sigint.at_exit(previous, process=argv is None)


if __name__ == "__main__":
    sys.exit(main())
