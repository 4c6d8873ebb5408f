"""What the prune stage's detection path (``detect_prune.prune_detection``) needs for a torchvision detector: which
modules keep their widths, the loss that gives Taylor importance its gradients, and the torch predictions mAP is
scored on. Backbone only: every layer under ``net.head`` keeps its output width (the class and box convolutions
are sized by anchors x classes), and torch-pruning's dependency graph shrinks the head's inputs with the backbone
channels they read, so the head stays consistent. A two-stage detector (Faster R-CNN) is refused in one line: its
region proposals sit between backbone and heads, and the traced forward (``TVDetector.forward``) stops at the
backbone, so the dependency graph cannot see the heads that read it."""

from __future__ import annotations

from edgekit.torchkit.detect_tv_model import TV_DETECTORS

HEAD = ("net.head.*",)


def tv_prune_plan(ctx, model, spec):
    """(ignore patterns, loss(m, x, boxes, labels) -> (total, terms), predict(m, split, mean, std))."""
    from edgekit.torchkit.detect_tv_train import predict_tv, tv_loss

    name = spec["source"].partition(":")[2]
    if not TV_DETECTORS[name]["one_stage"]:
        raise ctx.error(
            None,
            f"torch-pruning cannot trace {spec['source']} (two-stage: region proposals between backbone and "
            "heads); drop the prune stage or use torchvision:ssdlite320_mobilenet_v3_large",
        )
    return HEAD, tv_loss, predict_tv
