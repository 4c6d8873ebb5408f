"""Quantization sensitivity (edgekit.quant.sensitivity) on a graph with integer shape arithmetic: a Resize whose
target size is computed Shape -> Slice -> Concat, as torch exports F.interpolate(size=...) (edgekit's
``model.input_size``). Only float tensors are compared; exposing the int64 Concat as a float output made
onnxruntime refuse the model."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgekit.quant.sensitivity import rank_nodes


def _resize_conv_model(path):
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(np.array([0], np.int64), "starts"),
        numpy_helper.from_array(np.array([2], np.int64), "ends"),
        numpy_helper.from_array(np.array([16, 16], np.int64), "hw"),
        numpy_helper.from_array(rng.normal(size=(4, 1, 3, 3)).astype(np.float32), "W"),
        numpy_helper.from_array(rng.normal(size=(4,)).astype(np.float32), "B"),
    ]
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"], name="shape"),
        helper.make_node("Slice", ["shape", "starts", "ends"], ["nc"], name="slice"),
        helper.make_node("Concat", ["nc", "hw"], ["sizes"], axis=0, name="concat"),
        helper.make_node("Resize", ["x", "", "", "sizes"], ["big"], mode="linear", name="resize"),
        helper.make_node("Conv", ["big", "W", "B"], ["conv"], pads=[1, 1, 1, 1], name="conv"),
        helper.make_node("Relu", ["conv"], ["y"], name="relu"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 1, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4, 16, 16])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, path)


def test_rank_nodes_skips_integer_shape_tensors(tmp_path):
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static

    f, q = tmp_path / "f.onnx", tmp_path / "q.onnx"
    _resize_conv_model(f)
    batches = [{"x": np.random.default_rng(i).random((2, 1, 8, 8), dtype=np.float32)} for i in range(3)]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(batches)

        def get_next(self):
            return next(self.it, None)

    quantize_static(str(f), str(q), Reader(), quant_format=QuantFormat.QDQ)
    ranked = dict(rank_nodes(f, q, batches))
    assert {"conv", "resize"} <= set(ranked) and "concat" in ranked  # concat ranked last (not measured), not an error
    assert ranked["concat"] == 0.0
