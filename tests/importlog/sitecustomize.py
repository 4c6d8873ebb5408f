"""Loaded by every Python a test session starts (tests/modulecheck.py puts this folder on PYTHONPATH): at exit it
writes the edgekit modules that process imported to $EDGEKIT_IMPORT_LOG/<pid>.txt, so the check that the fast tier
imports every module also sees the CLI runs tests make in subprocesses. It imports nothing beyond os and sys."""

import atexit
import os
import sys


def _write() -> None:
    folder = os.environ.get("EDGEKIT_IMPORT_LOG")
    names = sorted(m for m in sys.modules if m == "edgekit" or m.startswith("edgekit."))
    if folder and names and os.path.isdir(folder):
        with open(os.path.join(folder, f"{os.getpid()}.txt"), "w") as f:
            f.write("\n".join(names) + "\n")


atexit.register(_write)
