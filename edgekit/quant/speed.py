"""Is the INT8 candidate really slower than the float model on this machine? Asked of the benchmark harness:
both files in separate processes, measured in alternating rounds, each p50 with its 95 % interval, and the
INT8/float ratio of every round. One 50-query p50 per file, taken minutes apart on a machine that drifts
±20 %, decided this before and could keep the float model on noise.

INT8 counts as slower only when it is clearly slower (edgekit.decide.noise: slower in every round, and by more than
5 % overall): a clear, repeated difference. Anything less keeps INT8 (the smaller file) and says so.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from edgekit.decide.noise import clearly_slower


def compare(float_file: Path, int8_file: Path, threads: int, runs: int, min_seconds: float) -> dict:
    """{"slower": bool, "ratio", "round_min", "round_max", "float_p50_ms", "float_ci95_ms", "int8_p50_ms",
    "int8_ci95_ms", "rounds", "threads", "machine"}; ratio = INT8 p50 / float p50, batch 1."""
    from edgekit.bench import PRESETS, bench

    settings = replace(PRESETS["default"], min_runs=max(runs, 50), min_seconds=max(min_seconds, 1.0), rounds=5)
    run = bench([Path(float_file), Path(int8_file)], threads=(threads,), settings=settings, reference=0)
    flt, q = run.results[0], run.results[1]
    spread = q.vs_reference or {}
    f_lo, f_hi = flt.stats.ci[50]
    q_lo, q_hi = q.stats.ci[50]
    ratio = spread.get("p50_ratio", q.stats.p50 / flt.stats.p50)
    return {
        "slower": clearly_slower(ratio, spread.get("min")),
        "ratio": round(ratio, 4),
        "round_min": round(spread.get("min", float("nan")), 4),
        "round_max": round(spread.get("max", float("nan")), 4),
        "float_p50_ms": round(flt.stats.p50, 4),
        "float_ci95_ms": [f_lo, f_hi],
        "int8_p50_ms": round(q.stats.p50, 4),
        "int8_ci95_ms": [q_lo, q_hi],
        "rounds": settings.rounds,
        "threads": threads,
        "machine": run.machine.get("id"),
    }


def describe(s: dict) -> str:
    """One sentence for the console, the metrics and the report."""
    return (
        f"INT8 p50 {s['int8_p50_ms']:.3f} ms vs float {s['float_p50_ms']:.3f} ms = {s['ratio']:.2f}x "
        f"(per-round {s['round_min']:.2f}–{s['round_max']:.2f}x over {s['rounds']} alternating rounds, batch 1, "
        f"{s['threads']} thread(s), machine {s['machine']})"
    )
