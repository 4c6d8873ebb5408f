"""Distillation from a teacher that reads the data differently: its logits are computed once, up front.

A fine-tuned encoder (WordPiece ids, 22 M params) teaching a bag-of-words student (its own word ids) cannot
share a batch the way ``training.distillation_loss`` does. The teacher therefore scores every training
text once with its own preprocessing; the student then trains on (its input, index) pairs and the loss
looks the teacher's logits and the label up by index. A label of -1 marks an unlabelled text (taught by
the teacher alone: the "lots of unlabelled in-house data" case).

    logits = teacher_logits(teacher, lambda raw: prepare(teacher_pre, raw), texts)      # (N, C)
    fit(student, Split(student_ids, np.arange(N)), val, (), (), settings, loss_fn=SoftLabelLoss(logits, labels))
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from edgekit.torchkit.text import in_row_order

UNLABELLED = -1


@torch.no_grad()
def teacher_logits(
    teacher: nn.Module,
    prepare: Callable[[np.ndarray], np.ndarray],
    raw: np.ndarray,
    batch_size: int = 128,
    progress: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """Raw samples (N, ...) -> the teacher's logits (N, C), fed through the teacher's own preprocessing.
    Texts are scored shortest first, so a teacher that trims padding does little work on it."""
    teacher.eval()
    order = np.argsort([len(t) for t in raw], kind="stable") if raw.dtype.kind in "OU" else np.arange(len(raw))

    def score(rows: np.ndarray) -> torch.Tensor:
        logits = teacher(torch.from_numpy(prepare(raw[rows]))).float()
        if progress:
            progress(len(logits))
        return logits

    return in_row_order(score, order, batch_size)


def taught(
    teacher: nn.Module,
    prepare: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    unlabelled_x: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
    """Labelled samples and unlabelled ones -> (all raw samples, their labels with UNLABELLED for the unlabelled,
    the teacher's logits over all of them)."""
    raw = np.concatenate([x, unlabelled_x]) if len(unlabelled_x) else x
    labels = np.concatenate([y, np.full(len(unlabelled_x), UNLABELLED, np.int64)])
    return raw, labels, teacher_logits(teacher, prepare, raw)


class SoftLabelLoss:
    """A ``fit`` loss_fn over index targets: (1 - weight) * CE(student, label) on labelled samples
    + weight * T^2 * KL(softmax(teacher / T) || softmax(student / T)) on all of them (Hinton et al.)."""

    def __init__(self, logits: torch.Tensor, labels: np.ndarray, temperature: float, weight: float):
        if len(logits) != len(labels):
            raise ValueError(f"{len(logits)} teacher logits for {len(labels)} labels")
        self.soft = torch.softmax(logits / temperature, dim=1)  # (N, C)
        self.labels = torch.from_numpy(np.asarray(labels, np.int64))
        self.temperature, self.weight = temperature, weight

    def __call__(self, student: torch.Tensor, x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:  # student (B, C)
        idx = idx.cpu()
        soft, y = self.soft[idx].to(student.device), self.labels[idx].to(student.device)
        t = self.temperature
        kd = nn.functional.kl_div(torch.log_softmax(student / t, dim=1), soft, reduction="batchmean")
        known = (y != UNLABELLED).to(student.dtype)
        ce = (nn.functional.cross_entropy(student, y.clamp(min=0), reduction="none") * known).sum() / len(y)
        return (1 - self.weight) * ce + self.weight * t**2 * kd
