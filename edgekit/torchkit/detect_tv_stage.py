"""The train stage's start for a torchvision detector on a detection recipe (``detect_stage.train_detection`` asks
``is_tv_detector``, then trains with ``detect_tv_train``): num_classes from the data, the ImageNet backbone when the
recipe asks (``weights: imagenet``) and it can be had, else a random one with a one-line note."""

from __future__ import annotations

import json

PREFIX = "torchvision:"


def is_tv_detector(ctx, cfg) -> bool:
    """Does this detection stage work on a torchvision detector (its input's, else its config's model)?"""
    from edgekit.torchkit.detect_tv_model import TV_DETECTORS
    from edgekit.torchkit.models import MODEL_JSON

    if ctx.input is not None:
        source = json.loads((ctx.input.dir / MODEL_JSON).read_text())["spec"]["source"]
    else:
        model_cfg = getattr(cfg, "model", None) or ctx.recipe.model
        source = model_cfg.source if model_cfg is not None else ""
    return source.startswith(PREFIX) and source[len(PREFIX) :] in TV_DETECTORS


def start_tv(ctx, model_cfg, ds):
    """A fresh detector for ``ds`` -> (model, spec, backbone note). The input is adapted to the data's channels
    like the classification zoo's (a grey canvas sums the RGB stem kernel)."""
    from edgekit.torchkit.detect_tv_model import build_tv_detector
    from edgekit.torchkit.detect_tv_weights import backbone_weights
    from edgekit.torchkit.models import adapt_input

    where = ("model",) if getattr(ctx.cfg, "model", None) is None else ctx.loaded.stage_loc(ctx.cfg.id, "model")
    for key in ("input_size", "stem_stride"):
        if getattr(model_cfg, key) is not None:
            raise ctx.loaded.error((*where, key), f"{key}: a detector runs on the canvas as it is (set image_size)")
    if model_cfg.weights not in (None, "imagenet"):
        raise ctx.loaded.error((*where, "weights"), "a torchvision detector takes weights: imagenet (its backbone)")
    name = model_cfg.source[len(PREFIX) :]
    weights, note = backbone_weights(name) if model_cfg.weights == "imagenet" else (None, None)
    model = build_tv_detector(name, len(ds.classes), weights)
    adapt_input(model, ds.input_shape[0], None)
    spec = {**model_cfg.model_dump(), "num_classes": len(ds.classes), "in_channels": ds.input_shape[0]}
    if note:
        ctx.console.print(f"  [bold yellow]![/] {note}", highlight=False)
    return model, spec, note
