"""Which nodes lose the most precision when quantized, measured rather than guessed.

Both models (float and quantized, same node names: the QDQ quantizer keeps them) run on the same calibration
batches with every node output exposed. For each tensor, noise-to-signal ratio ``NSR = sum((q - f)^2) / sum(f^2)``
accumulates over batches (bounded memory). A node's own damage is the NSR it adds over the worst of its inputs;
the nodes that add the most are the first candidates to keep in float."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

# ops that never carry quantized data; shape ops like Reshape stay in: the QDQ quantizer wraps them too
SKIP_OPS = {"Constant", "Shape", "Cast", "QuantizeLinear", "DequantizeLinear", "Identity", "ConstantOfShape", "Range"}


def _with_outputs(model, names: list[str]) -> bytes:
    import onnx

    m = onnx.ModelProto()
    m.CopyFrom(model)
    have = {o.name for o in m.graph.output}
    m.graph.output.extend(
        onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None) for n in names if n not in have
    )
    return m.SerializeToString()


def _session(model_bytes: bytes, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    # no graph rewrites: fused nodes would hide the intermediate tensors we compare
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])


def rank_nodes(
    float_path: Path, quant_path: Path, batches: Iterable[dict], threads: int = 1
) -> list[tuple[str, float]]:
    """Node names of the float model with the NSR each adds, worst first. ``batches``: ``{input_name: array}``."""
    import onnx

    fm, qm = onnx.load(str(float_path)), onnx.load(str(quant_path))
    q_out = {o for n in qm.graph.node for o in n.output}
    # only float tensors carry quantization error; integer shape arithmetic (e.g. a Resize's target size: Shape ->
    # Concat) must not be exposed as a float output, which onnxruntime refuses
    inferred = onnx.shape_inference.infer_shapes(fm)
    is_float = {
        v.name
        for v in (*inferred.graph.value_info, *inferred.graph.output)
        if v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    }
    nodes = [
        n
        for n in fm.graph.node
        if n.op_type not in SKIP_OPS and n.name and n.output and n.output[0] in q_out and n.output[0] in is_float
    ]
    tensors = [n.output[0] for n in nodes]
    fs, qs = _session(_with_outputs(fm, tensors), threads), _session(_with_outputs(qm, tensors), threads)
    f_names, q_names = [o.name for o in fs.get_outputs()], [o.name for o in qs.get_outputs()]
    err = dict.fromkeys(tensors, 0.0)
    sig = dict.fromkeys(tensors, 0.0)
    for feed in batches:
        f_vals = dict(zip(f_names, fs.run(None, feed)))
        q_vals = dict(zip(q_names, qs.run(None, feed)))
        for t in tensors:
            f, q = f_vals[t].astype(np.float64), q_vals[t].astype(np.float64)
            err[t] += float(((q - f) ** 2).sum())
            sig[t] += float((f**2).sum())
    nsr = {t: err[t] / max(sig[t], 1e-30) for t in tensors}
    added = []
    for n in nodes:
        upstream = max((nsr[i] for i in n.input if i in nsr), default=0.0)
        added.append((n.name, nsr[n.output[0]] - upstream))
    ranked = sorted(added, key=lambda kv: -kv[1])
    # nodes the quantizer folded away (e.g. a Relu after a Conv) have no tensor to compare; they come last,
    # so the ladder's final rung can still keep every node in float
    measured = {name for name, _ in ranked}
    return ranked + [
        (n.name, 0.0) for n in fm.graph.node if n.op_type not in SKIP_OPS and n.name and n.name not in measured
    ]
