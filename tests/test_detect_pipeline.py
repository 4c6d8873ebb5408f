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
    code, out, err = cli("shrink", "shelf.yaml", "--json")
    record = json.loads(out)
    ev = (
        next(s for s in record["stages"] if s["kind"] == "evaluate") if isinstance(record.get("stages"), list) else None
    )
    rows = ev["metrics"]["artifacts"] if ev else _rows(tmp_path)
    (r,) = rows
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
