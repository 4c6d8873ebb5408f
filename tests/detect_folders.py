"""Writing user-style detection folders (COCO-JSON, YOLO-txt) from fashion-detect canvases, for the tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edgekit.detect.boxes import xyxy_to_xywh
from edgekit.detect.synth import compose


def canvases(n: int, size: int, seed: int, rgb: bool = False):
    """Fashion-MNIST-like items without the real data: random blobs, so tests need no dataset package."""
    rng = np.random.default_rng(seed)
    items = np.zeros((20, 28, 28), np.uint8)
    for k in range(20):  # a bright rectangle with a darker core: a box the visible pixels define exactly
        y0, x0 = rng.integers(2, 8, size=2)
        items[k, y0 : 28 - y0, x0 : 28 - x0] = 200
        items[k, 12:16, 12:16] = 120
    x, boxes, labels = compose(items, np.arange(20) % 3, n, size, seed)
    if rgb:
        x = np.repeat(x, 3, axis=1)
    return x, boxes, labels


def write_coco(root: Path, x, boxes, labels, classes=("a", "b", "c"), first_cat: int = 1) -> Path:
    from PIL import Image

    (root / "images").mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    for i in range(len(x)):
        name = f"img{i:04d}.png"
        a = x[i, 0] if x.shape[1] == 1 else x[i].transpose(1, 2, 0)
        Image.fromarray(a).save(root / "images" / name)
        images.append({"id": 100 + i, "file_name": name, "width": x.shape[3], "height": x.shape[2]})
        for b, c in zip(xyxy_to_xywh(boxes[i]), labels[i]):
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": 100 + i,
                    "category_id": int(c) + first_cat,
                    "bbox": [float(v) for v in b],
                    "area": float(b[2] * b[3]),
                    "iscrowd": 0,
                }
            )
    cats = [{"id": k + first_cat, "name": n} for k, n in enumerate(classes)]
    doc = {"images": images, "annotations": anns, "categories": cats}
    (root / "annotations.json").write_text(json.dumps(doc))
    return root


def write_yolo(root: Path, x, boxes, labels, classes=("a", "b", "c")) -> Path:
    from PIL import Image

    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(exist_ok=True)
    (root / "classes.txt").write_text("\n".join(classes) + "\n")
    h, w = x.shape[2], x.shape[3]
    for i in range(len(x)):
        Image.fromarray(x[i, 0]).save(root / "images" / f"img{i:04d}.png")
        lines = []
        for b, c in zip(boxes[i], labels[i]):
            cx, cy, bw, bh = (b[0] + b[2]) / 2 / w, (b[1] + b[3]) / 2 / h, (b[2] - b[0]) / w, (b[3] - b[1]) / h
            lines.append(f"{int(c)} {cx:.6f} {cy:.6f} {bw:.6f} {bh:.6f}")
        if lines:
            (root / "labels" / f"img{i:04d}.txt").write_text("\n".join(lines) + "\n")
    return root
