"""Where a mobile net's INT8 time goes against its float parent, by kernel kind (issue 27): full and depthwise
convolutions, the hardswish / squeeze-excite machinery (QLinearMul, HardSigmoid islands and their Q/DQ), the rest.

    PYTHONPATH=. python benchmarks/int8_kernels.py --arch mobilenet_v3_small --side 224
    PYTHONPATH=. python benchmarks/int8_kernels.py --arch mobilenet_v3_small --side 32 --stem-stride 1

ORT's own profiler (batch 1, 1 thread, the same optimisation level the bench harness runs), the float export and
edgekit's first INT8 rung (static per-channel U8S8) of an untrained model with recomputed BatchNorm statistics:
shapes decide latency, not weights. The profiler adds a fixed cost per node, so its totals read higher than the
bench harness's p50 (benchmarks/int8_size.py times the files properly); compare kinds within one run.

The last line is a bound: INT8 with the hardswish/SE machinery costing nothing, i.e. its convolutions and the rest
against the whole float file. Above 0.75 no Q/DQ placement can bring INT8 to the issue's target on this CPU with
these kernels: the integer convolutions themselves are in the way. Exit 1 when the measured INT8 total is over the
float total (INT8 does not pay here), else 0."""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import numpy as np  # noqa: E402

from int8_size import export, quantized  # noqa: E402

# the nodes an INT8 hardswish or squeeze-excite gate becomes in ORT (quant_pre_process spells HardSwish as
# HardSigmoid + Mul, and neither has an integer kernel but the Mul): float islands and their conversions
MACHINERY = ("QLinearMul", "HardSigmoid", "QuantizeLinear", "DequantizeLinear", "Mul")


def by_kind(path: Path, runs: int) -> collections.Counter:
    """Profiled microseconds per run, by kernel kind ("conv" / "depthwise conv" / op type), the kinds read off ORT's
    optimised graph (a depthwise conv has group > 1)."""
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="int8-kernels-") as tmp:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.log_severity_level = 3
        opts.enable_profiling = True
        opts.profile_file_prefix = str(Path(tmp) / "profile")
        opts.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        i = sess.get_inputs()[0]
        x = np.random.default_rng(0).random([d if isinstance(d, int) else 1 for d in i.shape], np.float32)
        for _ in range(runs):
            sess.run(None, {i.name: x})
        with open(sess.end_profiling()) as f:
            events = json.load(f)
        nodes = {n.name: n for n in onnx.load(opts.optimized_model_filepath).graph.node}
    us: collections.Counter = collections.Counter()
    for e in events:
        if e.get("cat") != "Node" or not e.get("name", "").endswith("_kernel_time"):
            continue
        kind, node = e["args"]["op_name"], nodes.get(e["name"][: -len("_kernel_time")])
        if "Conv" in kind and node is not None:
            group = next((a.i for a in node.attribute if a.name == "group"), 1)
            kind = "depthwise conv" if group > 1 else "conv"
        us[kind] += e["dur"] / runs
    return us


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="mobilenet_v3_small")
    ap.add_argument("--side", type=int, default=224)
    ap.add_argument("--stem-stride", type=int, default=None, help="edgekit's stem_stride (default: torchvision's)")
    ap.add_argument("--runs", type=int, default=300)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="int8-kernels-") as tmp:
        src = export(args.arch, args.side, Path(tmp), args.stem_stride)
        calib = np.random.default_rng(0).standard_normal((32, 3, args.side, args.side)).astype(np.float32)
        q = quantized(src, True, calib)
        f32, i8 = by_kind(src, args.runs), by_kind(q, args.runs)
    head = ["conv", "depthwise conv", *sorted(MACHINERY)]
    kinds = head + sorted((set(f32) | set(i8)) - set(head))
    tf, ti = sum(f32.values()), sum(i8.values())
    print(f"{args.arch} {args.side}px, ORT profiler, us per run (batch 1, 1 thread)")
    print(f"{'kernel kind':<26} {'fp32':>9} {'INT8':>9} {'INT8/fp32':>10}")
    for k in kinds:
        a, b = f32.get(k, 0.0), i8.get(k, 0.0)
        if a or b:
            print(f"{k:<26} {a:9.1f} {b:9.1f} {b / a if a else float('inf'):>9.2f}x")
    machinery = sum(v for k, v in i8.items() if k in MACHINERY)
    print(f"{'total':<26} {tf:9.1f} {ti:9.1f} {ti / tf:9.2f}x")
    print(f"hardswish/SE machinery in INT8: {machinery:.1f} us ({machinery / ti:.0%} of the INT8 file)")
    print(f"bound with that machinery free: {(ti - machinery) / tf:.2f}x the float file")
    if ti > tf:
        print(f"MISS  INT8 is slower than float here ({ti / tf:.2f}x in profiler terms)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
