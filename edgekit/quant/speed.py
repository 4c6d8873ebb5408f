"""Is the INT8 candidate really slower than the float model on this machine? Asked of the benchmark harness:
both files in separate processes, measured in alternating rounds, each p50 with its 95 % interval, and the
INT8/float ratio of every round. One 50-query p50 per file, taken minutes apart on a machine that drifts
±20 %, decided this before and could keep the float model on noise.

INT8 counts as slower only when it is clearly slower (edgekit.decide.noise: slower in every round, and by more than
5 % overall): a clear, repeated difference. A comparison over 5 % slower with a round at parity is measured once more,
and 10 rounds slower in all but one count too (noise.mostly_slower). Anything less keeps INT8 (the smaller file)
and says so.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from edgekit.decide.noise import clearly_slower, inconclusive, mostly_slower


def compare(float_file: Path, int8_file: Path, threads: int, runs: int, min_seconds: float) -> dict:
    """{"slower": bool, "ratio", "round_min", "round_max", "float_p50_ms", "float_ci95_ms", "int8_p50_ms",
    "int8_ci95_ms", "rounds", "threads", "machine"}; ratio = INT8 p50 / float p50, batch 1."""
    from edgekit.bench import PRESETS
    from edgekit.bench.stats import summarize

    settings = replace(PRESETS["default"], min_runs=max(runs, 50), min_seconds=max(min_seconds, 1.0), rounds=5)
    flt, q, machine = _measure(Path(float_file), Path(int8_file), threads, settings)
    ratio, per_round = _ratio(q, flt), _per_round(q, flt)
    slower = clearly_slower(ratio, min(per_round))
    if not slower and inconclusive(ratio, min(per_round)):  # once more, and judged over all 10 rounds
        f2, q2, _ = _measure(Path(float_file), Path(int8_file), threads, settings)
        flt, q = [*flt, *f2], [*q, *q2]
        ratio, per_round = _ratio(q, flt), _per_round(q, flt)
        slower = mostly_slower(ratio, per_round)
    fs, qs = summarize(flt), summarize(q)
    return {
        "slower": slower,
        "ratio": round(ratio, 4),
        "round_min": round(min(per_round), 4),
        "round_max": round(max(per_round), 4),
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


def _ratio(rounds: list, ref_rounds: list) -> float:
    from edgekit.bench.stats import summarize

    return summarize(rounds).p50 / summarize(ref_rounds).p50


def _per_round(rounds: list, ref_rounds: list) -> list[float]:
    return [float(np.median(a) / np.median(b)) for a, b in zip(rounds, ref_rounds) if len(a) and len(b)]


def describe(s: dict) -> str:
    """One sentence for the console, the metrics and the report."""
    return (
        f"INT8 p50 {s['int8_p50_ms']:.3f} ms vs float {s['float_p50_ms']:.3f} ms = {s['ratio']:.2f}x "
        f"(per-round {s['round_min']:.2f}–{s['round_max']:.2f}x over {s['rounds']} alternating rounds, batch 1, "
        f"{s['threads']} thread(s), machine {s['machine']})"
    )
