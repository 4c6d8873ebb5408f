"""A detection split: images plus, per image, its boxes and class ids (ragged, so lists of arrays)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DetSplit:
    x: np.ndarray  # (N, C, H, W) uint8
    boxes: list[np.ndarray]  # N arrays (K_i, 4) float32, xyxy pixels of x's images
    labels: list[np.ndarray]  # N arrays (K_i,) int64 class ids

    def __post_init__(self):
        assert len(self.x) == len(self.boxes) == len(self.labels), "one boxes and one labels array per image"

    def __len__(self) -> int:
        return len(self.x)

    def take(self, idx) -> DetSplit:
        idx = np.asarray(idx, np.int64)
        return DetSplit(self.x[idx], [self.boxes[i] for i in idx], [self.labels[i] for i in idx])

    @property
    def objects(self) -> int:
        return int(sum(len(b) for b in self.boxes))

    def digest(self) -> str:
        """16 hex digits naming exactly these images and boxes: two mAPs are comparable only on the same digest."""
        h = hashlib.sha256(np.ascontiguousarray(self.x).tobytes())
        for b, c in zip(self.boxes, self.labels):
            h.update(np.ascontiguousarray(b, np.float32).tobytes())
            h.update(np.ascontiguousarray(c, np.int64).tobytes())
            h.update(b"|")  # image boundary: moving a box to the next image changes the digest
        return h.hexdigest()[:16]


@dataclass(frozen=True)
class DetDataset:
    name: str
    classes: list[str]
    train: DetSplit
    val: DetSplit
    test: DetSplit
    fingerprint: str  # sha256 of the source files (or generator settings) and the split settings
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    kind: str = "detection"
    train_fingerprint: str = ""  # the fingerprint without the test split's settings (limit_test)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train.x.shape[1:])

    def preprocess(self) -> dict:
        # kind "image": the input is prepared like a classifier's (runtime.preprocess); task says what comes out
        return {
            "kind": "image",
            "task": "detection",
            "mean": list(self.mean),
            "std": list(self.std),
            "input_shape": list(self.input_shape),
            "classes": self.classes,
        }


def split_images(split: DetSplit, fraction: float, seed: int) -> tuple[DetSplit, DetSplit]:
    """(rest, held out): a seeded random share of the images (no stratification: an image holds many classes)."""
    n = len(split)
    perm = np.random.default_rng(seed).permutation(n)
    k = max(1, round(n * fraction)) if n > 1 else 0
    return split.take(np.sort(perm[k:])), split.take(np.sort(perm[:k]))


def limit(split: DetSplit, n: int | None, seed: int) -> DetSplit:
    if n is None or n >= len(split):
        return split
    return split.take(np.sort(np.random.default_rng(seed).permutation(len(split))[:n]))


def channel_stats(x: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    sample = x[:2000].astype(np.float32) / 255.0  # (N, C, H, W)
    return (
        tuple(round(float(v), 4) for v in sample.mean(axis=(0, 2, 3))),
        tuple(round(float(max(v, 1e-3)), 4) for v in sample.std(axis=(0, 2, 3))),
    )
