"""INT8 quantization with ONNX Runtime (static QDQ or dynamic), held to an accuracy tolerance by a fallback ladder.

    - {id: int8, kind: quantize, max_accuracy_drop: 0.5, calibration: {samples: 512, method: minmax}}

Writes model.onnx (the kept candidate), preprocess.json (copied from the input) and trials.json (every trial)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Literal

from pydantic import Field

from edgekit.stages.quant_config import GuardedQuantConfig
from edgekit.run.registry import register_stage
from edgekit.run.stage import StageContext, StageOutput


class QuantizeConfig(GuardedQuantConfig):
    kind: Literal["quantize"] = "quantize"
    mode: Literal["static", "dynamic"] = Field(
        "static", description="static QDQ (CNNs and most models) or dynamic (MatMul/Gemm-heavy models: transformers)"
    )
    per_channel: bool = Field(True, description="one weight scale per output channel (first rung)")
    reduce_range: bool = Field(False, description="7-bit weights (first rung)")
    activation_type: Literal["uint8", "int8"] = Field("uint8", description="INT8 type of quantized activations")
    weight_type: Literal["int8", "uint8"] = Field("int8", description="INT8 type of quantized weights")
    ladder: bool = Field(
        True, description="on a missed tolerance try per-tensor/per-channel, reduce_range, U8U8, then float nodes"
    )
    max_trials: int = Field(8, ge=1, le=64, description="most candidates quantized and measured")
    max_excluded: int = Field(8, ge=0, le=1000, description="most sensitive nodes the last rungs may keep in float")
    speed_rungs: int = Field(
        3,
        ge=0,
        le=8,
        description="when INT8 p50 is over 0.8x float's: most candidates timed "
        "against it (per-tensor weights, then hardswish/squeeze-excite/depthwise/residual-add in float)",
    )
    target: str | None = Field(
        None,
        min_length=1,
        description="device (devices.yaml name or ssh destination) whose "
        "own measurements choose among the INT8 candidates and fp32 (edgekit bench --on)",
    )
    target_preset: Literal["quick", "default", "thorough"] = Field(
        "default", description="bench preset on the target device"
    )


@register_stage(QuantizeConfig, consumes="onnx", produces="onnx", needs="")  # onnxruntime only: works without torch
def run(ctx: StageContext, cfg: QuantizeConfig) -> StageOutput:
    from edgekit.quant import speed
    from edgekit.quant import ort_static, outcome
    import edgekit.stages.quant_common as quant_common
    from edgekit.quant.calibration import BatchReader, check_matches
    from edgekit.quant.measure import measure_onnx
    from edgekit.quant.ort_flow import LadderSettings, run_trials
    from edgekit.runtime.preprocess import prepare

    src = ctx.input.file
    model = ort_static.load_checked(src)
    pre = quant_common.read_preprocess(ctx.input.dir)
    if cfg.mode == "dynamic" and ort_static.is_conv_net(model):
        raise ctx.error(
            "mode",
            "dynamic quantization of a convolutional network runs ConvInteger, measured ~10x slower "
            "than fp32 on x86; use mode: static",
        )
    if cfg.mode == "dynamic" and any(n.op_type in ("Conv", "ConvTranspose") for n in model.graph.node):
        ctx.console.print(
            "  [bold yellow]![/] dynamic mode quantizes MatMul/Gemm only; this model's convolutions stay fp32"
        )
    # a file fixed to batch 1 (a torchvision detector: NMS per image) is calibrated one image at a time
    fixed_one = model.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 1
    calib_batch = 1 if fixed_one else cfg.calibration.batch_size
    del model
    tol = cfg.tolerance
    x_val, y_val = quant_common.validation(ctx, cfg, pre)
    input_name = check_matches(src, x_val[:1])
    raw = quant_common.calibration_raw(ctx, cfg)  # dynamic mode uses it only to rank sensitive nodes

    def make_reader():
        return BatchReader(raw, input_name, lambda b: prepare(pre, b), calib_batch)

    measure = cfg.measure_settings(accuracy_threads=ctx.threads)
    ctx.console.print(f"  measuring the float model on {len(y_val)} validation samples")
    float_m = measure_onnx(src, x_val, y_val, measure)
    ctx.console.print(
        f"  float: acc {float_m.accuracy:.4f}  {float_m.size_bytes / 1e6:.2f} MB  {float_m.latency_p50_ms:.2f} ms "
        f"(p50 batch 1, {cfg.threads} thread(s)); tolerance {tol}"
    )
    start = ort_static.Attempt(
        cfg.mode, cfg.per_channel, cfg.reduce_range, cfg.activation_type, cfg.weight_type, cfg.calibration.method
    )
    settings = LadderSettings(
        cfg.ladder,
        cfg.max_trials,
        cfg.max_excluded,
        percentile=cfg.calibration.percentile,
        speed_rungs=0 if cfg.target is not None else cfg.speed_rungs,
    )  # the device decides
    with tempfile.TemporaryDirectory(prefix="edgekit-quant-") as work:
        trials = run_trials(
            src, Path(work), start, x_val, y_val, float_m, tol, make_reader, measure, settings, ctx.console
        )
        decided_on = None
        if cfg.target is not None:  # the device's numbers decide, not this machine's
            from edgekit.quant import device_target

            cands = device_target.build_candidates(
                trials,
                Path(work),
                x_val,
                y_val,
                float_m,
                tol,
                make_reader,
                measure,
                cfg.calibration.percentile,
                ctx.console,
            )
            inventory = ctx.loaded.file.parent / "devices.yaml"
            float_m, trials, decided_on = device_target.measure_on_device(
                cfg.target,
                inventory if inventory.is_file() else None,
                src,
                float_m,
                cands,
                *quant_common.raw_validation(ctx, cfg),
                pre,
                tol,
                cfg.threads,
                cfg.target_preset,
                Path(work),
                ctx.console,
            )
        # the device's numbers decided already when there is a target; else the harness on this machine decides
        local_speed = (
            None
            if cfg.target is not None
            else (lambda t: speed.compare(src, t.path, cfg.threads, cfg.latency_runs, cfg.min_seconds))
        )
        d = outcome.decide(
            cfg.id,
            float_m,
            outcome.choose(trials),
            tol,
            cfg.on_miss,
            cfg.prefer_faster,
            speed=local_speed,
            tried=len(trials),
        )
        log = [t.as_dict() for t in trials]
        profiles = quant_common.profiles(src, d)
        quant_common.write_result(ctx, d, src, log, pre, profiles)
    quant_common.report(
        ctx, d, float_m, "onnxruntime" if decided_on is None else f"onnxruntime, decided on {cfg.target}"
    )
    metrics = outcome.metrics("onnxruntime", tol, float_m, log, d)
    metrics["profile"] = profiles
    if decided_on is not None:
        metrics["decided_on"] = decided_on
    return StageOutput("model.onnx", metrics)
