"""The prune stage's detection path (``stages/prune.py`` dispatches here for a ``DetDataset``): torch-pruning on the
backbone and neck with the heads' output convolutions left whole, so the heatmap keeps one channel per class and
the size and offset heads two each; the rest of every head is pruned with the layers it depends on. mAP is scored
before and right after pruning; recovery is the train stage that follows (it loads the pruned shapes)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from edgekit.data.dataset import normalize
from edgekit.detect.metric import PRIMARY, coco_map
from edgekit.run.stage import StageOutput

HEAD_OUTPUTS = ("heat.1", "size.1", "offset.1")  # detect_model.CenterNetSmall's output convs: their widths are fixed


def prune_detection(ctx, cfg, ds, settings) -> StageOutput:
    from edgekit.torchkit.detect_train import centernet_loss, predict
    from edgekit.torchkit.detect_tv_model import TVDetector
    from edgekit.torchkit.detect_tv_prune import tv_prune_plan
    from edgekit.torchkit.models import build_model, load_model, save_model
    from edgekit.torchkit.pruning import PruneError, prune
    from edgekit.torchkit.reshape import diff

    if cfg.measure_speed or cfg.target == "latency":
        raise ctx.error("measure_speed", "timing pruned detectors is not there yet: set measure_speed: false")
    torch.set_num_threads(ctx.threads)
    torch.manual_seed(ctx.recipe.seed)
    model, meta = load_model(ctx.input.dir)
    spec, extra = meta["spec"], {k: v for k, v in meta.items() if k not in ("spec", "pruned")}
    pre = meta["preprocess"]
    example = torch.from_numpy(normalize(ds.val.x[:2], pre["mean"], pre["std"]))
    if isinstance(model, TVDetector):  # a torchvision detector: backbone only (detect_tv_prune)
        heads, step_loss, predict = tv_prune_plan(ctx, model, spec)
    else:
        heads, step_loss = HEAD_OUTPUTS, centernet_loss
    settings = replace(settings, seed=ctx.recipe.seed, ignore=(*settings.ignore, *heads), ignore_classifier=False)

    def gradients(m) -> None:  # Taylor importance: |w * dL/dw| over a few batches of the detector's own loss
        m.train()
        n = min(cfg.gradient_samples, len(ds.train))
        for start in range(0, n, cfg.batch_size):
            idx = np.arange(start, min(n, start + cfg.batch_size))
            x = torch.from_numpy(normalize(ds.train.x[idx], pre["mean"], pre["std"]))
            step_loss(m, x, [ds.train.boxes[i] for i in idx], [ds.train.labels[i] for i in idx])[0].backward()
        m.eval()

    def score(m) -> float:
        preds = predict(m, ds.test, pre["mean"], pre["std"])
        return coco_map(ds.test.boxes, ds.test.labels, *preds, len(ds.classes))[PRIMARY]

    before = score(model)
    try:
        result = prune(model, example, settings, grad_fn=gradients)
    except PruneError as e:
        raise ctx.error(e.key, e.message) from None
    after = score(result.model)
    reference = build_model({**spec, "weights": None}, spec["num_classes"], spec["in_channels"])
    save_model(result.model, ctx.out, spec, {**extra, "preprocess": pre, "pruned": diff(reference, result.model)})
    (macs0, macs1), (params0, params1) = result.macs, result.params
    ctx.console.print(
        f"  removed {1 - macs1 / macs0:.0%} of the MACs and {1 - params1 / params0:.0%} of the params; "
        f"test {PRIMARY} {before:.4f} -> {after:.4f} before any recovery",
        highlight=False,
    )
    return StageOutput(
        "model.safetensors",
        {
            "metric": PRIMARY,
            "target": cfg.target,
            "ratio": cfg.ratio,
            "macs_before": macs0,
            "macs_after": macs1,
            "macs_ratio": round(macs1 / macs0, 5),
            "params_before": params0,
            "params_after": params1,
            "params_ratio": round(params1 / params0, 5),
            "test_accuracy_before": round(before, 5),
            "test_accuracy_after_pruning": round(after, 5),
            "test_accuracy": round(after, 5),
            "layers": {name: {"before": b, "after": a} for name, (b, a) in result.layers.items()},
            "ignored": result.ignored,
            "round_to": settings.round_to,
            "speed": None,
        },
    )
