"""One learning-curve point of a detector: the recipe's detector trained from its start on a seeded, nested subset
of the training images, scored by mAP@0.5:0.95 on the curve's test images, with the metric's bootstrap interval.

A detection curve counts **training images**, not examples per class: an image holds several objects of several
classes, so there is no per-class subset to draw. For one seed the images are shuffled once and size n takes the
first n, so the 100-image set contains the 30-image set (the classification subsets' nesting, edgekit.curve.subsets).

    point = detect_point(arm, data, image_subset(len(train), 100, seed=1), seed=1)
    # {"accuracy": mAP, "metric": "mAP@0.5:0.95", "metrics": {...}, "accuracy_ci95": [lo, hi], "train_s": ...}
"""

from __future__ import annotations

import time

import numpy as np

from edgekit.curve.arms import Arm
from edgekit.curve.points import CurveData, batch1_p50, epochs_for, step_floor
from edgekit.curve.sizes import ALL, Size


def image_subset(n_images: int, size: Size, seed: int) -> np.ndarray:
    """Sorted indices of the first ``size`` images in the seed's shuffled order (every index for ALL)."""
    if size == ALL:
        return np.arange(n_images)
    rng = np.random.default_rng([seed, 16])  # a stream of its own, as subsets.class_orders: the splits use `seed`
    return np.sort(rng.permutation(n_images)[: int(size)])


def detect_point(arm: Arm, data: CurveData, idx: np.ndarray, seed: int, timing: bool = False) -> dict:
    """Train the arm's detector on the images ``idx`` for the arm's step floor (as train_point does for a
    classifier; the last epoch is kept, no validation images are read) and score it on the curve's test images."""
    import torch

    from edgekit.data.dataset import normalize
    from edgekit.detect.evaluate import detection_fields
    from edgekit.torchkit.detect_model import Decoded
    from edgekit.torchkit.detect_train import fit_detector, predict
    from edgekit.torchkit.models import build_model

    cfg, ds = arm.stage, data.ds
    sub = ds.train.take(idx)
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    spec = {**arm.model.model_dump(), "num_classes": len(ds.classes), "in_channels": ds.input_shape[0]}
    model = build_model(spec, spec["num_classes"], spec["in_channels"])
    epochs = epochs_for(len(sub), cfg.batch_size, cfg.epochs, step_floor(arm, data))
    fit_detector(model, sub, ds.mean, ds.std, epochs, lr=cfg.lr, batch_size=cfg.batch_size, seed=seed)
    train_s = time.perf_counter() - t0
    # the evaluate stage's row fields: mAP, mAP@0.5, and the 95 % bootstrap interval over the test images
    fields = detection_fields(data.test, predict(model, data.test, ds.mean, ds.std), len(ds.classes), seed)
    params = sum(p.numel() for p in model.parameters())
    point = {
        **{k: fields[k] for k in ("accuracy", "metric", "metrics", "accuracy_ci95", "mean_detections")},
        "train_s": round(train_s, 3),
        "epochs": epochs,
        "params": params,
        "size_bytes": 4 * params,  # fp32 weights
    }
    if timing:
        decoded = Decoded(model).eval()

        def detect(x):
            with torch.no_grad():
                return decoded(torch.from_numpy(normalize(x, ds.mean, ds.std)))

        point["p50_ms"] = batch1_p50(detect, data.test.x)
    return point
