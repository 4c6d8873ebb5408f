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

from edgekit.bench.stats import LatencyStats, ratio_with_spread, summarize
from edgekit.decide.noise import LATENCY_TIE_REL, slower_at_fast_speed


def compare(float_file: Path, int8_file: Path, threads: int, runs: int, min_seconds: float) -> dict:
    """{"slower": bool, "ratio", "round_min", "round_max", "p10_rounds", "float_p50_ms", "float_ci95_ms",
    "int8_p50_ms", "int8_ci95_ms", "rounds", "threads", "machine"}; ratio = INT8 p50 / float p50, batch 1."""
    from edgekit.bench import PRESETS

    settings = replace(PRESETS["default"], min_runs=max(runs, 50), min_seconds=max(min_seconds, 1.0), rounds=5)
    flt, q, machine = _measure(Path(float_file), Path(int8_file), threads, settings)
    fs, qs = summarize(flt), summarize(q)
    fast = _fast(qs, fs)
    slower = slower_at_fast_speed(fast)
    if not slower and statistics.median(fast) > 1 + LATENCY_TIE_REL:  # once more, judged over all 10 rounds
        f2, q2, _ = _measure(Path(float_file), Path(int8_file), threads, settings)
        flt, q = [*flt, *f2], [*q, *q2]
        fs, qs = summarize(flt), summarize(q)
        fast = _fast(qs, fs)
        slower = slower_at_fast_speed(fast)
    spread = ratio_with_spread(q, flt)
    return {
        "slower": slower,
        "ratio": round(spread["p50_ratio"], 4),
        "round_min": round(spread["min"], 4),
        "round_max": round(spread["max"], 4),
        "p10_rounds": [round(r, 4) for r in fast],  # what decided (noise.slower_at_fast_speed)
        "float_p50_ms": round(fs.p50, 4),
        "float_ci95_ms": list(fs.ci[50]),
        "int8_p50_ms": round(qs.p50, 4),
        "int8_ci95_ms": list(qs.ci[50]),
        "rounds": len(q),
        "threads": threads,
        "machine": machine,
    }


def _measure(float_file: Path, int8_file: Path, threads: int, settings) -> tuple[list, list, str | None]:
    """Both files' latency samples per alternating round (ms), in one harness run."""
    from edgekit.bench import bench

    run = bench([float_file, int8_file], threads=(threads,), settings=settings, reference=0)
    return [list(r) for r in run.results[0].rounds], [list(r) for r in run.results[1].rounds], run.machine.get("id")


def _fast(int8: LatencyStats, flt: LatencyStats) -> list[float]:
    """INT8/float per-round p10 ratios: the rounds at the machine's fast speed."""
    return [a / b for a, b in zip(int8.round_p10, flt.round_p10)]


def describe(s: dict) -> str:
    """One sentence for the console, the metrics and the report."""
    return (
        f"INT8 p50 {s['int8_p50_ms']:.3f} ms vs float {s['float_p50_ms']:.3f} ms = {s['ratio']:.2f}x "
        f"(per-round {s['round_min']:.2f}–{s['round_max']:.2f}x over {s['rounds']} alternating rounds, batch 1, "
        f"{s['threads']} thread(s), machine {s['machine']}"
        + (f"; at the fast speed (p10) {statistics.median(s['p10_rounds']):.2f}x" if s.get("p10_rounds") else "")
        + ")"
    )
