"""The built-in detector: its decoding reads its own targets back exactly, it learns, and its ONNX file (decoding
inside) gives the torch model's detections through ONNX Runtime and the contract's evaluate fields."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from detect_folders import canvases
from edgekit.detect.dataset import DetSplit, channel_stats
from edgekit.detect.evaluate import detection_fields, predict_onnx
from edgekit.detect.metric import PRIMARY, coco_map
from edgekit.torchkit.detect_model import STRIDE, Decoded
from edgekit.torchkit.detect_targets import targets
from edgekit.torchkit.models import build_model


def tiny_split(n=8, size=48, seed=0):
    return DetSplit(*canvases(n, size, seed))


def test_decoding_the_targets_gives_the_boxes_back():
    """An oracle whose heads are the training targets must score mAP 1.0: grid, stride, size and offset agree."""
    split = tiny_split(12, 64)
    h = w = 64 // STRIDE
    t = targets(split.boxes, split.labels, 3, h, w)
    size = torch.zeros(12, 2, h * w)
    off = torch.zeros(12, 2, h * w)
    for (b, cell), s, o in zip(t["where"], t["size"], t["offset"]):
        size[b, :, cell], off[b, :, cell] = s, o
    heads = {"heat": torch.logit(t["heat"].clamp(1e-6, 1 - 1e-6)), "size": size.reshape(12, 2, h, w)}
    heads["offset"] = off.reshape(12, 2, h, w)

    class Oracle(torch.nn.Module):
        def forward(self, x):
            return heads

    boxes, scores, labels = Decoded(Oracle())(torch.zeros(12, 1, 64, 64))
    assert boxes.shape == (12, 100, 4) and scores.shape == labels.shape == (12, 100)
    m = coco_map(split.boxes, split.labels, list(boxes.numpy()), list(scores.numpy()), list(labels.numpy()), 3)
    assert m[PRIMARY] == 1.0


@pytest.mark.slow  # dynamo export: ~25 s of CPU
def test_the_detector_learns_and_its_onnx_file_matches_torch(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from edgekit.torchkit.detect_export import export_detector
    from edgekit.torchkit.detect_train import fit_detector, predict

    torch.set_num_threads(1)
    split = tiny_split()
    mean, std = channel_stats(split.x)
    model = build_model({"source": "edgekit:centernet-small", "width": 0.5}, num_classes=3, in_channels=1)
    history = fit_detector(model, split, mean, std, epochs=6, lr=5e-3, batch_size=4, seed=0)
    assert history[-1]["loss"] < history[0]["loss"] * 0.8, history  # it learns (8 images, 12 steps)
    path = tmp_path / "det.onnx"
    export_detector(model, torch.zeros(2, 1, 48, 48), path)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [o.name for o in sess.get_outputs()] == ["boxes", "scores", "labels"]
    got = predict_onnx(sess, split, mean, std, batch_size=3)  # batches of 3: the batch axis is dynamic
    ref = predict(model, split, mean, std)
    for g, r in zip(got[1], ref[1]):
        np.testing.assert_allclose(g, r, atol=1e-4)
    fields = detection_fields(split, got, n_classes=3)
    assert fields["metric"] == "mAP@0.5:0.95" and fields["accuracy"] == fields["metrics"]["mAP@0.5:0.95"]
    assert set(fields["metrics"]) == {"mAP@0.5:0.95", "mAP@0.5"} and fields["chance_accuracy"] == 0.0
    assert fields["test_samples"] == 8 and fields["test_set"] == split.digest()
    lo, hi = fields["accuracy_ci95"]
    assert 0 <= lo <= fields["accuracy"] <= hi <= 1


def test_the_head_outputs_prune_leaves_whole_are_the_models_output_convs():
    from edgekit.torchkit.detect_prune import HEAD_OUTPUTS

    model = build_model({"source": "edgekit:centernet-small"}, num_classes=7, in_channels=3)
    convs = dict(model.named_modules())
    assert [convs[n].out_channels for n in HEAD_OUTPUTS] == [7, 2, 2]


def test_a_flipped_batch_keeps_its_boxes_on_its_items():
    from edgekit.torchkit.detect_train import _flip

    split = tiny_split(4, 32, seed=2)
    x, boxes = _flip(split.x, split.boxes)
    for img, bb in zip(x, boxes):
        for x0, y0, x1, y1 in bb.astype(int):
            patch = img[0, y0:y1, x0:x1] >= 24  # the item's pixels touch every edge of its flipped box
            assert patch[:, 0].any() and patch[:, -1].any() and patch[0].any() and patch[-1].any()


def test_detection_truth_stands_where_labels_go_in_the_quantize_ladder():
    from edgekit.detect.truth import DetTruth
    from edgekit.torchkit.detect_export import OUTPUTS
    from edgekit.torchkit.detect_stage import DETECTORS

    split = tiny_split(5)
    truth = DetTruth(split.boxes, split.labels, 3)
    assert len(truth) == 5 and "edgekit:centernet-small" in DETECTORS
    assert OUTPUTS == ["boxes", "scores", "labels"]


def test_quantize_preprocessing_a_detector_writes_nothing_into_the_working_directory(tmp_path, monkeypatch):
    """ORT's symbolic shape inference cannot infer TopK's output and then dumps sym_shape_infer_temp.onnx (+ a
    .data file) into the current directory: the user's folder. edgekit runs it from a scratch directory."""
    from edgekit.quant.ort_static import preprocess
    from edgekit.torchkit.detect_export import export_detector

    model = build_model({"source": "edgekit:centernet-small", "width": 0.25}, 3, 1).eval()
    export_detector(model, torch.zeros(1, 1, 48, 48), tmp_path / "m.onnx")
    cwd = tmp_path / "user"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    preprocess(tmp_path / "m.onnx", tmp_path / "prep.onnx")
    assert (tmp_path / "prep.onnx").stat().st_size > 0
    assert sorted(p.name for p in cwd.iterdir()) == []


def test_a_side_that_is_no_multiple_of_16_runs_in_torch_and_onnx_runtime(tmp_path):
    """A user's folder whose first image is 108 px wide sets the canvas to 108: 27 -> 14 -> 7 cells. Upsampling by
    2 gave 14 vs 27 cells at the concat ("Sizes of tensors must match"), before training even started."""
    from edgekit.runtime import ort
    from edgekit.torchkit.detect_export import export_detector

    model = build_model({"source": "edgekit:centernet-small", "width": 0.25}, 3, 1).eval()
    x = torch.rand(2, 1, 108, 108)
    heads = model(x)
    assert heads["heat"].shape == (2, 3, 27, 27) and heads["size"].shape == (2, 2, 27, 27)
    export_detector(model, x, tmp_path / "m.onnx")
    boxes, scores, labels = ort.session(tmp_path / "m.onnx", 1).run(None, {"input": x.numpy()})
    assert boxes.shape == (2, 100, 4) and np.isfinite(boxes).all()
