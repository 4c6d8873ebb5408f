"""Accuracy-aware ONNX Runtime quantization: walk the ladder until a candidate meets the tolerance.

    float model ── quant_pre_process ──► prep.onnx ──► trial 1, 2, ... (first rungs)
                                             │            └─ missed? rank nodes by measured error
                                             ├──────────► trial k: best rung + k sensitive nodes in float
                                             └──────────► INT8 does not pay yet? the pick per-tensor, and with node
                                                          groups in float (quant/placement.py), timed against it
Every candidate is measured (accuracy on validation, size, batch-1 latency, integer kernels) and logged."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.errors import StageFailed
from dataclasses import replace

from edgekit.quant import ladder, ort_static, sensitivity
from edgekit.quant.measure import Measurement, MeasureSettings, Trial, best_of, measure_onnx
from edgekit.quant.onnx_int8 import kernel_counts
from edgekit.quant.tolerance import Tolerance


@dataclass(frozen=True)
class LadderSettings:
    enabled: bool = True
    max_trials: int = 8
    max_excluded: int = 8  # most nodes the last rungs keep in float
    sensitivity_batches: int = 2
    percentile: float = 99.999
    speed_rungs: int = 3  # most candidates raced when INT8 does not pay (0: never): per-tensor, then placements
    # INT8 p50 at or under this share of float's (the in-stage quick measurement) pays already: no race, the
    # default ResNet-18 recipe (0.33x) keeps exactly the file it had
    pays: float = 0.8


def run_trials(
    src: Path,
    work: Path,
    start: ort_static.Attempt,
    x_val: np.ndarray,
    y_val: np.ndarray,
    float_m: Measurement,
    tol: Tolerance,
    make_reader: Callable[[], object],
    measure: MeasureSettings,
    settings: LadderSettings,
    console,
) -> list[Trial]:
    """Quantize ``src`` (float ONNX) trial by trial into ``work``; stop at the first that meets ``tol``, then,
    when its p50 is over ``settings.pays`` of float's, race placement candidates against it (see ``race``).

    ``make_reader()`` returns a fresh calibration stream (``get_next()`` / iteration over ``{input: batch}``)."""
    prep = work / "prep.onnx"
    ort_static.preprocess(src, prep, console)
    trials: list[Trial] = []

    def attempt(a: ort_static.Attempt) -> Trial:
        t0 = time.perf_counter()
        path = work / f"trial-{len(trials) + 1}.onnx"
        try:
            ort_static.quantize(
                prep,
                path,
                a,
                reader=make_reader() if a.mode == "static" else None,
                cache_dir=work,
                percentile=settings.percentile,
            )
        except Exception as e:  # the quantizer raises bare ValueError/RuntimeError/onnx errors on what it cannot handle
            first = (str(e).strip().splitlines() or [""])[0][:300]
            raise StageFailed(
                f"onnxruntime could not quantize {src.name} ({a.label()}): {type(e).__name__}: {first}"
            ) from e
        m = measure_onnx(path, x_val, y_val, measure)
        drop = tol.drop_points(float_m.accuracy, m.accuracy)
        trial = Trial(
            len(trials) + 1,
            a.label(),
            a.as_dict(),
            m,
            drop,
            tol.met(float_m.accuracy, m.accuracy),
            time.perf_counter() - t0,
            path,
            kernel_counts(path),
        )
        trials.append(trial)
        mark = "[green]✓[/]" if trial.met else "[yellow]✗[/]"
        console.print(
            f"  {mark} trial {trial.index}: {trial.label:<44} acc {m.accuracy:.4f} (drop {drop:+.2f} pt, "
            f"allowed {tol.allowed_points(float_m.accuracy):.2f})  {m.size_bytes / 1e6:.2f} MB  "
            f"{m.latency_p50_ms:.2f} ms"
        )
        return trial

    accuracy_walk(prep, trials, attempt, start, make_reader, settings, console)
    pick = best_of([t for t in trials if t.met])
    if pick is None or settings.speed_rungs <= 0 or not settings.enabled or pick.config.get("mode") != "static":
        return trials
    share = pick.measurement.latency_p50_ms / float_m.latency_p50_ms
    if share <= settings.pays:
        return trials
    import onnx

    from edgekit.quant import placement

    base = ort_static.Attempt(**{**pick.config, "exclude": tuple(pick.config["exclude"])})
    # per-tensor weights first: the fastest format in every mobile net measured (0.90-0.94x vs per-channel's
    # 0.94-1.20x of fp32 on AVX2, docs/int8-mobile.md), and the accuracy it may cost is measured like any trial
    cands = [base.but(per_channel=False)] if base.per_channel else []
    found = placement.groups(onnx.load(str(prep)))
    cands += [
        base.but(placement=label, exclude=base.exclude + nodes) for label, nodes in placement.candidates(found, 8)
    ]
    cands = [
        a
        for a in cands
        if not any(ort_static.Attempt(**{**t.config, "exclude": tuple(t.config["exclude"])}) == a for t in trials)
    ][: settings.speed_rungs]
    if not cands:
        return trials
    console.print(f"  INT8 p50 is {share:.2f}x float's: racing {len(cands)} candidate(s) against trial {pick.index}")
    raced = [attempt(a) for a in cands]
    trials[:] = race(trials, pick, raced, measure)
    return trials


def accuracy_walk(
    prep: Path, trials: list[Trial], attempt, start, make_reader, settings: LadderSettings, console
) -> None:
    """The accuracy ladder: first rungs, then sensitive nodes in float, until a trial meets the tolerance."""
    rungs = ladder.first_rungs(start) if settings.enabled else [start]
    for a in rungs:
        if len(trials) >= settings.max_trials or attempt(a).met:
            return
    if not settings.enabled or len(trials) >= settings.max_trials:
        return
    import onnx

    from edgekit.quant import placement

    for label, nodes in placement.accuracy_candidates(onnx.load(str(prep))):  # a transformer's float islands
        if len(trials) >= settings.max_trials or attempt(start.but(placement=label, exclude=nodes)).met:
            return
    best = best_of(trials)
    console.print("  ranking nodes by measured quantization error ...")
    reader = make_reader()
    feeds = [b for _, b in zip(range(settings.sensitivity_batches), iter(reader))]
    # from a placement (a transformer's all-but-matmul) the sensitive nodes join its float nodes; else they stand alone
    kept = tuple(best.config["exclude"]) if best.config.get("placement") else ()
    ranked = [name for name, _ in sensitivity.rank_nodes(prep, best.path, feeds) if name not in kept]
    start_excl = ort_static.Attempt(**{**best.config, "exclude": kept})
    for a in ladder.exclusion_rungs(start_excl, ranked, settings.max_excluded):
        if len(trials) >= settings.max_trials or attempt(a).met:
            break


def race(trials: list[Trial], pick: Trial, raced: list[Trial], measure: MeasureSettings) -> list[Trial]:
    """Time ``pick`` and every raced candidate that met the tolerance with integer kernels, in alternating rounds
    (the bench harness, ``pick`` the reference). A candidate wins only when ``pick`` is clearly slower than it
    (edgekit.decide.noise.clearly_slower: in every round, by over 5 %); the fastest such one is chosen. Every trial in
    the race gets ``speed``: its ratio to ``pick`` and the verdict, or why it could not run."""
    from edgekit.bench import PRESETS, bench
    from edgekit.decide.noise import clearly_slower

    verdicts: dict[int, dict] = {}
    ok = [t for t in raced if t.met and t.integer]
    for t in raced:
        if not t.met:
            verdicts[t.index] = {"verdict": "lost: missed the accuracy tolerance"}
        elif not t.integer:
            verdicts[t.index] = {"verdict": "lost: no integer kernels in the optimised graph"}
    winner = pick
    if ok:
        settings = replace(
            PRESETS["quick"],
            min_runs=max(measure.latency_runs, 50),
            min_seconds=max(measure.min_seconds, 1.0),
            rounds=5,
        )
        run = bench([pick.path] + [t.path for t in ok], threads=(measure.threads,), settings=settings, reference=0)
        best_ratio = 1.0
        for t, r in zip(ok, run.results[1:]):
            v = r.vs_reference or {}
            ratio, hi = v.get("p50_ratio", r.stats.p50 / run.results[0].stats.p50), v.get("max")
            faster = isinstance(hi, (int, float)) and hi > 0 and clearly_slower(1 / ratio, 1 / hi)
            verdicts[t.index] = {
                "vs_trial": pick.index,
                "ratio": round(ratio, 4),
                "round_min": v.get("min"),
                "round_max": hi,
                "rounds": settings.rounds,
                "verdict": "faster" if faster else f"lost: not clearly faster than trial {pick.index}",
            }
            if faster and ratio < best_ratio:
                winner, best_ratio = t, ratio
        for t in ok:
            if t is not winner and verdicts[t.index]["verdict"] == "faster":
                verdicts[t.index]["verdict"] = f"lost: trial {winner.index} was faster"
    verdicts[winner.index] = {**verdicts.get(winner.index, {"vs_trial": pick.index, "ratio": 1.0}), "verdict": "chosen"}
    if winner is not pick:
        verdicts[pick.index] = {
            "verdict": f"lost: trial {winner.index} clearly faster ({verdicts[winner.index]['ratio']:.2f}x its p50)"
        }
    return [replace(t, speed=verdicts[t.index]) if t.index in verdicts else t for t in trials]
