"""One real tiny run with an fp32 and an INT8 ONNX file and its evaluation bundle, shared by the device tests
(bench over SSH, emulated aarch64); built once per session in a pytest temp dir (~1 min on 2 quiet cores).
Batch 64 gives 31 training steps, enough to lift the model well above chance; prefer_faster: false keeps the
INT8 file even where it is slower on this machine, since the tests compare INT8 across CPUs."""

from __future__ import annotations

from pathlib import Path

from tiny import tiny_recipe

RECIPE = tiny_recipe(
    "device-tiny",
    limit_train=2000,
    limit_test=500,
    batch_size=64,
    more_stages=(
        "  - {id: int8, kind: quantize, max_accuracy_drop: 5, on_miss: keep-best, prefer_faster: false, "
        "calibration: {samples: 128}}\n"
    ),
)

_RUNS: dict[str, tuple[Path, Path]] = {}


def device_run(tmp_path_factory) -> tuple[Path, Path]:
    """(run directory after `edgekit shrink`, evaluation bundle of the same 500 test samples)."""
    if "run" not in _RUNS:
        from edgekit.cli.main import main

        root = tmp_path_factory.mktemp("device-run")
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
    [path] = (run_dir / "stages").glob(f"{stage}-*/model.onnx")
    return path
