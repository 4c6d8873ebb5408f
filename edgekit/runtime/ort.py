"""ONNX Runtime helpers shared by export parity checks, evaluation and benchmarking."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from edgekit.errors import InputError


def session(path: Path, threads: int = 1, spinning: bool = True, inter_threads: int = 1):
    """One InferenceSession on the CPU. With ``spinning=False`` an idle session's thread pool does not
    busy-wait, so it cannot steal cores from the session being measured next. ``inter_threads`` > 1 runs
    independent branches of the graph in parallel (ORT_PARALLEL); 1 keeps the usual sequential execution."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = inter_threads
    opts.execution_mode = ort.ExecutionMode.ORT_PARALLEL if inter_threads > 1 else ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    if not spinning:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own Fail/InvalidGraph types
        raise InputError(f"{path}: onnxruntime cannot load this model ({str(e).splitlines()[0][:200]})") from None


def predict(sess, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Logits for all of ``x`` in batches. (N, ...) -> (N, num_classes)."""
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(None, {name: x[i : i + batch_size]})[0] for i in range(0, len(x), batch_size)])


def accuracy(sess, x: np.ndarray, y: np.ndarray, batch_size: int = 256) -> float:
    return float((predict(sess, x, batch_size).argmax(1) == y).mean())


def timed_runs(sess, feed: dict[str, np.ndarray], runs: int, seconds: float) -> list[float]:
    """Wall time (ms) of each ``sess.run`` until both ``runs`` queries and ``seconds`` have passed. The loop adds
    two clock reads and a list append per query, so a bare loop measures the same (benchmarks/bench_overhead.py)."""
    if runs <= 0 and seconds <= 0:
        return []
    run, clock = sess.run, time.perf_counter_ns
    times: list[int] = []
    append = times.append
    deadline = clock() + int(seconds * 1e9)
    while True:
        t0 = clock()
        run(None, feed)
        t1 = clock()
        append(t1 - t0)
        if len(times) >= runs and t1 >= deadline:
            return [t / 1e6 for t in times]
