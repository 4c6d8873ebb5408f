"""The node groups of a transformer encoder as ONNX exports it (BERT/MiniLM: post-LayerNorm blocks, Erf GELU,
mean pooling), for mixed INT8 placement: which groups stay float is chosen by measured accuracy and speed.

    embeddings        the table Gathers and the Adds that sum them (up to the first LayerNormalization)
    layernorm         every LayerNormalization
    attention-scores  Softmax and the score arithmetic feeding it (the 1/sqrt(d) Mul, the mask Add)
    attention-matmul  Q.K^T and attn.V: MatMuls of two activations (no weight)
    gelu              Div -> Erf -> Add -> Mul -> Mul (x * 0.5 * (1 + erf(x / sqrt 2)))
    residual-add      the skip Adds of two activations that feed a LayerNormalization
    pooling           everything after the last LayerNormalization up to the weighted head

plus the converse, all-but-matmul: everything except the weighted MatMul/Gemm nodes (and embedding Gathers) in float."""

from __future__ import annotations

import collections

TRANSFORMER_GROUPS = (
    "embeddings",
    "layernorm",
    "attention-scores",
    "attention-matmul",
    "gelu",
    "residual-add",
    "pooling",
)


def consumer_map(model) -> dict[str, list]:
    """Tensor name -> the nodes that read it (placement.py's conv groups walk the graph with it too)."""
    out = collections.defaultdict(list)
    for n in model.graph.node:
        for i in n.input:
            out[i].append(n)
    return out


SCORE_OPS = ("Mul", "Div", "Add")  # between Q.K^T and Softmax: the scale and the additive mask


def _weighted(node, inits: set[str]) -> bool:
    return node.op_type in ("MatMul", "Gemm") and any(i in inits for i in node.input[:2])


def transformer_groups(model) -> dict[str, list[str]]:
    """Node names per group, each node in one group at most; the order of TRANSFORMER_GROUPS, empty groups left
    out. ``model``: the preprocessed float model (named nodes, placement.name_nodes)."""
    g = model.graph
    inits = {i.name for i in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    consumers = consumer_map(model)
    layernorms = [n for n in g.node if n.op_type == "LayerNormalization"]
    computed = [n for n in g.node if all(i in producer for i in n.input[:2]) and len(n.input) >= 2]

    def upstream(start, ops):
        """``start``'s producers of the given op types, walking back while they match."""
        out, n = [], start
        while n.input and n.input[0] in producer and producer[n.input[0]].op_type in ops:
            n = producer[n.input[0]]
            out.append(n)
        return out

    softmax = [n for n in g.node if n.op_type == "Softmax"]
    scores = softmax + [m for s in softmax for m in upstream(s, SCORE_OPS)]
    gelu = []
    for erf in (n for n in g.node if n.op_type == "Erf"):
        chain = [erf] + upstream(erf, ("Div", "Mul"))
        for add in consumers.get(erf.output[0], []):
            muls = [m for m in consumers.get(add.output[0], []) if m.op_type == "Mul"]
            chain += [add] + muls + [m for x in muls for m in consumers.get(x.output[0], []) if m.op_type == "Mul"]
        gelu += chain
    first_ln = layernorms[0] if layernorms else None
    embeddings = []
    if first_ln is not None and first_ln.input[0] in producer:
        embeddings = [producer[first_ln.input[0]]] + upstream(producer[first_ln.input[0]], ("Add", "Gather"))
        embeddings = [n for n in embeddings if n.op_type in ("Add", "Gather")]
        embeddings += [n for n in g.node if n.op_type == "Gather" and n.input[0] in inits]
    residual = [
        n
        for n in computed
        if n.op_type == "Add" and any(c.op_type == "LayerNormalization" for c in consumers.get(n.output[0], []))
    ]
    pooling = _after(layernorms[-1], consumers, inits) if layernorms else []
    found = {
        "embeddings": embeddings,
        "layernorm": layernorms,
        "attention-scores": scores,
        "attention-matmul": [n for n in computed if n.op_type == "MatMul" and not _weighted(n, inits)],
        "gelu": gelu,
        "residual-add": residual,
        "pooling": pooling,
    }
    out, taken = {}, set()
    for name in TRANSFORMER_GROUPS:
        nodes = [n for n in dict.fromkeys(x.name for x in found[name]) if n not in taken]
        taken.update(nodes)
        if nodes:
            out[name] = nodes
    return out


def _after(last_ln, consumers, inits) -> list:
    """Every node downstream of the last LayerNormalization, stopping at the weighted head."""
    out, seen, frontier = [], set(), [last_ln]
    while frontier:
        step = [c for f in frontier for o in f.output for c in consumers.get(o, []) if c.name not in seen]
        step = [c for c in step if not _weighted(c, inits)]
        seen.update(c.name for c in step)
        out += step
        frontier = step
    return out


def matmul_only(model, embeddings: bool = True) -> list[str]:
    """The converse placement: every node kept in float except the weighted MatMul/Gemm (their inputs and weights
    quantized, everything between them float) and, with ``embeddings``, the embedding tables' Gathers (the table
    stored in 8 bits: the pruned MiniLM's file 13.6 MB instead of 37.4 MB, at -0.50 vs +0.25 pt on 400 glosses)."""
    inits = {i.name for i in model.graph.initializer}

    def quantized(n) -> bool:
        return _weighted(n, inits) or (embeddings and n.op_type == "Gather" and n.input[0] in inits)

    return [n.name for n in model.graph.node if not quantized(n)]
