"""The one place edgekit measures models: ``edgekit bench`` and the pipeline's evaluate stage both call ``bench``.

Per case (model x threads x batch), in its own worker process:

    cold start   session creation + first inference, timed once
    warm-up      at least ``warmup_runs`` queries and ``warmup_seconds``
    rounds       ``rounds`` times, alternating between cases: a short re-warm, then queries until both
                 min_runs/rounds and min_seconds/rounds are reached (MLPerf SingleStream style)
    memory       peak resident memory of the worker, minus its baseline before the session existed
    accuracy     optional, on an evaluation bundle, with the same session

    >>> from edgekit.bench import bench, PRESETS
    >>> result = bench([Path("a.onnx"), Path("b.onnx")], settings=PRESETS["quick"])   # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import edgekit.bench.graph as graph
import edgekit.bench.peak as peak_rate
import edgekit.bench.system as system
from edgekit.bench.bundle import read_head
from edgekit.bench.isolation import Worker, round_order
from edgekit.bench.stats import LatencyStats, Thresholds, instability, ratio_instability, ratio_with_spread, summarize
from edgekit.errors import InputError


@dataclass(frozen=True)
class Settings:
    warmup_runs: int = 20
    warmup_seconds: float = 0.5
    min_runs: int = 500  # measured queries per case, over all rounds
    min_seconds: float = 5.0  # measured seconds per case, over all rounds
    rounds: int = 5
    round_warmup: int = 3  # untimed queries at the start of every round: the caches are cold after another case
    repeat_unstable: int = 0  # measure everything again (up to this many times) while a case is unstable
    thresholds: Thresholds = field(default_factory=Thresholds)

    def per_round(self) -> tuple[int, float]:
        return math.ceil(self.min_runs / self.rounds), self.min_seconds / self.rounds


PRESETS = {
    # tests and smoke runs: well under a second per case, numbers are rough
    "quick": Settings(warmup_runs=3, warmup_seconds=0.05, min_runs=40, min_seconds=0.3, rounds=2, round_warmup=1),
    # a few seconds per case: p50 to about 1 % on a quiet machine
    "default": Settings(),
    # for reports: MLPerf SingleStream's floor of 1024 queries and 60 s, repeated once if unstable
    "thorough": Settings(
        warmup_runs=100,
        warmup_seconds=5.0,
        min_runs=1024,
        min_seconds=60.0,
        rounds=10,
        round_warmup=5,
        repeat_unstable=1,
    ),
}


def settings_for(preset: str, *, repeat: int | None = None, **thresholds: float | None) -> Settings:
    """A preset with user overrides; a None override keeps the preset's value."""
    base = PRESETS[preset]
    th = replace(base.thresholds, **{k: v for k, v in thresholds.items() if v is not None})
    return replace(base, thresholds=th, repeat_unstable=base.repeat_unstable if repeat is None else repeat)


@dataclass(frozen=True)
class Case:
    model: Path
    threads: int  # onnxruntime intra-op threads
    batch: int
    inter_threads: int = 1


@dataclass
class CaseResult:
    case: Case
    hello: dict  # worker's start-up report: session_ms, first_run_ms, input_shapes
    rounds: list[list[float]]
    stats: LatencyStats
    unstable: list[str]
    attempts: int
    memory: dict = field(default_factory=dict)  # baseline_rss_bytes, peak_rss_bytes, session_bytes, inference_bytes
    accuracy: dict | None = None
    vs_reference: dict | None = None
    load: dict | None = None  # steal_percent, busy_percent of all cores while this case's rounds ran


@dataclass
class BenchRun:
    settings: Settings
    spinning: bool
    machine: dict
    before: dict
    after: dict
    invalid: list[str]
    models: dict[Path, dict]  # graph counts and file size per model
    reference: Path | None
    results: list[CaseResult]
    peak: dict[int, dict] = field(default_factory=dict)  # threads -> edgekit.bench.peak.attainable()


Progress = Callable[[str, int, int], None]  # (what is happening, steps done, steps in all)


def _no_progress(what: str, done: int, total: int) -> None:
    pass


def bench(
    models: Sequence[Path],
    *,
    threads: Sequence[int] = (1,),
    batches: Sequence[int] = (1,),
    settings: Settings = PRESETS["default"],
    reference: int | None = None,
    bundle: Path | None = None,
    spinning: bool = True,
    inter_threads: int = 1,
    progress: Progress = _no_progress,
    peak: bool = True,
) -> BenchRun:
    """Measure every model at every thread count and batch size; ratios against ``models[reference]``.
    ``peak``: also the machine's attainable GMAC/s per thread count (edgekit.bench.peak, cached per machine)."""
    models = _check_inputs(models, threads, batches, inter_threads, reference, bundle)
    counts = {m: {**graph.count(m), "size_bytes": m.stat().st_size} for m in dict.fromkeys(models)}
    cases = [Case(m, t, b, inter_threads) for m in dict.fromkeys(models) for t in threads for b in batches]
    total = 2 * len(cases) + len(cases) * settings.rounds + len(cases)
    step = 0

    def tick(what: str) -> None:
        nonlocal step, total
        step += 1
        progress(what, step, total)

    machine, before = system.fingerprint(), system.snapshot()
    workers: list[Worker] = []
    try:
        for c in cases:  # one at a time, so every cold start has the machine to itself
            progress(f"cold start {display_name(c.model)} ({c.threads}t, batch {c.batch})", step, total)
            workers.append(Worker(c.model, c.threads, c.batch, spinning, c.inter_threads))
            tick(f"cold start {display_name(c.model)}")
        for c, w in zip(cases, workers):
            w.call("warmup", runs=settings.warmup_runs, seconds=settings.warmup_seconds)
            tick(f"warm-up {display_name(c.model)}")
        attempts, rounds = 0, []
        while True:
            attempts += 1
            rounds, loads = _measure(cases, workers, settings, tick)
            stats = [summarize(r) for r in rounds]
            unstable = _judge(
                cases, rounds, stats, settings.thresholds, models[reference] if reference is not None else None
            )
            if not any(unstable) or attempts > settings.repeat_unstable:
                break
            total += len(cases) * settings.rounds
        results = [
            CaseResult(c, w.hello, r, s, u, attempts, load=ld)
            for c, w, r, s, u, ld in zip(cases, workers, rounds, stats, unstable, loads)
        ]
        _memory_and_accuracy(results, workers, bundle, tick)
    finally:
        for w in workers:
            w.close()
    after = system.snapshot()

    ref = models[reference] if reference is not None else None
    if ref is not None:
        by_key = {(r.case.model, r.case.threads, r.case.batch): r for r in results}
        for r in results:
            base = by_key[(ref, r.case.threads, r.case.batch)]
            r.vs_reference = ratio_with_spread(r.rounds, base.rounds)
    invalid = system.throttling(before, after)
    if machine.get("emulated"):  # accuracy is still the device's own; timings are the emulator's
        invalid.append(f"emulated run ({machine['emulated']}): latencies are meaningless, accuracy is valid")
    # after the models, with every worker closed: the microbenchmarks have the machine to themselves
    # (not under emulation: the emulator's rate says nothing about the device)
    peaks = (
        {t: peak_rate.attainable(t, machine) for t in dict.fromkeys(threads)}
        if peak and not machine.get("emulated")
        else {}
    )
    return BenchRun(settings, spinning, machine, before, after, invalid, counts, ref, results, peaks)


def _judge(cases: list[Case], rounds, stats: list[LatencyStats], th: Thresholds, ref: Path | None) -> list[list[str]]:
    """Unstable reasons per case: the reference (or every case, without one) on its own numbers; every other case on
    its ratio to the reference at the same threads and batch, measured in the same alternating rounds."""
    index = {(c.model, c.threads, c.batch): i for i, c in enumerate(cases)}
    out = []
    for c, r, s in zip(cases, rounds, stats):
        base = index.get((ref, c.threads, c.batch)) if ref is not None else None
        if base is None or c.model == ref:
            out.append(instability(s, th))
        else:
            out.append(ratio_instability(s, ratio_with_spread(r, rounds[base]), th))
    return out


def display_name(model: Path) -> str:
    """``export-3f2a.../model.onnx`` -> ``export-3f2a...``; ``int8.onnx`` -> ``int8``."""
    return model.parent.name if model.stem == "model" and model.parent.name else model.stem


def _check_inputs(models, threads, batches, inter_threads, reference, bundle) -> list[Path]:
    """Every problem with the request, found before any process starts; a stage directory means its model.onnx."""
    models = [
        Path(m) / "model.onnx" if Path(m).is_dir() and (Path(m) / "model.onnx").is_file() else Path(m) for m in models
    ]
    if not models:
        raise InputError("no models to benchmark")
    for m in models:
        if not m.is_file():
            raise InputError(f"{m}: no such file")
    if reference is not None and not 0 <= reference < len(models):
        raise InputError(f"--reference {reference}: there are {len(models)} models (0-based index)")
    if not threads or not batches or min(threads) < 1 or min(batches) < 1 or inter_threads < 1:
        raise InputError("give at least one thread count and batch size, each at least 1")
    if bundle is not None:
        if not Path(bundle).is_file():
            raise InputError(f"{bundle}: no such evaluation bundle")
        read_head(Path(bundle))  # a broken bundle fails now, not after minutes of latency measurement
    return models


def _memory_and_accuracy(results: list[CaseResult], workers: list[Worker], bundle: Path | None, tick) -> None:
    measured: set[Path] = set()
    for res, w in zip(results, workers):
        mem = w.call("memory")  # before accuracy: its large batches are not the deployment's memory
        base, peak = mem["baseline_rss"], mem["peak_rss"]
        session = res.hello.get("session_rss")
        res.memory = {
            "baseline_rss_bytes": base,
            "peak_rss_bytes": peak,
            # resident growth from creating the session (weights, prepacked kernels) ...
            "session_bytes": session - base if base is not None and session is not None else None,
            # ... and up to the peak of inference (plus activations and arenas)
            "inference_bytes": peak - base if base is not None and peak is not None else None,
        }
        if bundle is not None and res.case.model not in measured:  # accuracy does not depend on threads or batch
            res.accuracy = {k: v for k, v in w.call("accuracy", bundle=str(bundle)).items() if k != "ok"}
            measured.add(res.case.model)
        tick(f"memory/accuracy {display_name(res.case.model)}")


def _measure(cases: list[Case], workers: list[Worker], settings: Settings, tick):
    """(rounds, loads): rounds[case][round] = query times (ms), rounds alternating between cases; loads[case] = CPU
    steal and busy share (edgekit.bench.system.cpu_load) over that case's rounds together."""
    runs, seconds = settings.per_round()
    rounds: list[list[list[float]]] = [[] for _ in cases]
    spent: list[dict[str, int] | None] = [None for _ in cases]  # summed /proc/stat deltas per case
    for r in range(settings.rounds):
        for i in round_order(len(cases), r):
            t0 = system.cpu_times()
            reply = workers[i].call("measure", runs=runs, seconds=seconds, warmup=settings.round_warmup)
            t1 = system.cpu_times()
            if t0 is not None and t1 is not None:
                prev = spent[i] or dict.fromkeys(t0, 0)
                spent[i] = {k: prev[k] + t1[k] - t0[k] for k in t0}
            rounds[i].append(reply["times_ms"])
            tick(f"round {r + 1}/{settings.rounds} {display_name(cases[i].model)}")
    loads = [system.cpu_load(dict.fromkeys(s, 0), s) if s else None for s in spent]
    return rounds, loads
