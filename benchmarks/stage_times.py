"""Default recipe: wall time per stage, the cached re-run, and what an opset edit re-runs.

    python benchmarks/stage_times.py [--recipe recipes/fashion-mnist.yaml] [--run-dir /tmp/edgekit-stage-times]

Runs the recipe three times in a fresh run directory: cold, unchanged (all cached), opset edited."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def shrink(recipe: Path, run_dir: Path) -> tuple[float, dict]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "edgekit", "shrink", str(recipe), "--run-dir", str(run_dir), "--json"],
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"edgekit shrink failed ({proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}")
    return wall, json.loads(proc.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", type=Path, default=Path(__file__).parents[1] / "recipes" / "fashion-mnist.yaml")
    ap.add_argument("--run-dir", type=Path, default=None)
    args = ap.parse_args()
    run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="edgekit-stage-times-"))
    shutil.rmtree(run_dir, ignore_errors=True)

    cold_wall, cold = shrink(args.recipe, run_dir)
    print(f"cold run: {cold_wall:.1f} s wall (process start, data load and all stages)")
    for st in cold["stages"]:
        m = st["metrics"]
        extra = ""
        if "test_accuracy" in m:
            extra = f"test accuracy {m['test_accuracy'] * 100:.2f} %, params {m['params'] / 1e6:.2f} M"
        for row in m.get("artifacts", []):
            extra += f"{row['stage']}: accuracy {row['accuracy'] * 100:.2f} %, p50 {row['latency_p50_ms']:.2f} ms  "
        print(f"  {st['id']:<10} {st['wall_time_s']:8.1f} s  {extra}")

    warm_wall, warm = shrink(args.recipe, run_dir)
    print(f"unchanged re-run: {warm_wall:.1f} s wall, cached: {[s['id'] for s in warm['stages'] if s['cached']]}")

    edited = run_dir.parent / f"{run_dir.name}-opset.yaml"
    text = args.recipe.read_text()
    edited.write_text(text.replace("opset: 18", "opset: 19") if "opset: 18" in text else text.replace("kind: export", "kind: export, opset: 19"))
    edit_wall, edit = shrink(edited, run_dir)
    print(f"opset edited: {edit_wall:.1f} s wall, re-ran: {[s['id'] for s in edit['stages'] if not s['cached']]}")
    edited.unlink()


if __name__ == "__main__":
    main()
