"""Where an ONNX file's time goes in ONNX Runtime, per node type: the profile the quantize stage records for the
float input and the INT8 file it keeps, so the report can say *why* INT8 is (not) faster.

    p = profile(Path("model.onnx"), runs=100)
    p["ops"]["QLinearConv"]   # {"count": 52, "share": 0.44, "us_per_run": 61.3}
    p["qdq"]                  # QuantizeLinear + DequantizeLinear nodes left in the optimised graph
    p["float_islands"]        # float nodes fed by a DequantizeLinear: where values leave and re-enter INT8

Times come from ORT's own profiler (SessionOptions.enable_profiling), batch 1, one thread, in this process. The
profiler adds a fixed cost per node, so compare shares and counts, never these microseconds with the bench
harness's p50. Torch-free."""

from __future__ import annotations

import collections
import json
import os
import tempfile
from pathlib import Path

import numpy as np

QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")


def _input(sess) -> dict:
    feeds = {}
    for i in sess.get_inputs():
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in i.shape]
        dtype = np.int64 if "int64" in i.type else np.float32
        feeds[i.name] = (
            np.zeros(shape, dtype) if dtype is np.int64 else np.random.default_rng(0).random(shape, np.float32)
        )
    return feeds


def _islands(graph) -> int:
    """Float compute nodes reading a DequantizeLinear output: each is a round trip out of INT8 and back."""
    producers = {o: n.op_type for n in graph.node for o in n.output}
    return sum(
        1
        for n in graph.node
        if n.op_type not in QDQ_OPS
        and any(producers.get(i) == "DequantizeLinear" for i in n.input)
        and not n.op_type.startswith("QLinear")
        and n.op_type not in ("QGemm", "QAttention")
    )


def profile(path: Path, runs: int = 100) -> dict:
    """{"runs", "nodes", "qdq", "float_islands", "ops": {op: {"count", "share", "us_per_run"}}}, ops by time,
    counted in ORT's optimised graph (the same optimisation level the bench harness runs)."""
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="edgekit-profile-") as tmp:
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.intra_op_num_threads = 1
        opts.enable_profiling = True
        opts.profile_file_prefix = os.path.join(tmp, "profile")
        opts.optimized_model_filepath = os.path.join(tmp, "optimized.onnx")
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        feeds = _input(sess)
        for _ in range(runs):
            sess.run(None, feeds)
        with open(sess.end_profiling()) as f:
            events = json.load(f)
        graph = onnx.load(opts.optimized_model_filepath).graph
    us = collections.Counter()
    for e in events:  # one "<node>_kernel_time" event per node per run
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
            us[e["args"]["op_name"]] += e["dur"]
    counts = collections.Counter(n.op_type for n in graph.node)
    total = sum(us.values()) or 1
    ops = {
        op: {"count": counts.get(op, 0), "share": round(t / total, 4), "us_per_run": round(t / runs, 2)}
        for op, t in us.most_common()
    }
    return {
        "runs": runs,
        "nodes": len(graph.node),
        "qdq": sum(counts[o] for o in QDQ_OPS),
        "float_islands": _islands(graph),
        "ops": ops,
    }


def summary(p: dict, top: int = 5) -> str:
    """One line: the heaviest node types by time share, and the Q/DQ count."""
    # sorted here, not trusted from the dict: a profile read back from trials.json has its keys alphabetical
    ops = sorted(p["ops"].items(), key=lambda kv: -kv[1]["share"])[:top]
    heavy = ", ".join(f"{op} {v['share'] * 100:.0f} % (x{v['count']})" for op, v in ops)
    return f"{heavy}; {p['qdq']} Q/DQ nodes, {p['float_islands']} float islands, {p['nodes']} nodes"
