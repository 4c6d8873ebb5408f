"""Parameters and MACs counted from an ONNX graph (float, QDQ and QOperator models alike), torch-free.

Shapes come from ONNX shape inference with the batch axis fixed to 1, so counts are per sample.
``macs`` are the multiply-accumulates of conv and linear layers (Conv, ConvInteger, QLinearConv, ConvTranspose,
Gemm, MatMul and their integer forms), the figure papers quote (resnet18 at 224x224: 1.81 G) and the one
torch-pruning's counter gives for those layers. ``ops`` adds what ptflops-style counters also count: bias adds,
2 per element for normalisation, 1 per element for activations and pooling. The exporter folds BatchNorm into
the conv, so ``ops`` of an exported model is lower than torch-pruning's total for the torch model."""

from __future__ import annotations

from math import prod
from pathlib import Path

from edgekit.errors import InputError

# op type -> index of (input, weight, bias) among the node's inputs; None: the op has no such input
CONV = {"Conv": (0, 1, 2), "ConvInteger": (0, 1, None), "QLinearConv": (0, 3, 8)}
MATMUL = {"MatMul": (0, 1), "MatMulInteger": (0, 1), "QLinearMatMul": (0, 3)}
GEMM = {"Gemm": (0, 1, 2), "QGemm": (0, 3, 6)}  # QGemm: onnxruntime's com.microsoft quantised Gemm
NORM = {"BatchNormalization", "InstanceNormalization", "LayerNormalization", "GroupNormalization"}
ELEMENTWISE = {"Relu", "Clip", "LeakyRelu", "PRelu", "Elu", "MaxPool", "AveragePool", "GlobalAveragePool",
               "GlobalMaxPool", "Resize", "QLinearAveragePool", "QLinearGlobalAveragePool"}
POOL_ON_INPUT = {"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "QLinearAveragePool",
                 "QLinearGlobalAveragePool"}  # ptflops counts pooling on its input elements
# inputs of these ops that are quantisation scales / zero points, not parameters
QPARAM_INPUTS = {"QuantizeLinear": {1, 2}, "DequantizeLinear": {1, 2}, "QLinearConv": {1, 2, 4, 5, 6, 7},
                 "QLinearMatMul": {1, 2, 4, 5, 6, 7}, "ConvInteger": {2, 3}, "MatMulInteger": {2, 3},
                 "QGemm": {1, 2, 4, 5, 7, 8}}
FLOAT_OR_QUANT = {1, 2, 3, 6, 10, 11, 16}  # onnx TensorProto: FLOAT, UINT8, INT8, INT32, FLOAT16, DOUBLE, BFLOAT16


def _fix_batch(model, batch: int) -> None:
    for inp in model.graph.input:
        dims = inp.type.tensor_type.shape.dim
        if len(dims) and not dims[0].HasField("dim_value"):
            dims[0].dim_value = batch


def _shapes(model) -> dict[str, list[int] | None]:
    out: dict[str, list[int] | None] = {}
    g = model.graph
    for vi in [*g.input, *g.value_info, *g.output]:
        t = vi.type.tensor_type
        if t.HasField("shape"):
            dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
            out[vi.name] = None if None in dims else dims
    for init in g.initializer:
        out[init.name] = list(init.dims)
    return out


def count(path: Path) -> dict:
    """{"params", "macs", "ops", "uncounted", "why"} for one sample; macs/ops None if a needed shape stays unknown,
    and then ``why`` says which nodes and why (never an empty count without a reason)."""
    import onnx

    try:
        model = onnx.load(str(path))
    except Exception as e:  # onnx raises DecodeError / OSError variants
        raise InputError(f"{path}: not a readable ONNX model ({type(e).__name__}: {str(e)[:200]})") from None
    _fix_batch(model, 1)
    inference_error = None
    try:
        model = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception as e:  # a custom op can defeat inference; count what is still known
        inference_error = f"ONNX shape inference failed ({type(e).__name__}: {str(e).splitlines()[0][:160]})"
    shapes = _shapes(model)
    g = model.graph

    def shape(name: str) -> list[int] | None:
        return shapes.get(name) if name else None

    core = extra = 0
    unknown: set[str] = set()
    for node in g.node:
        op, ins = node.op_type, node.input
        if op in CONV:
            xi, wi, bi = CONV[op]
            w, y = shape(ins[wi]), shape(node.output[0])
            if w is None or y is None:
                unknown.add(node.name or op)
                continue
            core += prod(y) * prod(w[1:])  # per output element: (C_in / groups) * kernel
            if bi is not None and len(ins) > bi and ins[bi]:
                extra += prod(y)
        elif op == "ConvTranspose":
            x, w = shape(ins[0]), shape(ins[1])
            y = shape(node.output[0])
            if x is None or w is None or y is None:
                unknown.add(node.name or op)
                continue
            core += prod(x) * prod(w[1:])  # every input element scatters into (C_out / groups) * kernel outputs
            extra += prod(y) if len(ins) > 2 and ins[2] else 0
        elif op in GEMM:
            ai, wi, bi = GEMM[op]
            a, b = shape(ins[ai]), shape(ins[wi])
            if b is None:
                unknown.add(node.name or op)
                continue
            attrs = {at.name: at.i for at in node.attribute}
            k, n = (b[1], b[0]) if attrs.get("transB") else (b[0], b[1])
            # A's rows are the batch (1 here); onnx cannot infer shapes behind com.microsoft ops, so fall back to it
            m = (a[1] if attrs.get("transA") else a[0]) if a is not None else 1
            core += m * n * k  # from the operands: a contrib op's output shape may not be inferred
            if len(ins) > bi and ins[bi]:
                extra += m * n
        elif op in MATMUL:
            a, y = shape(ins[MATMUL[op][0]]), shape(node.output[0])
            if a is None or y is None:
                unknown.add(node.name or op)
                continue
            core += prod(y) * a[-1]
        elif op in NORM or op in ELEMENTWISE:
            t = shape(ins[0] if op in POOL_ON_INPUT or op in NORM else node.output[0])
            if t is None:
                unknown.add(node.name or op)
                continue
            extra += prod(t) * (2 if op in NORM else 1)
    why = None
    if unknown:
        names = sorted(unknown)
        why = (f"{len(names)} node(s) with a shape ONNX shape inference left unknown: {', '.join(names[:3])}"
               + (", ..." if len(names) > 3 else "") + (f"; {inference_error}" if inference_error else ""))
    return {"params": params(model), "macs": None if unknown else core,
            "ops": None if unknown else core + extra, "uncounted": sorted(unknown), "why": why}


def params(model) -> int:
    """Elements of weight and bias tensors: float or quantised initializers, excluding shape constants and
    quantisation scales / zero points."""
    g = model.graph
    qparams = {ins[i] for n in g.node for i in QPARAM_INPUTS.get(n.op_type, ()) if i < len(ins := n.input)}
    return sum(prod(t.dims) for t in g.initializer if t.data_type in FLOAT_OR_QUANT and t.name not in qparams)
