"""The cached stage pipeline on a tiny real Fashion-MNIST run: caching, invalidation, crash safety."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgekit.cli.main import main
from tiny import tiny_recipe

pytestmark = pytest.mark.slow


def recipe(tmp_path: Path, n=600, epochs=1, opset=18, name="recipe.yaml") -> Path:
    p = tmp_path / name
    p.write_text(
        tiny_recipe(
            "tiny",
            limit_train=n,
            width=0.25,
            epochs=epochs,
            lr=None,
            batch_size=64,
            export=f"opset: {opset}",
            evaluate="latency_runs: 20, min_seconds: 0.1",
        )
    )
    return p


def shrink(path: Path, run_dir: Path, *extra: str) -> dict:
    assert main(["shrink", str(path), "--run-dir", str(run_dir), *extra]) == 0
    return json.loads((run_dir / "run.json").read_text())


def cached(record: dict) -> dict[str, bool]:
    return {s["id"]: s["cached"] for s in record["stages"]}


@pytest.fixture(scope="module")
def cold_run(tmp_path_factory) -> tuple[Path, dict]:
    """One cold run of the default recipe (its run dir and record): the tests that start from one get a copy."""
    root = tmp_path_factory.mktemp("cold")
    return root / "run", shrink(recipe(root), root / "run")


@pytest.fixture
def run_copy(cold_run, tmp_path) -> tuple[Path, dict]:
    """A fresh copy of the cold run in this test's tmp_path, beside the same recipe: what a first shrink left."""
    shutil.copytree(cold_run[0], tmp_path / "run")
    recipe(tmp_path)
    return tmp_path / "run", cold_run[1]


def test_end_to_end_train_export_evaluate(tmp_path):
    run_dir = tmp_path / "run"
    record = shrink(recipe(tmp_path, n=2000), run_dir)
    assert record["status"] == "ok"
    assert cached(record) == {"train": False, "export": False, "evaluate": False}
    export, evaluate = record["stages"][1], record["stages"][2]
    assert export["metrics"]["parity_top1_agreement"] >= 0.99
    row = evaluate["metrics"]["artifacts"][0]
    assert row["test_samples"] == 300 and row["latency_ms"]["p50"] > 0
    assert row["accuracy"] > 0.3  # 10 classes: chance is 0.1
    onnx_dir = run_dir / export["dir"]  # relative to the run dir
    assert sorted(p.name for p in onnx_dir.iterdir()) == ["manifest.json", "model.onnx", "preprocess.json"]
    manifest = json.loads((onnx_dir / "manifest.json").read_text())
    assert manifest["inputs"][0]["stage"] == "train" and manifest["files"]["model.onnx"]["size"] == row["size_bytes"]
    assert len(list((run_dir / "history").iterdir())) == 1


def test_rerun_is_cached_and_opset_change_reruns_only_downstream(tmp_path, run_copy):
    run_dir, first = run_copy
    assert not any(cached(first).values())
    again = shrink(recipe(tmp_path), run_dir)
    assert all(cached(again).values())
    assert [s["key"] for s in again["stages"]] == [s["key"] for s in first["stages"]]
    changed = shrink(recipe(tmp_path, opset=19), run_dir)
    assert cached(changed) == {"train": True, "export": False, "evaluate": False}
    assert len(list((run_dir / "history").iterdir())) == 3
    # the earlier export is still there: results of other runs are never overwritten
    assert (run_dir / first["stages"][1]["dir"]).is_dir()


def test_from_and_force(tmp_path, run_copy):
    run_dir, _ = run_copy
    assert cached(shrink(recipe(tmp_path), run_dir, "--from", "export")) == {
        "train": True,
        "export": False,
        "evaluate": False,
    }
    assert not any(cached(shrink(recipe(tmp_path), run_dir, "--force")).values())


def test_unknown_from_stage_is_input_error(tmp_path, capsys):
    assert main(["shrink", str(recipe(tmp_path)), "--run-dir", str(tmp_path / "r"), "--from", "exprot"]) == 2
    assert "did you mean 'export'" in capsys.readouterr().err


def test_corrupt_cache_entry_is_a_miss(tmp_path, run_copy):
    run_dir, first = run_copy
    onnx = run_dir / first["stages"][1]["dir"] / "model.onnx"
    old_sha = json.loads((onnx.parent / "manifest.json").read_text())["files"]["model.onnx"]["sha256"]
    onnx.write_bytes(onnx.read_bytes()[:100])  # truncated: size no longer matches the manifest
    again = shrink(recipe(tmp_path), run_dir)
    new_sha = json.loads((run_dir / again["stages"][1]["dir"] / "manifest.json").read_text())["files"]["model.onnx"][
        "sha256"
    ]
    assert cached(again)["train"] and not cached(again)["export"]
    # evaluate is keyed on its input's content: reused only if the re-export reproduced the same bytes
    assert cached(again)["evaluate"] == (new_sha == old_sha)


def test_run_dir_of_another_recipe_is_refused(tmp_path, capsys, run_copy):
    run_dir, _ = run_copy
    other = tmp_path / "other.yaml"
    other.write_text(recipe(tmp_path).read_text().replace("name: tiny", "name: other"))
    assert main(["shrink", str(other), "--run-dir", str(run_dir)]) == 2
    assert "holds runs of recipe 'tiny'" in capsys.readouterr().err


def test_kill_9_during_training_then_rerun_completes(tmp_path):
    run_dir = tmp_path / "run"
    path = recipe(tmp_path, n=6000, epochs=3)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgekit", "shrink", str(path), "--run-dir", str(run_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.time() + 600  # torch's import and the data under a loaded machine: minutes, not seconds
    while time.time() < deadline and not list((run_dir / "stages").glob(".tmp-train-*")):
        time.sleep(0.2)
    time.sleep(1.0)  # well inside the first epoch
    assert proc.poll() is None, "training finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not [d for d in (run_dir / "stages").iterdir() if not d.name.startswith(".tmp-")]
    record = shrink(path, run_dir)
    assert record["status"] == "ok" and not any(cached(record).values())
    assert not list((run_dir / "stages").glob(".tmp-*"))
