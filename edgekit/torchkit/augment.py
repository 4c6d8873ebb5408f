"""Training-time augmentation of a normalised batch, drawn per batch from (seed, epoch, rank, batch index).

Random horizontal flips (per sample) and one random shift of up to 1/8 of the side per batch (pad with zeros,
i.e. the mean colour after normalisation, and crop). The draws depend only on where the batch sits in the run,
not on which process makes it, so a batch built in a DataLoader worker is augmented exactly like the same batch
built in the training process: same seed, same inputs, whatever the number of loader workers. A flip belongs
to a sample (its position in the drawn order), so a worker that sorts a batch's rows for reading keeps it."""

from __future__ import annotations

import numpy as np


def draws(key: tuple[int, ...], n: int, side: int) -> tuple[np.ndarray, int, int]:
    """(flip per sample in drawn order, shift in y, shift in x) for the batch ``key`` of ``n`` samples."""
    rng = np.random.default_rng(key)
    flip = rng.random(n) < 0.5
    pad = max(1, side // 8)
    dy, dx = rng.integers(0, 2 * pad + 1, 2).tolist()  # one shift per batch: cheap
    return flip, dy - pad, dx - pad


def augment(x: np.ndarray, flip: np.ndarray, sy: int, sx: int) -> np.ndarray:
    """(B, C, H, W) float -> flipped where ``flip``, then out[.., y, x] = x[.., y + sy, x + sx] (zeros outside)."""
    _, _, h, w = x.shape
    x = np.where(flip[:, None, None, None], x[..., ::-1], x)
    out = np.zeros_like(x)
    out[:, :, max(0, -sy) : h - max(0, sy), max(0, -sx) : w - max(0, sx)] = x[
        :, :, max(0, sy) : h - max(0, -sy), max(0, sx) : w - max(0, -sx)
    ]
    return out
