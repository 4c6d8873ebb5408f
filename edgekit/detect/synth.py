"""``fashion-detect``: the built-in offline detection set. Fashion-MNIST items (Debian's dataset-fashion-mnist) pasted
at seeded random positions and scales on grey canvases, 1-4 per image, boxes exact (the tight box of the pasted
item's visible pixels). Training canvases use the training items, test canvases the t10k items, so no test item was
seen in training.

    >>> # x, boxes, labels = compose(items, item_labels, n=8, size=96, seed=0)
"""

from __future__ import annotations

import numpy as np

VISIBLE = 24  # uint8 level from which a resized item's pixel counts as the item (lower is cleared: boxes stay exact)
NOISE = 16  # background noise amplitude, below VISIBLE so it never touches a box
MAX_OBJECTS = 4
MAX_OVERLAP = 0.2  # IoU: items may touch and overlap a little, never hide each other


def _resize(item: np.ndarray, side: int) -> np.ndarray:
    """(28, 28) uint8 -> (side, side) uint8, bilinear (half-pixel centres, like PIL/torch align_corners=False)."""
    pos = (np.arange(side) + 0.5) * (item.shape[0] / side) - 0.5
    pos = np.clip(pos, 0, item.shape[0] - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, item.shape[0] - 1)
    f = (pos - lo).astype(np.float32)
    a = item.astype(np.float32)
    rows = a[lo] * (1 - f)[:, None] + a[hi] * f[:, None]  # (side, 28)
    out = rows[:, lo] * (1 - f)[None, :] + rows[:, hi] * f[None, :]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _iou1(b: np.ndarray, others: list[np.ndarray]) -> float:
    if not others:
        return 0.0
    from edgekit.detect.boxes import iou

    return float(iou(b[None], np.stack(others)).max())


def compose(
    items: np.ndarray, item_labels: np.ndarray, n: int, size: int, seed: int, scale: tuple[int, int] | None = None
) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """``n`` canvases (n, 1, size, size) uint8 with their xyxy boxes and labels. Items are drawn from ``items``
    (M, 28, 28) uint8 at random; item side ``scale`` px (default size/4 .. size/2)."""
    rng = np.random.default_rng(seed)
    lo, hi = scale or (max(8, size // 4), max(9, size // 2))
    x = rng.integers(0, NOISE, size=(n, 1, size, size), dtype=np.uint8)
    boxes: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    for i in range(n):
        placed: list[np.ndarray] = []
        ids: list[int] = []
        for _ in range(int(rng.integers(1, MAX_OBJECTS + 1))):
            k = int(rng.integers(len(items)))
            side = int(rng.integers(lo, hi + 1))
            patch = _resize(items[k], side)
            patch[patch < VISIBLE] = 0
            ys, xs = np.nonzero(patch)
            if ys.size == 0:
                continue
            for _try in range(10):  # a free spot; an item that finds none is left out
                ox, oy = (int(v) for v in rng.integers(0, size - side + 1, size=2))
                box = np.array([ox + xs.min(), oy + ys.min(), ox + xs.max() + 1, oy + ys.max() + 1], np.float32)
                if _iou1(box, placed) <= MAX_OVERLAP:
                    region = x[i, 0, oy : oy + side, ox : ox + side]
                    np.maximum(region, patch, out=region)
                    placed.append(box)
                    ids.append(int(item_labels[k]))
                    break
        boxes.append(np.stack(placed) if placed else np.zeros((0, 4), np.float32))
        labels.append(np.asarray(ids, np.int64))
    return x, boxes, labels
