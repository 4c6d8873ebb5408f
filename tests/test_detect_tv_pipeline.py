"""torchvision's SSDlite through the whole card on a tiny fashion-detect subset, random init (no weights needed):
train with its own losses -> one ONNX file with NMS inside -> mAP through ONNX Runtime equal to the torch model's
-> torch-pruning on the backbone (head outputs whole) -> recovery -> INT8 by the ladder -> evaluate."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from edgekit.cli.main import main

RECIPE = """edgekit: 1
name: tv
seed: 0
threads: 1
data: {source: fashion-detect, limit_train: 48, limit_test: 24, image_size: 64}
model: {source: "torchvision:ssdlite320_mobilenet_v3_large"}
stages:
  - {id: train, kind: train, epochs: 1, lr: 1.0e-3, batch_size: 16}
  - {id: export, kind: export}
  - {id: prune, kind: prune, input: train, ratio: 0.5, measure_speed: false, round_to: 8, gradient_samples: 16,
     batch_size: 8}
  - {id: recover, kind: train, epochs: 1, lr: 1.0e-3, batch_size: 16}
  - {id: export-pruned, kind: export}
  - {id: int8, kind: quantize, max_accuracy_drop: 100, prefer_faster: false, latency_runs: 10, min_seconds: 0.1,
     calibration: {samples: 8}}
  - {id: evaluate, kind: evaluate, min_seconds: 0.1, latency_runs: 10}
"""


@pytest.mark.slow  # trains, prunes, recovers and quantizes SSDlite on 48 canvases (66 s of CPU, 3 min wall loaded)
def test_ssdlite_train_export_evaluate_prune_int8(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.yaml").write_text(RECIPE)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["shrink", "r.yaml"])
    assert code == 0, out.getvalue()[-3000:] + err.getvalue()[-3000:]
    run = json.loads((tmp_path / "runs" / "tv" / "run.json").read_text())
    metrics = {s["id"]: s["metrics"] for s in run["stages"]}
    assert metrics["train"]["metric"] == "mAP@0.5:0.95" and "backbone_weights" not in metrics["train"]
    assert {"bbox_regression", "classification"} <= set(metrics["train"]["history"][0])  # SSD's own losses
    for export in ("export", "export-pruned"):  # ONNX Runtime's detections are torch's (scores, top classes)
        assert metrics[export]["parity_max_abs_diff"] <= 1e-3 and metrics[export]["parity_top1_agreement"] == 1.0
    prune = metrics["prune"]
    assert 0.35 < prune["macs_ratio"] < 0.7 and prune["params_ratio"] < 0.9  # channels really removed
    assert all(name.startswith("net.head.") for name in prune["ignored"])  # backbone only, head outputs whole
    (f,) = tmp_path.glob("runs/tv/stages/evaluate-*/evaluation.json")
    rows = {r["stage"]: r for r in json.loads(f.read_text())["artifacts"]}
    assert list(rows) == ["export", "export-pruned", "int8"]
    for r in rows.values():
        assert r["metric"] == "mAP@0.5:0.95" and r["test_samples"] == 24 and r["chance_accuracy"] == 0.0
    # mAP through ONNX Runtime on the test canvases = the torch model's on the same canvases (train stages' rows)
    assert rows["export"]["accuracy"] == pytest.approx(metrics["train"]["test_accuracy"], abs=1e-4)
    assert rows["export-pruned"]["accuracy"] == pytest.approx(metrics["recover"]["test_accuracy"], abs=1e-4)
    assert rows["export-pruned"]["size_bytes"] < 0.8 * rows["export"]["size_bytes"]
    assert rows["int8"]["size_bytes"] < 0.6 * rows["export-pruned"]["size_bytes"]  # INT8 weights (kept: not faster)
