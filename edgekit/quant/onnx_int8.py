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

INT8_KERNELS = ("QLinearConv", "QLinearMatMul", "QGemm", "MatMulInteger", "ConvInteger", "QLinearAdd",
                "QLinearGlobalAveragePool", "QLinearAveragePool", "QLinearMul", "QLinearConcat", "DynamicQuantizeMatMul",
                "MatMulIntegerToFloat", "QAttention")
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
    return {"int8": sum(ops[o] for o in INT8_KERNELS), "float": sum(ops[o] for o in FLOAT_COMPUTE),
            "ops": {o: c for o, c in sorted(ops.items()) if o in INT8_KERNELS or o in FLOAT_COMPUTE}}
