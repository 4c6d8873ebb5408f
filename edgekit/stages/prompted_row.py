"""What a prompted baseline's row holds whatever the task: who answered, how fast (per query), how large, at what
cost per 1000 queries, how many answers could not be read, and the prompt; the task's own fields (accuracy, or mAP
with its interval: edgekit.detect.evaluate) come from the caller. Shared by edgekit.stages.prompted (classes) and
edgekit.stages.prompted_detect (boxes)."""

from __future__ import annotations

import time

from edgekit.bench.stats import summarize
from edgekit.decide.rows import ACCURACY, PERCENTILES, latency, metric_name, shown


def latency_percentiles(times: list[float]) -> dict[str, float]:
    """The row's percentiles, by the bench harness's own statistics (edgekit.bench.stats)."""
    if not times:
        return {}
    pct = summarize([times]).percentiles
    return {p: round(pct[int(p.removeprefix("p"))], 4) for p in PERCENTILES}


def baseline_row(cfg, model: str | None, bl, times: list[float], queries: int, unparsed: int, prompt: dict) -> dict:
    """The task-independent fields of a scored baseline row; ``queries``: test samples (images) asked about."""
    usage = bl.usage()
    cost = cfg.price_per_1k if cfg.price_per_1k is not None else bl.cost_per_1k(queries)
    return {
        "stage": cfg.id,
        "role": "baseline",
        "provider": cfg.provider,
        "model": model,
        "latency_ms": latency_percentiles(times),
        "latency_runs": len(times),
        "threads": getattr(cfg, "threads", 1),  # an endpoint's row keeps the 1 it always said
        "size_bytes": bl.size_bytes,
        "params": bl.params,
        "cost_per_1k": cost,
        "cost_estimated": bool(
            cost is not None and cfg.price_per_1k is None and usage.get("tokens", "reported") != "reported"
        ),
        "unparsed": unparsed,
        "prompt": prompt,
        **({"usage": usage} if usage else {}),
    }


def summary(row: dict, what: str = "samples") -> str:
    """The console line of a scored row."""
    cost = row["cost_per_1k"]
    return (
        f"  {row['stage']}: {'accuracy ' if metric_name(row) == ACCURACY else ''}{shown(row)} on "
        f"{row['test_samples']} {what}, p50 {latency(row)} ms"
        + (f", {row['unparsed']} answers unparsed" if row["unparsed"] else "")
        + (
            f", {cost:.4g} per 1k queries" + (" (estimated tokens)" if row["cost_estimated"] else "")
            if cost is not None
            else ""
        )
    )


def timed_batch1(bl, xs, runs: int, method: str = "classify") -> list[float]:
    """Wall ms of ``runs`` batch-1 calls of the baseline's ``method`` (classify, or detect), after a warm-up."""
    answer = getattr(bl, method)
    for i in range(min(3, len(xs))):  # warm-up: first calls allocate
        answer(xs[i : i + 1])
    times = []
    for i in range(runs):
        t0 = time.perf_counter()
        answer(xs[i % len(xs) : i % len(xs) + 1])
        times.append((time.perf_counter() - t0) * 1e3)
    return times
