"""Resident memory of this process, without psutil: /proc on Linux, getrusage elsewhere."""

from __future__ import annotations

import sys


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def current_rss() -> int | None:
    """Bytes resident now, or None where the OS does not say."""
    kib = _status_kib("VmRSS")
    return kib * 1024 if kib is not None else None


def peak_rss() -> int | None:
    """Highest resident bytes this process has reached. On Linux VmHWM, which starts afresh at exec;
    ru_maxrss would carry over the parent's peak from before the fork."""
    kib = _status_kib("VmHWM")
    if kib is not None:
        return kib * 1024
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # KiB on Linux/BSD, bytes on macOS
