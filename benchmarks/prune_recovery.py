"""Why a pruned mobile network falls short of its parent, and what recovery buys back (issue 27).

    PYTHONPATH=. python benchmarks/prune_recovery.py                       # mnasnet0_5, Fashion-MNIST 40x40 folder
    PYTHONPATH=. python benchmarks/prune_recovery.py --arch mobilenet_v3_small --variants l2 l2+se l2@4

One parent is trained (cached in --work), then each variant prunes a copy of it to --ratio of the MACs (half)
with edgekit's adapter (edgekit.torchkit.pruning, round_to 8 as the prune stage picks on AVX2), recomputes
BatchNorm statistics (what the prune stage does) and recovers with the mobile benchmark's distillation (T 4,
weight 0.5, lr 2e-3).
Printed per variant: MACs share, test accuracy right after pruning, after BN recalibration, after recovery, and
the drop from the parent. The control ``none`` recovers the unpruned parent the same way (what the extra
epochs alone are worth). Exit 1 when no pruned variant ends within --budget pt of the parent.

Variant grammar: parts joined by '+', then '@EPOCHS' for the recovery length:
    l2 | l1 | taylor | fpgm | lamp   the importance criterion (default l2)
    global                           rank channels model-wide (max_layer_ratio 0.8)
    se                               keep squeeze-excite bottlenecks (every SqueezeExcitation's fc1) whole
    noround                          no channel rounding
    none                             do not prune (control)
Accuracy here does not depend on the machine's speed; the run takes ~5 min per variant on a shared 2-core VM."""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from mobile_data import digits_folder, fashion_folder  # noqa: E402

DATA = {"digits": digits_folder, "fashion": fashion_folder}
RECIPE = """edgekit: 1
name: prune-recovery
seed: 0
data: {{source: imagefolder:{data}, val_fraction: 0.1}}
model: {{source: torchvision:{arch}, stem_stride: {stem}}}
stages:
  - {{id: train, kind: train, epochs: 1}}
"""


def settings_of(variant: str, model: nn.Module, ratio: float = 0.5):
    from edgekit.torchkit.pruning import PruneSettings

    s = PruneSettings(target="macs", ratio=ratio, importance="l2", round_to=8)
    for part in variant.split("@")[0].split("+"):
        if part == "global":
            s = replace(s, scope="global", max_layer_ratio=0.8)
        elif part == "se":
            fc1 = [n + ".fc1" for n, m in model.named_modules() if type(m).__name__ == "SqueezeExcitation"]
            s = replace(s, ignore=tuple(fc1))
        elif part == "noround":
            s = replace(s, round_to=None)
        elif part != "none":
            s = replace(s, importance=part)
    return s


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="mnasnet0_5")
    ap.add_argument("--data", choices=list(DATA), default="fashion")
    ap.add_argument("--stem-stride", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=6, help="parent training epochs")
    ap.add_argument("--recover", type=int, default=2, help="recovery epochs of a variant without '@N'")
    ap.add_argument("--variants", nargs="+", default=["none", "l2", "taylor", "global", "fpgm", "l2@4"])
    ap.add_argument("--ratio", type=float, default=0.5, help="share of the MACs each variant removes")
    ap.add_argument("--budget", type=float, default=0.5, help="accuracy points a pruned variant may lose")
    ap.add_argument("--work", type=Path, default=ROOT / "runs" / "prune-recovery")
    args = ap.parse_args()

    from edgekit.data import load_dataset
    from edgekit.recipe.read import load
    from edgekit.torchkit.models import build_model
    from edgekit.torchkit.pruning import PruneResult, count, prune
    from edgekit.torchkit.training import (
        TrainSettings,
        batches,
        distillation_loss,
        evaluate,
        example_batch,
        fit,
        recalibrate_bn,
    )

    torch.set_num_threads(1)
    work = args.work.resolve()
    DATA[args.data](work / args.data)
    recipe = work / f"{args.arch}-{args.data}.yaml"
    recipe.write_text(RECIPE.format(data=args.data, arch=args.arch, stem=args.stem_stride))
    ds = load_dataset(load(recipe).recipe.data, 0, work)
    classes = int(ds.train.y.max()) + 1
    model = build_model({"source": f"torchvision:{args.arch}", "stem_stride": args.stem_stride}, classes, 3)
    cached = work / f"{args.arch}-{args.data}-s{args.stem_stride}-e{args.epochs}.pt"
    if cached.is_file():
        model.load_state_dict(torch.load(cached))
    else:
        fit(model, ds.train, ds.val, ds.mean, ds.std, TrainSettings(args.epochs, 4e-3, 64), label="parent")
        recalibrate_bn(model, ds.train, ds.mean, ds.std)
        torch.save(model.state_dict(), cached)
    model.eval()
    example = example_batch(ds.preprocess(), ds.val)
    parent = evaluate(model, ds.test, ds.mean, ds.std)
    print(f"{args.arch} on {args.data} ({len(ds.train)} train / {len(ds.test)} test): parent {parent:.2%}", flush=True)

    def gradients(m: nn.Module) -> None:  # Taylor importance, as the prune stage computes it
        m.train()
        for x, y in batches(ds.train.take(np.arange(min(512, len(ds.train)))), 128, ds.mean, ds.std):
            nn.functional.cross_entropy(m(x), y).backward()
        m.eval()

    rows = {}
    for v in args.variants:
        t0, s = time.time(), settings_of(v, model, args.ratio)
        epochs = int(v.split("@")[1]) if "@" in v else args.recover
        m = copy.deepcopy(model)
        if v.split("@")[0] == "none":
            c = count(m, example)
            r = PruneResult(m, (c[0], c[0]), (c[1], c[1]), {})
        else:
            r = prune(m, example, s, grad_fn=gradients)
        raw = evaluate(r.model, ds.test, ds.mean, ds.std)
        recalibrate_bn(r.model, ds.train, ds.mean, ds.std)
        bn = evaluate(r.model, ds.test, ds.mean, ds.std)
        loss = distillation_loss(copy.deepcopy(model), 4.0, 0.5)
        fit(r.model, ds.train, ds.val, ds.mean, ds.std, TrainSettings(epochs, 2e-3, 64), loss_fn=loss, label=v)
        after = evaluate(r.model, ds.test, ds.mean, ds.std)
        rows[v] = {
            "macs": round(r.macs[1] / r.macs[0], 3),
            "pruned": raw,
            "bn": bn,
            "recovered": after,
            "drop_pt": round((parent - after) * 100, 2),
            "epochs": epochs,
            "seconds": round(time.time() - t0),
        }
        print(f"{v}: {json.dumps(rows[v])}", flush=True)

    print(
        f"\n{'variant':<14} {'MACs':>5} {'pruned':>7} {'+BN':>7} {'recovered':>9} {'drop pt':>8}  (parent {parent:.2%})"
    )
    for v, r in rows.items():
        print(f"{v:<14} {r['macs']:5.2f} {r['pruned']:7.2%} {r['bn']:7.2%} {r['recovered']:9.2%} {r['drop_pt']:+8.2f}")
    pruned = [r["drop_pt"] for v, r in rows.items() if v.split("@")[0] != "none"]
    ok = bool(pruned) and min(pruned) <= args.budget
    print(
        f"{'PASS' if ok else 'FAIL'}: best pruned variant drop {min(pruned, default=float('nan')):.2f} pt "
        f"(budget {args.budget} pt; {len(ds.test)} test images: 1 image = {100 / len(ds.test):.2f} pt)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
