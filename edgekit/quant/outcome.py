"""What a quantize stage keeps, decided the same way for every backend: the first candidate that meets the
tolerance (else the best, or a failure, as configured), or the float model when INT8 turns out slower."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from edgekit.errors import StageFailed
from edgekit.quant.measure import Measurement, Trial, best_of, ratios
from edgekit.quant.speed import describe
from edgekit.quant.tolerance import Tolerance


@dataclass(frozen=True)
class Decision:
    keep: str  # "int8" | "float"
    trial: Trial  # the INT8 candidate considered (kept or not)
    met: bool
    notes: tuple[str, ...]  # plain sentences for the console and the metrics
    speed: dict | None = None  # the harness comparison behind a keep-float decision (quant/speed.py)
    kept_reason: str | None = None  # why the float model was kept (the note that says so); None when INT8 is kept


def choose(trials: list[Trial]) -> Trial:
    """The candidate a trial ladder offers: the best that met the tolerance, else the best of all."""
    met = [t for t in trials if t.met]
    return best_of(met) if met else best_of(trials)


def decide(
    stage_id: str,
    float_m: Measurement,
    cand: Trial | None,
    tol: Tolerance,
    on_miss: str,
    prefer_faster: bool,
    speed: Callable[[Trial], dict] | None = None,
    tried: int = 1,
) -> Decision:
    """Keep ``cand`` (the one INT8 candidate a backend offers, out of ``tried`` configurations), the float model,
    or fail. Raises StageFailed (exit 1) when ``cand`` misses ``tol`` and ``on_miss`` is "fail". ``speed``
    compares the candidate with the float model in the benchmark harness (quant/speed.py); without it their
    p50s are compared (tests, and stages that keep INT8 regardless)."""
    if cand is None:
        raise StageFailed(f"stage '{stage_id}': no quantization trial produced a model")
    allowed = tol.allowed_points(float_m.accuracy)
    notes = []
    if not cand.integer:  # Q/DQ that ORT did not fuse: float kernels on dequantized values, never "INT8"
        notes.append(
            f"trial {cand.index} ({cand.label}) runs no integer kernels in ORT's optimised graph "
            f"({cand.kernels}); keeping the float model"
        )
        return Decision("float", cand, cand.met, tuple(notes))
    if not cand.met:
        msg = (
            f"no INT8 candidate met max_accuracy_drop {tol} (allowed {allowed:.2f} pt) in {tried} trial(s); "
            f"best: trial {cand.index} ({cand.label}) accuracy {cand.measurement.accuracy:.4f} vs float "
            f"{float_m.accuracy:.4f}, drop {cand.drop_points:.2f} pt"
        )
        if on_miss == "fail":
            raise StageFailed(f"stage '{stage_id}': {msg}")
        notes.append(msg + "; keeping the best (on_miss: keep-best)")
    measured = speed(cand) if (speed is not None and prefer_faster) else None
    if measured is not None:
        slower = measured["slower"]
        detail = describe(measured)
        if not slower and measured["ratio"] >= 1.0:
            notes.append(f"INT8 is not clearly slower than float on this machine: {detail}; keeping INT8")
    else:
        slower = cand.measurement.latency_p50_ms >= float_m.latency_p50_ms
        detail = (
            f"{cand.measurement.latency_p50_ms:.3f} ms vs {float_m.latency_p50_ms:.3f} ms p50 (batch 1, "
            f"{float_m.threads} thread(s))"
        )
    if slower:
        what = f"INT8 is slower than float on this machine: {detail}"
        if prefer_faster:
            notes.append(what + "; keeping the float model (prefer_faster)")
            return Decision("float", cand, True, tuple(notes), measured, notes[-1])
        notes.append(what + "; keeping INT8 anyway (prefer_faster: false)")
    return Decision("int8", cand, cand.met, tuple(notes), measured)


def metrics(backend: str, tol: Tolerance, float_m: Measurement, trials: list[dict], d: Decision) -> dict:
    """``trials``: the backend's own log of what it tried (ladder trials, or INC's autotune trials)."""
    kept = float_m if d.keep == "float" else d.trial.measurement
    return {
        "backend": backend,
        "tolerance": str(tol),
        "allowed_drop_points": round(tol.allowed_points(float_m.accuracy), 4),
        "float": float_m.as_dict(),
        "trials": trials,
        "chosen_trial": d.trial.index,
        "kept": d.keep,
        # why a row named after an INT8 stage may hold the float file: shown in the report
        "kept_reason": d.kept_reason,
        "kept_code": "int8-slower" if d.keep == "float" else None,  # the reason as a code, for readers that act on it
        "speed_check": d.speed,
        "met_tolerance": d.met,
        "notes": list(d.notes),
        "accuracy": kept.accuracy,
        "size_bytes": kept.size_bytes,
        "latency_p50_ms": kept.latency_p50_ms,
        **ratios(kept, float_m),
        "int8_vs_float": ratios(d.trial.measurement, float_m),
    }
