"""End to end, as a CI job with a restored run directory would see it: a comment in the recipe re-runs nothing;
an edit under edgekit/quant/ re-runs quantize and what follows and nothing before it; a smaller limit_test
does not re-train. edgekit runs from a copy of its source tree so the test can edit it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgekit.run import codehash
from tiny import tiny_recipe

pytestmark = pytest.mark.slow


def recipe_text(limit_test: int) -> str:
    return tiny_recipe(
        "rerun",
        limit_train=600,
        limit_test=limit_test,
        width=0.25,
        lr=None,
        batch_size=64,
        more_stages=(
            "  - {id: int8, kind: quantize, val_samples: 200, latency_runs: 20, min_seconds: 0.1, on_miss: keep-best,\n"
            "      calibration: {samples: 64}}\n"
        ),
        evaluate="latency_runs: 20, min_seconds: 0.1, rounds: 2",
    )


def _shrink(src: Path, recipe: Path, run_dir: Path) -> dict[str, bool]:
    env = {**os.environ, "PYTHONPATH": str(src), "EDGEKIT_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "edgekit", "shrink", str(recipe), "--run-dir", str(run_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        cwd=src,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads((run_dir / "run.json").read_text())
    return {s["id"]: s["cached"] for s in record["stages"]}


def test_code_and_recipe_edits_rerun_exactly_what_they_touch(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(codehash.ROOT, src / "edgekit", ignore=shutil.ignore_patterns("__pycache__"))
    recipe, run_dir = tmp_path / "recipe.yaml", tmp_path / "run"
    recipe.write_text(recipe_text(300))
    assert _shrink(src, recipe, run_dir) == {"train": False, "export": False, "int8": False, "evaluate": False}

    recipe.write_text("# only a comment changed\n" + recipe_text(300))
    assert _shrink(src, recipe, run_dir) == {"train": True, "export": True, "int8": True, "evaluate": True}

    with open(src / "edgekit" / "quant" / "tolerance.py", "a") as f:
        f.write("\n# an edit to the quantization code\n")
    assert _shrink(src, recipe, run_dir) == {"train": True, "export": True, "int8": False, "evaluate": False}

    recipe.write_text(recipe_text(200))  # scoring fewer test samples never re-trains
    assert _shrink(src, recipe, run_dir)["train"] is True
