"""Detection through the CLI: ``edgekit init`` recognises COCO-JSON and YOLO-txt folders, ``validate`` accepts what it
wrote, and ``shrink`` trains, exports and evaluates a detector, with the evaluate row of issue 32's contract."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from detect_folders import canvases, write_coco, write_yolo
from edgekit.cli.main import main

pytest.importorskip("PIL")


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("writer, prefix", [(write_coco, "coco"), (write_yolo, "yolo")])
def test_init_recognises_a_detection_folder_and_validate_accepts_it(tmp_path, monkeypatch, writer, prefix):
    monkeypatch.chdir(tmp_path)
    writer(tmp_path / "shelf", *canvases(4, 32, seed=9))
    code, _, err = cli("init", "shelf", "-o", "shelf.yaml")
    assert code == 0, err
    text = (tmp_path / "shelf.yaml").read_text()
    assert f'source: "{prefix}:shelf"' in text and "edgekit:centernet-small" in text
    assert "kind: quantize" not in text  # not yet for detectors
    code, _, err = cli("validate", "shelf.yaml")
    assert code == 0, err


def test_a_bad_detection_source_is_one_line_exit_2(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.yaml").write_text(
        'edgekit: 1\nname: r\ndata: {source: "coco"}\nmodel: {source: "edgekit:centernet-small"}\n'
        "stages:\n  - {id: train, kind: train}\n"
    )
    code, _, err = cli("validate", "r.yaml")
    assert code == 2 and "coco:DIR" in err and "Traceback" not in err


@pytest.mark.slow  # trains a detector (~1-3 min of CPU)
def test_a_user_coco_folder_through_init_validate_shrink(tmp_path, monkeypatch):
    """A COCO folder from another seed and image size than fashion-detect's (RGB, 64x64): the run's evaluate row
    carries the contract's fields and a mAP well above chance (0)."""
    monkeypatch.chdir(tmp_path)
    write_coco(tmp_path / "shelf", *canvases(240, 64, seed=21, rgb=True))
    assert cli("init", "shelf", "-o", "shelf.yaml")[0] == 0
    text = (tmp_path / "shelf.yaml").read_text()
    (tmp_path / "shelf.yaml").write_text(text.replace("kind: evaluate}", "kind: evaluate, min_seconds: 0.2}"))
    assert cli("validate", "shelf.yaml")[0] == 0
    code, out, err = cli("shrink", "shelf.yaml")
    (r,) = _rows(tmp_path)
    assert r["metric"] == "mAP@0.5:0.95" and set(r["metrics"]) == {"mAP@0.5:0.95", "mAP@0.5"}
    assert r["accuracy"] == r["metrics"]["mAP@0.5:0.95"] and r["chance_accuracy"] == 0.0
    assert r["test_samples"] == 24  # val_fraction 0.1 of 240 images held out as test
    lo, hi = r["accuracy_ci95"]
    assert lo <= r["accuracy"] <= hi
    assert r["metrics"]["mAP@0.5"] > 0.3, r["metrics"]  # three blob classes on a plain canvas: easy
    assert code == 0, err


def _rows(root) -> list[dict]:
    (f,) = root.glob("runs/*/stages/evaluate-*/evaluation.json")
    return json.loads(f.read_text())["artifacts"]


@pytest.mark.slow  # trains, prunes, recovers, quantizes a small detector (~3-5 min of CPU)
def test_prune_recover_int8_on_a_detector(tmp_path, monkeypatch):
    """Every stage kind of the shrink card on a detector: torch-pruning removes about half the MACs with the heads'
    outputs whole, recovery loads the pruned shapes, the INT8 ladder scores candidates by mAP, and every evaluate
    row carries the metric's name."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.yaml").write_text(
        "edgekit: 1\nname: det\nseed: 0\n"
        "data: {source: fashion-detect, limit_train: 160, limit_test: 48, image_size: 64}\n"
        'model: {source: "edgekit:centernet-small", width: 0.5}\n'
        "stages:\n"
        "  - {id: train, kind: train, epochs: 2, lr: 3.0e-3, batch_size: 16}\n"
        "  - {id: prune, kind: prune, ratio: 0.5, measure_speed: false, round_to: 8}\n"
        "  - {id: recover, kind: train, epochs: 1, lr: 1.0e-3, batch_size: 16}\n"
        "  - {id: export, kind: export}\n"
        "  - {id: int8, kind: quantize, max_accuracy_drop: 100, prefer_faster: false, latency_runs: 20,"
        " min_seconds: 0.1, calibration: {samples: 32}}\n"
        "  - {id: evaluate, kind: evaluate, min_seconds: 0.1, latency_runs: 20}\n"
    )
    cli("shrink", "r.yaml")  # ships or not: a 2-epoch detector may sit near chance; the structure is checked here
    stages = {p.name.split("-")[0]: p for p in (tmp_path / "runs" / "det" / "stages").iterdir()}
    pruned = json.loads((stages["prune"] / "model.json").read_text())
    assert pruned["pruned"] and pruned["preprocess"]["task"] == "detection"
    run = json.loads((tmp_path / "runs" / "det" / "run.json").read_text())
    metrics = {s["id"]: s["metrics"] for s in run["stages"]}
    assert 0.4 < metrics["prune"]["macs_ratio"] < 0.65 and metrics["prune"]["metric"] == "mAP@0.5:0.95"
    assert set(metrics["prune"]["ignored"]) == {"heat.1", "size.1", "offset.1"}
    rows = _rows(tmp_path)
    assert [r["stage"] for r in rows] == ["export", "int8"]
    for r in rows:
        assert r["metric"] == "mAP@0.5:0.95" and r["accuracy"] == r["metrics"]["mAP@0.5:0.95"]
        assert r["test_samples"] == 48
    assert rows[1]["size_bytes"] < rows[0]["size_bytes"] * 0.6  # INT8 weights (prefer_faster off: kept even if slower)


def test_init_refuses_a_coco_export_without_categories_in_shrinks_words(tmp_path, monkeypatch):
    from PIL import Image

    monkeypatch.chdir(tmp_path)
    (tmp_path / "export" / "images").mkdir(parents=True)
    Image.new("RGB", (32, 32)).save(tmp_path / "export" / "images" / "0.jpg")
    (tmp_path / "export" / "annotations.json").write_text('{"images": [], "annotations": [], "categories": []}')
    code, _, err = cli("init", "export", "-o", "r.yaml")
    assert code == 2 and "annotations.json: categories: empty" in err and err.count("\n") == 1, err
    assert not (tmp_path / "r.yaml").exists()
