"""`model: {source: onnx:PATH}`: a user's own ONNX file goes through import -> quantize -> evaluate -> report ->
gate, with torch blocked, and through the same sense checks as an exported model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCK_TORCH = """
import sys
class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch.") or name in ("torchvision", "torch_pruning"):
            raise ImportError(f"torch is blocked in this test: {name}")
        return None
sys.meta_path.insert(0, _NoTorch())
"""
RECIPE = """\
edgekit: 1
name: byo-onnx
seed: 0
data: {source: fashion-mnist, limit_train: 600, limit_test: 300}
model: {source: "onnx:user.onnx"}
stages:
  - {id: model, kind: import}
  - {id: int8, kind: quantize, max_accuracy_drop: 100, calibration: {samples: 64}, latency_runs: 20, min_seconds: 0.2}
  - {id: evaluate, kind: evaluate, min_seconds: 0.2, latency_runs: 30, rounds: 2}
"""


def _edgekit(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    site = cwd / "notorch"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(BLOCK_TORCH)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(ROOT)]), COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "edgekit", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600
    )


@pytest.fixture(scope="module")
def user_onnx(tmp_path_factory) -> Path:
    """An untrained small CNN exported to ONNX: a file a user might bring, whose accuracy is at chance."""
    torch = pytest.importorskip("torch")
    from torch import nn

    from edgekit.torchkit.export import export_onnx

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, 2, 1),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, 2, 1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 10),
    )
    path = tmp_path_factory.mktemp("byo") / "user.onnx"
    export_onnx(model, torch.randn(2, 1, 28, 28), path, 18)
    return path


def test_recipe_validates_onnx_sources(tmp_path, capsys):
    from edgekit.cli.main import main

    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        RECIPE.replace(
            "  - {id: model, kind: import}\n", "  - {id: train, kind: train}\n  - {id: export, kind: export}\n"
        )
    )
    assert main(["validate", str(recipe)]) == 2
    assert "an onnx: model is already trained (start with {kind: import}" in capsys.readouterr().err
    recipe.write_text(RECIPE.replace('model: {source: "onnx:user.onnx"}', 'model: {source: "edgekit:resnet-small"}'))
    assert main(["validate", str(recipe)]) == 2
    assert "r.yaml:7: stages[0].kind: 'import' reads the recipe's model: {source: onnx:PATH}" in capsys.readouterr().err


@pytest.mark.slow
def test_user_onnx_is_quantized_measured_and_gated_without_torch(user_onnx, tmp_path):
    (tmp_path / "user.onnx").write_bytes(user_onnx.read_bytes())
    (tmp_path / "recipe.yaml").write_text(RECIPE)
    res = _edgekit(["shrink", "recipe.yaml", "--run-dir", "run"], tmp_path)
    # an untrained file: at chance, said so, and never shipped (exit 1, no ship/), though measured and reported
    assert res.returncode == 1, res.stderr[-2000:]
    assert "warning: sense: chance (model): accuracy" in res.stderr
    assert (
        "nothing ships: no artifact is fit to ship (model: at chance:" in res.stderr and "Traceback" not in res.stderr
    )
    assert not (tmp_path / "run" / "ship").exists()
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert [a["id"] for a in report["artifacts"]] == ["model", "int8"]
    model = report["artifacts"][0]
    assert model["kind"] == "import" and model["macs"] > 0 and model["chance_accuracy"] == pytest.approx(0.1, abs=0.02)
    assert report["artifacts"][1]["lineage"] == ["model"]

    (tmp_path / "budgets.yaml").write_text("max_size_mb: 1\nfail_on: [chance]\n")
    gate = _edgekit(["check", "run", "--budgets", "budgets.yaml"], tmp_path)
    assert gate.returncode == 1 and "FAIL sense.chance: model: accuracy" in gate.stdout, gate.stdout + gate.stderr

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "recipe.yaml").write_text(RECIPE)  # relative to the recipe's folder, where there is no user.onnx
    missing = _edgekit(["shrink", "elsewhere/recipe.yaml", "--run-dir", "run2"], tmp_path)
    assert missing.returncode == 2 and "no such ONNX file" in missing.stderr and "Traceback" not in missing.stderr
