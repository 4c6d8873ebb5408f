"""INT8 with Intel Neural Compressor 3.x on the PyTorch model, exported as a real INT8 ONNX file.

    - {id: inc-int8, kind: inc-quantize, input: train, max_accuracy_drop: 0.5, max_trials: 4}

INC's autotune tries static configurations (per-channel/per-tensor weights, minmax/KL activations) until one is
within the tolerance on a validation subset in torch; the exported ONNX file is then measured with ONNX Runtime
exactly like the `quantize` stage's candidates and held to the same tolerance."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Literal

from pydantic import Field

from edgekit.errors import StageFailed
from edgekit.stages.quant_config import GuardedQuantConfig
from edgekit.run.registry import register_stage
from edgekit.run.stage import StageContext, StageOutput


class IncQuantizeConfig(GuardedQuantConfig):
    kind: Literal["inc-quantize"] = "inc-quantize"
    max_trials: int = Field(
        4, ge=1, le=4, description="configurations autotune may try (1: no tuning, INC's default config)"
    )
    tune_samples: int = Field(
        1000, ge=1, le=1_000_000, description="validation samples autotune scores each trial on, in torch"
    )
    opset: int = Field(18, ge=18, le=23, description="ONNX opset of the exported file (dynamo exporter)")


def _chosen(log_trials: list[dict], baseline: float | None, tolerable: float) -> int | None:
    """Which autotune trial INC returned: the first within tolerance, else the most accurate."""
    if not log_trials or not baseline:
        return None
    for t in log_trials:
        if (baseline - t["torch_accuracy"]) / baseline <= tolerable:
            return t["trial"]
    return max(log_trials, key=lambda t: t["torch_accuracy"])["trial"]


@register_stage(IncQuantizeConfig, consumes="torch", produces="onnx")
def run(ctx: StageContext, cfg: IncQuantizeConfig) -> StageOutput:
    import torch

    from edgekit.errors import require
    from edgekit.quant import speed
    from edgekit.quant import inc, outcome
    import edgekit.stages.quant_common as quant_common
    from edgekit.quant.calibration import stratified_indices
    from edgekit.quant.measure import Trial, measure_onnx
    from edgekit.quant.onnx_int8 import kernel_counts
    from edgekit.runtime.preprocess import prepare
    from edgekit.torchkit.export import export_onnx
    from edgekit.torchkit.models import load_model

    require("neural_compressor", "shrink")
    torch.set_num_threads(ctx.threads)
    model, meta = load_model(ctx.input.dir)
    pre = meta["preprocess"]
    tol = cfg.tolerance
    x_val, y_val = quant_common.validation(ctx, cfg, pre)
    raw = quant_common.calibration_raw(ctx, cfg)
    tune_idx = stratified_indices(y_val, cfg.tune_samples, ctx.recipe.seed)
    xt, yt = torch.from_numpy(x_val[tune_idx]), torch.from_numpy(y_val[tune_idx])
    example = torch.from_numpy(x_val[:2])  # batch >= 2 keeps the exported batch axis dynamic

    def calibrate(m) -> None:
        with torch.no_grad():
            for xb in inc.torch_batches(raw, lambda b: prepare(pre, b), cfg.calibration.batch_size):
                m(xb)

    def evaluate(m) -> float:
        with torch.no_grad():
            pred = torch.cat([m(xt[i : i + 256]).argmax(1) for i in range(0, len(xt), 256)])
        return float((pred == yt).float().mean())

    measure = cfg.measure_settings(accuracy_threads=ctx.threads)
    with tempfile.TemporaryDirectory(prefix="edgekit-inc-") as work:
        float_path, int8_path = Path(work) / "float.onnx", Path(work) / "int8.onnx"
        export_onnx(model, example, float_path, cfg.opset)
        float_m = measure_onnx(float_path, x_val, y_val, measure)
        ctx.console.print(
            f"  float: acc {float_m.accuracy:.4f}  {float_m.size_bytes / 1e6:.2f} MB  "
            f"{float_m.latency_p50_ms:.2f} ms (p50 batch 1, {cfg.threads} thread(s)); tolerance {tol}"
        )
        tolerable = tol.relative_loss(float_m.accuracy)
        tune = inc.TuneLog()
        t0 = time.perf_counter()
        ctx.console.print(
            f"  INC: PT2E static INT8, autotune up to {cfg.max_trials} trial(s) on {len(yt)} samples, "
            f"tolerable_loss {tolerable:.4%}"
        )
        try:
            qmodel = inc.quantize_pt2e(model, example, calibrate, evaluate, tolerable, cfg.max_trials, tune)
            batches = (
                {"input": prepare(pre, raw[i : i + cfg.calibration.batch_size])}
                for i in range(0, len(raw), cfg.calibration.batch_size)
            )
            info = inc.export_int8_onnx(qmodel, example, int8_path, cfg.opset, batches)
        except StageFailed:
            raise
        except Exception as e:  # INC / torch.export raise many types; one line names the step
            first = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
            raise StageFailed(f"stage '{cfg.id}': INC quantization failed: {type(e).__name__}: {first}") from e
        del qmodel
        inc_trials = tune.trials(inc.TUNE_SPACE)
        for t in inc_trials:
            ctx.console.print(f"    autotune trial {t['trial']}: {t['config']}  torch acc {t['torch_accuracy']:.4f}")
        chosen = _chosen(inc_trials, tune.baseline, tolerable)
        config = inc.TUNE_SPACE[(chosen or 1) - 1]
        kernels = kernel_counts(int8_path)
        if kernels["int8"] == 0:
            ctx.console.print("  [bold yellow]![/] onnxruntime runs no int8 kernels for this file: expect no speed-up")
        m = measure_onnx(int8_path, x_val, y_val, measure)
        drop = tol.drop_points(float_m.accuracy, m.accuracy)
        label = f"inc static {config['act_algo']} {config['w_granularity'].replace('_', '-')}"
        # INC's result, measured with ONNX Runtime like the quantize stage's candidates
        cand = Trial(
            chosen or 1,
            label,
            {**config, "inc_trial": chosen},
            m,
            drop,
            tol.met(float_m.accuracy, m.accuracy),
            time.perf_counter() - t0,
            int8_path,
        )
        mark = "[green]✓[/]" if cand.met else "[yellow]✗[/]"
        ctx.console.print(
            f"  {mark} {label}: onnx acc {m.accuracy:.4f} (drop {drop:+.2f} pt)  {m.size_bytes / 1e6:.2f} MB  "
            f"{m.latency_p50_ms:.2f} ms  int8 kernels {kernels['int8']}, float {kernels['float']}"
        )
        d = outcome.decide(
            cfg.id,
            float_m,
            cand,
            tol,
            cfg.on_miss,
            cfg.prefer_faster,
            tried=max(1, len(inc_trials)),
            speed=lambda t: speed.compare(float_path, t.path, cfg.threads, cfg.latency_runs, cfg.min_seconds),
        )
        # autotune's trials (scored in torch), then the exported file's ONNX measurement
        quant_common.write_result(ctx, d, float_path, [*inc_trials, {"onnx": cand.as_dict()}], pre)
    quant_common.report(ctx, d, float_m, "neural-compressor")
    metrics = outcome.metrics("neural-compressor", tol, float_m, inc_trials, d)
    metrics.update(onnx_candidate=cand.as_dict(), inc_baseline_torch_accuracy=tune.baseline, kernels=kernels, **info)
    return StageOutput("model.onnx", metrics)
