"""INT8 chosen for the device's CPU (``target: DEVICE`` on a quantize stage).

Which INT8 file is fastest, and whether any beats fp32, depends on the CPU: a Pi 4's Cortex-A72 has no
dot-product instructions and often runs INT8 slower than fp32; x86 with VNNI and a Pi 5's A76 do not. So
with a target, the stage builds the CPU-dependent neighbours of the candidate the host chose (per-channel or
per-tensor weights, U8S8 or S8S8 activations), measures them and the float model *on the device* with
``edgekit bench --on`` (accuracy on the validation split, batch-1 latency), and the usual keep decision runs on
the device's numbers; the stage's metrics say which machine decided.

    host:   ladder trials (accuracy-guarded)  ──►  chosen + neighbours  ──► device: bench --on  ──► decide()"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from edgekit.bench.bundle import save_bundle
from edgekit.bench.devices import resolve_device
from edgekit.bench.remote import DeviceFailed, bench_on
from edgekit.errors import StageFailed
from edgekit.quant import ort_static
from edgekit.quant.measure import Measurement, MeasureSettings, Trial, measure_onnx
from edgekit.quant.outcome import choose
from edgekit.quant.tolerance import Tolerance

PRESET_FLAGS = {"quick": ["--quick"], "default": [], "thorough": ["--thorough"]}


def neighbours(chosen: ort_static.Attempt) -> list[ort_static.Attempt]:
    """``chosen`` and the variants whose speed depends on the CPU's integer kernels; no duplicates."""
    if chosen.mode != "static":
        return [chosen]
    flipped = "int8" if chosen.activation_type == "uint8" else "uint8"
    return list(
        dict.fromkeys([chosen, chosen.but(per_channel=not chosen.per_channel), chosen.but(activation_type=flipped)])
    )


def build_candidates(
    trials: list[Trial],
    work: Path,
    x_val,
    y_val,
    float_m: Measurement,
    tol: Tolerance,
    make_reader,
    measure: MeasureSettings,
    percentile: float,
    console,
) -> list[Trial]:
    """The host's chosen trial plus its neighbours, quantized (into ``work``, next to the ladder's prep.onnx) and
    measured here like every trial."""
    chosen = choose(trials)
    start = ort_static.Attempt(**{**chosen.config, "exclude": tuple(chosen.config.get("exclude") or ())})
    by_attempt = {
        ort_static.Attempt(**{**t.config, "exclude": tuple(t.config.get("exclude") or ())}): t for t in trials
    }
    out = []
    for a in neighbours(start):
        if a in by_attempt:
            out.append(by_attempt[a])
            continue
        t0, path = time.perf_counter(), work / f"trial-{len(trials) + len(out) + 1}.onnx"
        ort_static.quantize(work / "prep.onnx", path, a, reader=make_reader(), cache_dir=work, percentile=percentile)
        m = measure_onnx(path, x_val, y_val, measure)
        t = Trial(
            len(trials) + len(out) + 1,
            a.label(),
            a.as_dict(),
            m,
            tol.drop_points(float_m.accuracy, m.accuracy),
            tol.met(float_m.accuracy, m.accuracy),
            time.perf_counter() - t0,
            path,
        )
        console.print(f"  + trial {t.index}: {t.label:<44} acc {m.accuracy:.4f}  {m.latency_p50_ms:.2f} ms (here)")
        out.append(t)
    return out


def measure_on_device(
    target: str,
    devices_file: Path | None,
    float_file: Path,
    float_m: Measurement,
    candidates: list[Trial],
    val_raw,
    y_val,
    pre: dict,
    tol: Tolerance,
    threads: int,
    preset: str,
    work: Path,
    console,
) -> tuple[Measurement, list[Trial], dict]:
    """Float and candidates as the device measures them (accuracy on the validation split, p50 batch 1), and
    which machine that was. Raises StageFailed when the device cannot give numbers a decision may rest on."""
    device = resolve_device(target, devices_file)
    bundle = work / "validation.npz"
    save_bundle(bundle, val_raw, y_val, pre)
    files = [float_file, *(t.path for t in candidates)]
    console.print(f"  measuring float + {len(candidates)} INT8 candidate(s) on device {device.name} ({device.host})")
    try:
        doc = bench_on(
            device,
            files,
            ["--threads", str(threads), *PRESET_FLAGS[preset]],
            bundle=bundle,
            progress=lambda what: console.print(f"    {what}"),
        )
    except DeviceFailed as e:
        raise StageFailed(f"target {target}: {e.message}") from None
    machine = doc["machine"]
    if machine.get("emulated"):
        raise StageFailed(
            f"target {target}: the device is emulated ({machine['emulated']}); its timings cannot choose an INT8 file"
        )
    if not doc["valid"]:
        raise StageFailed(
            f"target {target}: the measurement is invalid ({'; '.join(doc['invalid_reasons'])}); "
            "let it cool down (cooldown_s: in devices.yaml) and run again"
        )
    by_file = {r["local_model"]: r for r in doc["results"] if r["threads"] == threads and r["batch"] == 1}

    def on_device(path: Path, m: Measurement) -> Measurement:
        r = by_file[str(Path(path).resolve())]
        return dataclasses.replace(
            m,
            accuracy=round(r["accuracy"]["value"], 5),
            latency_p50_ms=r["latency_ms"]["p50"],
            latency_runs=r["latency_ms"]["n"],
        )

    dev_float = on_device(float_file, float_m)
    dev_trials = []
    for t in candidates:
        m = on_device(t.path, t.measurement)
        dev_trials.append(
            dataclasses.replace(
                t,
                measurement=m,
                drop_points=tol.drop_points(dev_float.accuracy, m.accuracy),
                met=tol.met(dev_float.accuracy, m.accuracy),
            )
        )
        console.print(
            f"    {t.label:<44} {device.name}: acc {m.accuracy:.4f} {m.latency_p50_ms:.2f} ms "
            f"(here: {t.measurement.accuracy:.4f} {t.measurement.latency_p50_ms:.2f} ms)"
        )
    console.print(
        f"    float{' ' * 40}{device.name}: acc {dev_float.accuracy:.4f} {dev_float.latency_p50_ms:.2f} ms "
        f"(here: {float_m.accuracy:.4f} {float_m.latency_p50_ms:.2f} ms)"
    )
    decided_on = {
        "device": device.name,
        "machine": machine,
        "preset": preset,
        "host_float": float_m.as_dict(),
        "host_candidates": [t.as_dict() for t in candidates],
    }
    return dev_float, dev_trials, decided_on
