"""The versioned ``--json`` document of a bench run. Adding keys keeps ``edgekit.bench/1``; renaming or
removing one, or changing a unit, needs ``edgekit.bench/2``. Units are in the key names (_ms, _bytes, _per_s)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timezone

from edgekit import __version__
from edgekit.bench.harness import BenchRun, CaseResult, display_name
from edgekit.bench.peak import achieved
from edgekit.bench.stats import PERCENTILES

SCHEMA = "edgekit.bench/1"


def _r(x: float | None, nd: int = 4) -> float | None:
    return None if x is None else round(x, nd)


def latency(res: CaseResult) -> dict:
    s = res.stats
    return {
        "n": s.n,
        "mean": _r(s.mean),
        "std": _r(s.std),
        "cv": _r(s.cv),
        "min": _r(s.min),
        "max": _r(s.max),
        **{f"p{p}": _r(s.percentiles[p]) for p in PERCENTILES},
        "ci95": {f"p{p}": [_r(lo), _r(hi)] for p, (lo, hi) in s.ci.items()},
        "ci95_half_width_rel_p50": _r(s.ci_rel, 5),
        "round_medians": [_r(m) for m in s.round_medians],
        "round_p10": [_r(m) for m in s.round_p10],
    }


def case_record(run: BenchRun, res: CaseResult) -> dict:
    c, counts = res.case, run.models[res.case.model]
    rate = achieved(counts["macs"], c.batch, res.stats.p50)
    # an INT8 model's MACs run on int8 kernels: measured against the int8 peak (several times the float one)
    top = (run.peak.get(c.threads) or {}).get("int8_peak_gmacs_per_s" if counts.get("int8") else "peak_gmacs_per_s")
    return {
        "model": str(c.model),
        "name": display_name(c.model),
        "size_bytes": counts["size_bytes"],
        "params": counts["params"],
        "macs": counts["macs"],
        "ops": counts["ops"],
        "counts_unknown": counts.get("why"),  # why macs/ops are None, when they are
        "threads": c.threads,
        "inter_op_threads": c.inter_threads,
        "batch": c.batch,
        "input_shapes": res.hello.get("input_shapes"),
        "cold_start_ms": {
            "session": _r(res.hello["session_ms"]),
            "first_run": _r(res.hello["first_run_ms"]),
            "total": _r(res.hello["session_ms"] + res.hello["first_run_ms"]),
        },
        "latency_ms": latency(res),
        # throughput from the mean: total items / total time, which is what a stream of queries sees
        "throughput_per_s": _r(c.batch * 1000 / res.stats.mean, 2),
        "memory": res.memory,
        "accuracy": res.accuracy,
        "unstable": bool(res.unstable),
        "unstable_reasons": res.unstable,
        "attempts": res.attempts,
        "vs_reference": {k: _r(v) for k, v in res.vs_reference.items()} if res.vs_reference else None,
        # distance to the limit: MACs per second at p50, and that as a share of this machine's measured peak
        "gmacs_per_s": _r(rate, 3),
        "peak_fraction": _r(rate / top, 4) if rate is not None and top else None,
        # what else the machine did while this case was measured (steal: vCPU time taken by the hypervisor)
        "steal_percent": (res.load or {}).get("steal_percent"),
        "cpu_busy_percent": (res.load or {}).get("busy_percent"),
        # the machine switched between two speeds while measuring: p50 moves with their mix (stats.speed_states)
        "speed_states": {k: _r(v, 4) for k, v in res.stats.speeds.items()} if res.stats.speeds else None,
    }


def document(run: BenchRun) -> dict:
    return {
        "schema": SCHEMA,
        "edgekit": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "settings": {**asdict(run.settings), "spinning": run.spinning},
        "machine": run.machine,
        "state": {"before": run.before, "after": run.after},
        "valid": not run.invalid,
        "invalid_reasons": run.invalid,
        "reference": str(run.reference) if run.reference else None,
        "peak": {str(t): p for t, p in run.peak.items()},  # threads -> attainable GMAC/s (edgekit.bench.peak)
        "results": [case_record(run, r) for r in run.results],
    }
