"""What a quantize stage keeps, decided the same way for every backend: the first candidate that meets the
tolerance (else the best, or a failure, as configured), or the float model when INT8 turns out slower."""

from __future__ import annotations

from dataclasses import dataclass

from edgekit.errors import StageFailed
from edgekit.quant.measure import Measurement, Trial, best_of, ratios
from edgekit.quant.tolerance import Tolerance


@dataclass(frozen=True)
class Decision:
    keep: str  # "int8" | "float"
    trial: Trial  # the INT8 candidate considered (kept or not)
    met: bool
    notes: tuple[str, ...]  # plain sentences for the console and the metrics


def decide(stage_id: str, float_m: Measurement, trials: list[Trial], tol: Tolerance, on_miss: str,
           prefer_faster: bool) -> Decision:
    """Raises StageFailed (exit 1) when no trial meets ``tol`` and ``on_miss`` is "fail"."""
    met = [t for t in trials if t.met]
    cand = best_of(met) if met else best_of(trials)
    if cand is None:
        raise StageFailed(f"stage '{stage_id}': no quantization trial produced a model")
    allowed = tol.allowed_points(float_m.accuracy)
    notes = []
    if not met:
        msg = (f"no INT8 candidate met max_accuracy_drop {tol} (allowed {allowed:.2f} pt) in {len(trials)} trial(s); "
               f"best: trial {cand.index} ({cand.label}) accuracy {cand.measurement.accuracy:.4f} vs float "
               f"{float_m.accuracy:.4f}, drop {cand.drop_points:.2f} pt")
        if on_miss == "fail":
            raise StageFailed(f"stage '{stage_id}': {msg}")
        notes.append(msg + "; keeping the best (on_miss: keep-best)")
    slower = cand.measurement.latency_p50_ms >= float_m.latency_p50_ms
    if slower:
        speed = (f"INT8 is slower than float on this machine: {cand.measurement.latency_p50_ms:.3f} ms vs "
                 f"{float_m.latency_p50_ms:.3f} ms p50 (batch 1, {float_m.threads} thread(s))")
        if prefer_faster:
            notes.append(speed + "; keeping the float model (prefer_faster)")
            return Decision("float", cand, True, tuple(notes))
        notes.append(speed + "; keeping INT8 anyway (prefer_faster: false)")
    return Decision("int8", cand, bool(met), tuple(notes))


def metrics(backend: str, tol: Tolerance, float_m: Measurement, trials: list[Trial], d: Decision) -> dict:
    kept = float_m if d.keep == "float" else d.trial.measurement
    return {
        "backend": backend,
        "tolerance": str(tol),
        "allowed_drop_points": round(tol.allowed_points(float_m.accuracy), 4),
        "float": float_m.as_dict(),
        "trials": [t.as_dict() for t in trials],
        "chosen_trial": d.trial.index,
        "kept": d.keep,
        "met_tolerance": d.met,
        "notes": list(d.notes),
        "accuracy": kept.accuracy,
        "size_bytes": kept.size_bytes,
        "latency_p50_ms": kept.latency_p50_ms,
        **ratios(kept, float_m),
        "int8_vs_float": ratios(d.trial.measurement, float_m),
    }
