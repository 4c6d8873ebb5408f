"""Bring your own ONNX file: the recipe's ``model: {source: onnx:PATH}`` becomes the run's first ONNX artifact, so
quantize, evaluate, the report, the sense checks and the gate treat it like an exported model. Torch-free.

    model: {source: "onnx:my-model.onnx"}    # one input (N, C, H, W) fed the recipe data, normalised as edgekit does
    stages:
      - {id: model, kind: import}
      - {id: int8, kind: quantize}
      - {id: evaluate, kind: evaluate}

The file is checked (onnx.checker, one input that fits the data, one logit per class on real samples) and
copied with its preprocessing; its content is part of the stage's cache key, so replacing the file re-runs."""

from __future__ import annotations

import json
import shutil
from typing import Literal

from pydantic import Field

from edgekit.recipe.strict import StageConfig
from edgekit.run.registry import register_stage
from edgekit.run.stage import StageContext, StageOutput

ONNX_PREFIX = "onnx:"


class ImportConfig(StageConfig):
    kind: Literal["import"] = "import"
    check_samples: int = Field(
        64, ge=1, le=100_000, description="validation samples run through the file to check its outputs"
    )


@register_stage(ImportConfig, consumes="model", produces="onnx", needs="")
def run(ctx: StageContext, cfg: ImportConfig) -> StageOutput:
    from edgekit.bench import graph
    from edgekit.errors import InputError
    from edgekit.fsutil import resolve_path
    from edgekit.quant.calibration import check_matches
    from edgekit.runtime import ort
    from edgekit.runtime.preprocess import prepare

    source = ctx.recipe.model.source
    where = ("model", "source")
    path = resolve_path(source.removeprefix(ONNX_PREFIX), ctx.loaded.file.parent)
    if not path.is_file():
        raise ctx.loaded.error(where, f"{path}: no such ONNX file")
    ds = ctx.dataset()
    pre = ds.preprocess()
    x = prepare(pre, ds.val.x[: cfg.check_samples])
    try:
        import onnx

        onnx.checker.check_model(str(path))
        check_matches(path, x[:1])
        logits = ort.predict(ort.session(path, ctx.threads), x)
    except InputError as e:
        raise ctx.loaded.error(where, e.message.removeprefix("calibration: ")) from None
    except Exception as e:  # onnx and onnxruntime raise their own error types for a broken file
        raise ctx.loaded.error(
            where, f"{path}: not a usable ONNX model ({type(e).__name__}: {str(e).splitlines()[0][:200]})"
        ) from None
    if logits.ndim != 2 or logits.shape[1] != len(ds.classes):
        raise ctx.loaded.error(
            where,
            f"{path}: outputs shape {list(logits.shape)} per batch, expected "
            f"[N, {len(ds.classes)}] (one logit per class of the data)",
        )
    shutil.copyfile(path, ctx.out / "model.onnx")
    (ctx.out / "preprocess.json").write_text(json.dumps(pre, indent=2))
    counts = graph.count(ctx.out / "model.onnx")
    val_acc = float((logits.argmax(1) == ds.val.y[: len(x)]).mean())
    return StageOutput(
        "model.onnx",
        {
            "size_bytes": path.stat().st_size,
            "params": counts["params"],
            "macs": counts["macs"],
            "counts_unknown": counts["why"],
            "val_accuracy_on_check": round(val_acc, 5),
        },
    )
