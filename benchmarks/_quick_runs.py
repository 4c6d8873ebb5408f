"""Short edgekit runs for the INT8 benchmarks (peers.py, zoo_int8.py): train a torchvision architecture briefly on
Fashion-MNIST (the default recipe's data, 28x28), export it, and run the quantize stage (its ladder, speed race and
keep-float decision) through `edgekit shrink`, as a user would. Or read an existing run (the default recipe's).

Latency does not depend on the weights; a short train gives the accuracy budget something real to hold."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

# name -> (the recipe's model mapping at Fashion-MNIST's 28x28, lr, training images). resnet18 as the default recipe
# has it (ImageNet stem); the mobile nets with a stride-2 3x3 stem (the ImageNet stem would leave 1x1 maps before the
# last stage); squeezenet (no BatchNorm) with stride 1 and a lower lr (tests/zoo_matrix.py: at 2e-3 its ReLUs die).
# efficientnet_b0 on fewer images: its float p50 is 6x mobilenet_v3_small's here, and so is its training step.
MODELS = {
    "resnet18": ("{source: 'torchvision:resnet18'}", 4e-3, 3000),
    "mobilenet_v2": ("{source: 'torchvision:mobilenet_v2', stem_stride: 2}", 4e-3, 3000),
    "mobilenet_v3_small": ("{source: 'torchvision:mobilenet_v3_small', stem_stride: 2}", 4e-3, 3000),
    "efficientnet_b0": ("{source: 'torchvision:efficientnet_b0', stem_stride: 2}", 4e-3, 1000),
    "mnasnet0_5": ("{source: 'torchvision:mnasnet0_5', stem_stride: 2}", 4e-3, 3000),
    "squeezenet1_1": ("{source: 'torchvision:squeezenet1_1', stem_stride: 1}", 1e-3, 3000),
}

BUDGET_PT = 0.5
RECIPE = """\
edgekit: 1
name: {name}
seed: 0
data: {{source: fashion-mnist, val_fraction: 0.1, limit_train: {train}, limit_test: {test}}}
model: {model}
stages:
  - {{id: train, kind: train, epochs: {epochs}, lr: {lr}, batch_size: 64}}
  - {{id: export, kind: export, opset: 18}}
  - {{id: int8, kind: quantize, input: export, max_accuracy_drop: {budget}, on_miss: keep-best}}
"""


@dataclass
class Run:
    """A finished run: its stage directories, the recipe as loaded and its dataset (the quantize stage's data)."""

    run_dir: Path
    dirs: dict[str, Path]
    loaded: object  # edgekit.recipe.read.Loaded
    ds: object  # edgekit.data.Dataset

    @property
    def pre(self) -> dict:
        return json.loads((self.dirs["export"] / "preprocess.json").read_text())

    def calibration(self) -> np.ndarray:
        """The quantize stage's own calibration samples (raw), prepared as model input: what every peer gets."""
        from edgekit.quant.calibration import stratified_indices
        from edgekit.runtime.preprocess import prepare

        stage = next(s for s in self.loaded.recipe.stages if s.id == "int8")
        raw = self.ds.train.x[stratified_indices(self.ds.train.y, stage.calibration.samples, self.loaded.recipe.seed)]
        return prepare(self.pre, raw)

    def test_set(self) -> tuple[np.ndarray, np.ndarray]:
        from edgekit.runtime.preprocess import prepare

        return prepare(self.pre, self.ds.test.x), self.ds.test.y

    def trials(self) -> dict:
        return json.loads((self.dirs["int8"] / "trials.json").read_text())


def read(run_dir: Path) -> Run:
    """An existing run directory with stages ``export`` and ``int8`` (the default recipe's ids)."""
    from edgekit.data import load_dataset
    from edgekit.recipe.read import load
    from edgekit.report.build import in_run, read_run

    run = read_run(run_dir)
    dirs = {st["id"]: in_run(run_dir, st["dir"]) for st in run["stages"] if st.get("dir")}
    missing = [s for s in ("export", "int8") if s not in dirs]
    if missing:
        raise SystemExit(f"{run_dir}: no finished stage(s) {', '.join(missing)} (needs an export and an int8 stage)")
    loaded = load(in_run(run_dir, run["recipe"]["file"]))
    return Run(run_dir, dirs, loaded, load_dataset(loaded.recipe.data, loaded.recipe.seed, loaded.file.parent))


def shrink(work: Path, arch: str, input_size: int | None = None, epochs: int = 1, test: int = 1000) -> Run:
    """Write a recipe for ``arch`` (a MODELS name; ``input_size``: resized to inside the model) and run it; a re-run
    with the same ``work`` reuses every finished stage (edgekit's stage cache)."""
    model, lr, train = MODELS[arch]
    name = arch.replace("_", "-")
    if input_size:
        model = model[:-1] + f", input_size: {input_size}}}"
        name += f"-{input_size}"
    work.mkdir(parents=True, exist_ok=True)
    recipe = work / f"{name}.yaml"
    recipe.write_text(
        RECIPE.format(name=name, model=model, epochs=epochs, lr=lr, train=train, test=test, budget=BUDGET_PT)
    )
    run_dir = work / f"run-{name}"
    t0 = time.time()
    with open(work / f"{name}.log", "w") as log:
        proc = subprocess.run(
            [sys.executable, "-m", "edgekit", "shrink", recipe.name, "--run-dir", run_dir.name],
            cwd=work,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    print(f"{name}: edgekit shrink exit {proc.returncode} after {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    if proc.returncode not in (0, 1):  # 1: a gate said no, the run itself finished
        raise SystemExit(f"{recipe}: edgekit shrink failed (exit {proc.returncode}); see {work / (name + '.log')}")
    return read(run_dir)


def accuracy(path: Path, x: np.ndarray, y: np.ndarray) -> float:
    from edgekit.runtime import ort

    return ort.accuracy(ort.session(path, threads=2, spinning=False), x, y)


def time_rounds(files: list[Path], rounds: int = 5) -> list[list[list[float]]]:
    """Per file, its per-round latencies (ms) from one alternating edgekit.bench run over all of ``files`` (batch 1,
    1 thread, each file in its own worker): rounds of different files ran side by side, so their ratios hold on a
    drifting machine (edgekit.bench.stats.ratio_with_spread)."""
    from dataclasses import replace

    from edgekit.bench import PRESETS, bench

    settings = replace(PRESETS["default"], min_runs=100 * rounds, min_seconds=0.6 * rounds, rounds=rounds)
    return [r.rounds for r in bench(files, threads=(1,), settings=settings).results]
