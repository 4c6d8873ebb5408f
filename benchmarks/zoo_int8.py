"""The zoo's INT8 column after issue 27: per architecture, what edgekit's quantize stage KEPT (after its accuracy
ladder, its placement race and its keep-float decision) against its float parent, next to the ladder's first rung
(what edgekit shipped before: per-channel U8S8, no race).

    PYTHONPATH=. python benchmarks/zoo_int8.py --work /tmp/zoo-int8 mobilenet_v3_small resnet18
    PYTHONPATH=. python benchmarks/zoo_int8.py --input-size 96 mobilenet_v3_small   # resized inside the model

Each architecture: a short run (benchmarks/_quick_runs.py: Fashion-MNIST 28x28, the default recipe's data, 3,000
images (efficientnet_b0 1,000), 1 epoch, export, quantize within 0.5 pt), then one alternating edgekit.bench run
over every file (batch 1, 1 thread, 5 rounds). Accuracy on the run's 1,000 test images. Exit 1 when an architecture
ships an INT8 file clearly slower than its float parent (every round, by over 5 %), or when one of the mobile nets
misses INT8/float <= 0.8x (float kept counts as 1.00x: the target is a faster INT8, not a float copy)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks"), str(ROOT / "tests")]

import numpy as np  # noqa: E402

import _quick_runs  # noqa: E402
from edgekit.bench.stats import ratio_with_spread  # noqa: E402
from edgekit.decide.noise import clearly_slower  # noqa: E402

ARCHS = ("resnet18", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "squeezenet1_1")
TARGET = {"mobilenet_v2": 0.8, "mobilenet_v3_small": 0.8, "efficientnet_b0": 0.8, "squeezenet1_1": 0.8}


def files(run) -> dict[str, Path]:
    from mobile import before_file  # the ladder's first rung on the same calibration samples

    return {
        "float": run.dirs["export"] / "model.onnx",
        "before": before_file(run.run_dir, run.dirs["export"], run.loaded, run.ds),
        "after": run.dirs["int8"] / "model.onnx",
    }


def row(arch: str, run, paths: dict[str, Path], rounds: dict[str, list]) -> dict:
    t = run.trials()
    chosen = next(x for x in t["trials"] if x["trial"] == t["chosen_trial"])
    x, y = run.test_set()
    acc = {k: _quick_runs.accuracy(p, x, y) for k, p in paths.items()}
    vs = {k: ratio_with_spread(rounds[k], rounds["float"]) for k in ("before", "after")}
    prof = t.get("profile") or {}
    return {
        "arch": arch,
        "kept": t["kept"],
        "chosen": f"trial {chosen['trial']}: {chosen['label']}",
        "race": [(x["trial"], x["label"], x["speed"]) for x in t["trials"] if x.get("speed")],
        "notes": t["notes"],
        "accuracy": acc,
        "vs_float": vs,
        "size_ratio": paths["after"].stat().st_size / paths["float"].stat().st_size,
        "float_p50_ms": float(np.median(np.concatenate(rounds["float"]))),
        "profile": prof,
    }


def verdicts(r: dict) -> list[str]:
    """Misses for one row: INT8 shipped though clearly slower than float; a mobile net's after-ratio over target."""
    out = []
    after = r["vs_float"]["after"]
    if r["kept"] != "float" and clearly_slower(after["p50_ratio"], after["min"]):
        out.append(f"{r['arch']}: ships INT8 at {after['p50_ratio']:.2f}x its float parent's p50")
    limit = TARGET.get(r["arch"])
    if limit is not None and after["p50_ratio"] > limit:
        out.append(f"{r['arch']}: INT8/float p50 after {after['p50_ratio']:.2f}x > {limit}x ({r['kept']} kept)")
    return out


def table(rows: list[dict]) -> str:
    out = [
        "| arch | fp32 acc | kept | INT8/float p50 before | INT8/float p50 after [rounds] | size after | acc after |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        b, a = r["vs_float"]["before"], r["vs_float"]["after"]
        out.append(
            f"| {r['arch']} | {r['accuracy']['float']:.1%} | {r['kept']} ({r['chosen']}) | {b['p50_ratio']:.2f}× | "
            f"{a['p50_ratio']:.2f}× [{a['min']:.2f}–{a['max']:.2f}] | {r['size_ratio']:.2f}× | "
            f"{r['accuracy']['after']:.1%} |"
        )
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("archs", nargs="*", default=list(ARCHS), help=f"of {', '.join(_quick_runs.MODELS)}")
    ap.add_argument("--input-size", type=int, default=None, help="resize to this side inside the model")
    ap.add_argument("--work", type=Path, default=ROOT / "runs" / "zoo-int8")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    unknown = [a for a in args.archs if a not in _quick_runs.MODELS]
    if unknown:
        print(f"error: unknown architecture(s) {', '.join(unknown)}; known: {', '.join(_quick_runs.MODELS)}")
        return 2
    from edgekit.quant.profile import summary

    load0 = os.getloadavg()[0]
    runs = {a: _quick_runs.shrink(args.work.resolve() / a, a, args.input_size) for a in args.archs}
    paths = {a: files(run) for a, run in runs.items()}
    order = [(a, k) for a in args.archs for k in paths[a]]
    timed = dict(zip(order, _quick_runs.time_rounds([paths[a][k] for a, k in order], args.rounds)))
    rows = [row(a, runs[a], paths[a], {k: timed[a, k] for k in paths[a]}) for a in args.archs]
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    print(table(rows))
    print(f"input {args.input_size or 28} px; load average {load0:.1f} at start, {os.getloadavg()[0]:.1f} at end")
    misses = [m for r in rows for m in verdicts(r)]
    for r in rows:
        for kind, p in r["profile"].items():
            print(f"  {r['arch']} {kind}: {summary(p, 4)}")
    for m in misses:
        print(f"MISS  {m}")
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
