"""One measured row of run.json in the report's shape (edgekit.decide.rows' contract): every optional measurement
is None when absent, read by name, no alias guessing. Torch-free."""

from __future__ import annotations

from typing import Any

from edgekit.decide.rows import PERCENTILES
from edgekit.report.fingerprint import fingerprint_id


def _floats(v) -> list[float]:
    return [float(x) for x in v or [] if number(x) is not None]


def normalize_row(raw: dict, stage: dict, kinds: dict[str, str], metrics: dict, machines: dict) -> dict[str, Any]:
    """One measured row in the report's shape; every optional measurement is None when absent."""
    role = "baseline" if raw.get("role") == "baseline" else "artifact"
    produced_by = raw.get("stage") or stage["id"]
    ident = str(produced_by)
    machine = raw.get("machine") or metrics.get("machine")
    machine_id = fingerprint_id(machine)
    if machine_id and isinstance(machine, dict):
        machines.setdefault(machine_id, machine)
    return {
        "id": ident,
        "role": role,
        "stage": produced_by,
        "kind": kinds.get(produced_by, stage["kind"]),
        "measured_by": stage["id"],
        "file": raw.get("file"),
        "accuracy": number(raw.get("accuracy")),
        "size_bytes": whole(raw.get("size_bytes")),
        "latency_ms": latency_percentiles(raw),
        "latency_runs": whole(raw.get("latency_runs")),
        "latency_p50_ci95_ms": pair(raw.get("latency_p50_ci95_ms")),
        "latency_round_p50_ms": _floats(raw.get("latency_round_p50_ms")),
        "latency_round_p10_ms": _floats(raw.get("latency_round_p10_ms")),  # what decide.noise.slower compares
        "threads": whole(raw.get("threads")),
        "test_samples": whole(raw.get("test_samples")),
        "test_set": raw["test_set"] if isinstance(raw.get("test_set"), str) else None,
        "batch": whole(raw.get("batch")),
        "chance_accuracy": number(raw.get("chance_accuracy")),
        # a task's metric (edgekit.decide.rows): only where the row names one, so a classifier's row is unchanged
        **({"metric": raw["metric"]} if isinstance(raw.get("metric"), str) and raw["metric"] else {}),
        **({"metrics": m} if (m := _metrics(raw.get("metrics"))) else {}),
        **({"accuracy_ci95": ci} if (ci := pair(raw.get("accuracy_ci95"))) else {}),
        **({"mean_detections": n} if (n := number(raw.get("mean_detections"))) is not None else {}),
        "params": whole(raw.get("params")),
        "macs": whole(raw.get("macs")),
        "counts_unknown": raw.get("counts_unknown") if isinstance(raw.get("counts_unknown"), str) else None,
        "peak_memory_bytes": whole(raw.get("peak_memory_bytes")),
        "gmacs_per_s": number(raw.get("gmacs_per_s")),
        "peak_fraction": number(raw.get("peak_fraction")),
        "steal_percent": number(raw.get("steal_percent")),
        "cost_per_1k": number(raw.get("cost_per_1k")),
        "machine": machine_id,
        # the benchmark harness flags noisy timings (unstable) and throttled runs (valid: false)
        "unstable": raw["unstable"] if isinstance(raw.get("unstable"), bool) else None,
        "unstable_reasons": list(raw.get("unstable_reasons") or []),
        "measurement_valid": metrics["valid"] if isinstance(metrics.get("valid"), bool) else None,
        "invalid_reasons": list(metrics.get("invalid_reasons") or []),
        **{k: raw[k] for k in ("provider", "model", "not_compared") if isinstance(raw.get(k), str)},
        # baselines: how they were prompted and what it cost; artifacts: accuracy on the baselines' subsets
        **{k: raw[k] for k in ("prompt", "usage", "accuracy_on") if isinstance(raw.get(k), dict)},
        **{k: raw[k] for k in ("cost_estimated",) if isinstance(raw.get(k), bool)},
        **{k: raw[k] for k in ("unparsed",) if isinstance(raw.get(k), int)},
    }


def latency_percentiles(raw: dict) -> dict[str, float]:
    """The row's ``latency_ms`` mapping ({"p50": ms, ...}), keeping only measured percentiles."""
    nested = raw.get("latency_ms") if isinstance(raw.get("latency_ms"), dict) else {}
    return {p: number(nested[p]) for p in PERCENTILES if number(nested.get(p)) is not None}


def _metrics(v: Any) -> dict[str, float]:
    """Every metric of the task by name ({"mAP@0.5:0.95": 0.41, "mAP@0.5": 0.66}), numbers only."""
    return {str(k): float(x) for k, x in v.items() if number(x) is not None} if isinstance(v, dict) else {}


def pair(v: Any) -> list[float] | None:
    return (
        [float(v[0]), float(v[1])]
        if isinstance(v, list) and len(v) == 2 and all(number(x) is not None for x in v)
        else None
    )


def number(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def whole(v: Any) -> int | None:
    return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
