"""Measure one ONNX file the same way for every trial and for the float input: validation accuracy, file size,
batch-1 p50 latency on a fixed thread count. The latency comes from the benchmark harness (edgekit.bench, the
one timer edgekit has) with a cheap in-stage preset: its own worker process, warm-up, alternating rounds."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from edgekit.bench import PRESETS, bench
from edgekit.runtime import ort


@dataclass(frozen=True)
class Measurement:
    accuracy: float  # fraction 0..1 on the validation samples
    size_bytes: int
    latency_p50_ms: float  # batch 1
    latency_runs: int
    threads: int

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class MeasureSettings:
    threads: int = 1  # latency threads (edge devices: one core is the honest default)
    accuracy_threads: int = 1  # threads for the accuracy pass, which is not timed
    latency_runs: int = 50
    min_seconds: float = 1.0


def measure_onnx(path: Path, x: np.ndarray, y: np.ndarray, settings: MeasureSettings) -> Measurement:
    """``x``: prepared model input (N, ...) float32; ``y``: (N,) labels."""
    sess = ort.session(path, threads=settings.accuracy_threads, spinning=False)
    scorer = getattr(y, "score", None)  # detection ground truth scores mAP itself (edgekit.detect.truth)
    acc = scorer(sess, x) if scorer else ort.accuracy(sess, x, y)
    del sess  # the harness's worker must have the cores to itself
    result = bench([Path(path)], threads=(settings.threads,), settings=in_stage(settings)).results[0]
    return Measurement(
        round(acc, 5), Path(path).stat().st_size, round(result.stats.p50, 4), result.stats.n, settings.threads
    )


def in_stage(settings: MeasureSettings):
    """The harness's cheap preset for decisions inside a stage: the trial's query and time budget, two rounds."""
    return replace(PRESETS["quick"], min_runs=settings.latency_runs, min_seconds=settings.min_seconds, rounds=2)


def ratios(quant: Measurement, ref: Measurement) -> dict:
    """Quantized vs float, as the report and the benchmarks print them."""
    return {
        "size_ratio": round(quant.size_bytes / ref.size_bytes, 4),
        "latency_ratio": round(quant.latency_p50_ms / ref.latency_p50_ms, 4),
        "accuracy_drop_points": round((ref.accuracy - quant.accuracy) * 100, 3),
    }


@dataclass(frozen=True)
class Trial:
    """One quantized candidate, as the trial log records it."""

    index: int
    label: str
    config: dict
    measurement: Measurement
    drop_points: float
    met: bool
    seconds: float  # quantize + measure wall time
    path: Path | None = None  # where the candidate file lies while the stage runs (not logged)
    kernels: dict | None = None  # onnx_int8.kernel_counts of the file: integer vs float compute kernels
    speed: dict | None = None  # the placement race (ort_flow.race): ratio to the accuracy pick, and the verdict

    def as_dict(self) -> dict:
        extra = {k: v for k, v in (("kernels", self.kernels), ("speed", self.speed)) if v is not None}
        return {
            "trial": self.index,
            "label": self.label,
            "config": self.config,
            **self.measurement.as_dict(),
            "accuracy_drop_points": round(self.drop_points, 3),
            "met_tolerance": self.met,
            "seconds": round(self.seconds, 2),
            **extra,
        }

    @property
    def integer(self) -> bool:
        """Integer kernels run in ORT's optimised graph (unknown counts as yes: backends that do not count)."""
        return self.kernels is None or self.kernels.get("int8", 0) > 0


def best_of(trials: list[Trial]) -> Trial | None:
    """The placement race's winner when there was one (ort_flow.race), else the highest accuracy and among
    equals the faster one. A file without integer kernels is never an INT8 candidate while another is."""
    trials = [t for t in trials if t.integer] or trials
    won = [t for t in trials if (t.speed or {}).get("verdict") == "chosen"]
    if won:
        return won[0]
    return max(trials, key=lambda t: (t.measurement.accuracy, -t.measurement.latency_p50_ms), default=None)
