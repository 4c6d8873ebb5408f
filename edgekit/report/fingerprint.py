"""A machine fingerprint's short stable id: rows measured on machines with the same id may have their latencies
compared (the gate, the report's Machines section, the bench table). Torch-free, a leaf.

    fingerprint_id({"cpu": "EPYC 7B13", "cores": 2, "hostname": "ci-7"})   # a 16-hex-digit id, hostname ignored
"""

from __future__ import annotations

from typing import Any

from edgekit.hashing import hash_obj

# Fingerprint keys that change between runs on the same machine, so they must not split it in two.
_VOLATILE = {
    "created",
    "time",
    "timestamp",
    "date",
    "hostname",
    "host",
    "node",
    "uptime",
    "load",
    "loadavg",
    "temperature",
    "temp_c",
    "frequency",
    "freq_mhz",
    "cpu_freq",
    "available",
    "memory_available",
    "throttled",
    "governor_after",
    "before",
    "after",
}


def fingerprint_id(fp: Any) -> str | None:
    """A short stable id for a machine fingerprint: its own id if it has one, else a hash of its stable fields."""
    if fp is None or fp == {}:
        return None
    if isinstance(fp, str):
        return fp
    if isinstance(fp, dict):
        for key in ("id", "hash", "fingerprint"):
            if isinstance(fp.get(key), str):
                return fp[key]
        return hash_obj(_stable(fp))[:16]
    return hash_obj(fp)[:16]


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in _VOLATILE}
    return value
