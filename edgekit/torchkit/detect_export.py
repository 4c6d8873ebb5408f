"""A detector -> one ONNX file with decoding inside: input (B, C, H, W) normalised float32; outputs boxes (B, K, 4)
xyxy pixels, scores (B, K), labels (B, K) int64 (``detect_model.Decoded``). Peak picking replaces NMS, so nothing
is left for the harness to do after the session but read the three outputs."""

from __future__ import annotations

import warnings
from pathlib import Path

import onnx
import torch

from edgekit.detect.evaluate import OUTPUTS
from edgekit.errors import StageFailed
from edgekit.torchkit.detect_model import Decoded


def export_detector(model: torch.nn.Module, example: torch.Tensor, path: Path, opset: int = 18) -> None:
    """``example`` (B >= 2, C, H, W): a batch-1 example would fix the batch axis to 1 in the dynamo exporter."""
    wrapped = Decoded(model).eval()
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
