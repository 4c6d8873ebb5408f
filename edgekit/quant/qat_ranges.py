"""Bind the activation ranges QAT learned (one per Conv/Linear input, in the torch forward order) to the tensor
names of the ONNX graph ORT will quantize, for ``quantize_static``'s TensorQuantOverrides.

The exporter writes nodes in the order the forward pass runs them, and quant_pre_process keeps that order, so
the k-th weighted Conv/Gemm/MatMul node's input is the k-th quantized torch input. A count that differs means
the graph is not the one trained (fused or split layers): refused, never guessed."""

from __future__ import annotations

from pathlib import Path

WEIGHTED = ("Conv", "ConvTranspose", "Gemm", "MatMul")
# ops whose output ORT's QDQ quantizer gives the quantization parameters of their input (they move values, or
# only clip below zero): a range forced on their output must be forced on their input too, or the input's
# calibrated range wins (measured: an override on a MaxPool output alone left a 1000x outlier range in place)
SHARED = ("Clip", "MaxPool", "Relu", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Identity")


def quantized_inputs(model) -> list[str]:
    """The activation input of every node with a weight initializer (a torch Conv/Linear), graph order."""
    weights = {t.name for t in model.graph.initializer}
    return [
        n.input[0] for n in model.graph.node if n.op_type in WEIGHTED and len(n.input) > 1 and n.input[1] in weights
    ]


def bind(learned: list[tuple[str, float, float]], onnx_path: Path) -> dict[str, tuple[float, float]]:
    """Tensor name -> (rmin, rmax). A tensor read by several layers (one input, two branches) gets the union of
    their ranges, since ORT quantizes it once. Raises ValueError when the counts differ."""
    import onnx

    model = onnx.load(str(onnx_path))
    names = quantized_inputs(model)
    if len(names) != len(learned):
        raise ValueError(
            f"{onnx_path.name}: {len(names)} weighted Conv/Gemm/MatMul nodes, but QAT quantized {len(learned)} "
            "Conv/Linear inputs: the graph does not match the trained model"
        )
    producer = {o: n for n in model.graph.node for o in n.output}
    out: dict[str, tuple[float, float]] = {}
    for name, (_, lo, hi) in zip(names, learned):
        while True:
            old = out.get(name)
            out[name] = (min(lo, old[0]), max(hi, old[1])) if old else (lo, hi)
            node = producer.get(name)
            if node is None or node.op_type not in SHARED:
                break
            name = node.input[0]
    return out


def quantize(src: Path, dst: Path, attempt, reader, ranges: dict[str, tuple[float, float]]) -> None:
    """ORT static QDQ quantization of ``src`` (the QAT model, preprocessed) as ``attempt`` says, with ``ranges``
    forced over the calibrated ones (TensorQuantOverrides): ORT's own Q/DQ placement and fusion, QAT's ranges.
    The tensors not in ``ranges`` (residual adds, logits) are calibrated (min/max) on the QAT model, whose clamps
    make its float function the trained one."""
    from dataclasses import replace

    from edgekit.quant import ort_static

    ort_static.quantize(src, dst, replace(attempt, method="minmax"), reader, ranges=ranges)
