"""Where a command stands, for the line a Ctrl-C prints, and whether a Ctrl-C may still interrupt it.

A leaf (standard library only): ``edgekit.cli.main`` installs the handler before importing anything heavy, and
a command marks its outcome complete with ``finished()``. From then on a SIGINT is ignored: the files are
written and the exit code is known, so nothing is left to interrupt. At exit the handler becomes SIG_IGN,
because Python resets its own handlers to the default during shutdown (a late Ctrl-C would then kill the
process by the signal, with no line), but leaves an ignored signal ignored."""

from __future__ import annotations

import signal

state = {"phase": "starting", "finished": False}  # phase: starting -> parsing -> running


def _on_sigint(signum, frame):
    if not state["finished"]:
        raise KeyboardInterrupt


def install() -> object:
    """Our handler, unless the caller ignores SIGINT (a background job: it keeps ignoring it); the previous one."""
    state.update(phase="starting", finished=False)
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_sigint)
    return previous


def finished() -> None:
    """The command's outcome is complete (output printed, files in place): a Ctrl-C now changes nothing."""
    state["finished"] = True


def at_exit(previous: object, process: bool) -> None:
    """The exit code is decided. In a process of its own, ignore SIGINT through interpreter shutdown; called
    in-process (tests), put the caller's handler back."""
    state["finished"] = True
    if signal.getsignal(signal.SIGINT) is _on_sigint:
        signal.signal(signal.SIGINT, signal.SIG_IGN if process else previous)
