"""CenterNet training targets and losses on the stride-4 grid of ``detect_model``.

Each box puts a Gaussian peak (TTFNet's elliptical one: sigma = 0.54 * box side / 6) of 1.0 at its centre cell of
its class's heatmap; the size and offset heads are taught at those centre cells only."""

from __future__ import annotations

import numpy as np
import torch

from edgekit.torchkit.detect_model import STRIDE

ALPHA = 0.54  # TTFNet's Gaussian width factor
SIZE_WEIGHT = 0.1  # CenterNet's weights: sizes are in cells (up to ~12), offsets in fractions of a cell
OFFSET_WEIGHT = 1.0


def targets(boxes: list[np.ndarray], labels: list[np.ndarray], n_classes: int, h: int, w: int) -> dict:
    """Per batch: heat (B, K, h, w), and for every object its batch index, flat cell, size and offset (cells)."""
    heat = np.zeros((len(boxes), n_classes, h, w), np.float32)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    where, size, off = [], [], []
    for i, (bb, ll) in enumerate(zip(boxes, labels)):
        for (x0, y0, x1, y1), c in zip(np.asarray(bb, np.float32) / STRIDE, ll):
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            ix, iy = min(int(cx), w - 1), min(int(cy), h - 1)
            sx, sy = max(ALPHA * (x1 - x0) / 6, 0.3), max(ALPHA * (y1 - y0) / 6, 0.3)
            g = np.exp(-((xs - ix) ** 2) / (2 * sx * sx) - ((ys - iy) ** 2) / (2 * sy * sy))
            np.maximum(heat[i, c], g, out=heat[i, c])
            where.append((i, iy * w + ix))
            size.append((x1 - x0, y1 - y0))
            off.append((cx - ix, cy - iy))
    return {
        "heat": torch.from_numpy(heat),
        "where": torch.tensor(where, dtype=torch.long).reshape(-1, 2),
        "size": torch.tensor(size, dtype=torch.float32).reshape(-1, 2),
        "offset": torch.tensor(off, dtype=torch.float32).reshape(-1, 2),
    }


def focal(logits: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss, summed and divided by the number of peaks."""
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = gt.eq(1).float()
    pos_loss = torch.log(p) * (1 - p) ** 2 * pos
    neg_loss = torch.log(1 - p) * p**2 * (1 - gt) ** 4 * (1 - pos)
    return -(pos_loss.sum() + neg_loss.sum()) / pos.sum().clamp(min=1)


def loss(out: dict[str, torch.Tensor], t: dict) -> tuple[torch.Tensor, dict[str, float]]:
    """Total loss and its parts (floats, for the log)."""
    heat = focal(out["heat"], t["heat"])
    n = max(1, len(t["where"]))
    if len(t["where"]):
        b, cell = t["where"][:, 0], t["where"][:, 1]
        bsz = out["size"].shape[0]
        size = out["size"].reshape(bsz, 2, -1)[b, :, cell]  # (N, 2)
        off = out["offset"].reshape(bsz, 2, -1)[b, :, cell]
        l_size = torch.nn.functional.l1_loss(size, t["size"], reduction="sum") / n
        l_off = torch.nn.functional.l1_loss(off, t["offset"], reduction="sum") / n
    else:
        l_size = l_off = out["size"].sum() * 0
    total = heat + SIZE_WEIGHT * l_size + OFFSET_WEIGHT * l_off
    return total, {"heat": float(heat.detach()), "size": float(l_size.detach()), "offset": float(l_off.detach())}
