"""torchvision detectors through the card, the fast part: the registry builds them with the data's classes and
channels, the exported form's output contract (batch 1; boxes, scores, labels 0..K-1 after NMS), the detector's own
losses (an image without objects included), the ONNX parity rule, batch-1 files read one image at a time, the
ImageNet backbone's offline fallback, and the prune plan's one-line refusal of a two-stage detector."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from detect_folders import canvases
from edgekit.detect.evaluate import session_batch
from edgekit.recipe.preflight import torchvision_models
from edgekit.runtime import ort
from edgekit.torchkit.detect_export import parity
from edgekit.torchkit.detect_tv_model import TOP_K, TV_DETECTORS, Exported, TVDetector
from edgekit.torchkit.detect_tv_prune import tv_prune_plan
from edgekit.torchkit.detect_tv_stage import is_tv_detector
from edgekit.torchkit.detect_tv_weights import backbone_weights, checkpoint_path
from edgekit.torchkit.models import build_model

SSD = "torchvision:ssdlite320_mobilenet_v3_large"


@pytest.fixture(scope="module")
def ssd():
    torch.manual_seed(0)
    return build_model({"source": SSD}, 3, 1).eval()  # 3 classes, grey canvases


def test_registry_builds_with_the_datas_classes_and_channels(ssd):
    assert isinstance(ssd, TVDetector) and ssd.num_classes == 3
    first = next(m for m in ssd.modules() if isinstance(m, torch.nn.Conv2d))
    assert first.in_channels == 1  # the RGB stem adapted to grey, as the classification zoo does
    cls, reg = ssd(torch.zeros(2, 1, 64, 64))  # forward: the heads' raw outputs, what torch-pruning traces
    assert cls.shape[0] == reg.shape[0] == 2 and cls.shape[1] == reg.shape[1]
    assert cls.shape[2] == 3 + 1 and reg.shape[2] == 4  # torchvision's background class 0 plus ours
    assert set(TV_DETECTORS) <= torchvision_models()  # preflight (torch-free) knows every registered name


def test_exported_form_outputs_boxes_scores_labels(ssd):
    x, _, _ = canvases(1, 64, seed=1)
    with torch.no_grad():
        boxes, scores, labels = Exported(ssd)(torch.from_numpy(x.astype(np.float32) / 255))
    n = scores.shape[1]
    assert boxes.shape == (1, n, 4) and labels.shape == (1, n) and 0 < n <= TOP_K
    assert labels.dtype == torch.int64 and int(labels.min()) >= 0 and int(labels.max()) < 3
    assert torch.all(scores[0, :-1] >= scores[0, 1:])  # most confident first, as the metric's ties expect
    assert torch.all(boxes[..., 2] >= boxes[..., 0]) and float(boxes.max()) <= 64


def test_the_detectors_own_losses_include_an_empty_image(ssd):
    x, boxes, labels = canvases(2, 64, seed=2)
    boxes, labels = [boxes[0], np.zeros((0, 4), np.float32)], [labels[0], np.zeros(0, np.int64)]
    ssd.train()
    try:
        terms = ssd.losses(torch.from_numpy(x.astype(np.float32) / 255), boxes, labels)
    finally:
        ssd.eval()
    assert set(terms) == {"bbox_regression", "classification"}
    assert all(torch.isfinite(v) and v > 0 for v in terms.values())


def test_parity_counts_a_missing_detection_as_its_whole_score():
    a = ([None], [np.array([0.9, 0.5], np.float32)], [np.array([2, 1])])
    close = ([None], [np.array([0.9004, 0.5], np.float32)], [np.array([2, 0])])
    short = ([None], [np.array([0.9], np.float32)], [np.array([1])])
    assert parity(a, close) == (pytest.approx(4e-4, abs=1e-6), 1.0)
    assert parity(a, short) == (pytest.approx(0.5), 0.0)


def test_parity_ignores_a_reordered_tail_below_the_score_floor_and_not_above_it():
    # flat background: plateau peaks picked differently by the two runtimes reorder the low tail only
    ref = ([None], [np.array([0.8, 0.3, 0.04, 0.02, 0.01], np.float32)], [np.array([1, 0, 2, 2, 0])])
    tail = ([None], [np.array([0.8, 0.3, 0.03, 0.01, 0.0], np.float32)], [np.array([1, 0, 0, 2, 1])])
    head = ([None], [np.array([0.8, 0.2, 0.04, 0.02, 0.01], np.float32)], [np.array([1, 0, 2, 2, 0])])
    assert parity(ref, tail)[0] < 1e-6
    assert parity(ref, head)[0] == pytest.approx(0.1)


def _identity(path, batch):
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 1, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 1, 4, 4])
    onnx.save(
        helper.make_model(helper.make_graph([helper.make_node("Identity", ["input"], ["y"])], "g", [x], [y])), path
    )
    return ort.session(path, 1)


def test_a_file_fixed_to_batch_one_is_read_one_image_at_a_time(tmp_path):
    assert session_batch(_identity(tmp_path / "one.onnx", 1), 64) == 1
    assert session_batch(_identity(tmp_path / "any.onnx", "batch"), 64) == 64


def test_backbone_weights_fall_back_offline_and_use_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("EDGEKIT_OFFLINE", "1")
    name = "ssdlite320_mobilenet_v3_large"
    weights, note = backbone_weights(name)
    assert weights is None and "offline" in note and "random backbone" in note and "\n" not in note
    enum, path = checkpoint_path(name)
    assert path.parent == tmp_path / "hub" / "checkpoints" and path.name.startswith("mobilenet_v3_large-")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")  # present in torch's hub cache: used without a request
    assert backbone_weights(name) == (enum, None)


def test_a_two_stage_detector_is_not_pruned_one_line():
    class Ctx:
        def error(self, key, message):
            return ValueError(message)

    with pytest.raises(ValueError, match="two-stage") as e:
        tv_prune_plan(Ctx(), None, {"source": "torchvision:fasterrcnn_mobilenet_v3_large_320_fpn"})
    assert "\n" not in str(e.value)
    ignore, _, _ = tv_prune_plan(Ctx(), None, {"source": SSD})
    assert ignore == ("net.head.*",)


def test_the_onnx_file_is_batch_one_with_nms_inside_and_matches_torch(ssd, tmp_path):
    from edgekit.detect.dataset import DetSplit
    from edgekit.detect.evaluate import OUTPUTS, predict_onnx
    from edgekit.torchkit.detect_tv_export import export_tv
    from edgekit.torchkit.detect_tv_train import predict_tv

    split = DetSplit(*canvases(3, 64, seed=3))
    mean, std = (0.2,), (0.3,)
    path = tmp_path / "model.onnx"
    export_tv(ssd, torch.zeros(2, 1, 64, 64), path, opset=17)
    model = onnx.load(path)
    assert [o.name for o in model.graph.output] == OUTPUTS and len(model.graph.input) == 1
    assert [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim] == [1, 1, 64, 64]
    ops = {n.op_type for n in model.graph.node} | {
        n.op_type for g in model.graph.node for a in g.attribute if a.g for n in a.g.node
    }
    assert "NonMaxSuppression" in ops and "Resize" not in ops  # NMS inside; the canvas is taken as it is
    diff, agree = parity(predict_tv(ssd, split, mean, std), predict_onnx(ort.session(path, 1), split, mean, std))
    assert diff < 1e-4 and agree == 1.0


def test_validate_accepts_a_torchvision_detector_and_names_a_typo(tmp_path, capsys):
    from edgekit.cli.main import main

    recipe = (
        'edgekit: 1\nname: r\ndata: {source: fashion-detect, limit_train: 8, limit_test: 8}\nmodel: {source: "%s"}\n'
        "stages:\n  - {id: train, kind: train}\n"
    )
    (tmp_path / "ok.yaml").write_text(recipe % SSD)
    (tmp_path / "typo.yaml").write_text(recipe % SSD[:-1])
    assert main(["validate", str(tmp_path / "ok.yaml")]) == 0
    assert main(["validate", str(tmp_path / "typo.yaml")]) == 2
    err = capsys.readouterr().err
    assert "typo.yaml:4: model.source:" in err and "did you mean 'ssdlite320_mobilenet_v3_large'" in err


def test_the_train_stage_hands_a_torchvision_detector_over_and_keeps_others():
    from types import SimpleNamespace

    from edgekit.recipe.model_config import ModelConfig

    def ctx(source):
        return SimpleNamespace(input=None, recipe=SimpleNamespace(model=ModelConfig(source=source)))

    cfg = SimpleNamespace(model=None)
    assert is_tv_detector(ctx(SSD), cfg)
    assert not is_tv_detector(ctx("edgekit:centernet-small"), cfg)
    assert not is_tv_detector(ctx("torchvision:resnet18"), cfg)  # a classifier: the train stage refuses it
    assert not is_tv_detector(ctx("torchvision:maskrcnn_resnet50_fpn"), cfg)  # torchvision's, not registered
