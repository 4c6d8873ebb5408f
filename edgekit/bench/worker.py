"""One benchmark case (model, threads, batch) in its own process, driven over a JSON-lines pipe.

A process per case means no idle ONNX Runtime thread pool can steal cores from the case being timed, and the
peak resident memory of the process is the memory of that model's inference. The parent sends one JSON
config line, then commands; every reply is one JSON line on the original stdout (anything else the process
prints goes to stderr, so it cannot corrupt the protocol).

    python -m edgekit.bench.worker < {"model": "m.onnx", "threads": 1, "inter_threads": 1, "batch": 1, "spinning": true}
                                   < {"cmd": "warmup", "runs": 10, "seconds": 0.5}
                                   < {"cmd": "measure", "runs": 100, "seconds": 1.0, "warmup": 2}
                                   < {"cmd": "memory"} | {"cmd": "accuracy", "bundle": "b.npz"} | {"cmd": "quit"}
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from edgekit.bench import memory

# onnx tensor type -> how to make a representative input of it
DTYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(uint8)": np.uint8,
    "tensor(int8)": np.int8,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(bool)": np.bool_,
}


def _preprocess_beside(model: Path) -> dict | None:
    p = model.with_name("preprocess.json")
    return json.loads(p.read_text()) if p.is_file() else None


def make_feed(sess, batch: int, pre: dict | None, seed: int = 0) -> dict[str, np.ndarray]:
    """Random inputs of the model's shapes: the batch axis set to ``batch``, other free axes from
    preprocess.json's input_shape where it matches, else 1."""
    rng = np.random.default_rng(seed)
    feed = {}
    for inp in sess.get_inputs():
        hint = (pre or {}).get("input_shape") or []
        dims = []
        for i, d in enumerate(inp.shape):
            if i == 0 and isinstance(d, int) and d > 0 and d != batch:
                raise ValueError(
                    f"input '{inp.name}' has a fixed batch size of {d}; batch {batch} needs a model "
                    "exported with a dynamic batch axis"
                )
            if isinstance(d, int) and d > 0:
                dims.append(d)
            elif i == 0:
                dims.append(batch)
            else:
                dims.append(hint[i - 1] if len(hint) == len(inp.shape) - 1 else 1)
        dtype = DTYPES.get(inp.type)
        if dtype is None:
            raise ValueError(f"input '{inp.name}' has type {inp.type}, which bench cannot generate")
        if np.issubdtype(dtype, np.floating):
            feed[inp.name] = rng.standard_normal(dims).astype(dtype)
        else:  # token ids, pixels, masks: small non-negative values are valid for any of them
            feed[inp.name] = rng.integers(0, 2, size=dims).astype(dtype)
    return feed


def _accuracy(sess, model: Path, bundle_path: str, fixed_batch: int | None) -> dict:
    """Accuracy over the bundle, a batch at a time: raw images are read and preprocessed per batch (at 96 px a
    300,000-image test split is 8 GB raw and 33 GB as float32 input). Texts load whole: they are small, and their
    tokenizer pads a batch as a whole."""
    from edgekit.bench.bundle import load_bundle, read_head, x_batches
    from edgekit.runtime import ort
    from edgekit.runtime.preprocess import prepare

    head = read_head(Path(bundle_path))
    pre = _preprocess_beside(model) or head.preprocess
    kind = pre.get("kind", "image")
    batch = fixed_batch or 256
    if head.boxes is not None:
        return _mean_ap(sess, Path(bundle_path), head, pre, fixed_batch or 64)
    if kind == "text" or head.dtype != np.uint8:
        bundle = load_bundle(Path(bundle_path))
        raw = kind == "text" and bundle.x.dtype.kind in "UO"
        x = prepare(pre, bundle.x) if raw else bundle.x
        return {"value": ort.accuracy(sess, x, bundle.y, batch_size=batch), "samples": len(bundle.y)}
    name, correct, start = sess.get_inputs()[0].name, 0, 0
    for raw in x_batches(Path(bundle_path), batch):  # the same batches as ort.accuracy: the same logits
        pred = sess.run(None, {name: prepare(pre, raw)})[0].argmax(1)
        correct += int((pred == head.y[start : start + len(raw)]).sum())
        start += len(raw)
    return {"value": correct / len(head.y) if len(head.y) else float("nan"), "samples": len(head.y)}


def _mean_ap(sess, bundle_path: Path, head, pre: dict, batch: int) -> dict:
    """A detector's mAP@0.5:0.95 (and mAP@0.5) over a detection bundle, read and preprocessed batch by batch."""
    from edgekit.bench.bundle import x_batches
    from edgekit.detect.evaluate import run_batches
    from edgekit.detect.metric import PRIMARY, coco_map
    from edgekit.runtime.preprocess import prepare

    out = run_batches(sess, (prepare(pre, raw) for raw in x_batches(bundle_path, batch)))
    seen = 1 + max((int(c.max()) for c in head.labels if len(c)), default=0)
    metrics = coco_map(head.boxes, head.labels, *out, max(len(head.preprocess.get("classes") or ()), seen))
    return {"value": metrics[PRIMARY], "samples": len(head.y), "metric": PRIMARY, "metrics": metrics}


def serve(cfg: dict, inbox, reply) -> None:
    import onnxruntime  # noqa: F401  (loaded before the baseline: the runtime library is not the model's memory)

    from edgekit.runtime import ort

    model = Path(cfg["model"])
    baseline = memory.current_rss()
    t0 = time.perf_counter()
    sess = ort.session(
        model, threads=cfg["threads"], spinning=cfg["spinning"], inter_threads=cfg.get("inter_threads", 1)
    )
    t1 = time.perf_counter()
    feed = make_feed(sess, cfg["batch"], _preprocess_beside(model))
    t2 = time.perf_counter()
    sess.run(None, feed)
    t3 = time.perf_counter()
    shape0 = sess.get_inputs()[0].shape[0]
    reply(
        {
            "ok": True,
            "session_ms": (t1 - t0) * 1e3,
            "first_run_ms": (t3 - t2) * 1e3,
            "input_shapes": {k: list(v.shape) for k, v in feed.items()},
            "session_rss": memory.current_rss(),
        }
    )
    for line in inbox:
        cmd = json.loads(line)
        if cmd["cmd"] == "warmup":
            reply({"ok": True, "runs": len(ort.timed_runs(sess, feed, cmd["runs"], cmd["seconds"]))})
        elif cmd["cmd"] == "measure":
            ort.timed_runs(sess, feed, cmd.get("warmup", 0), 0.0)
            reply({"ok": True, "times_ms": ort.timed_runs(sess, feed, cmd["runs"], cmd["seconds"])})
        elif cmd["cmd"] == "memory":
            reply({"ok": True, "baseline_rss": baseline, "peak_rss": memory.peak_rss()})
        elif cmd["cmd"] == "accuracy":
            reply({"ok": True, **_accuracy(sess, model, cmd["bundle"], shape0 if isinstance(shape0, int) else None)})
        elif cmd["cmd"] == "quit":
            return


def main() -> None:
    # the protocol owns the real stdout; fd 1 now points at stderr, so stray prints from libraries are harmless
    proto = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)

    def reply(msg: dict) -> None:
        proto.write(json.dumps(msg) + "\n")
        proto.flush()

    try:
        serve(json.loads(sys.stdin.readline()), sys.stdin, reply)
    except Exception as e:  # reported to the parent, which turns it into an InputError naming the model
        message = getattr(e, "message", None) or f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"
        reply({"ok": False, "error": message})


if __name__ == "__main__":
    main()
