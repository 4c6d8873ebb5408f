"""The machine's attainable multiply-accumulate rate through onnxruntime, measured once and cached per machine.

    peak = attainable(threads=1)       # {"peak_gmacs_per_s": 36.5, "int8_peak_gmacs_per_s": ...,
                                       #  "gemm_gmacs_per_s": ...}
    achieved(macs=33e6, batch=1, p50_ms=3.56)     # 9.3 GMAC/s: a quarter of that peak

Two microbenchmarks per arithmetic, each a one-node ONNX graph run by the same CPU execution provider the
artifacts use: a 512x512x512 MatMul (MLAS's GEMM, the best case) and a 3x3 conv, 64->64 channels on a 56x56 map
(im2col + GEMM, what a CNN layer gets at its best), in float32 and in int8 (MatMulInteger, QLinearConv U8S8:
the kernels ONNX Runtime's INT8 models run). The peak is the faster of the two medians: what this machine, this
onnxruntime and this thread count can reach, so ``achieved / peak`` (an INT8 model against the int8 peak) says
how far a model is from the limit and whether shrinking its MACs can still buy speed (per-op overhead, not
arithmetic, dominates far below it).

Cached as JSON under ``$XDG_CACHE_HOME/edgekit/peak/`` keyed by the machine's speed id (edgekit.bench.system)
and the thread count; a damaged entry is a miss. A refresh keeps each kernel's best rate seen: other work on the
machine can only slow a kernel down, so a peak first measured under load rises to the true one. Torch-free."""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

import edgekit.bench.system as system

GEMM_N = 512  # M = K = N
CONV = (64, 56, 3)  # channels in = out, map size, kernel
ROUNDS = 3
MIN_RUNS, MIN_SECONDS = 10, 0.3  # per kernel and round


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgekit" / "peak"


def achieved(macs: int | None, batch: int, p50_ms: float | None) -> float | None:
    """GMAC/s a model reaches at its p50 (None when its MACs or latency are unknown)."""
    if not macs or not p50_ms:
        return None
    return macs * batch / (p50_ms * 1e6)


def _one_node(op: str, x: np.ndarray, y_dtype, y_shape: list[int], consts: dict[str, np.ndarray], **attrs):
    """(model, feed x): the graph ``y = op(x, *consts)``, constants as initializers in the op's input order."""
    from onnx import helper, numpy_helper

    def info(name, dtype, shape):
        return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), list(shape))

    node = helper.make_node(op, ["x", *consts], ["y"], **attrs)
    g = helper.make_graph(
        [node],
        op,
        [info("x", x.dtype, x.shape)],
        [info("y", y_dtype, y_shape)],
        [numpy_helper.from_array(v, name) for name, v in consts.items()],
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), x


def _gemm():
    n = GEMM_N
    w = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    return (*_one_node("MatMul", np.ones((n, n), np.float32), np.float32, [n, n], {"w": w}), n**3)


def _conv():
    c, s, k = CONV
    w = np.random.default_rng(0).standard_normal((c, c, k, k)).astype(np.float32) * 0.01
    return (
        *_one_node(
            "Conv",
            np.ones((1, c, s, s), np.float32),
            np.float32,
            [1, c, s, s],
            {"w": w},
            kernel_shape=[k, k],
            pads=[k // 2] * 4,
        ),
        c * c * k * k * s * s,
    )


def _qgemm():
    n = GEMM_N
    w = np.random.default_rng(0).integers(-127, 128, (n, n), dtype=np.int8)
    return (*_one_node("MatMulInteger", np.ones((n, n), np.uint8), np.int32, [n, n], {"w": w}), n**3)


def _qconv():
    c, s, k = CONV
    rng = np.random.default_rng(0)
    w = rng.integers(-127, 128, (c, c, k, k), dtype=np.int8)
    # QLinearConv's inputs: x, x scale and zero point, w, w's, then y's (U8S8: what ORT's static INT8 runs)
    consts = {
        "xs": np.array(0.02, np.float32),
        "xz": np.array(128, np.uint8),
        "w": w,
        "ws": np.array(0.01, np.float32),
        "wz": np.array(0, np.int8),
        "ys": np.array(0.05, np.float32),
        "yz": np.array(128, np.uint8),
    }
    x = rng.integers(0, 256, (1, c, s, s), dtype=np.uint8)
    return (
        *_one_node("QLinearConv", x, np.uint8, [1, c, s, s], consts, kernel_shape=[k, k], pads=[k // 2] * 4),
        c * c * k * k * s * s,
    )


KERNELS = {"gemm": _gemm, "conv": _conv, "int8_gemm": _qgemm, "int8_conv": _qconv}


def measure(threads: int = 1) -> dict:
    """Run every microbenchmark now, alternating in ROUNDS rounds; GMAC/s per kernel (median of round medians)."""
    import onnxruntime as ort

    sessions = {}
    for name, build in KERNELS.items():
        model, x, macs = build()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        sessions[name] = (sess, {"x": x}, macs)
    per_round: dict[str, list[float]] = {k: [] for k in sessions}
    for _ in range(ROUNDS):
        for name, (sess, feed, macs) in sessions.items():
            sess.run(None, feed)  # re-warm after the other kernel
            times, start = [], time.perf_counter()
            while len(times) < MIN_RUNS or time.perf_counter() - start < MIN_SECONDS:
                t0 = time.perf_counter()
                sess.run(None, feed)
                times.append(time.perf_counter() - t0)
            per_round[name].append(macs / statistics.median(times) / 1e9)
    rates = {f"{name}_gmacs_per_s": round(statistics.median(v), 2) for name, v in per_round.items()}
    conv = f"{CONV[0]}->{CONV[0]} {CONV[2]}x{CONV[2]} on {CONV[1]}x{CONV[1]}"
    return {
        "threads": threads,
        **rates,
        **_peaks(rates),
        "kernels": {
            "gemm": f"MatMul {GEMM_N}x{GEMM_N}x{GEMM_N}",
            "conv": f"Conv {conv}",
            "int8_gemm": f"MatMulInteger {GEMM_N}x{GEMM_N}x{GEMM_N}",
            "int8_conv": f"QLinearConv {conv}",
        },
    }


def _peaks(rates: dict) -> dict:
    return {
        "peak_gmacs_per_s": max(rates["gemm_gmacs_per_s"], rates["conv_gmacs_per_s"]),
        "int8_peak_gmacs_per_s": max(rates["int8_gemm_gmacs_per_s"], rates["int8_conv_gmacs_per_s"]),
    }


def attainable(threads: int = 1, machine: dict | None = None, refresh: bool = False) -> dict:
    """The cached measurement for this machine and thread count, measured (and cached) when there is none;
    ``refresh``: measured again, each kernel keeping the better of the cached and the new rate."""
    machine_id = (machine or system.fingerprint())["id"]
    path = cache_dir() / f"{machine_id}-t{threads}.json"
    cached = None
    try:
        cached = json.loads(path.read_text())
        if cached.get("machine_id") != machine_id or not all(float(cached[f"{k}_gmacs_per_s"]) > 0 for k in KERNELS):
            cached = None  # another machine's, or written before a kernel was added
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        cached = None  # missing or damaged: measure
    if cached is not None and not refresh:
        return {**cached, "cached": True}
    found = {
        **measure(threads),
        "machine_id": machine_id,
        "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if cached is not None:
        for key in (f"{k}_gmacs_per_s" for k in KERNELS):
            found[key] = max(found[key], float(cached[key]))
        found.update(_peaks(found))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(found, indent=2))
        tmp.replace(path)
    except OSError:
        pass  # an unwritable cache only costs the next run a few seconds
    return {**found, "cached": False}
