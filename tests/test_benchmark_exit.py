"""A benchmark script that prints a missed target exits 1, so a CI step running it fails (it used to exit 0)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _noop(tmp_path: Path) -> Path:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from bench_overhead import noop_model
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return noop_model(tmp_path / "noop.onnx")


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_bench_ci_exits_1_on_a_missed_target_and_0_on_a_met_one(tmp_path):
    model = _noop(tmp_path)
    missed = _run("benchmarks/bench_ci.py", "--model", str(model), "--preset", "quick", "--repeats", "1", "--target-pct", "0")
    assert missed.returncode == 1, missed.stdout + missed.stderr
    assert "FAIL" in missed.stdout
    met = _run("benchmarks/bench_ci.py", "--model", str(model), "--preset", "quick", "--repeats", "1", "--target-pct", "1000")
    assert met.returncode == 0, met.stdout + met.stderr


def test_bench_overhead_exits_1_on_a_missed_target(tmp_path):
    model = _noop(tmp_path)
    missed = _run("benchmarks/bench_overhead.py", "--model", str(model), "--pairs", "1", "--seconds", "0.1", "--tolerance-pct", "-1")
    assert missed.returncode == 1, missed.stdout + missed.stderr
    assert "FAIL" in missed.stdout
