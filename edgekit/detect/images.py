"""Decoding a detection folder's images into one (N, C, S, S) uint8 array, and scaling their boxes to match.

Images are squashed (not cropped or letterboxed) to ``size`` x ``size``, so every box survives: x scales by
size/width, y by size/height. Without ``data.image_size`` the size is the first image's longer side rounded up to a
multiple of 16, capped at MAX_AUTO_SIZE (a CPU trains a small detector on 96-160 px canvases in minutes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.data.errors import DataSourceError

MAX_AUTO_SIZE = 160  # px
SIDE_MULTIPLE = 16  # the detector halves its maps four times and counts 4-px cells: sides are multiples of this


def _open(path: Path):
    from edgekit.errors import require

    Image = require("PIL.Image", "shrink")
    try:
        im = Image.open(path)
        im.load()
        return im
    except (OSError, Image.DecompressionBombError) as e:
        raise DataSourceError("source", f"{path}: cannot read image ({e})") from None


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the header only."""
    im = _open(path)
    return im.size


def decode(paths: list[Path], size: int | None) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """(images (N, C, S, S) uint8, per image (sx, sy) to multiply pixel x and y by). Grey when the first image is."""
    if not paths:
        raise DataSourceError("source", "no images to read")
    first = _open(paths[0])
    mode = "L" if first.mode in ("L", "1", "I;16") else "RGB"
    side = size or min(-(-max(first.size) // SIDE_MULTIPLE) * SIDE_MULTIPLE, MAX_AUTO_SIZE)
    x = np.zeros((len(paths), 1 if mode == "L" else 3, side, side), np.uint8)
    scales = []
    for i, p in enumerate(paths):
        im = _open(p)
        w, h = im.size
        a = np.asarray(im.convert(mode).resize((side, side), resample=2))  # 2 = bilinear
        x[i] = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
        scales.append((side / w, side / h))
    return x, scales


def scale_boxes(boxes: np.ndarray, s: tuple[float, float]) -> np.ndarray:
    return (np.asarray(boxes, np.float32).reshape(-1, 4) * np.array([s[0], s[1], s[0], s[1]], np.float32)).astype(
        np.float32
    )
