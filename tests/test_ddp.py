"""torchrun/DDP train stages on 127.0.0.1 (gloo, CPU): 2 processes match 1 within the test-set noise and write one
stage directory; a killed rank fails the stage cleanly (exit 1, nothing written) and the same command resumes.
Real runs of `edgekit shrink` in subprocesses: about 3-5 minutes on 2 shared cores."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
N_TEST = 1000

RECIPE = f"""\
edgekit: 1
name: ddp
seed: 0
data: {{source: fashion-mnist, limit_train: 2000, limit_test: {N_TEST}}}
model: {{source: "edgekit:resnet-small", width: 0.5}}
stages:
  - {{id: train, kind: train, epochs: 3, lr: 3.0e-3, batch_size: 128}}
"""


def _cmd(recipe: Path, run_dir: Path, nproc: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "edgekit",
        "shrink",
        str(recipe),
        "--run-dir",
        str(run_dir),
        "--nproc-per-node",
        str(nproc),
    ]


def _env(tmp_path: Path) -> dict:
    return dict(os.environ, PYTHONPATH=str(ROOT), XDG_CACHE_HOME=str(tmp_path / "xdg"))


def _stage_dirs(run_dir: Path) -> list[Path]:
    stages = run_dir / "stages"
    return sorted(stages.iterdir()) if stages.is_dir() else []


def _metrics(stage_dir: Path) -> dict:
    return json.loads((stage_dir / "manifest.json").read_text())["metrics"]


def _workers_of(pid: int) -> list[int]:
    """pids of ddp_worker processes descended from ``pid``."""
    parent, cmd = {}, {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                parent[int(p.name)] = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
                cmd[int(p.name)] = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except (OSError, ValueError, IndexError):
                continue

    def descends(q: int) -> bool:
        while q in parent and q > 1:
            if parent[q] == pid:
                return True
            q = parent[q]
        return False

    return [
        q
        for q, c in cmd.items()
        if "edgekit.torchkit.ddp_worker" in c and "torch.distributed.run" not in c and descends(q)
    ]


@pytest.mark.slow
def test_two_processes_match_one_and_write_one_stage_dir(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE)
    acc = {}
    for nproc in (1, 2):
        run_dir = tmp_path / f"run{nproc}"
        done = subprocess.run(
            _cmd(recipe, run_dir, nproc), capture_output=True, text=True, env=_env(tmp_path), timeout=900
        )
        assert done.returncode == 0, done.stderr[-3000:]
        dirs = _stage_dirs(run_dir)
        assert [d.name.split("-")[0] for d in dirs] == ["train"], dirs  # one stage directory, no temporaries
        assert sorted(p.name for p in dirs[0].iterdir()) == ["manifest.json", "model.json", "model.safetensors"]
        m = _metrics(dirs[0])
        assert m.get("world_size") == (2 if nproc == 2 else None)
        assert all(0 <= h["data_wait"] <= 1 for h in m["history"])
        acc[nproc] = m["test_accuracy"]
    assert _stage_dirs(tmp_path / "run1")[0].name != _stage_dirs(tmp_path / "run2")[0].name  # world size is in the key
    p = (acc[1] + acc[2]) / 2
    noise = 3 * math.sqrt(2 * p * (1 - p) / N_TEST)  # 3 sigma of the difference of two accuracies on N_TEST images
    print(f"test accuracy, 1 process {acc[1]:.3f}, 2 processes {acc[2]:.3f}; allowed difference {noise:.3f}")
    assert acc[1] > 0.5 and abs(acc[1] - acc[2]) <= noise, (acc, noise)


@pytest.mark.slow
def test_a_killed_rank_fails_the_stage_cleanly_and_the_rerun_resumes(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE)
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        _cmd(recipe, run_dir, 2), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(tmp_path)
    )
    try:
        deadline = time.monotonic() + 600
        while len(workers := _workers_of(proc.pid)) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
        assert len(workers) == 2, "the two DDP workers never started"
        time.sleep(3)  # into the run: importing, loading, or training
        os.kill(max(workers), signal.SIGKILL)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err[-3000:]
    assert "failed or was killed" in err and "Traceback" not in err
    assert _stage_dirs(run_dir) == []  # no artifact, no temporary directory
    assert json.loads((run_dir / "run.json").read_text())["status"] == "failed"
    again = subprocess.run(_cmd(recipe, run_dir, 2), capture_output=True, text=True, env=_env(tmp_path), timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert [d.name.split("-")[0] for d in _stage_dirs(run_dir)] == ["train"]


@pytest.mark.parametrize(
    "args,message",
    [
        (["--nnodes", "2"], "--nnodes > 1 needs --rdzv-endpoint HOST:PORT"),
        (["--nnodes", "2", "--node-rank", "2", "--rdzv-endpoint", "h:1"], "--node-rank 2: must be from 0 to 1"),
        (["--nproc-per-node", "0"], "--nproc-per-node and --nnodes must be at least 1"),
    ],
)
def test_bad_launch_options_are_one_line_and_exit_2(tmp_path, args, message):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE)
    done = subprocess.run(
        [sys.executable, "-m", "edgekit", "shrink", str(recipe), *args],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_world_size_is_in_the_train_and_distill_keys_only_when_above_one(monkeypatch):
    from edgekit.recipe.model_config import ModelConfig
    from edgekit.stages.distill import DistillStageConfig
    from edgekit.stages.train import TrainConfig
    from edgekit.torchkit.distributed import configure

    for var in ("EDGEKIT_NPROC_PER_NODE", "EDGEKIT_NNODES", "EDGEKIT_NODE_RANK", "EDGEKIT_RDZV_ENDPOINT"):
        monkeypatch.setenv(var, "")  # recorded, so the variables configure() sets are undone after the test
    cfgs = [TrainConfig(id="train"), DistillStageConfig(id="d", student=ModelConfig(source="edgekit:bow"))]
    assert [c.key_context(None) for c in cfgs] == [None, None]
    configure(1)
    assert [c.key_context(None) for c in cfgs] == [None, None]
    configure(4, 2, 1, "h:1")
    assert [c.key_context(None) for c in cfgs] == [{"world_size": 8}] * 2


DISTILL_RECIPE = f"""\
edgekit: 1
name: ddp-distill
seed: 0
data: {{source: fashion-mnist, limit_train: 1000, limit_test: {N_TEST}}}
model: {{source: "edgekit:resnet-small", width: 0.5}}
stages:
  - {{id: train, kind: train, epochs: 2, lr: 3.0e-3, batch_size: 128}}
  - {{id: small, kind: distill, student: {{source: "edgekit:resnet-small", width: 0.25}}, epochs: 2, lr: 3.0e-3,
      batch_size: 128}}
"""


@pytest.mark.slow
def test_a_distill_stage_trains_on_two_processes_like_on_one(tmp_path):
    """The distill stage's student trains under DDP on the teacher's soft labels (rank 0 writes): one stage
    directory each, world size in the metrics and the key, test accuracy within the noise of one process's."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text(DISTILL_RECIPE)
    acc, names = {}, {}
    for nproc in (1, 2):
        run_dir = tmp_path / f"run{nproc}"
        done = subprocess.run(
            _cmd(recipe, run_dir, nproc), capture_output=True, text=True, env=_env(tmp_path), timeout=900
        )
        assert done.returncode == 0, done.stderr[-3000:]
        dirs = _stage_dirs(run_dir)
        assert [d.name.split("-")[0] for d in dirs] == ["small", "train"], dirs  # no temporaries left
        small = dirs[0]
        assert sorted(p.name for p in small.iterdir()) == ["manifest.json", "model.json", "model.safetensors"]
        m = _metrics(small)
        assert m.get("world_size") == (2 if nproc == 2 else None) and m["teacher"] == "train"
        acc[nproc], names[nproc] = m["test_accuracy"], small.name
    assert names[1] != names[2]  # world size is in the key
    p = (acc[1] + acc[2]) / 2
    noise = 3 * math.sqrt(2 * p * (1 - p) / N_TEST)
    print(f"distilled test accuracy, 1 process {acc[1]:.3f}, 2 processes {acc[2]:.3f}; allowed {noise:.3f}")
    assert acc[1] > 0.2 and abs(acc[1] - acc[2]) <= noise, (acc, noise)  # 2x chance: a 2-epoch teacher of 1,000 images


def test_the_worker_started_by_hand_says_how_it_is_started(tmp_path):
    """The rank entry point (torchrun runs it in the slow tests above) refuses a missing job with usage, exit 2."""
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-m", "edgekit.torchkit.ddp_worker", str(tmp_path / "absent.json")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "usage:" in r.stderr and "--nproc-per-node" in r.stderr
    assert "Traceback" not in r.stderr
