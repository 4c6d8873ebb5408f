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
ELEMENTWISE = {
    "Relu",
    "Clip",
    "LeakyRelu",
    "PRelu",
    "Elu",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "Resize",
    "QLinearAveragePool",
    "QLinearGlobalAveragePool",
}
POOL_ON_INPUT = {
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "QLinearAveragePool",
    "QLinearGlobalAveragePool",
}  # ptflops counts pooling on its input elements
# inputs of these ops that are quantisation scales / zero points, not parameters
QPARAM_INPUTS = {
    "QuantizeLinear": {1, 2},
    "DequantizeLinear": {1, 2},
    "QLinearConv": {1, 2, 4, 5, 6, 7},
    "QLinearMatMul": {1, 2, 4, 5, 6, 7},
    "ConvInteger": {2, 3},
    "MatMulInteger": {2, 3},
    "QGemm": {1, 2, 4, 5, 7, 8},
}
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


def _run_shapes(model) -> tuple[dict[str, list[int]], str | None]:
    """Every intermediate tensor's shape from one onnxruntime run on zeros (batch 1); ({}, why) when it cannot run."""
    import numpy as np
    import onnx
    import onnxruntime as ort

    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    init = {i.name for i in g.initializer}
    feeds = {}
    types = {1: np.float32, 6: np.int32, 7: np.int64, 10: np.float16, 11: np.float64, 2: np.uint8, 3: np.int8}
    for inp in g.input:
        if inp.name in init:
            continue
        t = inp.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
        if None in dims or t.elem_type not in types:
            return {}, f"input '{inp.name}' has a symbolic size other than the batch"
        feeds[inp.name] = np.zeros(dims, types[t.elem_type])
    known = {o.name for o in g.output}
    names = [o for n in g.node for o in n.output if o and o not in known]
    g.output.extend(onnx.ValueInfoProto(name=n) for n in names)
    try:
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep every node's output
        opts.intra_op_num_threads = 1
        sess = ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        outs = sess.run(None, feeds)
    except Exception as e:  # noqa: BLE001 — any runtime failure only means the shapes stay unknown
        return {}, f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"
    return {o.name: list(np.shape(v)) for o, v in zip(sess.get_outputs(), outs)}, None


# integer-arithmetic nodes (QOperator and QDQ formats, static and dynamic): the model's MACs run on int8 kernels
INT8_OPS = frozenset(
    {"QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger", "DequantizeLinear", "DynamicQuantizeLinear"}
)


def count(path: Path) -> dict:
    """{"params", "macs", "ops", "uncounted", "why", "int8"} for one sample; macs/ops None if a needed shape stays
    unknown, and then ``why`` says which nodes and why (never an empty count without a reason)."""
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

    core, extra, unknown = _tally(g, shape)
    if unknown:
        # exporters that compute reshape targets at run time (torch's legacy exporter: Shape -> Gather -> Concat)
        # leave shapes unknown to static inference; one batch-1 run of the graph in onnxruntime measures them
        measured, run_error = _run_shapes(model)
        shapes.update({k: v for k, v in measured.items() if shapes.get(k) is None})
        core, extra, unknown = _tally(g, shape)
        inference_error = inference_error or (
            f"running the graph once to measure them failed ({run_error})" if run_error else None
        )
    why = None
    if unknown:
        names = sorted(unknown)
        why = (
            f"{len(names)} node(s) with a shape ONNX shape inference left unknown: {', '.join(names[:3])}"
            + (", ..." if len(names) > 3 else "")
            + (f"; {inference_error}" if inference_error else "")
        )
    return {
        "params": params(model),
        "macs": None if unknown else core,
        "ops": None if unknown else core + extra,
        "uncounted": sorted(unknown),
        "why": why,
        "int8": any(n.op_type in INT8_OPS for n in g.node),
    }


def _tally(g, shape) -> tuple[int, int, set[str]]:
    """(conv/linear MACs, other ops, names of nodes whose shapes are unknown) of one sample."""
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
    return core, extra, unknown


def params(model) -> int:
    """Elements of weight and bias tensors: float or quantised initializers, excluding shape constants and
    quantisation scales / zero points."""
    g = model.graph
    qparams = {ins[i] for n in g.node for i in QPARAM_INPUTS.get(n.op_type, ()) if i < len(ins := n.input)}
    return sum(prod(t.dims) for t in g.initializer if t.data_type in FLOAT_OR_QUANT and t.name not in qparams)
