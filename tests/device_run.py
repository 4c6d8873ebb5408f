"""One real tiny run with an fp32 and an INT8 ONNX file and its evaluation bundle, shared by the device tests
(bench over SSH, emulated aarch64); built once per session in a pytest temp dir. It is the report run
(tests/report_run.py: 2000 training images at batch 64, 500 test images) plus an INT8 stage, shrunk in a copy of that
run's directory, so only the INT8 stage and the evaluation run again (the same recipe name: a run directory holds one
recipe's runs). prefer_faster: false keeps the INT8 file even where it is slower on this machine, since the tests
compare INT8 across CPUs."""

from __future__ import annotations

import shutil
from pathlib import Path

from report_run import RECIPE as REPORT_RECIPE
from report_run import real_run

INT8 = (
    "  - {id: int8, kind: quantize, max_accuracy_drop: 5, on_miss: keep-best, prefer_faster: false, "
    "calibration: {samples: 128}}\n"
)
RECIPE = REPORT_RECIPE.replace("  - {id: evaluate", INT8 + "  - {id: evaluate")
assert RECIPE != REPORT_RECIPE

_RUNS: dict[str, tuple[Path, Path]] = {}


def device_run(tmp_path_factory) -> tuple[Path, Path]:
    """(run directory after `edgekit shrink`, evaluation bundle of the same 500 test samples)."""
    if "run" not in _RUNS:
        from edgekit.cli.main import main

        root = tmp_path_factory.mktemp("device-run")
        # a copy: the report tests expect their run as it was (one artifact, no devices)
        shutil.copytree(real_run(tmp_path_factory), root / "run", symlinks=True)
        recipe = root / "recipe.yaml"
        recipe.write_text(RECIPE)
        assert main(["shrink", str(recipe), "--run-dir", str(root / "run")]) == 0
        assert main(["bundle", str(recipe), "-o", str(root / "eval.npz")]) == 0
        _RUNS["run"] = (root / "run", root / "eval.npz")
    return _RUNS["run"]


def device_bundle(tmp_path_factory, limit: int = 100) -> Path:
    """An evaluation bundle of ``limit`` of the run's test samples (seeded, edgekit.bench.bundle): the emulated aarch64
    bench (qemu-user, ~50x slower than the host) proves fp32 parity to the sample and INT8's difference on 100 as well
    as on 500."""
    run_dir, _ = device_run(tmp_path_factory)
    path = run_dir.parent / f"eval-{limit}.npz"
    if not path.exists():
        from edgekit.cli.main import main

        assert main(["bundle", str(run_dir.parent / "recipe.yaml"), "-o", str(path), "--limit", str(limit)]) == 0
    return path


def stage_model(run_dir: Path, stage: str) -> Path:
    # STAGE-KEY, the key one hex word: test_remote adds a stage "int8-dev" to this run, which "int8-*" also matches
    [path] = (
        p for p in (run_dir / "stages").glob(f"{stage}-*/model.onnx") if "-" not in p.parent.name[len(stage) + 1 :]
    )
    return path
