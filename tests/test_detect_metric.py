"""COCO mAP on numpy against pycocotools on the same predictions, and the bootstrap interval over images."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

from edgekit.detect.boxes import iou, nms, xyxy_to_xywh
from edgekit.detect.bootstrap import ci95
from edgekit.detect.metric import PRIMARY, SECONDARY, coco_map, match, summarize


def scene(seed: int, n_images: int = 60, n_classes: int = 5):
    """Ground truth and imperfect predictions: jittered hits, misses, duplicates, false positives, score ties, an
    image with nothing in it, a class without ground truth (4) and one that is never predicted (3)."""
    rng = np.random.default_rng(seed)
    gt_b, gt_l, b, s, lab = [], [], [], [], []
    for i in range(n_images):
        k = 0 if i == 0 else int(rng.integers(1, 6))
        xy = rng.uniform(0, 80, (k, 2))
        wh = rng.uniform(4, 40, (k, 2))
        g = np.concatenate([xy, xy + wh], 1).astype(np.float32)
        gl = rng.integers(0, 4, k)
        gt_b.append(g)
        gt_l.append(gl)
        hit = rng.random(k) < 0.8
        jitter = rng.normal(0, rng.uniform(0.01, 0.15), (k, 4)) * np.tile(wh, 2)  # up to 15 % of the size
        pb = np.sort((g + jitter).reshape(-1, 2, 2), axis=1).reshape(-1, 4)[hit]  # still x0 < x1, y0 < y1
        pl = np.where(rng.random(k) < 0.9, gl, rng.integers(0, 5, k))[hit]
        pl = np.where(pl == 3, 2, pl)  # class 3 is never predicted
        dup = pb[: int(rng.integers(0, 2))] + 1.0  # a duplicate of the first hit, if any
        fp_xy = rng.uniform(0, 80, (int(rng.integers(0, 4)), 2))
        fp = np.concatenate([fp_xy, fp_xy + rng.uniform(4, 30, fp_xy.shape)], 1)
        boxes = np.concatenate([pb, dup, fp]).astype(np.float32)
        labels = np.concatenate([pl, pl[: len(dup)], rng.integers(0, 5, len(fp))]).astype(np.int64)
        scores = np.round(rng.uniform(0.05, 1, len(boxes)), 1)  # rounded: ties between images and within one
        b.append(boxes)
        s.append(scores)
        lab.append(labels)
    return gt_b, gt_l, b, s, lab


def pycocotools_map(gt_b, gt_l, b, s, lab):
    COCO = pytest.importorskip("pycocotools.coco").COCO
    COCOeval = pytest.importorskip("pycocotools.cocoeval").COCOeval
    images = [{"id": i + 1, "width": 128, "height": 128} for i in range(len(gt_b))]
    anns = []
    for i, (g, gl) in enumerate(zip(gt_b, gt_l)):
        for box, c in zip(xyxy_to_xywh(g), gl):
            box = [float(v) for v in box]
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i + 1,
                    "category_id": int(c) + 1,
                    "bbox": box,
                    "area": box[2] * box[3],
                }
            )
    for a in anns:
        a["iscrowd"] = 0
    gt = COCO()
    gt.dataset = {
        "images": images,
        "annotations": anns,
        "categories": [{"id": k + 1, "name": str(k)} for k in range(5)],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        dets = [
            {"image_id": i + 1, "category_id": int(c) + 1, "bbox": [float(v) for v in box], "score": float(sc)}
            for i in range(len(b))
            for box, sc, c in zip(xyxy_to_xywh(b[i]), s[i], lab[i])
        ]
        dt = gt.loadRes(dets)
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats[0], ev.stats[1]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_map_agrees_with_pycocotools(seed):
    data = scene(seed)
    ours = coco_map(*data, n_classes=5)
    ref_map, ref_50 = pycocotools_map(*data)
    assert 0.1 < ours[PRIMARY] < ours[SECONDARY] < 0.95  # an informative case, not all-zero or perfect
    assert abs(ours[PRIMARY] - ref_map) < 1e-3 and abs(ours[SECONDARY] - ref_50) < 1e-3
    assert abs(ours[PRIMARY] - ref_map) < 1e-9  # in fact the same computation


def test_perfect_and_empty_predictions():
    gt_b, gt_l, *_ = scene(3, n_images=10)
    perfect = coco_map(gt_b, gt_l, gt_b, [np.ones(len(g)) for g in gt_b], gt_l, n_classes=5)
    assert perfect == {PRIMARY: 1.0, SECONDARY: 1.0}
    nothing = coco_map(gt_b, gt_l, [np.zeros((0, 4))] * 10, [np.zeros(0)] * 10, [np.zeros(0, int)] * 10, 5)
    assert nothing == {PRIMARY: 0.0, SECONDARY: 0.0}
    # xywh read as xyxy (the classic bug) scores far lower on the same boxes
    wrong = [xyxy_to_xywh(g) for g in gt_b]
    assert coco_map(gt_b, gt_l, wrong, [np.ones(len(g)) for g in gt_b], gt_l, 5)[PRIMARY] < 0.5


def test_bootstrap_interval_brackets_the_estimate_and_narrows_with_more_images():
    small, big = scene(4, n_images=40), scene(4, n_images=400)
    widths = []
    for data in (small, big):
        m = match(*data, n_classes=5)
        point = summarize(m)[PRIMARY]
        lo, hi = ci95(m, len(data[0]), seed=0)
        assert lo < point < hi
        widths.append(hi - lo)
        assert ci95(m, len(data[0]), seed=0) == [lo, hi]  # seeded
    assert widths[1] < widths[0] * 0.6  # ~1/sqrt(10) in theory


def test_box_ops():
    a = np.array([[0, 0, 10, 10]], np.float32)
    b = np.array([[5, 0, 15, 10], [20, 20, 30, 30]], np.float32)
    np.testing.assert_allclose(iou(a, b), [[50 / 150, 0.0]])
    keep = nms(np.concatenate([a, a + 1, b]), np.array([0.9, 0.8, 0.7, 0.6]), 0.5)
    assert list(keep) == [0, 2, 3]
