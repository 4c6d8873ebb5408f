"""Which nodes lose the most precision when quantized, measured rather than guessed.

Both models (float and quantized, same node names: the QDQ quantizer keeps them) run on the same calibration
batches with every node output exposed. For each tensor, noise-to-signal ratio ``NSR = sum((q - f)^2) / sum(f^2)``
accumulates over batches (bounded memory). A node's own damage is the NSR it adds over the worst of its inputs;
the nodes that add the most are the first candidates to keep in float.

Blame goes where the precision is lost. A node that moves or selects values (Slice, Reshape, Gather, MaxPool, ...)
gets its input's scale from the quantizer and cannot lose precision itself; when its output is worse than its input
(a detector's decoder slicing class probabilities out of a tensor concatenated with pixel boxes: the probabilities
are 1/100 of the range the concat's one scale covers), the loss happened where that input was quantized, and is
charged to the node that set the scale. Likewise a float node downstream (a peak test ``maxpool(heat) == heat``
whose mask flips) amplifies error it did not make: it goes to the node the error came from."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

# ops that never carry quantized data; shape ops like Reshape stay in: the QDQ quantizer wraps them too. A Cast
# to float is measured (a peak mask's flips show there), and charged upstream like every float node
SKIP_OPS = {"Constant", "Shape", "QuantizeLinear", "DequantizeLinear", "Identity", "ConstantOfShape", "Range"}
# ops whose outputs are some of their (first) input's values, moved or selected: QDQ gives them their input's scale
MOVES = {
    "Slice",
    "Split",
    "Gather",
    "GatherElements",
    "GatherND",
    "Reshape",
    "Transpose",
    "Squeeze",
    "Unsqueeze",
    "Flatten",
    "Expand",
    "Tile",
    "MaxPool",
    "TopK",
}


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


def _width(span: dict, t: str) -> float:
    lo, hi = span.get(t, (0.0, 0.0))
    return max(hi, 0.0) - min(lo, 0.0)  # a quantized range always holds 0


def _blame(fm, nsr: dict[str, float], own: set[str], span: dict) -> dict[str, float]:
    """Node name -> the NSR charged to it. ``own``: the nodes that can lose precision themselves (they read
    dequantized values in the QDQ model, or were fused away into the node before them). Walked in the graph's
    (topological) order, each tensor keeps the NSR it carries (``level``: measured, or its worst input's) and the
    node that introduced most of it (``origin``). A node in ``own`` is charged what it adds. A moving node that uses
    under a quarter of its source's range (the class probabilities sliced out of a concat with pixel boxes) is
    showing that source's scale: the source is charged. Any other moving node, or a float one (a comparison, a
    Cast, index arithmetic), only passes its inputs' error on, amplified (a peak that flips): the origin of its
    worst input is charged."""
    producer = {o: n for n in fm.graph.node for o in n.output}
    level: dict[str, float] = {}
    origin: dict[str, str] = {}
    blame: dict[str, float] = {}
    for n in fm.graph.node:
        ins = [i for i in n.input if i in level]
        worst = max(ins, key=lambda i: level[i], default=None)
        up = level[worst] if worst is not None else 0.0
        out = n.output[0] if n.output else ""
        added = nsr[out] - up if out in nsr else 0.0
        src = origin.get(worst) if worst is not None else None
        setter = n
        while setter.op_type in MOVES and setter.input and setter.input[0] in producer:
            setter = producer[setter.input[0]]
        if n.op_type in MOVES and setter is not n and _width(span, out) < 0.25 * _width(span, setter.output[0]):
            src = setter.name  # the moved values use a sliver of the scale their source's quantization set
        mine = (n.op_type not in MOVES and n.name in own) or src is None
        if n.name and out in nsr:
            target = n.name if mine else src
            blame[target] = blame.get(target, 0.0) + (added if mine else max(added, 0.0))
        for o in n.output:
            level[o] = nsr.get(o, up)
            origin[o] = n.name if mine and (added >= up or src is None) else src
    return blame


def _as_consumed(qm) -> dict[str, str]:
    """tensor -> the DequantizeLinear output its consumers read in the QDQ model: the values after the tensor's
    own quantization (a Relu the quantizer removed lives on only as the QuantizeLinear's clamp at zero)."""
    dq_of = {n.input[0]: n.output[0] for n in qm.graph.node if n.op_type == "DequantizeLinear"}
    return {
        n.input[0]: dq_of[n.output[0]] for n in qm.graph.node if n.op_type == "QuantizeLinear" and n.output[0] in dq_of
    }


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
    seen = _as_consumed(qm)
    q_tensors = [seen.get(t, t) for t in tensors]
    fs, qs = _session(_with_outputs(fm, tensors), threads), _session(_with_outputs(qm, q_tensors), threads)
    f_names, q_names = [o.name for o in fs.get_outputs()], [o.name for o in qs.get_outputs()]
    err = dict.fromkeys(tensors, 0.0)
    span: dict[str, tuple[float, float]] = {}  # float min/max: how much of a quantized range a slice of it uses
    sig = dict.fromkeys(tensors, 0.0)
    for feed in batches:
        f_vals = dict(zip(f_names, fs.run(None, feed)))
        q_vals = dict(zip(q_names, qs.run(None, feed)))
        for t, qt in zip(tensors, q_tensors):
            f, q = f_vals[t].astype(np.float64), q_vals[qt].astype(np.float64)
            err[t] += float(((q - f) ** 2).sum())
            sig[t] += float((f**2).sum())
            if f.size:
                lo, hi = span.get(t, (np.inf, -np.inf))
                span[t] = (min(lo, float(f.min())), max(hi, float(f.max())))
    nsr = {t: err[t] / max(sig[t], 1e-30) for t in tensors}
    dequantized = set(seen.values())
    reads_int = {n.name for n in qm.graph.node if any(i in dequantized for i in n.input)}
    fused = {n.name for n in fm.graph.node} - {n.name for n in qm.graph.node}
    blame = _blame(fm, nsr, reads_int | fused, span)
    ranked = sorted(blame.items(), key=lambda kv: -kv[1])
    # nodes the quantizer folded away (e.g. a Relu after a Conv) have no tensor to compare; they come last,
    # so the ladder's final rung can still keep every node in float
    measured = {name for name, _ in ranked}
    return ranked + [
        (n.name, 0.0) for n in fm.graph.node if n.op_type not in SKIP_OPS and n.name and n.name not in measured
    ]
