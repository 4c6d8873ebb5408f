"""Training a torchvision detector (``detect_tv_model.TVDetector``) with its own losses: the loss dict torchvision
returns in train mode, summed, through the detectors' shared loop (``detect_train.fit_detector``: AdamW, cosine
schedule, horizontal flips), with the gradient norm clipped at 10 (from scratch, SSD's early steps spike).
BatchNorm trains in batch mode as torchvision's builders set it up (momentum 0.03 in SSDlite); afterwards the
running statistics are recomputed over training images (``training.recalibrate_bn``): after a short run they still
describe the first steps' weights."""

from __future__ import annotations

import numpy as np
import torch

from edgekit.data.dataset import Split, normalize
from edgekit.detect.dataset import DetSplit
from edgekit.torchkit.detect_train import fit_detector
from edgekit.torchkit.training import recalibrate_bn

CLIP_NORM = 10.0


def tv_loss(model, x: torch.Tensor, boxes, labels) -> tuple[torch.Tensor, dict]:
    """(total, {term: float}): e.g. SSD's bbox_regression and classification, Faster R-CNN's four terms."""
    terms = model.losses(x, boxes, labels)
    return sum(terms.values()), {k: float(v.detach()) for k, v in terms.items()}


def fit_tv(model, train: DetSplit, mean, std, epochs: int, lr: float, batch_size: int, seed: int = 0, log=None):
    """Train in place (``fit_detector``'s arguments and history rows), then recalibrate BatchNorm."""
    history = fit_detector(
        model, train, mean, std, epochs, lr, batch_size, seed, log, step_loss=tv_loss, clip_norm=CLIP_NORM
    )
    recalibrate_bn(model, Split(train.x, np.zeros(len(train), np.int64)), mean, std, batch_size=batch_size, seed=seed)
    model.eval()
    return history


@torch.no_grad()
def predict_tv(model, split: DetSplit, mean, std, batch_size: int = 32):
    """(boxes, scores, labels) per image, as numpy, from the torch model: what the ONNX file computes."""
    model.eval()
    out_b, out_s, out_l = [], [], []
    for start in range(0, len(split), batch_size):
        x = torch.from_numpy(normalize(split.x[start : start + batch_size], mean, std))
        for b, s, lab in model.detect(x):
            out_b.append(b.numpy())
            out_s.append(s.numpy())
            out_l.append(lab.numpy())
    return out_b, out_s, out_l
