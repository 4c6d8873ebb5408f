"""Transformer node groups for mixed INT8 placement (issue 27), on a hand-built one-block BERT-style encoder in the
exact spelling torch.onnx gives MiniLM (post-LayerNorm, Erf GELU, additive mask, mean pooling, Gemm head), quantized
by ONNX Runtime's real quant_pre_process and static QDQ quantizer. Small enough for the fast tier (no torch export)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edgekit.quant import ort_static, placement
from edgekit.quant.calibration import BatchReader
from edgekit.quant.onnx_int8 import kernel_counts
from edgekit.quant.placement_transformer import TRANSFORMER_GROUPS, matmul_only, transformer_groups

H, T, V = 16, 8, 50  # hidden, tokens, vocabulary


def _encoder(path, mask_value: float = -1e4) -> None:
    """ids (B, T) int64 -> logits (B, 3): embeddings, one attention head, FFN with Erf GELU, mean pooling."""
    rng = np.random.default_rng(0)
    inits, nodes = [], []

    def w(name, *shape, scale=0.3):
        inits.append(helper.make_tensor(name, TensorProto.FLOAT, shape, (rng.standard_normal(shape) * scale).ravel()))
        return name

    def c(name, value):
        inits.append(helper.make_tensor(name, TensorProto.FLOAT, [], [value]))
        return name

    def n(op, ins, out, **attrs):
        nodes.append(helper.make_node(op, ins, [out], name=f"n_{out}", **attrs))
        return out

    def ln(x, tag):
        return n(
            "LayerNormalization", [x, w(f"g{tag}", H, scale=1.0), w(f"b{tag}", H, scale=0.01)], f"ln{tag}", axis=-1
        )

    def linear(x, tag, fan_in, fan_out):
        return n("Add", [n("MatMul", [x, w(f"W{tag}", fan_in, fan_out)], f"mm{tag}"), w(f"B{tag}", fan_out)], tag)

    tok = n("Gather", [w("word_table", V, H), "ids"], "tok")
    pos = n("Gather", [w("pos_table", T, H), "pos_ids"], "pos")
    inits.append(helper.make_tensor("pos_ids", TensorProto.INT64, [T], list(range(T))))
    x0 = ln(n("Add", [tok, pos], "emb"), 0)
    keep = n("Cast", [n("Unsqueeze", ["ids", "axis1"], "ids3")], "maskf", to=1)
    mask = n(
        "Mul",
        [n("Sub", [c("one", 1.0), n("Clip", [keep, c("lo", 0.0), c("hi", 1.0)], "kept")], "inv"), c("neg", mask_value)],
        "mask",
    )
    q, k, v = (linear(x0, t, H, H) for t in ("q", "k", "v"))
    kt = n("Transpose", [k], "kt", perm=[0, 2, 1])
    scores = n("Add", [n("Mul", [n("MatMul", [q, kt], "qk"), c("scale", 0.25)], "scaled"), mask], "masked")
    attn = n("MatMul", [n("Softmax", [scores], "probs", axis=-1), v], "av")
    x1 = ln(n("Add", [linear(attn, "o", H, H), x0], "res1"), 1)
    h = linear(x1, "up", H, 2 * H)
    erf = n("Erf", [n("Div", [h, c("sqrt2", 1.4142135)], "hd")], "erf")
    gelu = n("Mul", [h, n("Mul", [c("half", 0.5), n("Add", [erf, c("one_b", 1.0)], "erf1")], "halfe")], "gelu")
    x2 = ln(n("Add", [linear(gelu, "down", 2 * H, H), x1], "res2"), 2)
    pooled = n("Div", [n("ReduceSum", [x2, "axis1"], "summed", keepdims=0), c("count", float(T))], "pooled")
    inits.append(helper.make_tensor("axis1", TensorProto.INT64, [1], [1]))
    n("Gemm", [pooled, w("Wh", 3, H, scale=1.0), w("Bh", 3, scale=0.01)], "logits", transB=1)
    graph = helper.make_graph(
        nodes,
        "tiny-encoder",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", T])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


@pytest.fixture(scope="module")
def prep(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny-encoder")
    _encoder(d / "f.onnx")
    ort_static.preprocess(d / "f.onnx", d / "prep.onnx")
    return d


def test_groups_name_each_part_of_the_block_once(prep):
    model = onnx.load(str(prep / "prep.onnx"))
    assert placement.is_transformer(model)
    found = placement.groups(model)  # the dispatcher reaches the transformer groups
    assert found == transformer_groups(model)
    assert list(found) == [g for g in TRANSFORMER_GROUPS if g in found]
    ops = {g: sorted(next(x for x in model.graph.node if x.name == name).op_type for name in names)
           for g, names in found.items()}  # fmt: skip
    assert ops["layernorm"] == ["LayerNormalization"] * 3
    assert ops["attention-scores"] == ["Add", "Mul", "Softmax"]
    assert ops["attention-matmul"] == ["MatMul", "MatMul"]
    assert ops["gelu"] == ["Add", "Div", "Erf", "Mul", "Mul"]
    assert ops["residual-add"] == ["Add", "Add"]
    assert ops["embeddings"] == ["Add", "Gather"]  # the position Gather of constant ids is folded by preprocess
    assert "Div" in ops["pooling"] and "ReduceSum" in ops["pooling"] and "Gemm" not in ops["pooling"]
    names = [x for g in found.values() for x in g]
    assert len(names) == len(set(names)), "a node belongs to one group at most"


def test_a_conv_net_keeps_its_own_groups(prep):
    model = onnx.load(str(prep / "prep.onnx"))
    model.graph.node.remove(next(x for x in model.graph.node if x.op_type == "Softmax"))
    assert not placement.is_transformer(model)
    assert not set(placement.groups(model)) & (set(TRANSFORMER_GROUPS) - set(placement.GROUPS))


def test_matmul_only_quantizes_the_weighted_matmuls_and_nothing_else(prep):
    """ORT's QDQ quantizer with every other node excluded: the six weighted MatMuls and the head run integer kernels
    (the embedding table is stored in 8 bits), the attention MatMuls stay float, and the file scores like the float
    one on the same random ids."""
    model = onnx.load(str(prep / "prep.onnx"))
    excluded = matmul_only(model)
    weighted = [x.name for x in model.graph.node if x.name not in excluded]
    assert sorted(x.op_type for x in model.graph.node if x.name in weighted) == ["Gather", "Gemm"] + ["MatMul"] * 6
    ids = np.random.default_rng(1).integers(1, V, size=(64, T)).astype(np.int64)
    att = ort_static.Attempt(placement="all-but-matmul", exclude=tuple(excluded))
    ort_static.quantize(prep / "prep.onnx", prep / "mm.onnx", att, BatchReader(ids, "ids", lambda b: b, 16))
    k = kernel_counts(prep / "mm.onnx")
    assert k["int8"] >= 7 and k["float"] == 2, k  # Q.K^T and attn.V: two activations, kept float
    assert "all-but-matmul float" in att.label()
    from edgekit.runtime import ort

    f = ort.predict(ort.session(prep / "prep.onnx"), ids)
    q = ort.predict(ort.session(prep / "mm.onnx"), ids)
    assert np.abs(q - f).max() < 0.1 * np.abs(f).max(), "weights and MatMul inputs in INT8 stay close to float"


def test_the_accuracy_ladder_tries_all_but_matmul_after_the_first_rungs(tmp_path):
    """MiniLM's additive mask (float32 min, as torch exports it) and a tolerance of 0 points against the float model's
    own answers, so the first rungs miss: the ladder's next rung is the transformer placement, with the weighted
    MatMuls integer and the attention MatMuls float; a conv net (no Softmax) gets no such rung."""
    from rich.console import Console

    from edgekit.quant import ladder
    from edgekit.quant.measure import MeasureSettings, measure_onnx
    from edgekit.quant.ort_flow import LadderSettings, run_trials
    from edgekit.quant.tolerance import Tolerance
    from edgekit.runtime import ort

    prep = tmp_path
    _encoder(prep / "f.onnx", float(np.finfo(np.float32).min))
    rng = np.random.default_rng(1)
    ids = rng.integers(1, V, size=(256, T)).astype(np.int64)
    ids[np.arange(T)[None, :] >= rng.integers(2, T + 1, size=256)[:, None]] = 0  # padded like real glosses
    y = ort.predict(ort.session(prep / "f.onnx"), ids).argmax(1)
    measure = MeasureSettings(latency_runs=5, min_seconds=0.0)
    work = prep / "ladder"
    work.mkdir()
    trials = run_trials(
        prep / "f.onnx",
        work,
        ort_static.Attempt(),
        ids,
        y,
        measure_onnx(prep / "f.onnx", ids, y, measure),
        Tolerance.parse(0),
        lambda: BatchReader(ids[:32], "ids", lambda b: b, 16),
        measure,
        LadderSettings(max_trials=len(ladder.first_rungs(ort_static.Attempt())) + 1, speed_rungs=0),
        Console(quiet=True),
    )
    first = len(ladder.first_rungs(ort_static.Attempt()))
    assert [t.config["placement"] for t in trials[:first]] == [""] * first
    if any(t.met for t in trials[:first]):
        pytest.skip("a first rung met 0 points on this build of ONNX Runtime: the placement rung was not needed")
    rung = trials[first]
    assert rung.config["placement"] == "all-but-matmul" and rung.config["per_channel"]
    assert rung.kernels["int8"] >= 7 and rung.kernels["float"] == 2, rung.kernels
    assert rung.as_dict()["label"].startswith("static minmax per-channel U8S8 all-but-matmul float")
    model = onnx.load(str(work / "prep.onnx"))
    model.graph.node.remove(next(x for x in model.graph.node if x.op_type == "Softmax"))
    assert placement.accuracy_candidates(model) == []
    assert placement.candidates(placement.groups(onnx.load(str(work / "prep.onnx"))), 8) == []


def test_preprocess_runs_on_a_relative_path(prep, tmp_path, monkeypatch):
    """A recipe run passes stage files as relative paths: quant_pre_process must still run (it once resolved them
    after moving into its scratch folder, failed, and the model was quantized unprocessed)."""
    import io

    from rich.console import Console

    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "f.onnx").write_bytes((prep / "f.onnx").read_bytes())
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    ort_static.preprocess(Path("m/f.onnx"), Path("m/prep.onnx"), Console(file=out))
    assert "failed" not in out.getvalue(), out.getvalue()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"], "nothing written beside the user's files"


def test_sensitive_nodes_join_a_placement_s_float_nodes():
    """After all-but-matmul misses, the ladder keeps its float nodes and adds the most sensitive MatMuls to them."""
    from edgekit.quant import ladder

    base = ort_static.Attempt(placement="all-but-matmul", exclude=("ln", "softmax"))
    rungs = ladder.exclusion_rungs(base, ["mm3", "mm1", "mm2"], 8)
    assert [r.exclude for r in rungs] == [
        ("ln", "softmax", "mm3"),
        ("ln", "softmax", "mm3", "mm1"),
        ("ln", "softmax", "mm3", "mm1", "mm2"),
    ]
    assert all(r.placement == "all-but-matmul" for r in rungs)
    assert [r.exclude for r in ladder.exclusion_rungs(ort_static.Attempt(), ["a", "b"], 8)] == [("a",), ("a", "b")]
