"""Is the pruned model faster on this machine? Measured, not assumed: both exported, timed in alternating rounds.

    speeds = measure_speed(parent, {"none": a, "8": b, "16": c}, example)   # name -> {"ratio": 0.58, ...}

Fewer MACs do not make a float model faster by themselves: ONNX Runtime's CPU kernels work on channel blocks
(8 floats for AVX2, 16 for AVX-512; MLAS's NCHWc layout), so a layer pruned to 45 channels can run slower than
its 64-channel parent — a pruned MobileNetV3-Small on 32x32 digits measured 1.9x slower than unpruned with odd
widths and 0.57x with widths rounded to 8 (same 40 % of MACs removed). The prune stage therefore measures its
candidates (channel rounding none / 8 / 16 by default) against the parent with the bench harness, keeps the
fastest, and records the speed-up it measured.

Each model is exported with the same exact fixed-size pass the export stage applies (edgekit.runtime.fixed_size),
so what is timed is what the export stage will write.

``target: latency`` (prune_to_latency) asks for a share of the parent's measured p50 instead of a share of MACs: a grid
of MACs shares x roundings is timed in one run, and the least pruning that reaches the target is kept."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from edgekit.decide.noise import clearly_slower

AUTO_ROUND_TO = (None, 8, 16)  # channel roundings tried by round_to: auto (8: AVX2's 8 floats, 16: AVX-512's)
# A few seconds for all candidates together: enough rounds that the per-round ratios bound the comparison.
SPEED_SETTINGS = dict(warmup_runs=10, warmup_seconds=0.2, min_runs=100, min_seconds=1.0, rounds=5, round_warmup=2)


def _export(model: nn.Module, example: torch.Tensor, path: Path) -> None:
    import onnx

    from edgekit.runtime.fixed_size import crop_padding_taps
    from edgekit.torchkit.export import export_onnx

    # the legacy exporter takes ~1 s where dynamo takes ~10; after ORT's graph optimisation both run the same kernels
    try:
        export_onnx(model, example, path, opset=17, exporter="legacy")
    except Exception:  # noqa: BLE001 — a model only the dynamo exporter handles
        export_onnx(model, example, path, opset=18, exporter="dynamo")
    m = onnx.load(str(path))
    if crop_padding_taps(m).convs_cropped:
        onnx.save(m, str(path))


def measure_speed(
    parent: nn.Module,
    candidates: dict[str, nn.Module],
    example: torch.Tensor,
    threads: int = 1,
    timing: dict | None = None,
) -> dict[str, dict]:
    """name -> {"p50_ms", "parent_p50_ms", "ratio" (candidate / parent p50), "min", "max" (per-round ratios),
    "unstable"}: every candidate and the parent measured in one bench run, alternating rounds, batch 1.
    ``timing``: bench Settings fields to use instead of SPEED_SETTINGS (tests that check structure, not speed, pass
    a few short rounds)."""
    from edgekit.bench import PRESETS, bench

    settings = replace(PRESETS["default"], **(SPEED_SETTINGS if timing is None else timing))
    with tempfile.TemporaryDirectory(prefix="edgekit-prune-speed-") as tmp:
        paths = [Path(tmp) / "parent.onnx"]
        _export(parent, example, paths[0])
        for i, m in enumerate(candidates.values()):
            paths.append(Path(tmp) / f"candidate{i}.onnx")
            _export(m, example, paths[-1])
        run = bench(paths, threads=(threads,), settings=settings, reference=0, peak=False)
    base = run.results[0]
    out = {}
    for name, res in zip(candidates, run.results[1:]):
        ref = res.vs_reference or {}
        out[name] = {
            "p50_ms": round(res.stats.p50, 4),
            "parent_p50_ms": round(base.stats.p50, 4),
            "ratio": round(ref.get("p50_ratio", res.stats.p50 / base.stats.p50), 4),
            "min": round(ref.get("min", 0.0), 4),
            "max": round(ref.get("max", 0.0), 4),
            "unstable": res.unstable + [f"parent: {r}" for r in base.unstable],
        }
    return out


# A rounding lands the MACs/params target in steps of the multiple, often past it. A candidate that removed more than
# this beyond the asked share is faster for the wrong reason (it spent more of the accuracy budget): not compared.
OVERSHOOT = 0.05


def comparable(speeds: dict[str, dict], settings) -> list[str]:
    """Candidates that removed at most ``settings.ratio + OVERSHOOT`` of the target quantity (all of them for a
    channels target, or when none qualifies)."""
    key = f"{settings.target}_ratio"
    fair = [k for k, v in speeds.items() if key not in v or 1 - v[key] <= settings.ratio + OVERSHOOT]
    return fair or list(speeds)


def _label(round_to: int | None) -> str:
    return "none" if round_to is None else str(round_to)


def prune_fastest(
    parent: nn.Module,
    example: torch.Tensor,
    settings,
    candidates: tuple[int | None, ...] | None,
    measure: bool = True,
    grad_fn=None,
    between=None,
    log=None,
    timing: dict | None = None,
):
    """Prune a copy of ``parent`` (left as it is); returns (PruneResult, speed dict or None).

    ``candidates`` (channel roundings, None = off): one shape-only prune per candidate (a single slice, no fine-tuning:
    latency depends on widths, not weights), all timed against the parent in one bench run, the fastest kept
    (re-pruned with every slice when ``settings.steps > 1``). ``candidates=None``: ``settings.round_to`` as given,
    timed against the parent when ``measure``. The speed dict: p50_ms, parent_p50_ms, ratio (pruned / parent), min/max
    of the per-round ratios, unstable, slower_than_parent (edgekit.decide.noise.clearly_slower), and with candidates:
    chosen, candidates (each one's figures), skipped (roundings torch-pruning could not apply, or that overshot the
    target by more than OVERSHOOT: those are timed but not chosen)."""
    import copy

    from edgekit.torchkit.pruning import prune

    if candidates is None:
        result = prune(copy.deepcopy(parent), example, settings, grad_fn=grad_fn, between=between, log=log)
        if not measure:
            return result, None
        name = _label(settings.round_to)
        speed = measure_speed(parent, {name: result.model}, example, timing=timing)[name]
    else:
        pruned, skipped = _shapes(
            parent,
            example,
            {_label(r): replace(settings, steps=1, round_to=r) for r in candidates},
            grad_fn,
            must=_label(candidates[0]),
        )
        skipped = [f"round_to {s}" for s in skipped]
        speeds = _timed(parent, pruned, example, timing)
        fair = comparable(speeds, settings)
        chosen = min(fair, key=lambda k: speeds[k]["ratio"])
        skipped += [
            f"round_to {k}: removes {1 - speeds[k][f'{settings.target}_ratio']:.0%} of the {settings.target}, more "
            f"than {settings.ratio:.0%} + {OVERSHOOT:.0%}"
            for k in speeds
            if k not in fair
        ]
        if log:
            log(
                "latency vs parent: "
                + ", ".join(
                    f"round_to {k} x{v['ratio']:.2f}"
                    + (
                        ""
                        if k in fair
                        else f" (not compared: removes "
                        f"{1 - v[f'{settings.target}_ratio']:.0%} of the {settings.target})"
                    )
                    for k, v in speeds.items()
                )
                + f" -> round_to {chosen}"
            )
        if settings.steps == 1:
            result = pruned[chosen]
        else:
            result = prune(
                copy.deepcopy(parent),
                example,
                replace(settings, round_to=None if chosen == "none" else int(chosen)),
                grad_fn=grad_fn,
                between=between,
                log=log,
            )
        speed = {**speeds[chosen], "chosen": chosen, "candidates": speeds, "skipped": skipped}
    speed["slower_than_parent"] = clearly_slower(speed["ratio"], speed["min"])
    return result, speed


def _shapes(parent: nn.Module, example: torch.Tensor, settings: dict, grad_fn, must: str):
    """(name -> PruneResult, skipped): one shape-only prune of a copy of ``parent`` per named setting. A setting
    torch-pruning cannot apply (e.g. a rounding that freezes a grouped conv) is skipped with its reason, except
    ``must``'s."""
    import copy

    from edgekit.torchkit.pruning import PruneError, prune

    pruned, skipped = {}, []
    for name, s in settings.items():
        try:
            pruned[name] = prune(copy.deepcopy(parent), example, s, grad_fn=grad_fn)
        except PruneError as e:
            if name == must:
                raise
            skipped.append(f"{name}: {e.message}")
    return pruned, skipped


def _timed(parent: nn.Module, pruned: dict, example: torch.Tensor, timing: dict | None = None) -> dict[str, dict]:
    """measure_speed over PruneResults, with the MACs and params each reached (a rounding moves them in steps)."""
    speeds = measure_speed(parent, {k: c.model for k, c in pruned.items()}, example, timing=timing)
    for k, c in pruned.items():
        speeds[k]["macs_ratio"] = round(c.macs[1] / c.macs[0], 4)
        speeds[k]["params_ratio"] = round(c.params[1] / c.params[0], 4)
    return speeds


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
        names = {f"macs -{share:.1%} round_to {_label(r)}": (share, r) for share, r in points}
        asked.update(names)
        got, why = _shapes(
            parent,
            example,
            {k: replace(settings, target="macs", ratio=share, steps=1, round_to=r) for k, (share, r) in names.items()},
            grad_fn,
            must="",
        )
        pruned.update(got)
        skipped.extend(why)
        if got:
            speeds.update(_timed(parent, got, example, timing))

    grid = latency_grid(settings.max_layer_ratio)
    probe([(share, r) for share in grid for r in roundings])
    if not pruned:
        raise PruneError("ratio", f"no MACs share in {grid} could be pruned ({skipped[0]})")

    def pick() -> tuple[str, bool]:
        smooth(speeds, {k: _label(asked[k][1]) for k in speeds})
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
        "chosen": _label(r),
        "chosen_candidate": chosen,
        "candidates": speeds,
        "skipped": skipped,
        "latency_target": want,
        "target_met": met,
        "macs_share_asked": share,
    }
    speed["slower_than_parent"] = clearly_slower(speed["ratio"], speed["min"])
    return result, speed
