"""Harness overhead: edgekit's p50 vs a bare ``InferenceSession.run`` loop on the same model and threads,
measured side by side in this one script, alternating (bare, edgekit, bare, edgekit, ...) so drift hits
both alike; one ONNX Runtime session exists at a time. Target: ratio within 3 %.

    python benchmarks/bench_overhead.py [--model M.onnx] [--threads 1] [--pairs 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def bare_p50(path: Path, threads: int, runs: int, seconds: float, warmup: int) -> float:
    """The loop anyone would write: default session options but the thread count, time each run()."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    shape = [1 if not isinstance(d, int) else d for d in inp.shape]
    feed = {inp.name: np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
    for _ in range(warmup):
        sess.run(None, feed)
    times = []
    start = time.perf_counter()
    while len(times) < runs or time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        sess.run(None, feed)
        times.append((time.perf_counter() - t0) * 1e3)
    del sess
    return statistics.median(times)


def noop_model(path: Path) -> Path:
    """A one-Identity ONNX model: its run() costs only the call itself, so timing it exposes any per-query
    overhead the harness adds, independent of how loaded the machine is."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["input"], ["out"])],
        "noop",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", 4])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)
    return path


def main() -> int:
    """0 when edgekit's p50 is within the tolerance of a bare loop's, 1 when not."""
    from edgekit.bench import PRESETS, bench

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, help="ONNX model (default: the default recipe's resnet18, exported)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--pairs", type=int, default=12, help="alternating (bare, edgekit) pairs")
    ap.add_argument("--seconds", type=float, default=1.0, help="measured seconds per block")
    ap.add_argument("--tolerance-pct", type=float, default=3.0, help="allowed |edgekit/bare - 1| in percent")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from _models import default_model

    model = args.model or default_model(Path("/tmp/edgekit-bench-models"))
    # edgekit's default warm-up, but one short round per pair: the pairs themselves alternate
    settings = replace(PRESETS["default"], rounds=1, min_seconds=args.seconds, min_runs=50)
    bare, edge = [], []
    for i in range(args.pairs):
        bare.append(bare_p50(model, args.threads, settings.min_runs, args.seconds, settings.warmup_runs))
        edge.append(bench([model], threads=(args.threads,), settings=settings).results[0].stats.p50)
        print(
            f"pair {i + 1}: bare {bare[-1]:.4f} ms  edgekit {edge[-1]:.4f} ms  ratio {edge[-1] / bare[-1]:.4f}",
            file=sys.stderr,
        )
    # per-query cost of the loop itself, on a model that does nothing
    noop = noop_model(Path("/tmp/edgekit-bench-noop.onnx"))
    noop_settings = replace(settings, min_runs=20000, min_seconds=0.5)
    noop_bare = statistics.median(bare_p50(noop, 1, 20000, 0.5, 100) for _ in range(3))
    noop_edge = statistics.median(bench([noop], settings=noop_settings).results[0].stats.p50 for _ in range(3))
    per_pair = [e / b for e, b in zip(edge, bare)]
    result = {
        "model": str(model),
        "threads": args.threads,
        "pairs": args.pairs,
        "bare_p50_ms": statistics.median(bare),
        "edgekit_p50_ms": statistics.median(edge),
        "ratio": statistics.median(edge) / statistics.median(bare),
        "pair_ratio_median": statistics.median(per_pair),
        "pair_ratio_min": min(per_pair),
        "pair_ratio_max": max(per_pair),
        # on a shared machine the least-disturbed block of each side is the closest to a quiet machine
        "best_block_ratio": min(edge) / min(bare),
        "noop_bare_p50_us": noop_bare * 1e3,
        "noop_edgekit_p50_us": noop_edge * 1e3,
        "noop_overhead_share_of_p50": (noop_edge - noop_bare) / statistics.median(bare),
    }
    result["tolerance_pct"] = args.tolerance_pct
    result["met"] = abs(result["ratio"] - 1) <= args.tolerance_pct / 100
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"bare loop p50 {result['bare_p50_ms']:.4f} ms, edgekit p50 {result['edgekit_p50_ms']:.4f} ms, "
            f"ratio {result['ratio']:.4f} (pairs {result['pair_ratio_min']:.3f}-{result['pair_ratio_max']:.3f}, "
            f"best blocks {result['best_block_ratio']:.4f}); "
            f"within {args.tolerance_pct:g} %: {'ok' if result['met'] else 'FAIL'}"
        )
        print(
            f"no-op model: bare {result['noop_bare_p50_us']:.2f} us, "
            f"edgekit {result['noop_edgekit_p50_us']:.2f} us per query; "
            f"the difference is {result['noop_overhead_share_of_p50'] * 100:+.3f} % of this model's p50"
        )
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
