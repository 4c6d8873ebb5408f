"""Quantization-aware training: the last rung when post-training INT8 (a quantize stage) misses its tolerance.

    - {id: int8, kind: quantize, max_accuracy_drop: 0.5, on_miss: keep-best}
    - {id: int8-qat, kind: qat, after: int8, epochs: 1}      # trains only when int8 missed; else copies its file

Reads the torch model (the nearest earlier torch stage, or ``input:``) and, with ``after:``, the quantize stage
it backs: when that stage met its tolerance nothing is trained and its file is passed on as is (the rung never
runs where PTQ pays). Otherwise it fine-tunes the model with fake quantization matching ORT's static QDQ
(edgekit/torchkit/qat.py), exports it, and lets ORT quantize it with the learned activation ranges forced
(edgekit/quant/qat_ranges.py). The INT8 file must run integer kernels in ORT's optimised graph and is held to
``max_accuracy_drop`` against the float export of the same input model, like the quantize stage's trials.

Writes model.onnx, preprocess.json and trials.json (the QAT trial, or why it was skipped)."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Literal

from pydantic import Field

from edgekit.run.registry import register_stage
from edgekit.run.stage import StageContext, StageOutput
from edgekit.stages.quant_config import GuardedQuantConfig


class QatConfig(GuardedQuantConfig):
    kind: Literal["qat"] = "qat"
    after: str | None = Field(
        None, min_length=1, description="id of the quantize stage this rung backs: train only when it missed"
    )
    epochs: float = Field(1.0, gt=0, le=1000, description="fine-tuning epochs over the training split")
    lr: float = Field(1e-4, gt=0, le=1, description="Adam learning rate of the weights")
    range_lr: float = Field(
        1e-2, ge=0, le=1, description="Adam learning rate of the activation ranges (log scale: ~1 % a step)"
    )
    batch_size: int = Field(64, ge=1, le=65536, description="training samples per step")
    per_channel: bool = Field(True, description="one weight scale per output channel (False: per tensor)")
    reduce_range: bool = Field(False, description="7-bit weights in ORT's quantization (u8*s8 saturation)")
    opset: int = Field(18, ge=18, le=23, description="ONNX opset of the export (dynamo exporter)")


def _ptq(ctx: StageContext, cfg: QatConfig):
    """The quantize stage named by ``after`` (the last input; the first is the torch model), checked."""
    if cfg.after is None:
        return None
    ptq = ctx.inputs[-1]
    if ptq.kind not in ("quantize", "inc-quantize"):
        raise ctx.error("after", f"'{cfg.after}' is a {ptq.kind} stage; after: names the quantize stage QAT backs")
    return ptq


def _pass_on(ctx: StageContext, cfg: QatConfig, ptq) -> StageOutput:
    """PTQ met its tolerance: its file, unchanged, and a trial log that says why nothing was trained."""
    for name in ("model.onnx", "preprocess.json"):
        shutil.copyfile(ptq.dir / name, ctx.out / name)
    why = f"post-training INT8 ('{cfg.after}') met its tolerance: QAT not run, its file passed on"
    (ctx.out / "trials.json").write_text(json.dumps({"trials": [], "kept": ptq.metrics.get("kept"), "notes": [why]}))
    ctx.console.print(f"  {why}")
    keep = ("accuracy", "size_bytes", "latency_p50_ms", "kept", "float", "tolerance", "met_tolerance")
    return StageOutput("model.onnx", {"backend": "qat", "skipped": why, **{k: ptq.metrics.get(k) for k in keep}})


@register_stage(QatConfig, consumes="torch", produces="onnx")
def run(ctx: StageContext, cfg: QatConfig) -> StageOutput:
    ptq = _ptq(ctx, cfg)
    if ptq is not None and ptq.metrics.get("met_tolerance"):
        return _pass_on(ctx, cfg, ptq)
    if ptq is not None:
        ctx.console.print(f"  '{cfg.after}' missed its tolerance: quantization-aware training")
    import numpy as np
    import torch

    import edgekit.stages.quant_common as quant_common
    from edgekit.quant import outcome, qat_ranges, speed
    from edgekit.quant.calibration import BatchReader
    from edgekit.quant.measure import Trial, measure_onnx
    from edgekit.quant.onnx_int8 import kernel_counts
    from edgekit.quant.ort_static import Attempt, preprocess
    from edgekit.runtime.preprocess import prepare
    from edgekit.torchkit import qat
    from edgekit.torchkit.export import export_onnx
    from edgekit.torchkit.models import load_model

    torch.manual_seed(ctx.recipe.seed)
    torch.set_num_threads(ctx.threads)
    model, meta = load_model(ctx.inputs[0].dir)
    pre = meta["preprocess"]
    x_val, y_val = quant_common.validation(ctx, cfg, pre)
    raw = quant_common.calibration_raw(ctx, cfg)
    example = torch.from_numpy(x_val[:2])
    measure = cfg.measure_settings(accuracy_threads=ctx.threads)
    tol = cfg.tolerance
    with tempfile.TemporaryDirectory(prefix="edgekit-qat-") as tmp:
        work = Path(tmp)
        export_onnx(model, example, work / "float.onnx", cfg.opset)
        float_m = measure_onnx(work / "float.onnx", x_val, y_val, measure)
        ctx.console.print(f"  float: acc {float_m.accuracy:.4f}; tolerance {tol}")
        t0 = time.perf_counter()
        sim = qat.prepare(model, cfg.per_channel)
        bs = cfg.calibration.batch_size
        qat.observe(sim, (torch.from_numpy(prepare(pre, raw[i : i + bs])) for i in range(0, len(raw), bs)))
        train = ctx.dataset().train
        rng = np.random.default_rng(ctx.recipe.seed)
        steps = max(1, round(cfg.epochs * len(train) / cfg.batch_size))

        def batches():
            for _ in range(steps):
                idx = np.sort(rng.choice(len(train), size=min(cfg.batch_size, len(train)), replace=False))
                part = train.take(idx)
                yield torch.from_numpy(prepare(pre, part.x)), torch.from_numpy(part.y)

        losses = qat.fine_tune(sim, batches(), cfg.lr, cfg.range_lr)
        learned = qat.finish(sim)
        ctx.console.print(
            f"  fine-tuned {steps} steps under fake quantization (loss {losses[0]:.3f} -> {losses[-1]:.3f})"
        )
        export_onnx(model, example, work / "qat.onnx", cfg.opset)
        preprocess(work / "qat.onnx", work / "prep.onnx", ctx.console)
        try:
            forced = qat_ranges.bind(learned, work / "prep.onnx")
        except ValueError as e:
            from edgekit.errors import StageFailed

            raise StageFailed(f"stage '{cfg.id}': {e}") from None
        attempt = Attempt(per_channel=cfg.per_channel, reduce_range=cfg.reduce_range)
        path = work / "trial-1.onnx"
        reader = BatchReader(raw, "input", lambda b: prepare(pre, b), bs)
        qat_ranges.quantize(work / "prep.onnx", path, attempt, reader, forced)
        m = measure_onnx(path, x_val, y_val, measure)
        label = "qat " + attempt.label()
        trial = Trial(
            1,
            label,
            {**attempt.as_dict(), "qat": {"steps": steps, "forced_ranges": len(forced)}},
            m,
            tol.drop_points(float_m.accuracy, m.accuracy),
            tol.met(float_m.accuracy, m.accuracy),
            time.perf_counter() - t0,
            path,
            kernel_counts(path),
        )
        ctx.console.print(
            f"  trial 1: {label}  acc {m.accuracy:.4f} (drop {trial.drop_points:+.2f} pt)  "
            f"{trial.kernels['int8']} integer / {trial.kernels['float']} float kernels"
        )

        def local_speed(t):  # the harness, alternating rounds, like the quantize stage's final check
            return speed.compare(work / "float.onnx", t.path, cfg.threads, cfg.latency_runs, cfg.min_seconds)

        d = outcome.decide(cfg.id, float_m, trial, tol, cfg.on_miss, cfg.prefer_faster, speed=local_speed)
        log = [trial.as_dict()]
        quant_common.write_result(ctx, d, work / "float.onnx", log, pre)
    quant_common.report(ctx, d, float_m, "qat")
    metrics = outcome.metrics("qat", tol, float_m, log, d)
    metrics["qat"] = {"steps": steps, "first_loss": losses[0], "last_loss": losses[-1], "ranges": learned}
    return StageOutput("model.onnx", metrics)
