"""A torchvision detector -> one ONNX file, batch 1 on the fixed canvas, NMS inside: input (1, C, H, W) normalised
float32; outputs boxes (1, N, 4) xyxy canvas pixels, scores (1, N), labels (1, N) int64, N <= 100 detections left
by the detector's own score threshold, per-class NMS (ONNX NonMaxSuppression) and top-k. Nothing is left for the
harness to do after the session, so its latency is end to end. torchvision's post-processing loops over the images
of a list, so the batch is fixed at 1 (the readers in ``edgekit.detect`` run such a file one image at a time).

The exporter is torch.onnx's TorchScript one: the dynamo exporter stops at torchvision's batched NMS (a
data-dependent shape, "Could not guard on data-dependent expression", torch 2.14 / torchvision 0.29)."""

from __future__ import annotations

import warnings
from pathlib import Path

import onnx
import torch

from edgekit.detect.evaluate import OUTPUTS
from edgekit.errors import StageFailed


def export_tv(model, example: torch.Tensor, path: Path, opset: int = 18) -> None:
    """``example`` (1, C, H, W): the canvas the file is fixed to."""
    from edgekit.torchkit.detect_tv_model import Exported

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                Exported(model).eval(),
                (example[:1],),
                str(path),
                dynamo=False,
                opset_version=opset,
                input_names=["input"],
                output_names=OUTPUTS,
                dynamic_axes={name: {1: "detections"} for name in OUTPUTS},
            )
        except Exception as e:
            raise StageFailed(f"detector ONNX export failed: {type(e).__name__}: {str(e).splitlines()[0][:300]}") from e
    onnx.checker.check_model(str(path), full_check=True)
