"""A detector whose plain static INT8 collapses, and the quantize ladder catching it (issue 32).

The construction is the way real detect heads break (YOLOv8's export, ultralytics#22124, onnxruntime-inference-
examples#528): the box branch (xyxy in input pixels, about -10..110 on a 96 px canvas) and the class branch (sigmoid
probabilities, 0..1) are concatenated into one (B, 4 + K, cells) tensor that a decoder subgraph slices apart again
(peaks by 3x3 max-pool, top-k, gather). The float function is exactly the built-in detector's (``Decoded``); but the
QDQ quantizer gives the concat's output one per-tensor scale from its min/max, ~0.5 px a level, and every class
probability becomes 0, 0.47 or 0.94: scores tie, peaks multiply, mAP collapses. The ladder must find the node(s) to
keep float and still run the backbone and heads on integer kernels.

    PYTHONPATH=. python benchmarks/detect_int8_collapse.py     # prints the table; exit 1 on a miss

Accuracy (mAP) and kernel counts only: the verdict does not depend on the machine's load."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

FASHION = Path("/usr/share/datasets/fashion-mnist")
SIZE = 96  # canvas side, px: box coordinates span ~100x the probabilities' range


def concat_head(net, k: int = 100):
    """``net`` (CenterNetSmall) exported the YOLO way: boxes and class probabilities in one concatenated tensor."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    from edgekit.torchkit.detect_model import STRIDE

    class ConcatHead(nn.Module):
        def __init__(self):
            super().__init__()
            self.net, self.k = net, k

        def forward(self, x):
            out = self.net(x)
            b, n_cls, h, w = out["heat"].shape
            ys = torch.arange(h, dtype=x.dtype).view(1, h, 1)
            xs = torch.arange(w, dtype=x.dtype).view(1, 1, w)
            cx, cy = xs + out["offset"][:, 0], ys + out["offset"][:, 1]
            hw, hh = out["size"][:, 0].clamp(min=0) / 2, out["size"][:, 1].clamp(min=0) / 2
            dense = torch.stack([cx - hw, cy - hh, cx + hw, cy + hh], 1) * STRIDE  # (B, 4, h, w) px
            pred = torch.cat([dense.reshape(b, 4, h * w), torch.sigmoid(out["heat"]).reshape(b, n_cls, h * w)], 1)
            box, heat = pred[:, :4], pred[:, 4:].reshape(b, n_cls, h, w)  # the decoder reads the one tensor
            peaks = heat * (F.max_pool2d(heat, 3, 1, 1) == heat).to(heat.dtype)
            scores, idx = torch.topk(peaks.reshape(b, -1), min(self.k, n_cls * h * w))
            labels = torch.div(idx, h * w, rounding_mode="floor")
            cell = (idx - labels * (h * w)).unsqueeze(1).expand(b, 4, idx.shape[1])
            return box.gather(2, cell).transpose(1, 2), scores, labels

    return ConcatHead().eval()


def _data(n_train: int, n_val: int, seed: int = 0):
    from edgekit.data.sources import read_idx
    from edgekit.detect.dataset import DetSplit, channel_stats
    from edgekit.detect.synth import compose

    def items(split):
        x = read_idx(FASHION / f"{split}-images-idx3-ubyte.gz")
        return x, read_idx(FASHION / f"{split}-labels-idx1-ubyte.gz").astype(np.int64)

    train = DetSplit(*compose(*items("train"), n_train, SIZE, seed))
    val = DetSplit(*compose(*items("t10k"), n_val, SIZE, seed + 1))
    mean, std = channel_stats(train.x)
    return train, val, mean, std


def build(work: Path, n_train=1500, n_val=200, epochs=6, width=0.5) -> dict:
    """Train the small detector and export it with the concatenated head to ``work/fp32.onnx``; the validation
    images, their truth and calibration images beside it (``case.npz``). Reused when already there."""
    import pickle

    import torch

    from edgekit.data.dataset import normalize
    from edgekit.detect.truth import DetTruth
    from edgekit.torchkit.detect_export import export_detector
    from edgekit.torchkit.detect_train import fit_detector
    from edgekit.torchkit.models import centernet_small

    saved = work / "case.pkl"
    if not saved.is_file():
        torch.manual_seed(0)
        train, val, mean, std = _data(n_train, n_val)
        net = centernet_small(10, 1, width=width)
        fit_detector(net, train, mean, std, epochs, lr=3e-3)
        example = torch.from_numpy(normalize(val.x[:2], mean, std))
        export_detector(net.eval(), example, work / "fp32.onnx", wrap=concat_head)
        case = {"x_val": normalize(val.x, mean, std), "truth": DetTruth(val.boxes, val.labels, 10)}
        case |= {"calib": train.x[:128], "mean": mean, "std": std}
        saved.write_bytes(pickle.dumps(case))
    return pickle.loads(saved.read_bytes())


def constructed_case(work: Path, tolerance=1.0, **build_args) -> dict:
    """Build the case (``build``) in ``work`` and run the quantize ladder on it there.
    Returns {"fp32": Measurement, "trials": [Trial...], "pick": Trial}."""
    from rich.console import Console

    from edgekit.data.dataset import normalize
    from edgekit.quant import ort_static
    from edgekit.quant.calibration import BatchReader
    from edgekit.quant.measure import MeasureSettings, measure_onnx
    from edgekit.quant.ort_flow import LadderSettings, run_trials
    from edgekit.quant.outcome import choose
    from edgekit.quant.tolerance import Tolerance

    case = build(work, **build_args)
    src, calib, mean, std = work / "fp32.onnx", case["calib"], case["mean"], case["std"]
    measure = MeasureSettings(latency_runs=20, min_seconds=0.2)
    float_m = measure_onnx(src, case["x_val"], case["truth"], measure)
    trials = run_trials(
        src,
        work,
        ort_static.Attempt(),
        case["x_val"],
        case["truth"],
        float_m,
        Tolerance(tolerance, False),
        lambda: BatchReader(calib, "input", lambda b: normalize(b, mean, std), 32),
        measure,
        LadderSettings(speed_rungs=0),
        Console(stderr=True),
    )
    return {"fp32": float_m, "trials": trials, "pick": choose(trials), "work": work}


def verdict(case: dict, tolerance: float = 1.0) -> tuple[list[list[str]], list[str], list[str]]:
    """The table's rows, the misses and the sense check's finding on the first rung. Misses: a first rung that
    does not collapse (and trip edgekit's sense check), a pick over ``tolerance`` mAP points below fp32, fewer
    integer kernels than Convs, or a Conv/Gemm/MatMul kept float (only the head's decoder may stay float)."""
    import onnx

    from edgekit.decide.sense import _collapse
    from edgekit.detect.metric import PRIMARY

    fp32, first, pick = case["fp32"], case["trials"][0], case["pick"]
    parent = {"id": "fp32", "accuracy": fp32.accuracy, "metric": PRIMARY, "chance_accuracy": 0.0}
    tripped = _collapse({"id": "first rung", "accuracy": first.measurement.accuracy, "metric": PRIMARY}, parent)
    kept = list(pick.config["exclude"])
    ops = {n.name: n.op_type for n in onnx.load(str(pick.path)).graph.node}
    convs = sum(1 for n in onnx.load(str(case["work"] / "prep.onnx")).graph.node if n.op_type == "Conv")
    rows = [["fp32", f"{fp32.accuracy:.2%}", "", "", ""]]
    for name, t in (("INT8 first rung", first), ("INT8 ladder's pick", pick)):
        k = t.kernels or {}
        rows.append([f"{name} (trial {t.index})", f"{t.measurement.accuracy:.2%}", f"{t.drop_points:+.2f} pt"])
        rows[-1] += [f"{k.get('int8', 0)} int8 / {k.get('float', 0)} float", ", ".join(kept) if t is pick else ""]
    misses = []
    if not tripped:
        misses.append("the first rung did not collapse enough to trip the int8-collapse sense check")
    if not pick.met or pick.drop_points > tolerance:
        misses.append(f"the ladder's pick is {pick.drop_points:.2f} mAP points below fp32 (allowed {tolerance})")
    if (pick.kernels or {}).get("int8", 0) < convs:
        misses.append(
            f"the pick runs fewer integer kernels ({(pick.kernels or {}).get('int8')}) than the {convs} Convs"
        )
    if any(ops.get(n) in ("Conv", "Gemm", "MatMul") for n in kept):
        misses.append(f"the pick keeps compute nodes float, not just the head's decoder: {kept}")
    return rows, misses, [f.line() for f in tripped]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", type=int, default=1500, help="training canvases (96 px)")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--work", type=Path, help="keep the trained case and every trial here (reused when there)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="edgekit-detcollapse-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        case = constructed_case(work, n_train=args.train, epochs=args.epochs)
        rows, misses, sense = verdict(case)
        print("| file | mAP@0.5:0.95 | vs fp32 | ORT kernels (optimised graph) | nodes kept float |")
        print("|---|---|---|---|---|")
        for r in rows:
            print("| " + " | ".join(r + [""] * (5 - len(r))) + " |")
        for t in case["trials"]:
            print(f"  trial {t.index}: {t.label}: {t.measurement.accuracy:.2%}", file=sys.stderr)
    for line in sense:
        print(f"sense check on the first rung: {line}")
    for m in misses:
        print(f"MISS: {m}")
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
