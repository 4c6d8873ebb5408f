"""Knowledge distillation as a ``fit`` loss_fn (the train stage's ``distill:`` and its DDP workers)."""

from __future__ import annotations

import torch
from torch import nn


def distillation_loss(teacher: nn.Module, temperature: float, weight: float, label_smoothing: float = 0.0):
    """Hinton et al.'s knowledge distillation as a ``fit`` loss_fn:
    (1 - weight) * CE(student, y) + weight * T^2 * KL(softmax(teacher / T) || softmax(student / T)).

    The teacher sees the same (augmented) batch as the student, in eval mode, without gradients."""
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    ce = nn.CrossEntropyLoss(label_smoothing=label_smoothing)

    def loss(logits: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # logits (B, classes)
        with torch.no_grad():
            soft = torch.softmax(teacher(x) / temperature, dim=1)
        kd = nn.functional.kl_div(torch.log_softmax(logits / temperature, dim=1), soft, reduction="batchmean")
        return (1 - weight) * ce(logits, y) + weight * temperature**2 * kd

    return loss
