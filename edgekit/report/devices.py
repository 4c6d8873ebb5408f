"""Device results joined to a report: what ``edgekit bench --on DEVICE`` left in RUN_DIR/devices/<device>.json.

Each artifact a device measured gets ``devices[name]``: the device's accuracy, latency, machine fingerprint id
and validity, and its accuracy next to the host's. INT8 accuracy differs across CPUs (the integer kernels
differ: x86 VNNI/AVX2 vs Arm NEON or dot-product), so a difference beyond the test set's noise is flagged.
A budget that names a device (``device: pi4``) is checked on that device's numbers (``on_device``)."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgekit.fsutil import read_json

DEVICES_DIR = "devices"
INT8_KINDS = ("quantize", "inc-quantize")
Z95 = 1.96


def accuracy_vs_host(
    host: float | None,
    device: float | None,
    samples: int | None,
    host_samples: int | None,
    kind: str,
    host_ci95: list[float] | None = None,
) -> dict | None:
    """Device minus host accuracy in points, the 95 % noise of a test set that size, and what a difference means.
    ``host_ci95``: the host row's own interval of its metric (a detector's mAP bootstrap), used as the noise."""
    if host is None or device is None or not samples:
        return None
    if host_ci95:  # the metric's own interval (edgekit.decide.rows): a binomial one does not describe mAP
        noise = (host_ci95[1] - host_ci95[0]) / 2 * 100
    else:
        noise = Z95 * math.sqrt(max(host * (1 - host), 1e-12) / samples) * 100
    diff = (device - host) * 100
    if kind in INT8_KINDS:
        why = (
            "INT8: integer kernels differ between CPUs (x86 VNNI/AVX2 vs Arm NEON/dot-product), "
            "so a few predictions flip"
        )
    else:
        why = "fp32: should match across CPUs up to float rounding"
    if host_samples and host_samples != samples:
        why += f"; host measured {host_samples} samples, device {samples}: not the same samples"
    return {
        "host": host,
        "difference_pt": round(diff, 3),
        "noise_pt": round(noise, 3),
        "beyond_noise": abs(diff) > noise,
        "note": why,
    }


def _row(result: dict) -> tuple[int, int]:
    return (result.get("threads") != 1, result.get("batch") != 1)  # batch 1, 1 thread first: the report's setting


def attach(
    run_dir: Path, artifacts: list[dict], machines: dict, fingerprint_id: Callable[[Any], str | None]
) -> list[dict]:
    """Add ``devices`` to every artifact a device measured; return one summary per device result file."""
    summaries = []
    # artifact files are relative to the run dir (absolute in runs of older edgekit: joining keeps those)
    by_file = {str((Path(run_dir) / a["file"]).resolve()): a for a in artifacts if a.get("file")}
    for path in sorted((Path(run_dir) / DEVICES_DIR).glob("*.json")):
        try:
            doc = read_json(path)
        except (OSError, ValueError) as e:
            summaries.append({"name": path.stem, "file": str(path), "status": "unreadable", "error": str(e)})
            continue
        if not isinstance(doc, dict):
            summaries.append(
                {"name": path.stem, "file": str(path), "status": "unreadable", "error": "not a result document"}
            )
            continue
        name = str((doc.get("device") or {}).get("name") or path.stem)
        machine = doc.get("machine") if isinstance(doc.get("machine"), dict) else None
        mid = fingerprint_id(machine) if machine else None
        if mid:
            machines.setdefault(mid, machine)
        emulated = bool(machine and machine.get("emulated"))
        summaries.append(
            {
                "name": name,
                "file": str(path),
                "status": doc.get("status", "ok"),
                "machine": mid,
                "emulated": emulated,
                "error": doc.get("error"),
                "created": doc.get("created"),
            }
        )
        for r in sorted(doc.get("results") or [], key=_row):
            art = by_file.get(str(Path(r.get("local_model") or "").resolve())) if r.get("local_model") else None
            if art is None or name in art.setdefault("devices", {}):
                continue
            acc = r.get("accuracy") or {}
            lat = r.get("latency_ms") or {}
            art["devices"][name] = {
                "machine": mid,
                "emulated": emulated,
                "status": doc.get("status", "ok"),
                "accuracy": acc.get("value"),
                "test_samples": acc.get("samples"),
                "latency_ms": {p: lat[p] for p in ("p50", "p90", "p95", "p99") if isinstance(lat.get(p), (int, float))},
                "threads": r.get("threads"),
                "unstable": r.get("unstable"),
                "measurement_valid": doc.get("valid") if isinstance(doc.get("valid"), bool) else None,
                "invalid_reasons": list(doc.get("invalid_reasons") or []),
                "accuracy_vs_host": accuracy_vs_host(
                    art.get("accuracy"),
                    acc.get("value"),
                    acc.get("samples"),
                    art.get("test_samples"),
                    art.get("kind", ""),
                    art.get("accuracy_ci95"),
                ),
            }
    return summaries


def on_device(report: dict, device: str) -> dict:
    """A copy of ``report`` whose artifacts carry ``device``'s accuracy, latency and machine instead of the host's.
    An artifact the device did not measure (or whose run failed there) gets ``device_problem``, so a gate on it
    fails instead of silently using the host's numbers."""
    names = {d["name"]: d for d in report.get("devices") or []}
    out = copy.deepcopy(report)
    for a in out["artifacts"]:
        dev = (a.get("devices") or {}).get(device)
        if dev is None or dev["status"] != "ok":
            summary = names.get(device)
            why = (
                f"its run on {device} failed: {summary.get('error')}"
                if summary and summary["status"] != "ok"
                else f"no result from device '{device}' in {DEVICES_DIR}/ (run: edgekit bench --on {device} "
                f"RUN_DIR/stages/<id>/model.onnx)"
            )
            a["device_problem"] = why
            continue
        a.update(
            accuracy=dev["accuracy"],
            test_samples=dev["test_samples"],
            latency_ms=dev["latency_ms"],
            machine=dev["machine"],
            unstable=dev["unstable"],
            measurement_valid=dev["measurement_valid"],
            invalid_reasons=dev["invalid_reasons"],
            measured_on=device,
        )
    return out
