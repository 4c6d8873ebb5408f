"""`edgekit search` end to end on a tiny recipe: kill -9 during a trial and resume (journal file), and two
workers on one study in a real PostgreSQL server, one killed mid-trial (heartbeat, retry)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tiny import tiny_recipe

ROOT = Path(__file__).parents[1]
DATA = Path("/usr/share/datasets/fashion-mnist")

# train + export run once (trial 0) and are cached for the other trials, which only re-run evaluate: its
# min_seconds is the searched key, so every trial lasts a few seconds, long enough to be killed inside
# 4 epochs at lr 1e-2: 39 %, so a trial at chance ships nothing
RECIPE = tiny_recipe(
    "tiny-search",
    limit_train=256,
    limit_test=100,
    width=0.25,
    epochs=4,
    lr="1.0e-2",
    batch_size=32,
    head="threads: 1\n",
    evaluate="latency_runs: 10, min_seconds: 1.5, rounds: 1",
) + (
    """search:
  space:
    evaluate.min_seconds: [1.5, 3.0]
  trials: TRIALS
"""
)

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not DATA.is_dir(), reason="needs Debian dataset-fashion-mnist")]


def recipe(tmp_path: Path, trials: int) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(RECIPE.replace("TRIALS", str(trials)))
    return path


def start(args: list[str], log: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT), EDGEKIT_OFFLINE="1")
    return subprocess.Popen(
        [sys.executable, "-m", "edgekit", *args],
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
        env=env,
        start_new_session=True,
    )


def wait_for(condition, timeout: float, what: str) -> None:
    t0 = time.time()
    while not condition():
        if time.time() - t0 > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def evaluating(trial_dir: Path) -> bool:
    """The trial's pipeline has started its evaluate stage (a temporary stage directory exists for it)."""
    return (
        any(p.name.startswith(".tmp-evaluate") for p in (trial_dir / "stages").glob(".tmp-*"))
        if trial_dir.is_dir()
        else False
    )


def runs_of(trial_dir: Path) -> int:
    """How many pipeline runs this trial directory saw (one history record each)."""
    return len(list((trial_dir / "history").glob("*.json")))


def test_kill_9_during_a_trial_then_resume(tmp_path):
    path = recipe(tmp_path, 3)
    run = tmp_path / "run"
    trials = run / "search" / "trials"
    first = start(["search", str(path), "--run-dir", str(run), "--json"], tmp_path / "first.log")
    try:
        wait_for(lambda: evaluating(trials / "0001"), 240, "trial 1 to be running its evaluate stage")
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    assert runs_of(trials / "0000") == 1  # trial 0 finished before the kill

    second = start(["search", str(path), "--run-dir", str(run), "--json"], tmp_path / "second.log")
    out, _ = second.communicate(timeout=240)
    log = (tmp_path / "second.log").read_text()
    assert second.returncode == 0, log
    assert "trial #1 was interrupted: queued again with the same settings" in log
    result = json.loads(out)
    by = {t["number"]: t for t in result["trials"]}
    assert by[1]["state"] == "FAIL" and "interrupted" in by[1]["error"] and by[1]["retried_as"] is not None
    retry = by[by[1]["retried_as"]]
    assert retry["state"] == "COMPLETE" and retry["retry_of"] == 1 and retry["settings"] == by[1]["settings"]
    complete = [t for t in result["trials"] if t["state"] == "COMPLETE"]
    assert len(complete) == 3  # the budget: 3 trials, the interrupted one replaced by its retry
    assert by[0]["hand"] and by[0]["settings"] == {"evaluate.min_seconds": 1.5}  # the recipe's own settings first
    for t in complete:  # no finished trial ran twice
        assert runs_of(run / "search" / t["run_dir"]) == 1, t
    assert (run / "search" / "pareto.png").stat().st_size > 0
    assert result["ship"]["trial"] in result["frontier"]  # the rule ships one frontier trial


def test_two_workers_on_postgresql_one_killed_mid_trial(tmp_path):
    sys.path.insert(0, str(Path(__file__).parent))
    import pgserver

    if (why := pgserver.missing_requirements()) is not None:
        pytest.skip(why)
    path = recipe(tmp_path, 4)
    run = tmp_path / "run"  # both workers on one machine: one run directory, one stage cache
    stages = run / "search" / "stages"

    def evaluating_in(proc: subprocess.Popen) -> bool:
        return stages.is_dir() and any(p.name.endswith(f"-{proc.pid}") for p in stages.glob(".tmp-evaluate-*"))

    with pgserver.postgres_server() as url:
        args = ["search", str(path), "--run-dir", str(run), "--storage", url, "--worker", "--heartbeat", "1", "--json"]
        a = start(args, tmp_path / "a.log")
        try:
            wait_for(lambda: runs_of(run / "search" / "trials" / "0000") == 1, 240, "worker A to finish trial 0")
            b = start(args, tmp_path / "b.log")
            wait_for(lambda: evaluating_in(b), 120, "worker B to run a trial")
            wait_for(lambda: evaluating_in(a), 120, "worker A to run its next trial")
        finally:
            os.killpg(a.pid, signal.SIGKILL)
            a.wait()
        out, _ = b.communicate(timeout=240)
        log = (tmp_path / "b.log").read_text()
        assert b.returncode == 0, log

    result = json.loads(out)
    by = {t["number"]: t for t in result["trials"]}
    killed = [t for t in result["trials"] if t["state"] == "FAIL"]
    assert len(killed) == 1, result["trials"]
    dead = killed[0]
    assert "stopped sending heartbeats" in dead["error"]
    retry = by[dead["retried_as"]]
    assert (
        retry["state"] == "COMPLETE" and retry["retry_of"] == dead["number"] and retry["settings"] == dead["settings"]
    )
    complete = [t for t in result["trials"] if t["state"] == "COMPLETE"]
    assert len(complete) == 4, result["trials"]
    for t in complete:  # not lost, not duplicated: every finished trial ran once
        assert runs_of(run / "search" / t["run_dir"]) == 1, t
