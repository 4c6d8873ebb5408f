"""ONNX Runtime quantization of one configuration: static QDQ (calibrated) or dynamic (MatMul/Gemm only)."""

from __future__ import annotations

import collections
import contextlib
import logging
import io
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from edgekit.errors import InputError

COMPUTE_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm")
# dynamic ConvInteger is ~10x slower than fp32 Conv on x86: never quantize Conv dynamically. Gather: a text
# model's embedding table (MiniLM: 11.7 M of 22.7 M params) stored in 8 bits; without it INT8 MiniLM stays 0.73x
DYNAMIC_OPS = ("MatMul", "Gemm", "Gather")
QUANT_OPS = (
    "QuantizeLinear",
    "DequantizeLinear",
    "QLinearConv",
    "QLinearMatMul",
    "MatMulInteger",
    "ConvInteger",
    "DynamicQuantizeLinear",
)


@dataclass(frozen=True)
class Attempt:
    """One quantization configuration: what the ladder varies and the trial log records."""

    mode: str = "static"  # static | dynamic
    per_channel: bool = True
    reduce_range: bool = False  # 7-bit weights: avoids u8*s8 saturation on CPUs without VNNI
    activation_type: str = "uint8"
    weight_type: str = "int8"
    method: str = "minmax"  # minmax | entropy | percentile (static only)
    exclude: tuple[str, ...] = ()  # node names left in float
    placement: str = ""  # the node groups kept in float for speed (quant/placement.py), part of ``exclude``

    def label(self) -> str:
        if self.mode == "dynamic":
            parts = ["dynamic", "per-channel" if self.per_channel else "per-tensor"]
        else:
            parts = [
                "static",
                self.method,
                "per-channel" if self.per_channel else "per-tensor",
                ("U8" if self.activation_type == "uint8" else "S8") + ("U8" if self.weight_type == "uint8" else "S8"),
            ]
        if self.reduce_range:
            parts.append("reduce-range")
        if self.placement:
            parts.append(f"{self.placement} float")
        if self.exclude:
            parts.append(f"{len(self.exclude)} node(s) float")
        return " ".join(parts)

    def as_dict(self) -> dict:
        return {**asdict(self), "exclude": list(self.exclude)}

    def but(self, **changes) -> Attempt:
        return replace(self, **changes)


def op_counts(model) -> collections.Counter:
    return collections.Counter(n.op_type for n in model.graph.node)


def load_checked(path: Path):
    """The input ONNX model, or a one-line InputError when it is corrupt, already quantized or has nothing to
    quantize."""
    import onnx

    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as e:  # onnx raises DecodeError, ValidationError, OSError...
        raise InputError(
            f"{path}: not a valid ONNX model "
            f"({type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else 'unreadable'})"
        ) from None
    ops = op_counts(model)
    already = sorted(op for op in QUANT_OPS if ops.get(op))
    if already:
        raise InputError(f"{path}: the model is already quantized (it contains {', '.join(already)})")
    if not any(ops.get(op) for op in COMPUTE_OPS):
        raise InputError(
            f"{path}: nothing to quantize: no {', '.join(COMPUTE_OPS)} nodes (ops: {', '.join(sorted(ops)) or 'none'})"
        )
    return model


def is_conv_net(model) -> bool:
    """Most of the compute nodes are convolutions (a rough but honest proxy for where the time goes)."""
    ops = op_counts(model)
    conv = ops.get("Conv", 0) + ops.get("ConvTranspose", 0)
    return conv > 0 and conv >= ops.get("MatMul", 0) + ops.get("Gemm", 0)


def preprocess(src: Path, dst: Path, console=None) -> None:
    """``quant_pre_process``: shape inference + graph optimisation (folds BatchNorm into Conv, fuses ops) so the
    quantizer sees the graph ORT will run. When it cannot handle a model, quantize the original instead."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    import onnx

    from edgekit.quant.placement import name_nodes

    try:
        # from a scratch working directory: ORT's symbolic shape inference dumps sym_shape_infer_temp.onnx (+ .data)
        # into the current directory when it cannot infer every shape (a detector's TopK), i.e. the user's folder
        with tempfile.TemporaryDirectory(prefix="edgekit-prep-") as scratch:
            cwd, src_abs, dst_abs = os.getcwd(), src.resolve(), dst.resolve()  # before chdir: paths may be relative
            os.chdir(scratch)
            try:
                quant_pre_process(str(src_abs), str(dst_abs), skip_symbolic_shape=False)
            finally:
                os.chdir(cwd)
    except Exception as e:  # symbolic shape inference raises bare Exceptions on unusual graphs
        if console is not None:
            console.print(
                f"  [yellow]quant_pre_process failed ({type(e).__name__}: {str(e)[:120]}); "
                "quantizing the model as is[/]"
            )
        shutil.copyfile(src, dst)
    model = onnx.load(str(dst))
    if name_nodes(model):  # exclusion lists and the sensitivity ranking address nodes by name
        onnx.save(model, str(dst))


def _qtype(name: str):
    from onnxruntime.quantization import QuantType

    return {"uint8": QuantType.QUInt8, "int8": QuantType.QInt8}[name]


def _method(name: str):
    from onnxruntime.quantization import CalibrationMethod

    return {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }[name]


def quantize(
    src: Path,
    dst: Path,
    attempt: Attempt,
    reader=None,
    cache_dir: Path | None = None,
    percentile: float = 99.999,
    ranges: dict[str, tuple[float, float]] | None = None,
) -> None:
    """Write the quantized ``src`` to ``dst``. Static needs a calibration ``reader``; activation ranges are cached
    per calibration method in ``cache_dir``, so ladder steps that only change weights do not calibrate again.
    ``ranges`` (tensor -> (min, max), e.g. learned by QAT) are forced over the calibrated ones."""
    with _quiet():
        _quantize(src, dst, attempt, reader, cache_dir, percentile, ranges)


@contextlib.contextmanager
def _quiet():
    """The quantizer logs every skipped tensor at WARNING on the root logger and prints calibration progress on
    stdout (which edgekit keeps for results): both go away for the call, and are restored after it."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        root.setLevel(level)


def _quantize(
    src: Path, dst: Path, attempt: Attempt, reader, cache_dir: Path | None, percentile: float, ranges=None
) -> None:
    from onnxruntime.quantization import QuantFormat, quantize_dynamic, quantize_static

    if attempt.mode == "dynamic":
        quantize_dynamic(
            str(src),
            str(dst),
            op_types_to_quantize=list(DYNAMIC_OPS),
            per_channel=attempt.per_channel,
            reduce_range=attempt.reduce_range,
            weight_type=_qtype(attempt.weight_type),
            nodes_to_exclude=list(attempt.exclude),
        )
        return
    # ranges merged after every batch (the reader's unit): calibration memory is one batch of activations.
    # (CalibMaxIntermediateOutputs would do the same, but onnxruntime 1.32 drops the data it clears.)
    extra = {"CalibStridedMinMax": 1}
    if attempt.method == "percentile":
        extra["CalibPercentile"] = percentile
    if ranges:
        import numpy as np

        extra["TensorQuantOverrides"] = {
            n: [{"rmin": np.float32(lo), "rmax": np.float32(hi)}] for n, (lo, hi) in ranges.items()
        }
    cache = cache_dir / f"calibration-{attempt.method}.json" if cache_dir is not None else None
    quantize_static(
        str(src),
        str(dst),
        reader,
        quant_format=QuantFormat.QDQ,
        per_channel=attempt.per_channel,
        reduce_range=attempt.reduce_range,
        activation_type=_qtype(attempt.activation_type),
        weight_type=_qtype(attempt.weight_type),
        nodes_to_exclude=list(attempt.exclude),
        calibrate_method=_method(attempt.method),
        extra_options=extra,
        **({"calibration_cache_path": str(cache)} if cache is not None else {}),
    )
