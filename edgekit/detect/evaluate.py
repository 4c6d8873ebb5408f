"""Scoring a detection ONNX file on a split through ONNX Runtime, and the evaluate row's task fields (issue 32's
contract): ``metric``, ``accuracy`` (= the primary metric), ``metrics``, ``chance_accuracy``, ``test_samples``,
``accuracy_ci95``, ``test_set``. Torch-free: a device without torch scores the same way.

    >>> # fields = detection_fields(split, predict_onnx(sess, split, mean, std), n_classes=10)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgekit.data.dataset import normalize
from edgekit.detect.bootstrap import ci95
from edgekit.detect.dataset import DetSplit, limit
from edgekit.detect.metric import PRIMARY, match, summarize

OUTPUTS = ["boxes", "scores", "labels"]  # a detection ONNX file's outputs, (B, K, 4) xyxy px, (B, K), (B, K) int64


def session_batch(sess, batch_size: int) -> int:
    """``batch_size``, or 1 for a file fixed to batch 1 (a torchvision detector: its NMS runs per image)."""
    return 1 if sess.get_inputs()[0].shape[0] == 1 else batch_size


def run_batches(sess, batches) -> tuple[list, list, list]:
    """(boxes, scores, labels) per image from a session with outputs boxes, scores, labels, fed ``batches`` of
    prepared input one at a time (a device streams them out of a bundle); split per image for a batch-1 file."""
    name = sess.get_inputs()[0].name
    out: tuple[list, list, list] = ([], [], [])
    for x in batches:
        step = session_batch(sess, max(len(x), 1))
        for s in range(0, len(x), step):
            for acc, arr in zip(out, sess.run(OUTPUTS, {name: x[s : s + step]})):
                acc += list(arr)
    return out


def predict_onnx(sess, split: DetSplit, mean, std, batch_size: int = 64):
    """(boxes, scores, labels) per image of ``split``'s images, normalised a batch at a time."""
    starts = range(0, len(split), batch_size)
    return run_batches(sess, (normalize(split.x[s : s + batch_size], mean, std) for s in starts))


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


def score_files(paths, ds, seed: int, threads: int = 1, subsets: Sequence[int] = ()) -> list[dict]:
    """``detection_fields`` of each ONNX file on ``ds.test``, input prepared by the preprocess.json beside it; with
    ``accuracy_on`` (test_set digest -> its fields) on each seeded subset of ``subsets`` images a prompted stage
    scored (edgekit.stages.prompted_detect draws the same), so the verdict compares mAPs on the same images."""
    import json

    from edgekit.runtime import ort

    subs = [sub for n in subsets if len(sub := limit(ds.test, n, seed)) < len(ds.test)]
    out = []
    for path in paths:
        beside = path.with_name("preprocess.json")
        pre = json.loads(beside.read_text()) if beside.is_file() else ds.preprocess()
        sess = ort.session(path, threads)
        fields = detection_fields(ds.test, predict_onnx(sess, ds.test, pre["mean"], pre["std"]), len(ds.classes), seed)
        on = {}
        for sub in subs:
            f = detection_fields(sub, predict_onnx(sess, sub, pre["mean"], pre["std"]), len(ds.classes), seed)
            on[f["test_set"]] = {k: f[k] for k in ("accuracy", "metrics", "accuracy_ci95", "test_samples")}
        out.append({**fields, **({"accuracy_on": on} if on else {})})
    return out
