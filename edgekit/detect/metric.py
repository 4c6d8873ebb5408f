"""COCO's box mAP on numpy: mAP@0.5:0.95 (mean over IoU 0.50, 0.55 .. 0.95) and mAP@0.5, 101-point interpolated
precision, at most 100 detections per image and class, area "all" — pycocotools' COCOeval(iouType="bbox") step for
step (tests/test_detect_metric.py checks agreement to 0.1 pt). Crowd annotations are not modelled: every ground
truth counts.

``match`` does the per-image work once; ``summarize`` accumulates it, optionally with per-image weights, which is
how ``edgekit.detect.bootstrap`` resamples images without matching again.

    >>> # m = coco_map(gt_boxes, gt_labels, boxes, scores, labels, n_classes=10)
    >>> # m["mAP@0.5:0.95"], m["mAP@0.5"]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgekit.detect.boxes import iou

PRIMARY = "mAP@0.5:0.95"
SECONDARY = "mAP@0.5"
IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)  # exactly as pycocotools writes them (np.round would differ by 1 ulp)
RECALL_POINTS = np.linspace(0.0, 1.0, 101)
MAX_DETS = 100


@dataclass(frozen=True)
class Matched:
    """Every detection of one class across images, in pycocotools' order (image by image, score-sorted)."""

    scores: np.ndarray  # (D,) float64
    image: np.ndarray  # (D,) int64 index of the detection's image
    tp: np.ndarray  # (T, D) bool: matched a ground truth at IoU threshold t
    n_gt: np.ndarray  # (N,) int64 ground truths of this class per image


def _match_image(gt: np.ndarray, det: np.ndarray) -> np.ndarray:
    """(T, D) bool: greedy matching of score-sorted detections to ground truths, per IoU threshold (COCOeval's
    evaluateImg: each detection takes the unmatched ground truth of highest IoU >= the threshold, later one on ties)."""
    tp = np.zeros((len(IOU_THRESHOLDS), len(det)), bool)
    if len(gt) == 0 or len(det) == 0:
        return tp
    ious = iou(det, gt)  # (D, G)
    for t, thr in enumerate(IOU_THRESHOLDS):
        taken = np.zeros(len(gt), bool)
        for d in range(len(det)):
            best, m = min(thr, 1 - 1e-10), -1
            for g in range(len(gt)):
                if taken[g] or ious[d, g] < best:
                    continue
                best, m = ious[d, g], g
            if m >= 0:
                taken[m] = True
                tp[t, d] = True
    return tp


def match(gt_boxes, gt_labels, boxes, scores, labels, n_classes: int) -> list[Matched]:
    """Per class, the matched detections of every image. Boxes are xyxy (K, 4); one list entry per image."""
    n = len(gt_boxes)
    assert len(gt_labels) == len(boxes) == len(scores) == len(labels) == n, "one entry per image in every list"
    out = []
    for c in range(n_classes):
        s_all, i_all, tp_all = [], [], []
        n_gt = np.zeros(n, np.int64)
        for i in range(n):
            gt = np.asarray(gt_boxes[i], np.float64).reshape(-1, 4)[np.asarray(gt_labels[i]) == c]
            mine = np.asarray(labels[i]) == c
            det = np.asarray(boxes[i], np.float64).reshape(-1, 4)[mine]
            sc = np.asarray(scores[i], np.float64)[mine]
            order = np.argsort(-sc, kind="mergesort")[:MAX_DETS]
            det, sc = det[order], sc[order]
            n_gt[i] = len(gt)
            tp_all.append(_match_image(gt, det))
            s_all.append(sc)
            i_all.append(np.full(len(sc), i, np.int64))
        out.append(
            Matched(np.concatenate(s_all), np.concatenate(i_all), np.concatenate(tp_all, axis=1), n_gt)
            if n
            else Matched(np.zeros(0), np.zeros(0, np.int64), np.zeros((len(IOU_THRESHOLDS), 0), bool), n_gt)
        )
    return out


def _precision(m: Matched, weights: np.ndarray | None) -> np.ndarray | None:
    """(T, R) interpolated precision of one class, None when the class has no ground truth (COCO leaves it out)."""
    w = np.ones(len(m.n_gt)) if weights is None else weights
    npig = float((m.n_gt * w).sum())
    if npig == 0:
        return None
    order = np.argsort(-m.scores, kind="mergesort")
    dw = w[m.image[order]]  # a detection resampled k times counts k times; 0: left out
    keep = dw > 0
    dw = dw[keep]
    tp = m.tp[:, order][:, keep]
    tps = np.cumsum(tp * dw, axis=1)
    fps = np.cumsum(~tp * dw, axis=1)
    q = np.zeros((len(IOU_THRESHOLDS), len(RECALL_POINTS)))
    for t in range(len(IOU_THRESHOLDS)):
        if tps.shape[1] == 0:
            continue
        rc = tps[t] / npig
        pr = tps[t] / np.maximum(tps[t] + fps[t], np.spacing(1))
        pr = np.maximum.accumulate(pr[::-1])[::-1]  # precision envelope: the best at this recall or higher
        idx = np.searchsorted(rc, RECALL_POINTS, side="left")
        ok = idx < len(pr)
        q[t, ok] = pr[idx[ok]]
    return q


def summarize(matched: list[Matched], weights: np.ndarray | None = None) -> dict[str, float]:
    """{"mAP@0.5:0.95": x, "mAP@0.5": y}, fractions; 0.0 when no class has ground truth."""
    per_class = [q for q in (_precision(m, weights) for m in matched) if q is not None]
    if not per_class:
        return {PRIMARY: 0.0, SECONDARY: 0.0}
    q = np.stack(per_class)  # (K, T, R)
    return {PRIMARY: float(q.mean()), SECONDARY: float(q[:, 0].mean())}


def coco_map(gt_boxes, gt_labels, boxes, scores, labels, n_classes: int) -> dict[str, float]:
    return summarize(match(gt_boxes, gt_labels, boxes, scores, labels, n_classes))
