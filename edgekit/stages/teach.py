"""Teaching: a teacher model scores the training samples once, and a student learns from its soft labels.

The one distillation over unlabelled data that the train stage (``distill: {teacher: ID, unlabelled: N}``) and
the distill stage (``kind: distill``) share: the same draw of extra training samples (``data.unlabelled``), the
same teacher pass (``torchkit.soft_labels.taught``) and the same loss, with one temperature default.

    got = teach(ctx, teacher_dir, ds, unlabelled=1000, temperature=4.0, weight=0.7, error=bad_unlabelled)
    got.raw, got.labels, got.logits   # (N + U,) inputs, labels (UNLABELLED for the U extras), (N + U, C) logits
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# softmax temperature of teacher and student logits when a recipe gives none (Hinton et al. use 2-20; 4 is what
# this project's recipes use to recover a pruned model)
DEFAULT_TEMPERATURE = 4.0
DEFAULT_WEIGHT = 0.7  # share of the distillation term; the rest is cross-entropy on labels


@dataclass
class Taught:
    raw: Any  # the training inputs, labelled then unlabelled, as the dataset holds them (texts or images)
    labels: Any  # (N + U,) int64: the labels, then UNLABELLED for each unlabelled sample
    logits: Any  # (N + U, C) float32 torch tensor: the teacher's logits for every sample
    loss: Any  # SoftLabelLoss over index targets (each batch's targets are indices into ``logits``)
    labelled: int
    unlabelled: int


def teach(
    ctx, teacher_dir: Path, ds, unlabelled: int, temperature: float, weight: float, error: Callable[[str], Exception]
) -> Taught:
    """The teacher stored in ``teacher_dir`` scores ``ds.train`` and ``unlabelled`` more training samples from
    beyond ``data.limit_train``. ``error(message)`` builds the recipe error for a bad ``unlabelled`` count."""
    from edgekit.data.unlabelled import draw_unlabelled
    from edgekit.runtime.preprocess import prepare
    from edgekit.torchkit.models import load_model
    from edgekit.torchkit.soft_labels import SoftLabelLoss, taught

    try:
        extra_x = draw_unlabelled(ctx.recipe.data, ctx.recipe.seed, ctx.loaded.file.parent, ds, unlabelled)
    except ValueError as e:
        raise error(str(e)) from None
    teacher, meta = load_model(teacher_dir)
    ctx.console.print(f"  teacher scores {len(ds.train)} labelled + {len(extra_x)} unlabelled samples")
    raw, labels, logits = taught(teacher, lambda b: prepare(meta["preprocess"], b), ds.train.x, ds.train.y, extra_x)
    del teacher  # its memory is needed for the student
    return Taught(raw, labels, logits, SoftLabelLoss(logits, labels, temperature, weight), len(ds.train), len(extra_x))
