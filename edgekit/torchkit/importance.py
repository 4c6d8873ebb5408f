"""The channel-importance criteria the prune stage offers, by name: the one vocabulary (the recipe's Literal is
derived from it). Torch-free to import, so recipe validation stays light; ``make`` imports torch-pruning.

    make("l2")      # torch_pruning.importance.GroupMagnitudeImportance(p=2)
"""

from __future__ import annotations

# name -> factory over the torch_pruning.importance module
CRITERIA = {
    "l1": lambda imp: imp.GroupMagnitudeImportance(p=1),
    "l2": lambda imp: imp.GroupMagnitudeImportance(p=2),
    "taylor": lambda imp: imp.GroupTaylorImportance(),  # |w * dL/dw|: needs gradients from data
    "bn-scale": lambda imp: imp.BNScaleImportance(),
    "lamp": lambda imp: imp.LAMPImportance(p=2),
    "fpgm": lambda imp: imp.FPGMImportance(p=2),
    "random": lambda imp: imp.RandomImportance(),
}
IMPORTANCE = tuple(CRITERIA)


def make(name: str):
    """A fresh torch-pruning importance object for ``name`` (one of IMPORTANCE)."""
    import torch_pruning as tp

    return CRITERIA[name](tp.importance)
