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

``target: latency`` is edgekit.torchkit.prune_latency: the same candidates, timed on a grid of MACs shares.
"""

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


def label(round_to: int | None) -> str:
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
        name = label(settings.round_to)
        speed = measure_speed(parent, {name: result.model}, example, timing=timing)[name]
    else:
        pruned, skipped = shapes(
            parent,
            example,
            {label(r): replace(settings, steps=1, round_to=r) for r in candidates},
            grad_fn,
            must=label(candidates[0]),
        )
        skipped = [f"round_to {s}" for s in skipped]
        speeds = timed(parent, pruned, example, timing)
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


def shapes(parent: nn.Module, example: torch.Tensor, settings: dict, grad_fn, must: str):
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


def timed(parent: nn.Module, pruned: dict, example: torch.Tensor, timing: dict | None = None) -> dict[str, dict]:
    """measure_speed over PruneResults, with the MACs and params each reached (a rounding moves them in steps)."""
    speeds = measure_speed(parent, {k: c.model for k, c in pruned.items()}, example, timing=timing)
    for k, c in pruned.items():
        speeds[k]["macs_ratio"] = round(c.macs[1] / c.macs[0], 4)
        speeds[k]["params_ratio"] = round(c.params[1] / c.params[0], 4)
    return speeds
