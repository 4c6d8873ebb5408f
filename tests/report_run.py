"""One real tiny run shared by the report, check and decide tests (built once per session, in a pytest temp dir); the
device tests' run (tests/device_run.py) is a copy of it with an INT8 stage added, so its train and export are cached.
Hence the device run's subset: 2000 training images at batch 64 (31 steps, well above chance) and 500 test images."""

from __future__ import annotations

import json
from pathlib import Path

from tiny import tiny_recipe

RECIPE = tiny_recipe("report-tiny", limit_train=2000, limit_test=500, batch_size=64)

_RUNS: dict[str, Path] = {}


def real_run(tmp_path_factory) -> Path:
    """The run directory of RECIPE after `edgekit shrink` (which also wrote its report)."""
    if "run" not in _RUNS:
        from edgekit.cli.main import main

        root = tmp_path_factory.mktemp("report-run")
        recipe = root / "recipe.yaml"
        recipe.write_text(RECIPE)
        assert main(["shrink", str(recipe), "--run-dir", str(root / "run")]) == 0
        _RUNS["run"] = root / "run"
    return _RUNS["run"]


def recipe_with(run_dir: Path, budgets_yaml: str) -> Path:
    """The shared recipe plus a budgets: block, next to the run (same stages, so every stage is cached)."""
    path = run_dir.parent / "recipe-budgets.yaml"
    path.write_text(RECIPE + budgets_yaml)
    return path


def variant(report: dict, path: Path, **edits) -> Path:
    """A copy of a report with some of its final artifact's fields changed, written to ``path``."""
    data = json.loads(json.dumps(report))
    art = next(a for a in data["artifacts"] if a["id"] == data["final"])
    for key, value in edits.items():
        if key == "latency_ms":
            art["latency_ms"] = {**art["latency_ms"], **value}
        else:
            art[key] = value
    path.write_text(json.dumps(data))
    return path
