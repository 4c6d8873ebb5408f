"""The quantize ladder's sensitivity ranking on a detect head's concat (issue 32): boxes in pixels and class
probabilities in one tensor, sliced apart by the decoder. The probabilities lose their precision where the concat's
output is quantized (one scale for a 0..100 range), so the concat is blamed, not the Slice that shows the damage,
and keeping it float alone brings the probabilities back."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgekit.quant import ladder
from edgekit.quant.ort_static import Attempt
from edgekit.quant.sensitivity import rank_nodes


def _head(path):
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.normal(size=(8, 1, 3, 3)).astype(np.float32), "W"),
        numpy_helper.from_array(rng.normal(size=(4, 8, 1, 1)).astype(np.float32), "Wb"),
        numpy_helper.from_array(rng.normal(size=(3, 8, 1, 1)).astype(np.float32), "Wc"),
        numpy_helper.from_array(np.array([100.0], np.float32), "px"),
        numpy_helper.from_array(np.array([4], np.int64), "s"),
        numpy_helper.from_array(np.array([7], np.int64), "e"),
        numpy_helper.from_array(np.array([1], np.int64), "ax"),
        numpy_helper.from_array(np.array([0, 3, -1], np.int64), "flat"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "W"], ["f"], pads=[1, 1, 1, 1], name="conv"),
        helper.make_node("Relu", ["f"], ["r"], name="relu"),
        helper.make_node("Conv", ["r", "Wb"], ["b0"], name="box_conv"),
        helper.make_node("Sigmoid", ["b0"], ["b1"], name="box_sig"),
        helper.make_node("Mul", ["b1", "px"], ["boxes"], name="box_px"),  # 0..100 px
        helper.make_node("Conv", ["r", "Wc"], ["c0"], name="cls_conv"),
        helper.make_node("Sigmoid", ["c0"], ["probs"], name="cls_sig"),  # 0..1
        helper.make_node("Concat", ["boxes", "probs"], ["pred"], axis=1, name="concat"),
        helper.make_node("Slice", ["pred", "s", "e", "ax"], ["p"], name="slice"),
        helper.make_node("Reshape", ["p", "flat"], ["y"], name="reshape"),
    ]
    graph = helper.make_graph(
        nodes,
        "head",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 1, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3, 64])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, path)


def _quantize(f, q, batches, exclude=()):
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(batches)

        def get_next(self):
            return next(self.it, None)

    quantize_static(str(f), str(q), Reader(), quant_format=QuantFormat.QDQ, nodes_to_exclude=list(exclude))


def _prob_error(f, q, feed) -> float:
    import onnxruntime as ort

    ref, got = (ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, feed)[0] for p in (f, q))
    return float(np.abs(ref - got).max())


def test_the_concat_that_set_the_scale_is_blamed_and_kept_float_with_its_slice(tmp_path):
    f, q, q2 = tmp_path / "f.onnx", tmp_path / "q.onnx", tmp_path / "q2.onnx"
    _head(f)
    batches = [{"x": np.random.default_rng(i).normal(size=(4, 1, 8, 8)).astype(np.float32)} for i in range(3)]
    _quantize(f, q, batches)
    assert _prob_error(f, q, batches[0]) > 0.15  # probabilities at a 100 px / 255 step (0.39): wiped out
    ranked = rank_nodes(f, q, batches)
    assert ranked[0][0] == "concat", ranked  # not the Slice where the damage shows, nor a Relu or a Conv
    (rung,) = ladder.exclusion_rungs(Attempt(), [name for name, _ in ranked], 1)
    assert rung.exclude == ("concat",)  # the Slice reads a float tensor then: ORT leaves it float too
    _quantize(f, q2, batches, exclude=rung.exclude)
    assert _prob_error(f, q2, batches[0]) < 0.05  # measured 0.22 -> 0.038: what is left is the class conv's 8 bits
    ops = [n.op_type for n in onnx.load(str(q2)).graph.node]
    assert ops.count("QuantizeLinear") >= 3  # the convs are still quantized


def test_the_collapse_benchmark_misses_when_the_pick_keeps_a_conv_float(tmp_path):
    """benchmarks/detect_int8_collapse.py's verdict (exit 1 on a miss), on hand-made trials of the head above."""
    import sys
    from pathlib import Path

    from edgekit.quant.measure import Measurement, Trial

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    try:
        from detect_int8_collapse import verdict
    finally:
        sys.path.pop(0)
    f, q = tmp_path / "prep.onnx", tmp_path / "q.onnx"
    _head(f)
    _quantize(f, q, [{"x": np.zeros((1, 1, 8, 8), np.float32)}])

    def trial(i, acc, exclude):
        m = Measurement(acc, 1, 1.0, 1, 1)
        return Trial(i, "t", {"exclude": exclude}, m, (0.30 - acc) * 100, acc >= 0.29, 0.0, q, {"int8": 3, "float": 0})

    first, fp32 = trial(1, 0.10, []), Measurement(0.30, 1, 1.0, 1, 1)
    for kept, missed in ((["concat"], False), (["box_conv"], True)):
        pick = trial(2, 0.298, kept)
        rows, misses, sense = verdict({"fp32": fp32, "trials": [first, pick], "pick": pick, "work": tmp_path})
        assert sense and sense[0].startswith("int8-collapse")  # 30 % -> 10 %: the sense check trips
        assert bool(misses) == missed and all("compute nodes" in m for m in misses), misses
        assert rows[-1][-1] == ", ".join(kept)
