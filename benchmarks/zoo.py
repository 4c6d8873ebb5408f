"""The model-zoo table: per architecture, trained accuracy on the test subset, MACs before and after pruning,
pruned/unpruned and INT8/float p50 latency and size, or why pruning refused.

    python benchmarks/zoo.py                      # every architecture of tests/zoo_matrix.py
    python benchmarks/zoo.py resnet18 vit-small   # some of them
    python benchmarks/zoo.py --json

Each architecture goes through tests/zoo_matrix.run_arch (the same code the test matrix runs), then its float,
pruned and INT8 ONNX files are measured by edgekit's bench harness: one process per model, alternating rounds,
1 thread, batch 1, so the ratios hold on a drifting machine. Run it under `flock /tmp/edgekit-heavy.lock`.
Its INT8 is the ladder's first rung (per-channel U8S8, no race, nothing kept float); what the quantize stage ships
after its race and keep-float decision is benchmarks/zoo_int8.py's "INT8/float p50 after"."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import torch  # noqa: E402

from edgekit.bench import PRESETS, bench, document  # noqa: E402
from zoo_matrix import ARCHS, run_arch  # noqa: E402


def _count(n: int | None) -> str:
    return "–" if n is None else f"{n / 1e6:.1f} M"


def measure(name: str, work: Path) -> dict:
    t0 = time.perf_counter()
    r = run_arch(name, work, export_pruned=True)
    kinds = list(r.files)  # float, [pruned,] int8
    settings = replace(PRESETS["quick"], min_runs=200, min_seconds=1.0, rounds=4)
    doc = document(bench([r.files[k] for k in kinds], settings=settings, reference=0))
    by = {k: rec for k, rec in zip(kinds, doc["results"])}
    p50 = {k: rec["latency_ms"]["p50"] for k, rec in by.items()}
    row = {
        "arch": name,
        "accuracy": r.accuracy,
        "chance": r.chance,
        "int8_accuracy": r.int8_accuracy,
        "macs": r.macs,
        "macs_pruned": r.macs_pruned,
        "prune_refused": r.prune_refused,
        "p50_ms": p50,
        "size_bytes": {k: rec["size_bytes"] for k, rec in by.items()},
        "pruned_vs_float_p50": p50["pruned"] / p50["float"] if "pruned" in p50 else None,
        "int8_vs_float_p50": p50["int8"] / p50["float"],
        "int8_vs_float_size": by["int8"]["size_bytes"] / by["float"]["size_bytes"],
        "seconds": {**r.seconds, "total": time.perf_counter() - t0},
    }
    return row


def table(rows: list[dict]) -> str:
    out = [
        "| arch | test acc (chance) | MACs → pruned | pruned/unpruned p50 | "
        "INT8/float p50 | INT8/float size | INT8 acc |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if "error" in r:
            out.append(f"| {r['arch']} | error: {r['error']} |||||")
            continue
        pruned = f"{r['pruned_vs_float_p50']:.2f}×" if r["pruned_vs_float_p50"] else f"refused: {r['prune_refused']}"
        out.append(
            f"| {r['arch']} | {r['accuracy']:.1%} ({r['chance']:.0%}) | "
            f"{_count(r['macs'])} → {_count(r['macs_pruned'])} | "
            f"{pruned} | {r['int8_vs_float_p50']:.2f}× ({r['p50_ms']['float']:.3f} ms) | "
            f"{r['int8_vs_float_size']:.2f}× | "
            f"{r['int8_accuracy']:.1%} |"
        )
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("archs", nargs="*", help=f"default: all of {', '.join(ARCHS)}")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    unknown = [a for a in args.archs if a not in ARCHS]
    if unknown:
        print(f"error: unknown architecture(s) {', '.join(unknown)}; known: {', '.join(ARCHS)}", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    rows = []
    for name in args.archs or list(ARCHS):
        with tempfile.TemporaryDirectory(prefix=f"zoo-{name}-") as tmp:
            try:
                with contextlib.redirect_stdout(sys.stderr):  # training progress bars: stdout keeps the table
                    rows.append(measure(name, Path(tmp)))
            except Exception as e:  # one architecture failing must not hide the others' numbers
                rows.append({"arch": name, "error": f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(json.dumps(rows, indent=2) if args.json else table(rows))
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
