"""fp32 vs ONNX Runtime static INT8 vs INC INT8, measured side by side in one run on this machine.

    PYTHONPATH=. python benchmarks/quantize.py --run-dir RUN [--rounds 5] [--runs 50] [--json]

RUN is the run directory of a recipe with an `export`, a `quantize` and (optionally) an `inc-quantize` stage, e.g.
recipes/fashion-mnist-quant.yaml. Accuracy is on the recipe's test split. Latency: batch 1, 1 thread, p50; each
round times every model in turn (one ONNX Runtime session alive at a time) and the reported figure is the median
of the per-round p50s, so a noisy neighbour hits all models alike. Targets (issue 4) are printed with the ratios."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from edgekit.bench import PRESETS, bench
from edgekit.data import load_dataset
from edgekit.quant.onnx_int8 import kernel_counts
from edgekit.recipe.read import load
from edgekit.report.build import in_run, read_run
from edgekit.runtime import ort
from edgekit.runtime.preprocess import prepare


def artifacts(run_dir: Path) -> tuple[dict[str, Path], Path]:
    """The run's first export, the ORT quantize stage fed by it, and the first INC stage. A recipe may hold
    more of each (the default recipe also quantizes its pruned export): only one branch is compared."""
    run = read_run(run_dir)

    def source(st: dict) -> str | None:
        inputs = json.loads((in_run(run_dir, st["dir"]) / "manifest.json").read_text()).get("inputs", [])
        return inputs[0]["stage"] if inputs else None

    stages = run["stages"]
    export = next((st for st in stages if st["kind"] == "export"), None)
    ort_int8 = next((st for st in stages if export and st["kind"] == "quantize" and source(st) == export["id"]), None)
    inc = next((st for st in stages if st["kind"] == "inc-quantize"), None)
    if export is None or ort_int8 is None:
        sys.exit(f"{run_dir}: needs finished export and quantize stages (run the recipe first)")
    found = {"fp32": export, "ort-int8": ort_int8, **({"inc-int8": inc} if inc else {})}
    return {name: in_run(run_dir, st["dir"]) for name, st in found.items()}, in_run(run_dir, run["recipe"]["file"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run-dir", type=Path, required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=50, help="timed batch-1 queries per model per round")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    args = ap.parse_args()

    dirs, recipe_file = artifacts(args.run_dir)
    loaded = load(recipe_file)
    ds = load_dataset(loaded.recipe.data, loaded.recipe.seed, recipe_file.parent)
    rows = {}
    for name, d in dirs.items():
        pre = json.loads((d / "preprocess.json").read_text())
        x = prepare(pre, ds.test.x)
        sess = ort.session(d / "model.onnx", threads=2, spinning=False)
        acc = ort.accuracy(sess, x, ds.test.y)
        del sess
        kept = json.loads((d / "trials.json").read_text())["kept"] if (d / "trials.json").exists() else "fp32"
        rows[name] = {
            "file": str(d / "model.onnx"),
            "size_bytes": (d / "model.onnx").stat().st_size,
            "accuracy": round(acc, 5),
            "kept": kept,
            "kernels": kernel_counts(d / "model.onnx"),
            "sample": x[:1],
        }
    # the harness: every file in its own worker, rounds alternating between files, batch 1
    settings = replace(
        PRESETS["default"], rounds=args.rounds, min_runs=args.runs * args.rounds, min_seconds=0.5 * args.rounds
    )
    run = bench([Path(row["file"]) for row in rows.values()], threads=(args.threads,), settings=settings)
    for row, res in zip(rows.values(), run.results):
        row["latency_p50_ms"] = round(res.stats.p50, 4)
        row["round_medians_ms"] = [round(m, 4) for m in res.stats.round_medians]
        del row["sample"]

    fp, q = rows["fp32"], rows["ort-int8"]
    checks = {
        "ort size <= 0.3x fp32": (q["size_bytes"] / fp["size_bytes"], 0.3),
        "ort latency <= 0.6x fp32": (q["latency_p50_ms"] / fp["latency_p50_ms"], 0.6),
        "ort accuracy drop <= 0.5 pt": ((fp["accuracy"] - q["accuracy"]) * 100, 0.5),
    }
    if "inc-int8" in rows:
        inc = rows["inc-int8"]
        checks.update(
            {
                "inc size within 10% of ort": (abs(inc["size_bytes"] / q["size_bytes"] - 1), 0.1),
                "inc latency <= 1.2x ort": (inc["latency_p50_ms"] / q["latency_p50_ms"], 1.2),
                "inc accuracy drop <= 0.5 pt": ((fp["accuracy"] - inc["accuracy"]) * 100, 0.5),
            }
        )
    result = {
        "models": rows,
        "threads": args.threads,
        "rounds": args.rounds,
        "test_samples": len(ds.test),
        "checks": {k: {"value": round(v, 4), "limit": lim, "ok": v <= lim} for k, (v, lim) in checks.items()},
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"{'model':<10} {'kept':<6} {'size MB':>8} {'size x':>7} {'p50 ms':>8} {'lat x':>6} {'accuracy':>9}  "
            "int8/float kernels"
        )
        for name, row in rows.items():
            print(
                f"{name:<10} {row['kept']:<6} {row['size_bytes'] / 1e6:8.2f} "
                f"{row['size_bytes'] / fp['size_bytes']:7.3f} "
                f"{row['latency_p50_ms']:8.3f} {row['latency_p50_ms'] / fp['latency_p50_ms']:6.3f} "
                f"{row['accuracy']:9.4f}"
                f"  {row['kernels']['int8']}/{row['kernels']['float']}"
            )
        for k, c in result["checks"].items():
            print(f"{'PASS' if c['ok'] else 'FAIL'}  {k}: {c['value']:.3f} (limit {c['limit']})")
    return 0 if all(c["ok"] for c in result["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
