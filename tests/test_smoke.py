"""The fast tier's smoke run (tests/smoke_run.py): every stage kind once on a tiny subset, then report, verdict,
sense checks, ship, publish and check on what it wrote. Structure and consistency only: the run is too small for
its accuracies or latencies to mean anything, and the fast tier never asserts speed."""

from __future__ import annotations

import json

import numpy as np

from edgekit.cli.main import main
from edgekit.fsutil import read_json

KINDS = {"train", "export", "prune", "distill", "quantize", "inc-quantize", "prompted", "evaluate"}


def test_every_stage_kind_ran_and_wrote_its_outputs(smoke):
    assert smoke.record["status"] == "ok"
    kinds = {s["id"]: s["kind"] for s in smoke.record["stages"]}
    assert set(kinds.values()) == KINDS and not any(s["cached"] for s in smoke.record["stages"])
    for s in smoke.record["stages"]:
        if s["kind"] in ("export", "quantize", "inc-quantize"):
            assert (smoke.run_dir / s["dir"] / "model.onnx").stat().st_size > 0, s["id"]
    assert [s["kind"] for s in smoke.import_record["stages"]] == ["import", "evaluate"]


def test_prune_removed_macs_and_quantizers_wrote_int8(smoke):
    assert smoke.stage("prune")["metrics"]["macs_ratio"] <= 0.95  # 0.1 asked (a quarter-width ResNet allows 14 %)
    assert smoke.stage("int8")["metrics"]["kept"] in ("int8", "float")
    assert smoke.stage("inc")["metrics"]["backend"] == "neural-compressor"


def test_prompted_stage_asked_the_server_about_every_sample(smoke):
    assert len(smoke.prompts) == 8 and all(len(p["images"]) == 1 for p in smoke.prompts)
    assert all(p["images"][0].shape[:2] == (28, 28) for p in smoke.prompts)


def test_report_has_rows_verdict_sense_and_ship(smoke):
    report = smoke.report
    ids = {a["id"] for a in report["artifacts"]}
    assert {"export", "export-pruned", "export-distilled", "int8", "inc"} <= ids
    assert report["final"] in ids and report["ship"]["artifact"] == report["final"]
    assert isinstance(report["sense"], list) and report["verdict"] is not None
    for name in ("report.md", "report.html"):
        assert (smoke.run_dir / name).stat().st_size > 0


def test_publish_wrote_the_shipped_file_byte_for_byte(smoke):
    ship = read_json(smoke.run_dir / "ship" / "ship.json")
    assert smoke.report["final"] in json.dumps(ship)
    shipped = (smoke.run_dir / "ship" / "model.onnx").read_bytes()
    source = next(a for a in smoke.report["artifacts"] if a["id"] == smoke.report["final"])
    assert len(shipped) == source["size_bytes"]


def test_shipped_file_runs_in_the_torch_free_runtime(smoke):
    from edgekit.runtime.ort import predict, session
    from edgekit.runtime.preprocess import prepare

    pre = read_json(smoke.run_dir / "ship" / "preprocess.json")
    images = np.random.default_rng(0).integers(0, 256, (5, 1, 28, 28), dtype=np.uint8)  # raw pixels, as a bundle holds
    logits = predict(session(smoke.run_dir / "ship" / "model.onnx"), prepare(pre, images))
    assert logits.shape == (5, 10) and np.isfinite(logits).all()


def test_check_passes_a_met_budget_and_fails_a_broken_one(smoke, tmp_path, capsys):
    final = smoke.report["final"]
    size = next(a for a in smoke.report["artifacts"] if a["id"] == final)["size_bytes"]
    ok, broken = tmp_path / "ok.yaml", tmp_path / "broken.yaml"
    ok.write_text(f"budgets:\n  max_size_bytes: {size + 1}\n")
    broken.write_text(f"budgets:\n  max_size_bytes: {size - 1}\n")
    assert main(["check", str(smoke.run_dir), "--budgets", str(ok)]) == 0
    assert main(["check", str(smoke.run_dir), "--budgets", str(broken)]) == 1
    assert f"{size:,}" in capsys.readouterr().out  # printed with thousands separators


def test_python_dash_m_edgekit_checks_the_run(smoke, tmp_path):
    """The module entry point (``python -m edgekit``), as CI scripts call it, on the smoke run."""
    import os
    import subprocess
    import sys

    from modulecheck import ROOT

    budgets = tmp_path / "b.yaml"
    budgets.write_text("budgets:\n  max_size_mb: 1000\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    out = subprocess.run(
        [sys.executable, "-m", "edgekit", "check", str(smoke.run_dir), "--budgets", str(budgets)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0 and "PASS max_size_mb" in out.stdout, out.stdout + out.stderr


def test_report_command_rerenders_the_run(smoke, tmp_path, capsys):
    assert main(["report", str(smoke.run_dir), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["final"] == smoke.report["final"]
