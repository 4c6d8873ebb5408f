"""The exact fixed-size export pass (edgekit.runtime.fixed_size): kernels cropped to the taps that read real input,
the same outputs from onnxruntime, fewer MACs counted; torch-free."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgekit.bench import graph
from edgekit.runtime.fixed_size import crop_padding_taps, used_taps


@pytest.mark.parametrize(
    "size, kernel, stride, pads, expected",
    [
        (1, 3, 1, (1, 1), (1, 1, 1)),  # 3x3 on a 1x1 map: the centre tap only
        (2, 3, 2, (1, 1), (1, 2, 1)),  # stride 2 on 2x2: the first tap only reads the leading pad
        (2, 3, 1, (1, 1), (0, 2, 2)),  # every tap reads real input for some output
        (7, 7, 2, (3, 3), (0, 6, 4)),
    ],
)
def test_used_taps(size, kernel, stride, pads, expected):
    assert used_taps(size, kernel, stride, 1, *pads) == expected


def _model(tmp_path, size: int, stride: int, share: bool):
    """x (N,4,size,size) -> conv3x3 (stride) -> conv3x3 -> ReduceMean over H,W (keepdims) -> y; weights seeded."""
    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.standard_normal((4, 4, 3, 3)).astype(np.float32), "w1")
    w2 = w1 if share else numpy_helper.from_array(rng.standard_normal((4, 4, 3, 3)).astype(np.float32), "w2")
    axes = numpy_helper.from_array(np.array([2, 3], np.int64), "axes")
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["a"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[stride, stride]),
        helper.make_node("Relu", ["a"], ["b"]),
        helper.make_node("Conv", ["b", w2.name], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("ReduceMean", ["c", "axes"], ["d"], keepdims=1),
        helper.make_node("Flatten", ["d"], ["y"]),
    ]
    inits = [w1, axes] + ([] if share else [w2])
    g = helper.make_graph(
        nodes,
        "t",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, size, size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
        inits,
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])


def _run(model, x):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


@pytest.mark.parametrize("size, stride, share", [(1, 1, False), (2, 2, True), (2, 2, False)])
def test_crop_is_exact_and_removes_macs(tmp_path, size, stride, share):
    model = _model(tmp_path, size, stride, share)
    before_path, after_path = tmp_path / "a.onnx", tmp_path / "b.onnx"
    onnx.save(model, before_path)
    x = np.random.default_rng(1).standard_normal((3, 4, size, size)).astype(np.float32)
    ref = _run(model, x)
    report = crop_padding_taps(model)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, after_path)
    np.testing.assert_allclose(_run(model, x), ref, rtol=1e-5, atol=1e-5)
    assert report.convs_cropped == 2 and report.pools_removed == 1  # both convs end on a 1x1 map; the mean is a copy
    assert "ReduceMean" not in [n.op_type for n in model.graph.node]
    kernels = [
        next(a.ints for a in n.attribute if a.name == "kernel_shape") for n in model.graph.node if n.op_type == "Conv"
    ]
    assert kernels == ([[1, 1], [1, 1]] if size == 1 else [[2, 2], [1, 1]])
    before, after = graph.count(before_path)["macs"], graph.count(after_path)["macs"]
    assert before - after == report.macs_removed > 0
    if share:  # the shared weight got a cropped copy per reader; the original is gone with its last reader
        assert {t.name for t in model.graph.initializer} == {"w1__cropped_0", "w1__cropped_1"}


def test_nothing_to_crop_leaves_the_model_alone(tmp_path):
    model = _model(tmp_path, 8, 1, False)
    before = model.SerializeToString()
    report = crop_padding_taps(model)
    assert (report.convs_cropped, report.macs_removed, report.pools_removed) == (0, 0, 0)
    assert model.SerializeToString() == before
