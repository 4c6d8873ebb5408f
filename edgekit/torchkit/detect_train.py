"""Training a detector on a ``DetSplit``: AdamW, cosine schedule, horizontal flips, CenterNet's losses.

Kept apart from ``torchkit.training`` (classification's loop): a detection batch is images plus ragged boxes, and
the losses need the targets built per batch on the model's grid."""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from edgekit.data.dataset import normalize
from edgekit.detect.dataset import DetSplit
from edgekit.torchkit.detect_model import STRIDE, Decoded
from edgekit.torchkit.detect_targets import loss, targets


def _flip(x: np.ndarray, boxes: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    w = x.shape[-1]
    flipped = [np.stack([w - b[:, 2], b[:, 1], w - b[:, 0], b[:, 3]], 1) if len(b) else b for b in boxes]
    return x[..., ::-1], flipped


def centernet_loss(model: torch.nn.Module, x: torch.Tensor, boxes, labels) -> tuple[torch.Tensor, dict]:
    """(total, {"heat", "size", "offset"}) on a normalised batch x (B, C, H, W) and its boxes and labels."""
    return loss(model(x), targets(boxes, labels, model.num_classes, x.shape[2] // STRIDE, x.shape[3] // STRIDE))


def fit_detector(
    model: torch.nn.Module,
    train: DetSplit,
    mean,
    std,
    epochs: int,
    lr: float = 2e-3,
    batch_size: int = 32,
    seed: int = 0,
    log=None,
    step_loss=centernet_loss,
    clip_norm: float | None = None,
) -> list[dict]:
    """Train in place; one history row per epoch: {"epoch", "loss", <each term of step_loss>, "seconds"}.
    ``step_loss(model, x, boxes, labels) -> (total, {term: float})``; ``clip_norm`` clips the gradient norm."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * math.ceil(len(train) / batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    history = []
    for epoch in range(epochs):
        model.train()
        t0, parts, seen = time.perf_counter(), {}, 0
        order = rng.permutation(len(train))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            x, boxes = train.x[idx], [train.boxes[i] for i in idx]
            if rng.random() < 0.5:
                x, boxes = _flip(x, boxes)
            x = torch.from_numpy(normalize(np.ascontiguousarray(x), mean, std))
            total, items = step_loss(model, x, boxes, [train.labels[i] for i in idx])
            opt.zero_grad()
            total.backward()
            if clip_norm is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
            opt.step()
            sched.step()
            for k, v in {"loss": float(total.detach()), **items}.items():
                parts[k] = parts.get(k, 0.0) + v * len(idx)
            seen += len(idx)
        row = {"epoch": epoch + 1, **{k: round(v / seen, 4) for k, v in parts.items()}}
        row["seconds"] = round(time.perf_counter() - t0, 1)
        history.append(row)
        if log:
            log(row)
    model.eval()
    return history


@torch.no_grad()
def predict(model: torch.nn.Module, split: DetSplit, mean, std, batch_size: int = 64):
    """(boxes, scores, labels) per image, as numpy, from the torch model (the ONNX file's twin)."""
    dec = Decoded(model).eval()
    out_b, out_s, out_l = [], [], []
    for start in range(0, len(split), batch_size):
        x = torch.from_numpy(normalize(split.x[start : start + batch_size], mean, std))
        b, s, lab = dec(x)
        out_b += list(b.numpy())
        out_s += list(s.numpy())
        out_l += list(lab.numpy())
    return out_b, out_s, out_l
