"""Reaching a MACs or parameter target: torch-pruning takes a channel ratio, so the ratio is searched on copies of
the model and each copy is measured (``tp.utils.count_ops_and_params``): the reduction reported is measured, not
predicted.

    pruned = search(model, example, settings, ignored, goal=int(macs0 * 0.5), base=macs0)
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from edgekit.torchkit.prune_adapter import PruneSettings, count, prune_once, widths
from edgekit.torchkit.prune_failure import PruneError

_SEARCH_TOLERANCE = 0.004  # channel-ratio resolution of the MACs/params search
_GOAL_SLACK = 0.01  # a result within 1 % below the goal is close enough
_MAX_TRIALS = 12


def _measure(model: nn.Module, example: torch.Tensor, target: str) -> int:
    macs, params = count(model, example)
    return macs if target == "macs" else params


def search(model: nn.Module, example, s: PruneSettings, ignored: list[str], goal: int, base: int) -> nn.Module:
    """The least-pruned copy whose measured MACs/params are at most ``goal``.

    Searches the channel ratio r by regula falsi on sqrt(value): a conv's MACs and parameters scale with
    (1 - r)^2, so sqrt(value) is nearly linear in r and 2-4 trials usually land within 1 % of the goal."""
    before = widths(model)

    def trial(r: float) -> tuple[nn.Module, int, bool]:
        """(pruned copy, its MACs/params, whether every layer kept its max_layer_ratio)."""
        m = copy.deepcopy(model)
        for src, dst in zip(model.parameters(), m.parameters()):  # deepcopy drops .grad; Taylor needs it
            dst.grad = None if src.grad is None else src.grad.clone()
        prune_once(m, example, s, r, ignored)
        # torch-pruning rounds a layer's kept width *down* to round_to after applying its max ratio, so a rounded
        # layer can lose more than max_layer_ratio (256 channels at 0.9 keep 25.6 -> 16): such a copy is too far
        ok = not s.round_to or all(
            w >= int(before[n] * (1 - s.max_layer_ratio)) for n, w in widths(m).items() if n in before
        )
        return m, _measure(m, example, s.target), ok

    hi = s.max_layer_ratio
    best, v_hi, ok = trial(hi)
    if (v_hi > goal or not ok) and s.round_to:
        # with rounding, MACs stop falling with the ratio (small layers rounded to zero are left unpruned) and high
        # ratios break max_layer_ratio: look for a reachable, valid ratio below
        for r in (0.8, 0.7, 0.6, 0.5, 0.4, 0.3):
            if r < hi:
                m, v, good = trial(r)
                if v <= goal and good:
                    best, v_hi, hi, ok = m, v, r, True
                    break
    if v_hi > goal or not ok:
        what = "MACs" if s.target == "macs" else "parameters"
        most = f"at most {1 - v_hi / base:.1%}" if ok else "not"
        raise PruneError(
            "ratio",
            f"cannot remove {s.ratio:.0%} of the {what}: {most} with max_layer_ratio "
            f"{s.max_layer_ratio}{f', round_to {s.round_to}' if s.round_to else ''} and "
            f"{len(ignored)} ignored layer(s)",
        )
    lo, v_lo = 0.0, _measure(model, example, s.target)
    for _ in range(_MAX_TRIALS):
        if hi - lo <= _SEARCH_TOLERANCE or v_hi >= goal * (1 - _GOAL_SLACK):
            break
        y_lo, y_hi, y = v_lo**0.5, v_hi**0.5, goal**0.5
        r = lo + (y_lo - y) / max(y_lo - y_hi, 1e-12) * (hi - lo)
        r = min(max(r, lo + 0.05 * (hi - lo)), hi - 0.05 * (hi - lo))  # stay inside the bracket, keep shrinking it
        m, v, good = trial(r)
        if v <= goal and good:
            best, hi, v_hi = m, r, v
        elif v <= goal:  # reached the goal only by over-pruning a layer: the answer lies below r
            hi = r
        else:
            lo, v_lo = r, v
    return best
