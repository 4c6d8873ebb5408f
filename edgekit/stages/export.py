"""Export a torch model to one self-contained ONNX file, check it, and prove parity on real samples.

- {id: export, kind: export}                             # the previous stage's model, opset 18
- {id: export-pruned, kind: export, input: recover, opset: 18}"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import Field

from edgekit.errors import StageFailed
from edgekit.recipe.strict import StageConfig
from edgekit.run.registry import register_stage
from edgekit.run.stage import StageContext, StageOutput


class ExportConfig(StageConfig):
    kind: Literal["export"] = "export"
    opset: int = Field(18, ge=13, le=23, description="ONNX opset; the dynamo exporter writes 18 or newer")
    exporter: Literal["dynamo", "legacy"] = Field("dynamo", description="torch.onnx exporter")
    parity_samples: int = Field(256, ge=1, le=100_000, description="real validation samples compared torch vs ONNX")
    max_abs_diff: float = Field(
        1e-3,
        gt=0,
        description="largest allowed logit difference, relative to the largest logit magnitude when it exceeds 1",
    )
    min_top1_agreement: float = Field(0.99, gt=0, le=1, description="share of samples whose top-1 class must match")
    crop_padding_taps: bool = Field(
        True,
        description="exact pass for the fixed input size: crop conv kernels to the taps "
        "that can read real input (3x3 on a 1x1 map -> 1x1); parity-checked",
    )


def crop_file(path):
    """Apply edgekit.runtime.fixed_size to an exported file in place (temp file, then rename)."""
    import onnx

    from edgekit.runtime.fixed_size import crop_padding_taps

    model = onnx.load(str(path))
    report = crop_padding_taps(model)
    if report.convs_cropped or report.pools_removed:
        onnx.checker.check_model(model, full_check=True)
        tmp = path.with_name(path.name + ".tmp")
        onnx.save(model, str(tmp))
        tmp.replace(path)
    return report


@register_stage(ExportConfig, consumes="torch", produces="onnx")
def run(ctx: StageContext, cfg: ExportConfig) -> StageOutput:
    import torch

    from edgekit.runtime import ort
    from edgekit.runtime.preprocess import prepare
    from edgekit.torchkit.export import export_onnx, parity
    from edgekit.torchkit.models import load_model

    if cfg.exporter == "dynamo" and cfg.opset < 18:
        raise ctx.error(
            "opset",
            f"the dynamo exporter writes opset 18 or newer, got {cfg.opset}; use exporter: legacy for older runtimes",
        )
    torch.set_num_threads(ctx.threads)
    model, meta = load_model(ctx.input.dir)
    pre = meta["preprocess"]
    ds = ctx.dataset()
    if pre.get("task") == "detection":
        from edgekit.torchkit.detect_export import export_detection

        return export_detection(ctx, cfg, model, meta, ds)
    x = prepare(pre, ds.val.x[: cfg.parity_samples])
    path = ctx.out / "model.onnx"
    export_onnx(model, torch.from_numpy(x[:2]), path, cfg.opset, cfg.exporter)
    cropped = crop_file(path) if cfg.crop_padding_taps else None
    (ctx.out / "preprocess.json").write_text(json.dumps(pre, indent=2))

    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    got = ort.predict(ort.session(path, ctx.threads), x)
    diff, scaled, agree = parity(ref, got)
    metrics = {
        "parity_max_abs_diff": diff,
        "parity_scaled_diff": scaled,
        "parity_top1_agreement": agree,
        "parity_samples": len(x),
        "size_bytes": path.stat().st_size,
    }
    if cropped is not None:
        metrics["padding_taps"] = {
            "convs_cropped": cropped.convs_cropped,
            "macs_removed": cropped.macs_removed,
            "pools_removed": cropped.pools_removed,
        }
    if scaled > cfg.max_abs_diff or agree < cfg.min_top1_agreement:
        raise StageFailed(
            f"stage '{cfg.id}': ONNX export differs from torch on {len(x)} samples: max |diff| {diff:.2e} "
            f"({scaled:.2e} of the largest logit, limit {cfg.max_abs_diff:.0e}), top-1 agreement {agree:.4f} "
            f"(limit {cfg.min_top1_agreement})"
        )
    return StageOutput("model.onnx", metrics)
