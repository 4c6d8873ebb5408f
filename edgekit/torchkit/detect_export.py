"""A detector -> one ONNX file with decoding inside: input (B, C, H, W) normalised float32; outputs boxes (B, K, 4)
xyxy pixels, scores (B, K), labels (B, K) int64 (``detect_model.Decoded``). Peak picking replaces NMS, so nothing
is left for the harness to do after the session but read the three outputs."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch

from edgekit.detect.evaluate import OUTPUTS
from edgekit.errors import StageFailed
from edgekit.run.stage import StageOutput
from edgekit.torchkit.detect_model import Decoded


def export_detector(model: torch.nn.Module, example: torch.Tensor, path: Path, opset: int = 18, wrap=Decoded) -> None:
    """``example`` (B >= 2, C, H, W): a batch-1 example would fix the batch axis to 1 in the dynamo exporter.
    ``wrap(model)``: the module with the decoding that is exported (another head layout, e.g. in benchmarks/)."""
    wrapped = wrap(model).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                wrapped,
                (example,),
                str(path),
                dynamo=True,
                external_data=False,
                opset_version=opset,
                input_names=["input"],
                output_names=OUTPUTS,
                dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=65536)},),
                verbose=False,
            )
        except Exception as e:
            raise StageFailed(f"detector ONNX export failed: {type(e).__name__}: {str(e).splitlines()[0][:300]}") from e
    onnx.checker.check_model(str(path), full_check=True)


# Detections below this score are not compared: on flat background the heatmap has plateaus of equal logits, and
# torch and ONNX Runtime (1e-7 apart) pick different plateau cells as peaks, which reorders the low tail of the
# top-K list (a random detector on plain canvases: 1e-2 there, 1e-7 above it). mAP barely sees that tail.
SCORE_FLOOR = 0.05


def parity(ref, got, tol: float = 0.0, floor: float = SCORE_FLOOR) -> tuple[float, float]:
    """(max |score diff|, share of images whose top detection has torch's class) between two (boxes, scores,
    labels) lists, over the detections either side scores at or above ``floor``. A detection one side has and the
    other lacks (NMS files vary in length) counts as its whole score. Where torch's top scores tie within ``tol``
    (saturated objects all score 1.0), any tied class agrees: the runtimes order ties differently, and neither is
    wrong."""
    diffs, agree = [], []
    for rs, gs, rl, gl in zip(ref[1], got[1], ref[2], got[2]):
        rs, gs, rl = np.asarray(rs, np.float64), np.asarray(gs, np.float64), np.asarray(rl)
        n = max(len(rs), len(gs))
        r, g = np.pad(rs, (0, n - len(rs))), np.pad(gs, (0, n - len(gs)))
        keep = np.maximum(r, g) >= floor  # both sorted descending: a prefix
        diffs.append(float(np.abs(r[keep] - g[keep]).max(initial=0.0)))
        agree.append(len(gl) == 0 if len(rl) == 0 else len(gl) > 0 and gl[0] in rl[rs >= rs[0] - tol])
    return max(diffs, default=0.0), float(np.mean(agree)) if agree else 1.0


def export_detection(ctx, cfg, model, meta, ds) -> StageOutput:
    """One ONNX file with decoding inside; parity: the top detections' scores and labels of torch and ORT."""
    from edgekit.data.dataset import normalize
    from edgekit.detect.evaluate import predict_onnx
    from edgekit.runtime import ort
    from edgekit.torchkit.detect_train import predict

    from edgekit.torchkit.detect_tv_export import export_tv
    from edgekit.torchkit.detect_tv_model import TVDetector
    from edgekit.torchkit.detect_tv_train import predict_tv

    pre = meta["preprocess"]
    sample = ds.val.take(np.arange(min(cfg.parity_samples, len(ds.val))))
    path = ctx.out / "model.onnx"
    example = torch.from_numpy(normalize(sample.x[:2], pre["mean"], pre["std"]))
    tv = isinstance(model, TVDetector)  # a torchvision detector: batch 1, NMS inside (detect_tv_export)
    (export_tv if tv else export_detector)(model, example, path, cfg.opset)
    (ctx.out / "preprocess.json").write_text(json.dumps(pre, indent=2))

    ref = (predict_tv if tv else predict)(model, sample, pre["mean"], pre["std"])
    got = predict_onnx(ort.session(path, ctx.threads), sample, pre["mean"], pre["std"])
    diff, agree = parity(ref, got, cfg.max_abs_diff)
    if diff > cfg.max_abs_diff or agree < cfg.min_top1_agreement:
        raise StageFailed(
            f"stage '{cfg.id}': detector ONNX differs from torch on {len(sample)} images: max |score diff| "
            f"{diff:.2e} (limit {cfg.max_abs_diff:.0e}), top detection's class agreement {agree:.4f}"
        )
    return StageOutput(
        "model.onnx",
        {
            "parity_max_abs_diff": diff,
            "parity_scaled_diff": diff,  # scores are probabilities: already on a 0..1 scale
            "parity_top1_agreement": agree,
            "parity_samples": len(sample),
            "size_bytes": path.stat().st_size,
        },
    )
