"""Structured pruning that physically removes channels and heads: the entry point over torch-pruning.

    model = prune(model, example, PruneSettings(target="macs", ratio=0.5))   # half the MACs gone

torch-pruning's dependency graph finds every layer coupled to a channel (residual adds, concatenation,
depthwise and grouped convs, BatchNorm/LayerNorm, attention heads) and removes the channel everywhere.
Its ``pruning_ratio`` is a *channel* ratio; a MACs or parameter target is reached here by searching that
ratio on copies of the model and measuring each copy with ``tp.utils.count_ops_and_params``, so the
reported reduction is measured, not predicted. ``steps > 1`` reaches the target in equal slices of the
target quantity, with an optional ``between(model, step)`` hook (recovery fine-tuning) after each slice
but the last. The pieces, one idea each: prune_adapter (settings, counting, the one torch-pruning call),
prune_heads (attention-head surgery), prune_failure (what broke, and where), prune_search (the ratio search).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from edgekit.torchkit.importance import IMPORTANCE
from edgekit.torchkit.prune_adapter import TARGETS, PruneSettings, count, prune_once, resolve_ignored, widths
from edgekit.torchkit.prune_failure import PruneError, check_runs
from edgekit.torchkit.prune_search import search
from edgekit.torchkit.reshape import sync_hf_config

# the pruning vocabulary callers import from here (the entry point); the pieces live in the modules above
__all__ = ["TARGETS", "PruneError", "PruneResult", "PruneSettings", "count", "prune", "widths"]


@dataclass
class PruneResult:
    model: nn.Module
    macs: tuple[int, int]  # before, after (per sample)
    params: tuple[int, int]
    layers: dict[str, tuple[int, int]]  # prunable layer -> output width before, after
    ignored: list[str] = field(default_factory=list)


def prune(
    model: nn.Module,
    example: torch.Tensor,
    s: PruneSettings,
    grad_fn: Callable[[nn.Module], None] | None = None,
    between: Callable[[nn.Module, int], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> PruneResult:
    """Prune ``model`` (it may be replaced by a pruned copy: use ``result.model``).

    ``example``: a real input batch (B >= 1) for tracing. ``grad_fn(model)`` fills ``.grad`` (needed by
    Taylor importance). ``between(model, step)`` runs after every step but the last (recovery)."""
    if s.importance not in IMPORTANCE:
        raise PruneError("importance", f"unknown importance '{s.importance}'; choose one of {', '.join(IMPORTANCE)}")
    if s.target not in TARGETS:
        raise PruneError("target", f"unknown target '{s.target}'; choose one of {', '.join(TARGETS)}")
    if not 0 < s.ratio < 1:
        raise PruneError("ratio", f"must be between 0 and 1 (exclusive), got {s.ratio}")
    model.eval()
    ignored = resolve_ignored(model, s.ignore, s.ignore_classifier)
    check_runs(model, example, pruned=False)
    macs0, params0 = count(model, example)
    widths0 = widths(model)
    base = {"macs": macs0, "params": params0}.get(s.target)
    for step in range(1, s.steps + 1):
        done = s.ratio * step / s.steps  # share of the target removed after this step
        if s.importance == "taylor":
            if grad_fn is None:
                raise PruneError("importance", "taylor importance needs gradients from data, none given")
            model.zero_grad(set_to_none=True)
            grad_fn(model)
        if s.target == "channels":
            # torch-pruning's ratio is relative to the current widths: convert the cumulative schedule
            prev = s.ratio * (step - 1) / s.steps
            prune_once(model, example, s, 1 - (1 - done) / (1 - prev), ignored)
        else:
            model = search(model, example, s, ignored, int(base * (1 - done)), base)
        model.zero_grad(set_to_none=True)
        if log:
            macs, params = count(model, example)
            log(f"step {step}/{s.steps}: MACs {macs / macs0:.1%}, params {params / params0:.1%} of the original")
        if between is not None and step < s.steps:
            between(model, step)
    sync_hf_config(model)
    macs1, params1 = count(model, example)
    after = widths(model)
    layers = {n: (w, after[n]) for n, w in widths0.items() if n in after}
    return PruneResult(model.eval(), (macs0, macs1), (params0, params1), layers, ignored)
