"""Scoring a detection ONNX file on a split through ONNX Runtime, and the evaluate row's task fields (issue 32's
contract): ``metric``, ``accuracy`` (= the primary metric), ``metrics``, ``chance_accuracy``, ``test_samples``,
``accuracy_ci95``, ``test_set``. Torch-free: a device without torch scores the same way.

    >>> # fields = detection_fields(split, predict_onnx(sess, split, mean, std), n_classes=10)
"""

from __future__ import annotations

import numpy as np

from edgekit.data.dataset import normalize
from edgekit.detect.bootstrap import ci95
from edgekit.detect.dataset import DetSplit
from edgekit.detect.metric import PRIMARY, match, summarize

OUTPUTS = ["boxes", "scores", "labels"]  # a detection ONNX file's outputs, (B, K, 4) xyxy px, (B, K), (B, K) int64


def session_batch(sess, batch_size: int) -> int:
    """``batch_size``, or 1 for a file fixed to batch 1 (a torchvision detector: its NMS runs per image)."""
    return 1 if sess.get_inputs()[0].shape[0] == 1 else batch_size


def predict_onnx(sess, split: DetSplit, mean, std, batch_size: int = 64):
    """(boxes, scores, labels) per image from a session with outputs boxes, scores, labels."""
    name, batch_size = sess.get_inputs()[0].name, session_batch(sess, batch_size)
    out_b, out_s, out_l = [], [], []
    for start in range(0, len(split), batch_size):
        x = normalize(split.x[start : start + batch_size], mean, std)
        b, s, lab = sess.run(OUTPUTS, {name: x})
        out_b += list(b)
        out_s += list(s)
        out_l += list(lab)
    return out_b, out_s, out_l


def detection_fields(split: DetSplit, preds, n_classes: int, seed: int = 0) -> dict:
    """The row fields of one detection artifact on ``split``; mAPs as fractions, rounded like accuracies."""
    boxes, scores, labels = preds
    matched = match(split.boxes, split.labels, boxes, scores, labels, n_classes)
    metrics = {k: round(v, 5) for k, v in summarize(matched).items()}
    return {
        "metric": PRIMARY,
        "accuracy": metrics[PRIMARY],
        "metrics": metrics,
        "chance_accuracy": 0.0,  # boxes drawn at random score ~0 mAP: any real detector is above it
        "test_samples": len(split),
        "accuracy_ci95": ci95(matched, len(split), seed),
        "test_set": split.digest(),
        "mean_detections": round(float(np.mean([(np.asarray(s) > 0.05).sum() for s in scores])), 2),
    }


def score_files(paths, ds, seed: int, threads: int = 1) -> list[dict]:
    """``detection_fields`` of each ONNX file on ``ds.test``, input prepared by the preprocess.json beside it."""
    import json

    from edgekit.runtime import ort

    out = []
    for path in paths:
        beside = path.with_name("preprocess.json")
        pre = json.loads(beside.read_text()) if beside.is_file() else ds.preprocess()
        preds = predict_onnx(ort.session(path, threads), ds.test, pre["mean"], pre["std"])
        out.append(detection_fields(ds.test, preds, len(ds.classes), seed))
    return out
