"""The in-memory dataset every stage reads: train/val/test splits plus how to feed them to a model."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from edgekit.data.rows import Rows, take


@dataclass(frozen=True)
class Split:
    x: np.ndarray | Rows  # images: (N, C, H, W) uint8 (Rows: read from the store on demand); text: (N,) str
    y: np.ndarray  # (N,) int64 class indices

    def __len__(self) -> int:
        return len(self.y)

    def take(self, idx: np.ndarray) -> Split:
        return Split(take(self.x, idx), self.y[idx])

    def digest(self) -> str:
        """16 hex digits naming exactly these samples: two accuracies are comparable only on the same digest."""
        h = hashlib.sha256(np.ascontiguousarray(self.y).tobytes())
        if self.x.dtype.kind in "OUS":  # text
            h.update("\0".join(map(str, self.x)).encode())
        elif isinstance(self.x, Rows):  # the same bytes in chunks: a store-backed split keeps its digest
            self.x.hash_into(h)
        else:
            h.update(np.ascontiguousarray(self.x).tobytes())
        return h.hexdigest()[:16]


@dataclass(frozen=True)
class Dataset:
    name: str
    kind: str  # "image" or "text"
    classes: list[str]
    train: Split
    val: Split
    test: Split
    fingerprint: str  # sha256 of the source files and the split settings
    mean: tuple[float, ...] = field(default=())  # per-channel, on 0..1 pixel values
    std: tuple[float, ...] = field(default=())
    # the same without the test-split settings (limit_test): what a train or prune stage's model depends on
    train_fingerprint: str = ""

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train.x.shape[1:])

    def preprocess(self) -> dict:
        """What a runtime needs to turn raw samples into model input; stored beside every artifact."""
        return {
            "kind": self.kind,
            "mean": list(self.mean),
            "std": list(self.std),
            "input_shape": list(self.input_shape),
            "classes": self.classes,
        }


def normalize(x: np.ndarray, mean, std) -> np.ndarray:
    """uint8 (N, C, H, W) -> float32 normalised model input, same formula in training and in ONNX evaluation."""
    m = np.asarray(mean, np.float32).reshape(1, -1, 1, 1)
    s = np.asarray(std, np.float32).reshape(1, -1, 1, 1)
    return (np.asarray(x).astype(np.float32) / 255.0 - m) / s  # asarray: a store-backed split's rows are read here


def split_train_val(x: np.ndarray, y: np.ndarray, val_fraction: float, seed: int) -> tuple[Split, Split]:
    """Seeded, class-stratified hold-out so every class is in validation in proportion."""
    rng = np.random.default_rng(seed)
    val_idx = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        val_idx.append(idx[: max(1, round(len(idx) * val_fraction))])
    val = np.sort(np.concatenate(val_idx))
    mask = np.ones(len(y), bool)
    mask[val] = False
    train = np.flatnonzero(mask)
    rng.shuffle(train)
    whole = Split(x, y)
    return whole.take(train), whole.take(val)


def limit(split: Split, n: int | None, seed: int) -> Split:
    if n is None or n >= len(split):
        return split
    idx = np.random.default_rng(seed).permutation(len(split))[:n]
    return split.take(np.sort(idx))
