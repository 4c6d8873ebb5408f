"""``target: latency``: prune to a share of the parent's p50 measured here, not a share of MACs.

    result, speed = prune_to_latency(parent, example, replace(settings, ratio=0.5), roundings=(None, 8, 16))

A grid of MACs shares x channel roundings is pruned (shapes only) and timed against the parent in one bench run
(edgekit.torchkit.prune_speed), the ratios are smoothed per rounding, and the least pruning that reaches the
target is kept.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from edgekit.decide.noise import clearly_slower
from edgekit.torchkit.prune_speed import label, shapes, timed


def latency_grid(max_layer_ratio: float, points: int = 5) -> list[float]:
    """MACs shares to remove, probed first for ``target: latency``: from 10 % up to what layer-wise pruning can reach.
    Latency is not proportional to MACs: at batch 1 on small maps, weight bytes and per-op costs weigh as much
    (ResNet-18 on 28x28, 40 % of MACs removed with round_to 8: 0.38x the p50), so the grid spans the whole range."""
    hi = max(0.1, min(0.9, 1 - (1 - max_layer_ratio) ** 2))  # MACs scale with in x out channels
    return sorted({round(0.1 + (hi - 0.1) * i / (points - 1), 3) for i in range(points)})


def smooth(speeds: dict[str, dict], groups: dict[str, str]) -> None:
    """Add ``fitted_ratio`` to each candidate: its measured ratios made non-increasing in the MACs removed, within
    its group (a rounding), by pooling adjacent violators. More pruning at one rounding is not slower, so a ratio
    below a less-pruned neighbour's is noise; pooling them keeps one lucky round from deciding the pick."""
    for group in set(groups.values()):
        names = sorted((k for k in speeds if groups[k] == group), key=lambda k: -speeds[k]["macs_ratio"])
        blocks: list[list[float]] = []  # [sum, count] of pooled ratios, least pruned first
        for k in names:
            blocks.append([speeds[k]["ratio"], 1])
            while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] < blocks[-1][0] / blocks[-1][1]:
                total, n = blocks.pop()
                blocks[-1][0] += total
                blocks[-1][1] += n
        fitted = [total / n for total, n in blocks for _ in range(n)]
        for k, f in zip(names, fitted):
            speeds[k]["fitted_ratio"] = round(f, 4)


def pick_for_latency(speeds: dict[str, dict], want: float) -> tuple[str, bool]:
    """(candidate, met): of the candidates at or under ``want`` x the parent's p50 (their fitted ratio when smoothed,
    else as measured), the one that keeps the most MACs (the least accuracy spent); when none is, the fastest."""
    ratio = {k: v.get("fitted_ratio", v["ratio"]) for k, v in speeds.items()}
    met = [k for k in speeds if ratio[k] <= want]
    if met:
        return max(met, key=lambda k: (speeds[k]["macs_ratio"], -ratio[k])), True
    return min(speeds, key=lambda k: (ratio[k], speeds[k]["ratio"])), False


def prune_to_latency(
    parent: nn.Module,
    example: torch.Tensor,
    settings,
    roundings: tuple[int | None, ...],
    grad_fn=None,
    between=None,
    log=None,
    timing: dict | None = None,
):
    """``target: latency``: remove ``settings.ratio`` of the parent's measured p50 here; returns (PruneResult, speed).

    Every MACs share of ``latency_grid`` x every rounding is pruned (shapes only) and timed against the parent in one
    bench run (alternating rounds, so they share the machine's state); the candidate whose ratio, smoothed over its
    rounding's shares (``smooth``), reaches the latency target while keeping the most MACs is kept. The gap below it
    (down to the next grid share) is then probed at three shares with its rounding, in a second run, so the stage
    does not prune far past the target. The kept candidate is re-pruned with every slice when ``settings.steps > 1``.
    None reaches the target: the fastest is kept and ``target_met`` is false. The speed dict is prune_fastest's
    (``chosen``: the rounding; ``macs_ratio``: what the kept one reached), plus chosen_candidate, latency_target (the
    p50 ratio asked), target_met and macs_share_asked (the
    MACs share its prune was asked to remove: a rounding can remove more)."""
    import copy

    from edgekit.torchkit.pruning import PruneError, prune

    want = round(1 - settings.ratio, 4)
    asked: dict[str, tuple[float, int | None]] = {}
    pruned, speeds, skipped = {}, {}, []

    def probe(points: list[tuple[float, int | None]]) -> None:
        names = {f"macs -{share:.1%} round_to {label(r)}": (share, r) for share, r in points}
        asked.update(names)
        got, why = shapes(
            parent,
            example,
            {k: replace(settings, target="macs", ratio=share, steps=1, round_to=r) for k, (share, r) in names.items()},
            grad_fn,
            must="",
        )
        pruned.update(got)
        skipped.extend(why)
        if got:
            speeds.update(timed(parent, got, example, timing))

    grid = latency_grid(settings.max_layer_ratio)
    probe([(share, r) for share in grid for r in roundings])
    if not pruned:
        raise PruneError("ratio", f"no MACs share in {grid} could be pruned ({skipped[0]})")

    def pick() -> tuple[str, bool]:
        smooth(speeds, {k: label(asked[k][1]) for k in speeds})
        return pick_for_latency(speeds, want)

    chosen, met = pick()
    share, r = asked[chosen]
    below = [g for g in grid if g < share]
    if met and below:
        probe([(round(below[-1] + (share - below[-1]) * i / 4, 3), r) for i in (1, 2, 3)])
        chosen, met = pick()
        share, r = asked[chosen]
    if log:
        log(
            f"latency vs parent (target x{want:.2f}; measured, fitted): "
            + ", ".join(
                f"{k}: x{v['ratio']:.2f}, x{v['fitted_ratio']:.2f} at x{v['macs_ratio']:.2f} MACs"
                for k, v in speeds.items()
            )
            + f" -> {chosen}"
            + ("" if met else " (the fastest: none met the target)")
        )
    final = replace(settings, target="macs", ratio=share, round_to=r)
    result = (
        pruned[chosen]
        if settings.steps == 1
        else prune(copy.deepcopy(parent), example, final, grad_fn=grad_fn, between=between, log=log)
    )
    speed = {
        **speeds[chosen],
        "chosen": label(r),
        "chosen_candidate": chosen,
        "candidates": speeds,
        "skipped": skipped,
        "latency_target": want,
        "target_met": met,
        "macs_share_asked": share,
    }
    speed["slower_than_parent"] = clearly_slower(speed["ratio"], speed["min"])
    return result, speed
