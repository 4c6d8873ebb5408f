"""The card on mobile architectures (issue 27): train to convergence, prune + recover, INT8, ship, then time it.

    PYTHONPATH=. python benchmarks/mobile.py                                  # 3 archs on digits + mv3 on fashion
    PYTHONPATH=. python benchmarks/mobile.py --archs mobilenet_v3_small --data digits --work runs/mobile
    PYTHONPATH=. python benchmarks/mobile.py --archs mobilenet_v3_small --fashion-arch "" --prune-ratio 0.75

Per (architecture, image folder): tests/mobile_data.py writes the folder (sklearn digits 32x32 RGB, or 3,000
Fashion-MNIST images 40x40 RGB), a recipe like the default one runs through `edgekit shrink` (train ->
export -> prune 50 % MACs -> recover with distillation -> export -> INT8 of both -> evaluate -> ship), and one
alternating `edgekit.bench` run (5 rounds, batch 1, 1 thread) times the fp32 export, the INT8 file edgekit made
before issue 27 (the ladder's first rung, no placement race: "before"), the int8 stage's file ("after") and
the shipped file. Accuracy is on the recipe's test split. Exit 1 when a target is missed:

    shipped size <= 1/3 fp32, shipped p50 <= 0.5x fp32, shipped accuracy within the recipe's budget (BUDGET_PT);
    mobilenet_v3_small's int8 stage p50 <= 0.75x fp32 (its float parent).

Re-running with the same --work reuses every finished stage (edgekit's stage cache). Run it on a quiet machine:
under `flock /tmp/edgekit-heavy.lock`; ratios hold on a drifting machine, absolute times do not."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from edgekit.bench import PRESETS, bench  # noqa: E402
from mobile_data import digits_folder, fashion_folder  # noqa: E402

# name -> (short name, stem_stride, train epochs, recovery epochs). stem_stride 1 keeps 32x32 maps for issue
# 13's digits recipe; efficientnet_b0 and mnasnet keep their stride-2 stem (4x the compute otherwise).
# Trained to convergence, as a user would before shrinking: at 4-6 epochs (this script before 2026-12-08) the
# parents were still climbing (digits: efficientnet_b0 87.7 %, mnasnet0_5 81.6 %, mobilenet_v3_small 98.9 %) and
# every shrunk file measured mostly how unfinished its parent was (INT8 -4.5 to -7.8 pt, pruned -7 to -11 pt).
# Recovery half as long as the parent's training: a pruned copy is mostly re-learning (benchmarks/prune_recovery.py,
# mnasnet0_5 on the fashion folder, 50 % MACs: -6.3 pt after 2 distilled epochs, -1.3 after 4, +3.7 after 6).
ARCHS = {
    "mobilenet_v3_small": ("mv3", 1, 30, 15),
    "efficientnet_b0": ("effb0", 2, 20, 10),
    "mnasnet0_5": ("mnas", 2, 30, 15),
}
DATA = {"digits": digits_folder, "fashion": fashion_folder}
# 1 pt, said in the recipe (the alternative to 0.5): the digits test split is 179 images, so 0.5 pt
# would refuse any file that answers one image differently
BUDGET_PT = 1.0
RECIPE = """\
edgekit: 1
name: mobile-{short}
seed: 0
data: {{source: imagefolder:{data}, val_fraction: 0.1}}
model: {{source: torchvision:{arch}, stem_stride: {stem}}}
stages:
  - {{id: train, kind: train, epochs: {epochs}, lr: 4.0e-3, batch_size: 64}}
  - {{id: export, kind: export, opset: 18}}
  - {{id: prune, kind: prune, input: train, target: macs, ratio: {ratio}, importance: l2, scope: layer}}
  - {{id: recover, kind: train, epochs: {recover}, lr: 2.0e-3, batch_size: 64,
     distill: {{teacher: train, temperature: 4.0, weight: 0.5}}}}
  - {{id: export-pruned, kind: export, opset: 18}}
  - {{id: int8, kind: quantize, input: export, max_accuracy_drop: {budget}, on_miss: keep-best}}
  - {{id: int8-pruned, kind: quantize, input: export-pruned, max_accuracy_drop: {budget}, on_miss: keep-best}}
  - {{id: evaluate, kind: evaluate}}
ship: {{objective: size, max_accuracy_drop_pt: {budget}, reference: export}}
"""


def shrink(work: Path, arch: str, data: str, ratio: float) -> Path:
    short, stem, epochs, recover = ARCHS[arch]
    DATA[data](work / data)
    tag = "" if ratio == 0.5 else f"-r{ratio:g}"
    recipe = work / f"{short}-{data}{tag}.yaml"
    recipe.write_text(
        RECIPE.format(
            short=short, data=data, arch=arch, stem=stem, epochs=epochs, recover=recover, budget=BUDGET_PT, ratio=ratio
        )
    )
    run_dir = work / f"run-{short}-{data}{tag}"
    t0 = time.time()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "edgekit", "shrink", recipe.name, "--run-dir", run_dir.name],
        cwd=work,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    print(
        f"{arch} on {data}: edgekit shrink exit {proc.returncode} after {(time.time() - t0) / 60:.1f} min",
        file=sys.stderr,
        flush=True,
    )
    if proc.returncode not in (0, 1):  # 1: a gate or ship rule said no, the run itself finished
        sys.exit(f"{recipe}: edgekit shrink failed:\n{proc.stderr[-2000:]}")
    return run_dir


def before_file(run_dir: Path, export_dir: Path, loaded, ds) -> Path:
    """The INT8 file edgekit shipped before issue 27: the ladder's first rung (static minmax per-channel U8S8,
    512 stratified calibration samples), without the placement race."""
    from edgekit.quant import ort_static
    from edgekit.quant.calibration import BatchReader, stratified_indices
    from edgekit.runtime.preprocess import prepare

    out = run_dir / "before-int8.onnx"
    if out.is_file():
        return out
    pre = json.loads((export_dir / "preprocess.json").read_text())
    raw = ds.train.x[stratified_indices(ds.train.y, 512, loaded.recipe.seed)]
    prep = run_dir / "before-prep.onnx"
    ort_static.preprocess(export_dir / "model.onnx", prep)
    import onnx

    name = onnx.load(str(prep)).graph.input[0].name
    ort_static.quantize(prep, out, ort_static.Attempt(), reader=BatchReader(raw, name, lambda b: prepare(pre, b), 32))
    return out


def measure(work: Path, arch: str, data: str, ratio: float = 0.5) -> dict:
    from edgekit.data import load_dataset
    from edgekit.recipe.read import load
    from edgekit.report.build import in_run, read_run
    from edgekit.runtime import ort
    from edgekit.runtime.preprocess import prepare

    run_dir = shrink(work, arch, data, ratio)
    run = read_run(run_dir)
    dirs = {st["id"]: in_run(run_dir, st["dir"]) for st in run["stages"] if st.get("dir")}
    report = json.loads((run_dir / "report.json").read_text()) if (run_dir / "report.json").is_file() else {}
    shipped = (report.get("ship") or {}).get("artifact") or "export"
    loaded = load(in_run(run_dir, run["recipe"]["file"]))
    ds = load_dataset(loaded.recipe.data, loaded.recipe.seed, loaded.file.parent)
    files = {
        "fp32": dirs["export"] / "model.onnx",
        "before": before_file(run_dir, dirs["export"], loaded, ds),
        "after": dirs["int8"] / "model.onnx",
        "shipped": dirs[shipped] / "model.onnx",
    }
    pre = json.loads((dirs["export"] / "preprocess.json").read_text())
    x = prepare(pre, ds.test.x)
    acc = {}
    for k, f in files.items():
        sess = ort.session(f, threads=2, spinning=False)
        acc[k] = ort.accuracy(sess, x, ds.test.y)
        del sess
    settings = replace(PRESETS["default"], min_runs=500, min_seconds=5.0, rounds=5)
    unique = list(dict.fromkeys(f.resolve() for f in files.values()))  # a kept float file is its input: time it once
    timed = bench(unique, threads=(1,), settings=settings, reference=0)
    by_file = dict(zip(unique, timed.results))
    p50 = {k: by_file[f.resolve()].stats.p50 for k, f in files.items()}
    spread = {k: (by_file[f.resolve()].vs_reference or {}) for k, f in files.items()}
    int8_metrics = json.loads((dirs["int8"] / "trials.json").read_text())
    return {
        "arch": arch,
        "data": data,
        "shipped": shipped,
        "test_samples": len(ds.test.y),
        "int8_kept": int8_metrics["kept"],
        "fp32_p50_ms": round(p50["fp32"], 4),
        "ratio": {k: round(p50[k] / p50["fp32"], 4) for k in files},
        "round_range": {k: [spread[k].get("min"), spread[k].get("max")] for k in files},
        "size_ratio": round(files["shipped"].stat().st_size / files["fp32"].stat().st_size, 4),
        "accuracy": {k: round(v, 5) for k, v in acc.items()},
        "accuracy_delta_pt": round((acc["shipped"] - acc["fp32"]) * 100, 2),
        "race": [
            {"trial": t["trial"], "label": t["label"], **(t.get("speed") or {})}
            for t in int8_metrics["trials"]
            if t.get("speed")
        ],
    }


def checks(row: dict) -> dict[str, tuple[float, float]]:
    c = {
        "shipped size <= 0.333x": (row["size_ratio"], 1 / 3),
        "shipped p50 <= 0.5x": (row["ratio"]["shipped"], 0.5),
        f"shipped accuracy drop <= {BUDGET_PT} pt": (-row["accuracy_delta_pt"], BUDGET_PT),
    }
    if row["arch"] == "mobilenet_v3_small":
        c["int8 p50 <= 0.75x float parent"] = (row["ratio"]["after"], 0.75)
    return c


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archs", nargs="+", choices=list(ARCHS), default=list(ARCHS))
    ap.add_argument("--data", nargs="+", choices=list(DATA), default=["digits"])
    ap.add_argument(
        "--fashion-arch", default="mobilenet_v3_small", help="also run this one on the fashion folder ('' for none)"
    )
    ap.add_argument("--prune-ratio", type=float, default=0.5, help="share of the MACs the prune stage removes")
    ap.add_argument("--work", type=Path, default=ROOT / "runs" / "mobile")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    pairs = [(a, d) for d in args.data for a in args.archs]
    if args.fashion_arch and (args.fashion_arch, "fashion") not in pairs and "fashion" not in args.data:
        pairs.append((args.fashion_arch, "fashion"))
    rows = [measure(args.work.resolve(), a, d, args.prune_ratio) for a, d in pairs]
    ok = True
    if args.json:
        print(json.dumps(rows, indent=2))
    print(
        f"{'arch':<20} {'data':<8} {'fp32 p50':>9} {'shipped':<14} {'p50 x':>6} {'size x':>7} {'acc pt':>7} "
        f"{'int8/fp32 before':>17} {'after':>6}",
        file=sys.stderr if args.json else sys.stdout,
    )
    for row in rows:
        r = row["ratio"]
        print(
            f"{row['arch']:<20} {row['data']:<8} {row['fp32_p50_ms']:8.3f}ms {row['shipped']:<14} {r['shipped']:6.2f} "
            f"{row['size_ratio']:7.3f} {row['accuracy_delta_pt']:+7.2f} {r['before']:17.2f} {r['after']:6.2f}"
            f"  (int8 stage kept {row['int8_kept']})",
            file=sys.stderr if args.json else sys.stdout,
        )
        for name, (value, limit) in checks(row).items():
            passed = value <= limit
            ok &= passed
            print(
                f"    {'PASS' if passed else 'FAIL'}  {name}: {value:.3f} (limit {limit:.3f})",
                file=sys.stderr if args.json else sys.stdout,
            )
    print(
        "machine shared? check `uptime`; ratios come from one alternating bench run per row",
        file=sys.stderr if args.json else sys.stdout,
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
