"""The run-directory lock: one `edgekit shrink` per run directory at a time, and a way for `report`/`check`
to notice that one is still running (its results would be incomplete)."""

from __future__ import annotations

import fcntl
from contextlib import contextmanager
from pathlib import Path

from edgekit.errors import InputError

LOCK_FILE = ".lock"


@contextmanager
def hold(run_dir: Path):
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / LOCK_FILE, "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"{run_dir}: another edgekit run is using this run directory") from None
        yield


def in_progress(run_dir: Path) -> bool:
    """True while another process holds the lock of ``run_dir`` (a `shrink` is running there)."""
    try:
        with open(Path(run_dir) / LOCK_FILE, "r") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(f, fcntl.LOCK_UN)
    except OSError:
        return False
    return False
