"""Default recipe: wall time per stage, the cached re-run, and what an opset edit re-runs.

    python benchmarks/stage_times.py [--recipe recipes/fashion-mnist.yaml] [--run-dir /tmp/edgekit-stage-times]
    python benchmarks/stage_times.py --stages train,export,evaluate     # the recipe cut to these stages

Runs the recipe three times in a fresh run directory: cold, unchanged (all cached), and with the first
export's opset edited (18 -> 19)."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml


def shrink(recipe: Path, run_dir: Path) -> tuple[float, dict]:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "edgekit", "shrink", str(recipe), "--run-dir", str(run_dir), "--json"],
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"edgekit shrink failed ({proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}")
    return wall, json.loads(proc.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", type=Path, default=Path(__file__).parents[1] / "recipes" / "fashion-mnist.yaml")
    ap.add_argument("--run-dir", type=Path, default=None)
    ap.add_argument("--stages", help="comma-separated stage ids to keep (default: all)")
    args = ap.parse_args()
    run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="edgekit-stage-times-"))
    shutil.rmtree(run_dir, ignore_errors=True)
    recipe = run_dir.parent / f"{run_dir.name}-recipe.yaml"
    doc = yaml.safe_load(args.recipe.read_text())
    if args.stages:
        keep = args.stages.split(",")
        doc["stages"] = [st for st in doc["stages"] if st["id"] in keep]
    recipe.write_text(yaml.safe_dump(doc, sort_keys=False))

    cold_wall, cold = shrink(recipe, run_dir)
    print(
        f"cold run: {cold_wall:.1f} s wall "
        f"(process start, data load and stages {', '.join(s['id'] for s in cold['stages'])})"
    )
    for st in cold["stages"]:
        m = st["metrics"]
        extra = ""
        if "test_accuracy" in m:
            extra = f"test accuracy (torch) {m['test_accuracy'] * 100:.2f} %  "
        for row in m.get("artifacts", []):
            extra += f"{row['stage']}: accuracy {row['accuracy'] * 100:.2f} %, p50 {row['latency_ms']['p50']:.2f} ms  "
        print(f"  {st['id']:<10} {st['wall_time_s']:8.1f} s  {extra}")

    warm_wall, warm = shrink(recipe, run_dir)
    print(f"unchanged re-run: {warm_wall:.1f} s wall, cached: {[s['id'] for s in warm['stages'] if s['cached']]}")

    export = next(st for st in doc["stages"] if st["kind"] == "export")
    export["opset"] = export.get("opset", 18) + 1
    recipe.write_text(yaml.safe_dump(doc, sort_keys=False))
    edit_wall, edit = shrink(recipe, run_dir)
    print(
        f"opset of '{export['id']}' edited to {export['opset']}: {edit_wall:.1f} s wall, "
        f"re-ran: {[s['id'] for s in edit['stages'] if not s['cached']]}"
    )
    recipe.unlink()


if __name__ == "__main__":
    main()
