"""torch -> ONNX with one self-contained file and a dynamic batch axis."""

from __future__ import annotations

import logging
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnx
import torch

from edgekit.errors import StageFailed


def parity(ref: np.ndarray, got: np.ndarray) -> tuple[float, float, float]:
    """(max |diff|, max |diff| / logit scale, top-1 agreement) of torch logits ``ref`` vs ONNX logits ``got``.

    The scale is the largest logit magnitude, at least 1: float32 kernels differ in summation order, so the
    difference grows with the logits (an EfficientNet with logits near 1500 differs by 0.4 at 3e-4 relative)."""
    diff = float(np.abs(ref - got).max())
    return diff, diff / max(1.0, float(np.abs(ref).max())), float((ref.argmax(1) == got.argmax(1)).mean())


@contextmanager
def _quiet_constant_folding():
    """onnxscript's constant folder logs "Evaluation failed: ..." for every fold it skips (on text models:
    reshapes whose batch size is symbolic) and carries on; the graph is correct, parity is checked after."""
    log = logging.getLogger("onnxscript.optimizer._constant_folding")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def export_onnx(
    model: torch.nn.Module, example: torch.Tensor, path: Path, opset: int, exporter: str = "dynamo"
) -> None:
    """``example`` has batch >= 2: a batch-1 example specialises the batch axis to 1 in the dynamo exporter."""
    model.eval()
    with warnings.catch_warnings(), _quiet_constant_folding():
        warnings.simplefilter("ignore")
        try:
            if exporter == "dynamo":
                batch = torch.export.Dim("batch", min=1, max=65536)
                torch.onnx.export(
                    model,
                    (example,),
                    str(path),
                    dynamo=True,
                    external_data=False,
                    opset_version=opset,
                    input_names=["input"],
                    output_names=["logits"],
                    dynamic_shapes=({0: batch},),
                    verbose=False,
                )
            else:
                torch.onnx.export(
                    model,
                    (example,),
                    str(path),
                    dynamo=False,
                    opset_version=opset,
                    input_names=["input"],
                    output_names=["logits"],
                    dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                )
        except Exception as e:
            raise StageFailed(
                f"ONNX export failed ({exporter} exporter): {type(e).__name__}: {str(e).splitlines()[0][:300]}"
            ) from e
    if path.with_name(path.name + ".data").exists():
        raise StageFailed(f"{path}: exporter wrote a side .data file; the model is too large for one file")
    onnx.checker.check_model(str(path), full_check=True)
