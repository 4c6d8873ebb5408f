"""Detection data: the built-in fashion-detect set, COCO-JSON and YOLO-txt folders, their fingerprints and their
one-line refusals (real files, real decoding)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from detect_folders import canvases, write_coco, write_yolo
from edgekit.data.errors import DataSourceError
from edgekit.detect.task import task_of
from edgekit.detect.sources import load_detection
from edgekit.recipe.model import DataConfig


def cfg(source, **kw):
    return DataConfig.model_construct(
        **{"source": source, "path": None, "val_fraction": 0.1, "limit_train": None, "limit_test": None}
        | {"image_size": None}
        | kw
    )


def test_task_of_reads_the_source_name():
    assert task_of("fashion-detect") == task_of({"data": {"source": "coco:x"}}) == "detection"
    assert task_of(cfg("yolo:dir")) == "detection"
    assert task_of({"source": "fashion-mnist"}) == task_of("imagefolder:coco") == "classification"


def test_fashion_detect_is_seeded_and_its_boxes_are_exact():
    a = load_detection(cfg("fashion-detect", limit_train=90, limit_test=30), 0, Path("."))
    b = load_detection(cfg("fashion-detect", limit_train=90, limit_test=30), 0, Path("."))
    c = load_detection(cfg("fashion-detect", limit_train=90, limit_test=30), 1, Path("."))
    assert (len(a.train), len(a.val), len(a.test)) == (90, 10, 30)
    assert a.fingerprint == b.fingerprint != c.fingerprint
    assert a.test.digest() == b.test.digest() != c.test.digest()
    assert a.input_shape == (1, 96, 96) and a.classes[0] == "t-shirt/top"
    for x, boxes in zip(a.train.x, a.train.boxes):
        assert 1 <= len(boxes) <= 4
        for x0, y0, x1, y1 in boxes.astype(int):
            # tight: an item pixel on every edge of its box (the background noise stays below 24)
            patch = x[0, y0:y1, x0:x1] >= 24
            assert patch[0].any() and patch[-1].any() and patch[:, 0].any() and patch[:, -1].any()
    labels = np.concatenate(a.train.labels)
    assert set(labels) <= set(range(10)) and len(set(labels)) >= 8


@pytest.mark.parametrize("writer", [write_coco, write_yolo])
def test_a_folder_reads_back_its_boxes(tmp_path, writer):
    x, boxes, labels = canvases(12, 64, seed=3)
    writer(tmp_path / "d", x, boxes, labels)
    name = "coco" if writer is write_coco else "yolo"
    d = load_detection(cfg(f"{name}:{tmp_path / 'd'}", val_fraction=0.25), 0, Path("."))
    assert d.classes == ["a", "b", "c"] and d.input_shape == (1, 64, 64)
    assert len(d.train) + len(d.val) + len(d.test) == 12
    # every image comes back with its own boxes: match by pixels
    for split in (d.train, d.val, d.test):
        for img, b, c in zip(split.x, split.boxes, split.labels):
            i = next(i for i in range(12) if np.array_equal(x[i], img))
            np.testing.assert_allclose(b, boxes[i], atol=1e-3)
            assert list(c) == list(labels[i])
    again = load_detection(cfg(f"{name}:{tmp_path / 'd'}", val_fraction=0.25), 0, Path("."))
    assert again.fingerprint == d.fingerprint


def test_a_coco_folder_resized_scales_its_boxes(tmp_path):
    x, boxes, labels = canvases(6, 80, seed=4, rgb=True)
    write_coco(tmp_path / "d", x, boxes, labels, first_cat=7)
    d = load_detection(cfg(f"coco:{tmp_path / 'd'}", image_size=48, val_fraction=0.2), 0, Path("."))
    assert d.input_shape == (3, 48, 48)
    every = d.train.boxes + d.val.boxes + d.test.boxes
    assert sorted(len(b) for b in every) == sorted(len(b) for b in boxes)
    assert max(float(b.max()) for b in every if len(b)) <= 48
    edited = x.copy()
    edited[0, 0, 0, 0] ^= 1  # one pixel of one image: a new fingerprint
    write_coco(tmp_path / "e", edited, boxes, labels, first_cat=7)
    e = load_detection(cfg(f"coco:{tmp_path / 'e'}", image_size=48, val_fraction=0.2), 0, Path("."))
    assert e.fingerprint != d.fingerprint


def _coco_with(tmp_path, edit) -> str:
    x, boxes, labels = canvases(3, 32, seed=5)
    root = write_coco(tmp_path / "d", x, boxes, labels)
    doc = json.loads((root / "annotations.json").read_text())
    edit(doc)
    (root / "annotations.json").write_text(json.dumps(doc, indent=1))
    with pytest.raises(DataSourceError) as e:
        load_detection(cfg(f"coco:{root}"), 0, Path("."))
    assert "\n" not in str(e.value) and "annotations.json" in str(e.value)
    return str(e.value)


def test_bad_coco_annotations_name_the_key(tmp_path):
    assert "annotations[1].bbox: width and height must be > 0" in _coco_with(
        tmp_path, lambda d: d["annotations"][1].update(bbox=[1, 1, 0, 3])
    )
    assert "annotations[0].category_id: 99 is no category's id" in _coco_with(
        tmp_path / "2", lambda d: d["annotations"][0].update(category_id=99)
    )
    assert "images[2].file_name" in _coco_with(tmp_path / "3", lambda d: d["images"][2].update(file_name="gone.png"))
    assert "categories: missing or not a list" in _coco_with(tmp_path / "4", lambda d: d.pop("categories"))


def test_broken_json_names_the_line(tmp_path):
    x, boxes, labels = canvases(2, 32, seed=6)
    root = write_coco(tmp_path / "d", x, boxes, labels)
    (root / "annotations.json").write_text('{\n"images": [\n}\n')
    with pytest.raises(DataSourceError, match=r"annotations.json:3: not valid JSON"):
        load_detection(cfg(f"coco:{root}"), 0, Path("."))


@pytest.mark.parametrize(
    "line, message",
    [
        ("0 0.5 0.5 0.2", r"img0000.txt:2: expected 'class cx cy w h' \(5 numbers\), got 4"),
        ("5 0.5 0.5 0.2 0.2", r"img0000.txt:2: class 5 out of range \(0..2\)"),
        ("1 0.5 0.5 1.2 0.2", r"img0000.txt:2: cx cy w h must be fractions"),
        ("a b c d e", r"img0000.txt:2: not numbers"),
    ],
)
def test_bad_yolo_lines_name_file_and_line(tmp_path, line, message):
    x, boxes, labels = canvases(2, 32, seed=7)
    root = write_yolo(tmp_path / "d", x, boxes, labels)
    f = root / "labels" / "img0000.txt"
    f.write_text("0 0.5 0.5 0.2 0.2\n" + line + "\n")
    with pytest.raises(DataSourceError, match=message):
        load_detection(cfg(f"yolo:{root}"), 0, Path("."))


def test_a_yolo_folder_without_class_names_is_refused(tmp_path):
    x, boxes, labels = canvases(2, 32, seed=8)
    root = write_yolo(tmp_path / "d", x, boxes, labels)
    (root / "classes.txt").unlink()
    with pytest.raises(DataSourceError, match="no classes.txt or data.yaml"):
        load_detection(cfg(f"yolo:{root}"), 0, Path("."))


def test_the_detect_package_never_reaches_torch():
    """Folder readers, boxes, metric and ONNX scoring run on a device without torch (torch code: torchkit/detect_*).
    detect.sources is left out: fashion-detect reaches data.sources, whose Fashion-MNIST download uses torchvision."""
    from importgraph import build, reachable

    inner, outer = build(Path(__file__).parents[1] / "edgekit")
    seen = reachable(inner, [m for m in inner if m.startswith("edgekit.detect") and m != "edgekit.detect.sources"])
    assert not [m for m in seen if m.startswith("edgekit.torchkit")], sorted(seen)
    assert not {m: outer[m] & {"torch", "torchvision"} for m in seen if outer[m] & {"torch", "torchvision"}}


def test_the_classification_loader_refuses_detection_data_in_one_line():
    """edgekit.data.load_dataset reads classification data (bench --recipe calls it): a detection source is a clear
    refusal there, not a KeyError; edgekit.data.load.load_data (curve) dispatches it to edgekit.detect."""
    from edgekit.data import load_dataset

    with pytest.raises(DataSourceError, match="a detection source; edgekit.data.load.load_data reads it"):
        load_dataset(cfg("coco:somewhere"), 0, Path("."))


def test_a_canvas_side_is_a_multiple_of_16(tmp_path):
    """The detector halves its maps four times and counts 4-px cells: a folder whose first image is 105 px wide gets
    112 px canvases (it failed in training, 27 vs 26 cells), and an explicit other side is refused in one line."""
    x, boxes, labels = canvases(6, 105, seed=5)
    write_coco(tmp_path / "d", x, boxes, labels)
    assert load_detection(cfg(f"coco:{tmp_path / 'd'}", val_fraction=0.2), 0, Path(".")).input_shape == (1, 112, 112)
    with pytest.raises(DataSourceError, match=r"multiple of 16 \(got 100: try 112\)"):
        load_detection(cfg(f"coco:{tmp_path / 'd'}", image_size=100), 0, Path("."))
