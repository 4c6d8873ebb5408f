"""Where INT8 pays: the node groups of mobile networks that can cost more quantized than float, and the few
placement candidates the ladder times against each other (ort_flow.speed_rungs).

On a small input most of an INT8 mobile net's time is not in its convolutions: mobilenet_v3_small at 32x32
(AVX2, 1 thread, ORT profiler, see docs/int8-mobile.md) spends ~40 % in QuantizeLinear/DequantizeLinear round
trips around float islands and in QLinearMul, because quant_pre_process splits HardSwish into HardSigmoid + Mul
(the float graph runs it fused into the Conv) and the squeeze-excite block's ReduceMean has no integer kernel.
Keeping such a group in float removes its Q/DQ pairs; whether that is faster is measured, never assumed.

    groups(model)  -> {"hardswish": [...], "squeeze-excite": [...], "depthwise": [...], "residual-add": [...]}

A transformer encoder (LayerNormalization + Softmax + MatMul) has its own groups, found by the same call:
embeddings, layernorm, attention-scores (scale, mask add, Softmax), attention-matmul (Q.K^T and attn.V: two
activations), gelu (Div, Erf, Add, Mul, Mul), residual-add, pooling (after the last LayerNormalization), and the
converse placement "all-but-matmul": every node but the weighted MatMul/Gemm in float. Which of them costs the
accuracy, and what each costs in speed, is measured (benchmarks/qat_minilm_probe.py, docs/qat.md).
"""

from __future__ import annotations

# the transformer groups live in their own module; it imports nothing from this one
from edgekit.quant.placement_transformer import consumer_map, matmul_only, transformer_groups

# the order candidates are tried in: the group with the most Q/DQ round trips per unit of work first
GROUPS = ("hardswish", "squeeze-excite", "depthwise", "residual-add")


def name_nodes(model) -> int:
    """Give every unnamed node a unique name (``<op>_<index>``): exclusion lists and the sensitivity ranking
    address nodes by name, and quant_pre_process leaves most of them unnamed. Returns how many were named."""
    taken = {n.name for n in model.graph.node if n.name}
    named = 0
    for k, n in enumerate(model.graph.node):
        if not n.name:
            name = f"{n.op_type}_{k}"
            while name in taken:
                name += "_"
            n.name = name
            taken.add(name)
            named += 1
    return named


def is_transformer(model) -> bool:
    ops = {n.op_type for n in model.graph.node}
    return {"LayerNormalization", "Softmax", "MatMul"} <= ops


def _is_depthwise(node) -> bool:
    return node.op_type == "Conv" and any(a.name == "group" and a.i > 1 for a in node.attribute)


def _squeeze_excite(model, consumers) -> list:
    """ReduceMean/GlobalAveragePool -> Conv -> act -> Conv -> HardSigmoid/Sigmoid -> Mul by the pooled tensor: every
    node from the pool to that Mul. Walked breadth-first, since an activation may branch (SiLU is Sigmoid + Mul)."""
    out = []
    for n in model.graph.node:
        if n.op_type not in ("ReduceMean", "GlobalAveragePool"):
            continue
        pooled, chain, seen, frontier = n.input[0], [n], {id(n)}, [n]
        for _ in range(8):  # an SE block is a handful of steps deep; a classifier head never meets the pooled tensor
            step = [c for f in frontier for o in f.output for c in consumers.get(o, []) if id(c) not in seen]
            seen.update(id(c) for c in step)
            chain += step
            if any(c.op_type == "Mul" and pooled in c.input for c in step):
                if any(c.op_type == "Conv" for c in chain):
                    out += chain
                break
            if not step or len(chain) > 12:
                break
            frontier = step
    return out


def groups(model) -> dict[str, list[str]]:
    """Node names per group (a node in at most one group; squeeze-excite claims its own HardSigmoid/Mul).
    ``model``: the preprocessed float model the quantizer reads, with named nodes (name_nodes)."""
    if is_transformer(model):
        return transformer_groups(model)
    consumers = consumer_map(model)
    se = _squeeze_excite(model, consumers)
    se_ids = {id(n) for n in se}
    producers = {o: n for n in model.graph.node for o in n.output}
    hardswish = []
    for n in model.graph.node:  # x * HardSigmoid(x): quant_pre_process's spelling of HardSwish
        if n.op_type != "HardSigmoid" or id(n) in se_ids:
            continue
        for m in consumers.get(n.output[0], []):
            if m.op_type == "Mul" and id(m) not in se_ids and n.input[0] in m.input:
                hardswish += [n, m]
    hardswish += [n for n in model.graph.node if n.op_type == "HardSwish"]
    residual = [
        n
        for n in model.graph.node
        if n.op_type == "Add" and id(n) not in se_ids and all(i in producers for i in n.input[:2])
    ]  # two computed inputs (not a bias)
    found = {
        "hardswish": hardswish,
        "squeeze-excite": se,
        "depthwise": [n for n in model.graph.node if _is_depthwise(n)],
        "residual-add": residual,
    }
    return {g: [n.name for n in found[g]] for g in GROUPS if found[g]}


def accuracy_candidates(model) -> list[tuple[str, tuple[str, ...]]]:
    """(label, nodes kept in float) placements the accuracy ladder tries when the first rungs miss. A transformer
    encoder: only the weighted MatMul/Gemm static (docs/qat.md: the pruned MiniLM's static INT8 collapses on the
    attention scores' additive mask, whose float32-min values take the u8 range; this placement keeps it, the
    softmax, LayerNorm, GELU and residual adds in float). None for other models: their ladder is unchanged."""
    if not is_transformer(model):
        return []
    return [("all-but-matmul", tuple(matmul_only(model)))]


def candidates(found: dict[str, list[str]], limit: int) -> list[tuple[str, tuple[str, ...]]]:
    """At most ``limit`` (label, nodes kept in float) placements, each few enough to time: every group alone in
    the order of GROUPS, then hardswish + squeeze-excite together (the two float islands of MobileNetV3).
    None for a transformer's groups: its placement is an accuracy rung (accuracy_candidates), not a speed one."""
    if set(found) - set(GROUPS):
        return []
    out = [(g, tuple(found[g])) for g in GROUPS if g in found]
    if "hardswish" in found and "squeeze-excite" in found:
        out.insert(2, ("hardswish+squeeze-excite", tuple(found["hardswish"] + found["squeeze-excite"])))
    return out[:limit]
