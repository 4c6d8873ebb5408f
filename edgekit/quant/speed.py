"""Is the INT8 candidate really slower than the float model on this machine? Asked of the benchmark harness:
both files in separate processes, measured in alternating rounds, each p50 with its 95 % interval, and the
INT8/float ratio of every round. One 50-query p50 per file, taken minutes apart on a machine that drifts
±20 %, decided this before and could keep the float model on noise.

INT8 counts as slower when it is slower at the machine's fast speed (edgekit.decide.noise.slower_at_fast_speed:
per-round p10 ratios, by more than 5 % at the median round and in four rounds of five), the verdict the shipping rule
and the sense check read from the evaluate stage's rows. A median round over 5 % slower that misses the count is
measured once more and judged over all 10 rounds. Anything less keeps INT8 (the smaller file) and says so.
"""

from __future__ import annotations

import statistics
from dataclasses import replace
from pathlib import Path

import numpy as np

from edgekit.decide.noise import LATENCY_TIE_REL, slower_at_fast_speed


def compare(float_file: Path, int8_file: Path, threads: int, runs: int, min_seconds: float) -> dict:
    """{"slower": bool, "ratio", "round_min", "round_max", "p10_rounds", "float_p50_ms", "float_ci95_ms",
    "int8_p50_ms", "int8_ci95_ms", "rounds", "threads", "machine"}; ratio = INT8 p50 / float p50, batch 1."""
    from edgekit.bench import PRESETS
    from edgekit.bench.stats import summarize

    settings = replace(PRESETS["default"], min_runs=max(runs, 50), min_seconds=max(min_seconds, 1.0), rounds=5)
    flt, q, machine = _measure(Path(float_file), Path(int8_file), threads, settings)
    fast = _per_round(q, flt, 10)
    slower = slower_at_fast_speed(fast)
    if not slower and statistics.median(fast) > 1 + LATENCY_TIE_REL:  # once more, judged over all 10 rounds
        f2, q2, _ = _measure(Path(float_file), Path(int8_file), threads, settings)
        flt, q = [*flt, *f2], [*q, *q2]
        fast = _per_round(q, flt, 10)
        slower = slower_at_fast_speed(fast)
    fs, qs = summarize(flt), summarize(q)
    per_round, ratio = _per_round(q, flt, 50), qs.p50 / fs.p50
    return {
        "slower": slower,
        "ratio": round(ratio, 4),
        "round_min": round(min(per_round), 4),
        "round_max": round(max(per_round), 4),
        "p10_rounds": [round(r, 4) for r in fast],  # what decided (noise.slower_at_fast_speed)
        "float_p50_ms": round(fs.p50, 4),
        "float_ci95_ms": list(fs.ci[50]),
        "int8_p50_ms": round(qs.p50, 4),
        "int8_ci95_ms": list(qs.ci[50]),
        "rounds": len(per_round),
        "threads": threads,
        "machine": machine,
    }


def _measure(float_file: Path, int8_file: Path, threads: int, settings) -> tuple[list, list, str | None]:
    """Both files' latency samples per alternating round (ms), in one harness run."""
    from edgekit.bench import bench

    run = bench([float_file, int8_file], threads=(threads,), settings=settings, reference=0)
    return [list(r) for r in run.results[0].rounds], [list(r) for r in run.results[1].rounds], run.machine.get("id")


def _per_round(rounds: list, ref_rounds: list, q: int) -> list[float]:
    """Per-round ratios of the ``q``-th percentile."""
    return [float(np.percentile(a, q) / np.percentile(b, q)) for a, b in zip(rounds, ref_rounds) if len(a) and len(b)]


def describe(s: dict) -> str:
    """One sentence for the console, the metrics and the report."""
    return (
        f"INT8 p50 {s['int8_p50_ms']:.3f} ms vs float {s['float_p50_ms']:.3f} ms = {s['ratio']:.2f}x "
        f"(per-round {s['round_min']:.2f}–{s['round_max']:.2f}x over {s['rounds']} alternating rounds, batch 1, "
        f"{s['threads']} thread(s), machine {s['machine']}"
        + (f"; at the fast speed (p10) {statistics.median(s['p10_rounds']):.2f}x" if s.get("p10_rounds") else "")
        + ")"
    )
