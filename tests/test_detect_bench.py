"""`edgekit bench` and `edgekit bundle` on a detector: the bundle carries each image's boxes, the device scores
mAP@0.5:0.95 (not accuracy) with the same metric as the evaluate stage, and latency is the session's, decoding
included (the file's outputs are the detections)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgekit.bench import PRESETS, bench
from edgekit.bench.bundle import read_head, save_bundle
from edgekit.cli.main import main
from edgekit.detect.metric import PRIMARY, SECONDARY, coco_map
from edgekit.detect.truth import DetTruth

SIDE = 32
BOXES = np.array([[2, 2, 14, 14], [16, 16, 30, 30], [0, 16, 12, 30]], np.float32)  # what the file always answers
SCORES = np.array([0.9, 0.6, 0.3], np.float32)
LABELS = np.array([1, 0, 2], np.int64)


def fixed_detector(path: Path, side: int = SIDE) -> Path:
    """(B, 1, side, side) -> boxes (B, 3, 4), scores (B, 3), labels (B, 3) int64: the same three detections for every
    image, through a Conv (so there is compute to time) whose result is multiplied by zero."""
    init = [
        numpy_helper.from_array(np.ones((1, 1, 3, 3), np.float32), "w"),
        numpy_helper.from_array(np.zeros(1, np.float32), "zero"),
        numpy_helper.from_array(BOXES[None], "boxes_c"),
        numpy_helper.from_array(SCORES[None], "scores_c"),
        numpy_helper.from_array(LABELS[None].astype(np.float32), "labels_c"),
        numpy_helper.from_array(np.array([2], np.int64), "ax2"),
    ]
    nodes = [
        helper.make_node("Conv", ["input", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("ReduceMean", ["c"], ["m4"], keepdims=0, axes=[1, 2]),  # (B, side)
        helper.make_node("ReduceMean", ["m4"], ["m"], keepdims=1, axes=[1]),  # (B, 1)
        helper.make_node("Mul", ["m", "zero"], ["z"]),
        helper.make_node("Add", ["z", "scores_c"], ["scores"]),
        helper.make_node("Unsqueeze", ["z", "ax2"], ["z3"]),
        helper.make_node("Add", ["z3", "boxes_c"], ["boxes"]),
        helper.make_node("Add", ["z", "labels_c"], ["lf"]),
        helper.make_node("Cast", ["lf"], ["labels"], to=TensorProto.INT64),
    ]
    graph = helper.make_graph(
        nodes,
        "fixed-detector",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, side, side])],
        [
            helper.make_tensor_value_info("boxes", TensorProto.FLOAT, ["batch", 3, 4]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", 3]),
            helper.make_tensor_value_info("labels", TensorProto.INT64, ["batch", 3]),
        ],
        init,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _truth(n: int) -> DetTruth:
    """Image i: the file's first box (right class) on even images, a box it never finds on odd ones, and on every
    third image its second box with the wrong class: an mAP strictly between 0 and 1."""
    boxes, labels = [], []
    for i in range(n):
        b = [BOXES[0] if i % 2 == 0 else np.array([20, 2, 30, 10], np.float32)]
        c = [1 if i % 2 == 0 else 2]
        if i % 3 == 0:
            b.append(BOXES[1])
            c.append(2)
        boxes.append(np.stack(b))
        labels.append(np.array(c, np.int64))
    return DetTruth(boxes, labels, 3)


PRE = {"kind": "image", "task": "detection", "mean": [0.5], "std": [0.25], "classes": ["a", "b", "c"]}


def test_a_detection_bundle_keeps_each_images_boxes(tmp_path):
    truth = _truth(7)
    x = np.random.default_rng(0).integers(0, 256, (7, 1, SIDE, SIDE), dtype=np.uint8)
    save_bundle(tmp_path / "b.npz", x, truth, PRE)
    head = read_head(tmp_path / "b.npz")
    assert head.y.tolist() == [len(b) for b in truth.boxes]  # objects per image
    assert all(np.array_equal(a, b) for a, b in zip(head.boxes, truth.boxes))
    assert all(np.array_equal(a, b) for a, b in zip(head.labels, truth.labels))


def test_bench_scores_a_detector_on_a_bundle_by_map(tmp_path):
    truth = _truth(12)
    x = np.random.default_rng(1).integers(0, 256, (12, 1, SIDE, SIDE), dtype=np.uint8)
    save_bundle(tmp_path / "b.npz", x, truth, PRE)
    model = fixed_detector(tmp_path / "det.onnx")
    res = bench([model], settings=PRESETS["quick"], bundle=tmp_path / "b.npz").results[0]
    preds = ([BOXES] * 12, [SCORES] * 12, [LABELS] * 12)
    want = coco_map(truth.boxes, truth.labels, *preds, 3)
    assert 0 < want[PRIMARY] < 1  # the case can tell a wrong metric from a right one
    assert res.accuracy["metric"] == PRIMARY and res.accuracy["samples"] == 12
    assert res.accuracy["value"] == pytest.approx(want[PRIMARY], abs=1e-12)
    assert res.accuracy["metrics"][SECONDARY] == pytest.approx(want[SECONDARY], abs=1e-12)
    assert res.stats.p50 > 0  # the session's time: its outputs are the detections, nothing runs after it


def test_edgekit_bundle_and_bench_on_a_detection_recipe(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("det.yaml").write_text(
        "edgekit: 1\nname: det\n"
        f"data: {{source: fashion-detect, image_size: {SIDE}, limit_train: 20, limit_test: 10}}\n"
        "model: {source: 'edgekit:centernet-small'}\n"
        "stages:\n  - {id: train, kind: train, epochs: 1}\n  - {id: export, kind: export}\n"
    )
    fixed_detector(tmp_path / "det.onnx")
    assert main(["bundle", "det.yaml", "-o", "b.npz"]) == 0
    assert "10 test samples of 'fashion-detect'" in capsys.readouterr().out
    head = read_head(tmp_path / "b.npz")
    assert head.boxes is not None and sum(len(b) for b in head.boxes) == int(head.y.sum()) >= 10
    assert main(["bench", "det.onnx", "--quick", "--json", "--bundle", "b.npz"]) == 0
    acc = json.loads(capsys.readouterr().out)["results"][0]["accuracy"]
    assert acc["metric"] == PRIMARY and acc["samples"] == 10 and set(acc["metrics"]) == {PRIMARY, SECONDARY}
    assert main(["bench", "det.onnx", "--quick", "--recipe", "det.yaml"]) == 0  # the table names the metric
    assert PRIMARY in capsys.readouterr().out
