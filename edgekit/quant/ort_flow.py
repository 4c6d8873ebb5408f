"""Accuracy-aware ONNX Runtime quantization: walk the ladder until a candidate meets the tolerance.

    float model ── quant_pre_process ──► prep.onnx ──► trial 1, 2, ... (first rungs)
                                             │            └─ missed? rank nodes by measured error
                                             └──────────► trial k: best rung + k sensitive nodes in float
Every candidate is measured (accuracy on validation, size, batch-1 latency) and logged."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.errors import StageFailed
from edgekit.quant import ladder, ort_static, sensitivity
from edgekit.quant.measure import Measurement, MeasureSettings, Trial, best_of, measure_onnx
from edgekit.quant.tolerance import Tolerance


@dataclass(frozen=True)
class LadderSettings:
    enabled: bool = True
    max_trials: int = 8
    max_excluded: int = 8  # most nodes the last rungs keep in float
    sensitivity_batches: int = 2
    percentile: float = 99.999


def run_trials(src: Path, work: Path, start: ort_static.Attempt, x_val: np.ndarray, y_val: np.ndarray,
               float_m: Measurement, tol: Tolerance, make_reader: Callable[[], object], measure: MeasureSettings,
               settings: LadderSettings, console) -> list[Trial]:
    """Quantize ``src`` (float ONNX) trial by trial into ``work``; stop at the first that meets ``tol``.

    ``make_reader()`` returns a fresh calibration stream (``get_next()`` / iteration over ``{input: batch}``)."""
    prep = work / "prep.onnx"
    ort_static.preprocess(src, prep, console)
    trials: list[Trial] = []

    def attempt(a: ort_static.Attempt) -> Trial:
        t0 = time.perf_counter()
        path = work / f"trial-{len(trials) + 1}.onnx"
        try:
            ort_static.quantize(prep, path, a, reader=make_reader() if a.mode == "static" else None, cache_dir=work,
                                percentile=settings.percentile)
        except Exception as e:  # the quantizer raises bare ValueError/RuntimeError/onnx errors on what it cannot handle
            first = (str(e).strip().splitlines() or [""])[0][:300]
            raise StageFailed(f"onnxruntime could not quantize {src.name} ({a.label()}): {type(e).__name__}: {first}") from e
        m = measure_onnx(path, x_val, y_val, measure)
        drop = tol.drop_points(float_m.accuracy, m.accuracy)
        trial = Trial(len(trials) + 1, a.label(), a.as_dict(), m, drop, tol.met(float_m.accuracy, m.accuracy),
                      time.perf_counter() - t0, path)
        trials.append(trial)
        mark = "[green]✓[/]" if trial.met else "[yellow]✗[/]"
        console.print(f"  {mark} trial {trial.index}: {trial.label:<44} acc {m.accuracy:.4f} (drop {drop:+.2f} pt, "
                      f"allowed {tol.allowed_points(float_m.accuracy):.2f})  {m.size_bytes / 1e6:.2f} MB  "
                      f"{m.latency_p50_ms:.2f} ms")
        return trial

    rungs = ladder.first_rungs(start) if settings.enabled else [start]
    for a in rungs:
        if len(trials) >= settings.max_trials or attempt(a).met:
            return trials
    if not settings.enabled or len(trials) >= settings.max_trials:
        return trials
    best = best_of(trials)
    console.print("  ranking nodes by measured quantization error ...")
    reader = make_reader()
    feeds = [b for _, b in zip(range(settings.sensitivity_batches), iter(reader))]
    ranked = [name for name, _ in sensitivity.rank_nodes(prep, best.path, feeds)]
    start_excl = ort_static.Attempt(**{**best.config, "exclude": ()})
    for a in ladder.exclusion_rungs(start_excl, ranked, settings.max_excluded):
        if len(trials) >= settings.max_trials or attempt(a).met:
            break
    return trials
