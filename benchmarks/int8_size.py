"""Does INT8 pay on mobile architectures at larger inputs on this CPU? (issue 27) Per architecture and input side:
the float file against edgekit's first rung (static per-channel U8S8) and the race's per-tensor candidate, timed in
one alternating edgekit.bench run (batch 1, 1 thread, 5 rounds). Latency only: the graph and tensor shapes decide
it, not the weights (untrained, BatchNorm statistics recomputed on random batches so no activation overflows).

    PYTHONPATH=. python benchmarks/int8_size.py --archs mobilenet_v3_small --sizes 28 96 224

3-channel input, torchvision's own stems (28 px matches the zoo runs' stride-2 3x3 stem on mobile nets). Prints
INT8/float p50 [per-round range]; exit 1 when no INT8 file reaches the issue's 0.8x at any size measured."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import numpy as np  # noqa: E402

import _quick_runs  # noqa: E402
from edgekit.bench.stats import ratio_with_spread  # noqa: E402

TARGET = 0.8
VARIANTS = {"per-channel": True, "per-tensor": False}  # the first rung, the race's first candidate


def export(arch: str, side: int, out: Path, stem_stride: int | None = None) -> Path:
    import torch

    from edgekit.torchkit.export import export_onnx
    from edgekit.torchkit.models import build_model

    torch.manual_seed(0)
    spec = {"source": f"torchvision:{arch}", **({"stem_stride": stem_stride} if stem_stride else {})}
    model = build_model(spec, num_classes=10, in_channels=3)
    model.train()
    with torch.no_grad():  # recompute BatchNorm statistics: default ones let activations grow through the depth
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None  # cumulative average over the batches below
        for _ in range(4):
            model(torch.randn(8, 3, side, side))
    path = out / f"{arch}-{side}.onnx"
    export_onnx(model, torch.randn(2, 3, side, side), path, 18, "legacy")
    return path


def quantized(src: Path, per_channel: bool, calibration: np.ndarray) -> Path:
    from edgekit.quant import ort_static
    from edgekit.quant.calibration import BatchReader

    prep = src.with_name(src.stem + "-prep.onnx")
    if not prep.exists():
        ort_static.preprocess(src, prep)
    dst = src.with_name(f"{src.stem}-{'pc' if per_channel else 'pt'}.onnx")
    reader = BatchReader(calibration, "input", lambda b: b, 8)
    ort_static.quantize(prep, dst, ort_static.Attempt(per_channel=per_channel), reader)
    return dst


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archs", nargs="+", default=["mobilenet_v3_small", "mobilenet_v2", "efficientnet_b0"])
    ap.add_argument("--sizes", nargs="+", type=int, default=[28, 96, 224])
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="int8-size-") as tmp:
        cases = []  # (arch, side, variant, path)
        for arch in args.archs:
            for side in args.sizes:
                src = export(arch, side, Path(tmp))
                calib = np.random.default_rng(0).standard_normal((32, 3, side, side)).astype(np.float32)
                cases.append((arch, side, "float", src))
                cases += [(arch, side, v, quantized(src, pc, calib)) for v, pc in VARIANTS.items()]
                print(f"{arch} {side}px quantized", file=sys.stderr, flush=True)
        rounds = _quick_runs.time_rounds([c[3] for c in cases], args.rounds)
    ref = {(a, s): r for (a, s, v, _), r in zip(cases, rounds) if v == "float"}
    best = None
    print(
        f"{'arch':<20} {'side':>5} {'float p50':>10} " + " ".join(f"{v + ' INT8/float':<26}" for v in VARIANTS).rstrip()
    )
    for arch in args.archs:
        for side in args.sizes:
            cells = []
            for (a, s, v, _), r in zip(cases, rounds):
                if (a, s) == (arch, side) and v != "float":
                    x = ratio_with_spread(r, ref[a, s])
                    best = x["p50_ratio"] if best is None else min(best, x["p50_ratio"])
                    cells.append(f"{x['p50_ratio']:.2f}x [{x['min']:.2f}-{x['max']:.2f}]".ljust(26))
            p50 = float(np.median(np.concatenate(ref[arch, side])))
            print(f"{arch:<20} {side:>5} {p50:8.3f}ms " + " ".join(cells))
    print(f"load average {load0:.1f} at start, {os.getloadavg()[0]:.1f} at end")
    if best is None or best > TARGET:
        print(f"MISS  no INT8 file at or under {TARGET}x its float parent's p50 (best {best:.2f}x)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
