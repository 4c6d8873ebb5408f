"""The train stage's detection path (``stages/train.py`` dispatches here when the dataset is a ``DetDataset``; the
export stage's is ``detect_export.export_detection``, apart so training never reaches ONNX Runtime and its key never
holds ORT's version): the stage config is the same, the loop and the losses are the detector's. Options that only
mean something for classifiers (distill, head, label_smoothing, ...) are refused."""

from __future__ import annotations

import torch

from edgekit.detect.metric import PRIMARY, coco_map
from edgekit.detect.task import CLASSIFIER_ONLY
from edgekit.run.stage import StageOutput
from edgekit.torchkit.detect_tv_model import TV_DETECTORS

DETECTORS = ("edgekit:centernet-small", *(f"torchvision:{name}" for name in TV_DETECTORS))


def train_detection(ctx, cfg, ds) -> StageOutput:
    from edgekit.torchkit.detect_train import fit_detector, predict
    from edgekit.torchkit.detect_tv_stage import is_tv_detector, start_tv
    from edgekit.torchkit.detect_tv_train import fit_tv, predict_tv
    from edgekit.torchkit.models import build_model, load_model, save_model

    for key in CLASSIFIER_ONLY:
        if getattr(cfg, key, None) is not None:
            raise ctx.error(key, f"{key}: is for classifiers; a detection recipe trains without it")
    torch.set_num_threads(ctx.threads)
    torch.manual_seed(ctx.recipe.seed)
    tv, note = is_tv_detector(ctx, cfg), None  # a torchvision detector: its builder, losses, NMS (detect_tv_*)
    if tv:
        fit_detector, predict = fit_tv, predict_tv
    if ctx.input is not None:  # recovery after pruning: the pruned detector, its shapes in model.json
        model, meta = load_model(ctx.input.dir)
        spec, extra = meta["spec"], {k: v for k, v in meta.items() if k != "spec"}
    elif tv:
        model, spec, note = start_tv(ctx, cfg.model or ctx.recipe.model, ds)
        extra = {}
    else:
        model_cfg = cfg.model or ctx.recipe.model
        if model_cfg is None or model_cfg.source not in DETECTORS:
            raise ctx.loaded.error(("model", "source"), f"a detection recipe needs a detector: {', '.join(DETECTORS)}")
        spec = {**model_cfg.model_dump(), "num_classes": len(ds.classes), "in_channels": ds.input_shape[0]}
        model = build_model(spec, spec["num_classes"], spec["in_channels"])
        extra = {}
    extra["preprocess"] = ds.preprocess()
    # no ctx.before_training: its prune precheck is the classifier's (it would prune a head's outputs); the
    # detector's prune stage leaves the head outputs whole (torchkit.detect_prune) and torch-pruning follows it
    history = fit_detector(
        model,
        ds.train,
        ds.mean,
        ds.std,
        cfg.epochs,
        lr=cfg.lr,
        batch_size=cfg.batch_size,
        seed=ctx.recipe.seed,
        log=lambda r: ctx.console.print(f"  epoch {r['epoch']}: loss {r['loss']:.3f} ({r['seconds']} s)"),
    )
    val = coco_map(ds.val.boxes, ds.val.labels, *predict(model, ds.val, ds.mean, ds.std), len(ds.classes))
    test = coco_map(ds.test.boxes, ds.test.labels, *predict(model, ds.test, ds.mean, ds.std), len(ds.classes))
    save_model(model, ctx.out, spec, extra)
    if test[PRIMARY] < 0.01:
        ctx.console.print(
            f"  [bold yellow]![/] test {PRIMARY} {test[PRIMARY]:.4f}: the detector found nothing; "
            "try another lr or more epochs",
            highlight=False,
        )
    return StageOutput(
        "model.safetensors",
        {
            "metric": PRIMARY,
            "test_accuracy": round(test[PRIMARY], 5),
            "val_accuracy": round(val[PRIMARY], 5),
            "test_metrics": {k: round(v, 5) for k, v in test.items()},
            "history": history,
            "params": sum(p.numel() for p in model.parameters()),
            "test_chance_accuracy": 0.0,
            **({"backbone_weights": note} if note else {}),
        },
    )
