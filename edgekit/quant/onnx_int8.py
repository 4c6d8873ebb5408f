"""Make a fake-quantized ONNX file a real INT8 one, and check which kernels ONNX Runtime actually runs.

torch.onnx's export of a PT2E-quantized model (INC 3.x) keeps every weight in fp32 behind a constant
``QuantizeLinear -> (Clip) -> DequantizeLinear`` chain: same size as fp32 and ORT cannot fuse the pattern into
int8 kernels. Folding the constant chain into an int8 initializer read by the ``DequantizeLinear`` gives the
standard QDQ form ORT fuses (QLinearConv, QGemm, ...), with the exact same values."""

from __future__ import annotations

import collections
import tempfile
from pathlib import Path

import numpy as np

INT8_KERNELS = (
    "QLinearConv",
    "QLinearMatMul",
    "QGemm",
    "MatMulInteger",
    "ConvInteger",
    "QLinearAdd",
    "QLinearGlobalAveragePool",
    "QLinearAveragePool",
    "QLinearMul",
    "QLinearConcat",
    "DynamicQuantizeMatMul",
    "MatMulIntegerToFloat",
    "QAttention",
)
FLOAT_COMPUTE = ("Conv", "MatMul", "Gemm", "FusedConv", "FusedGemm", "FusedMatMul")


def _qrange(dtype) -> tuple[int, int]:
    info = np.iinfo(dtype)
    return int(info.min), int(info.max)


def fold_weight_quantization(model) -> int:
    """Fold every ``QuantizeLinear(const) [-> Clip(const bounds)] -> DequantizeLinear`` chain in place; returns how
    many weights were folded. Values are bit-identical to what the chain computes (round half to even)."""
    from onnx import numpy_helper

    g = model.graph
    inits = {i.name: i for i in g.initializer}
    consts = {n.output[0]: n for n in g.node if n.op_type == "Constant"}

    def value(name):
        if name in inits:
            return numpy_helper.to_array(inits[name])
        if name in consts:
            return numpy_helper.to_array(consts[name].attribute[0].t)
        return None

    consumers = collections.defaultdict(list)
    for n in g.node:
        for i in n.input:
            consumers[i].append(n)
    drop, folded, new_inits = set(), 0, []
    for q in g.node:
        if q.op_type != "QuantizeLinear" or len(q.input) < 3:
            continue
        w, scale, zp = value(q.input[0]), value(q.input[1]), value(q.input[2])
        if w is None or scale is None or zp is None or len(consumers[q.output[0]]) != 1:
            continue
        axis = next((a.i for a in q.attribute if a.name == "axis"), 1)
        lo, hi = _qrange(zp.dtype)
        tail, nxt = q, consumers[q.output[0]][0]
        if nxt.op_type == "Clip":  # torch's quant_min/quant_max, spelled as a Clip on the integer tensor
            bounds = [value(b) for b in nxt.input[1:3]]
            if any(b is None for b in bounds) or len(consumers[nxt.output[0]]) != 1:
                continue
            lo, hi = max(lo, int(bounds[0])), min(hi, int(bounds[1]))
            tail, nxt = nxt, consumers[nxt.output[0]][0]
        if nxt.op_type != "DequantizeLinear":
            continue
        shape = [1] * w.ndim
        if scale.ndim == 1 and w.ndim > 0:
            shape[axis % w.ndim] = -1
        s, z = scale.reshape(shape).astype(np.float32), zp.reshape(shape).astype(np.int32)
        qw = np.clip(np.rint(w.astype(np.float32) / s) + z, lo, hi).astype(zp.dtype)
        name = f"{q.input[0]}_int8"
        new_inits.append(numpy_helper.from_array(qw, name))
        nxt.input[0] = name
        drop.update({id(q), id(tail)})
        folded += 1
    kept = [n for n in g.node if id(n) not in drop]
    del g.node[:]
    g.node.extend(kept)
    g.initializer.extend(new_inits)
    used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
    live = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(live)
    return folded


def unquantized_outputs(model) -> list[str]:
    """Outputs of compute nodes whose inputs are dequantized but whose output is not quantized again.

    PT2E's x86 quantizer leaves e.g. the Conv before a residual Add unquantized (its target fuses conv+add+relu);
    ORT then runs that Conv in fp32 on dequantized weights, slower than plain fp32. Giving such outputs a Q/DQ
    pair lets ORT fuse them (QLinearConv, QLinearAdd)."""
    producers = {o: n for n in model.graph.node for o in n.output}
    consumers = collections.defaultdict(list)
    for n in model.graph.node:
        for i in n.input:
            consumers[i].append(n)
    graph_outputs = {o.name for o in model.graph.output}
    out = []
    for n in model.graph.node:
        if n.op_type not in ("Conv", "MatMul", "Gemm") or len(n.input) < 2:
            continue
        if not all(getattr(producers.get(i), "op_type", None) == "DequantizeLinear" for i in n.input[:2]):
            continue
        t = n.output[0]
        if t in graph_outputs or all(_quantized_next(c, consumers) for c in consumers[t]):
            continue
        out.append(t)
    return out


def _quantized_next(node, consumers) -> bool:
    """``node`` is a QuantizeLinear, or a Relu feeding only QuantizeLinears (ORT fuses Relu into the Q before)."""
    if node.op_type == "QuantizeLinear":
        return True
    outs = consumers[node.output[0]] if node.op_type == "Relu" else []
    return bool(outs) and all(c.op_type == "QuantizeLinear" for c in outs)


def tensor_ranges(model, tensors: list[str], batches) -> dict[str, tuple[float, float]]:
    """(min, max) of each tensor over ``batches`` ({input: array}); one batch of activations in memory at a time."""
    import onnx
    import onnxruntime as ort

    m = onnx.ModelProto()
    m.CopyFrom(model)
    m.graph.output.extend(onnx.helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None) for t in tensors)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    lo, hi = dict.fromkeys(tensors, 0.0), dict.fromkeys(tensors, 0.0)  # the range always includes 0
    for feed in batches:
        for t, v in zip(tensors, sess.run(tensors, feed)):
            lo[t], hi[t] = min(lo[t], float(v.min())), max(hi[t], float(v.max()))
    return {t: (lo[t], hi[t]) for t in tensors}


def insert_qdq(model, ranges: dict[str, tuple[float, float]]) -> int:
    """Put an asymmetric uint8 QuantizeLinear -> DequantizeLinear pair after each tensor; returns how many."""
    from onnx import helper, numpy_helper

    g = model.graph
    new_nodes, count = [], 0
    for t, (lo, hi) in ranges.items():
        scale = max(hi - lo, 1e-8) / 255.0
        zp = int(np.clip(np.rint(-lo / scale), 0, 255))
        s_name, z_name, q_name, dq_name = f"{t}_scale", f"{t}_zero_point", f"{t}_quantized", f"{t}_dequantized"
        g.initializer.extend(
            [
                numpy_helper.from_array(np.array(scale, np.float32), s_name),
                numpy_helper.from_array(np.array(zp, np.uint8), z_name),
            ]
        )
        for n in g.node:
            for k, i in enumerate(n.input):
                if i == t:
                    n.input[k] = dq_name
        new_nodes += [
            helper.make_node("QuantizeLinear", [t, s_name, z_name], [q_name], name=f"{t}_Q"),
            helper.make_node("DequantizeLinear", [q_name, s_name, z_name], [dq_name], name=f"{t}_DQ"),
        ]
        count += 1
    g.node.extend(new_nodes)
    return count


def topological_sort(model) -> None:
    """Reorder nodes so every input is produced before it is read (inserted nodes went to the end)."""
    g = model.graph
    ready = {i.name for i in g.input} | {i.name for i in g.initializer} | {""}
    pending, ordered = list(g.node), []
    while pending:
        rest = []
        for n in pending:
            if all(i in ready for i in n.input):
                ordered.append(n)
                ready.update(n.output)
            else:
                rest.append(n)
        if len(rest) == len(pending):
            raise ValueError(f"graph has a cycle or a missing input near node {rest[0].name!r}")
        pending = rest
    del g.node[:]
    g.node.extend(ordered)


def kernel_counts(path: Path) -> dict:
    """Compute ops ONNX Runtime runs after its graph optimisations: int8 kernels vs float ones (batch-agnostic)."""
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="edgekit-ortopt-") as tmp:
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        # extended (not layout) optimisations: they do the QDQ -> int8 kernel fusion and still serialise portably
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        opts.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        ops = collections.Counter(n.op_type for n in onnx.load(opts.optimized_model_filepath).graph.node)
    return {
        "int8": sum(ops[o] for o in INT8_KERNELS),
        "float": sum(ops[o] for o in FLOAT_COMPUTE),
        "ops": {o: c for o, c in sorted(ops.items()) if o in INT8_KERNELS or o in FLOAT_COMPUTE},
    }
