"""Loaded by every Python a test session starts (tests/modulecheck.py puts this folder on PYTHONPATH): it appends
each edgekit module the process imports to $EDGEKIT_IMPORT_LOG/<pid>.txt, so the check that the fast tier imports
every module also sees the CLI runs and bench workers tests start in subprocesses (``-m NAME`` counts NAME).
An audit hook on "import", not an atexit handler: a bench worker is ended by a signal, and atexit never runs then.
Imports only os and sys."""

import os
import sys

_folder = os.environ.get("EDGEKIT_IMPORT_LOG")
_seen: set[str] = set()


def _record(event: str, args: tuple) -> None:
    if event != "import":
        return
    name = args[0]
    if (name == "edgekit" or name.startswith("edgekit.")) and name not in _seen:
        _seen.add(name)
        with open(os.path.join(_folder, f"{os.getpid()}.txt"), "a") as f:
            f.write(name + "\n")


def _main_module() -> str | None:
    """What ``python -m NAME`` runs: NAME's code runs as __main__, so no import event names it."""
    argv = getattr(sys, "orig_argv", [])
    if "-m" in argv[:-1]:
        name = argv[argv.index("-m") + 1]
        return name + ".__main__" if name == "edgekit" else name
    return None


if _folder and os.path.isdir(_folder):
    sys.addaudithook(_record)
    if _main_module():
        _record("import", (_main_module(),))
