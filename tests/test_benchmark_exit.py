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
    # 1e-9 % of p50: below the smallest non-zero half-width any clock can resolve (float seconds, ~1e-11 s steps)
    # for any p50 under ~1 s, and a zero-width interval counts as unresolved, so this misses on every machine
    missed = _run(
        "benchmarks/bench_ci.py", "--model", str(model), "--preset", "quick", "--repeats", "1", "--target-pct", "1e-9"
    )
    assert missed.returncode == 1, missed.stdout + missed.stderr
    assert "FAIL" in missed.stdout
    # a model whose p50 interval the clock resolves: a no-op's can be zero-wide (n=22100, 95% CI [0.008, 0.008] ms
    # pinned to one core here), which is unresolved, so missed
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        from test_bench import conv_net
    finally:
        sys.path.remove(str(ROOT / "tests"))
    conv = conv_net(tmp_path / "conv.onnx", 16)
    met = _run(
        "benchmarks/bench_ci.py", "--model", str(conv), "--preset", "quick", "--repeats", "1", "--target-pct", "1000"
    )
    assert met.returncode == 0, met.stdout + met.stderr


def test_bench_ci_refuses_a_target_of_zero(tmp_path):
    """A 0 % target was met on a fast machine, where a no-op's half-width rounded to 0.00 % (issue 29)."""
    out = _run("benchmarks/bench_ci.py", "--model", str(tmp_path / "unused.onnx"), "--target-pct", "0")
    assert out.returncode == 2, out.stdout + out.stderr
    assert "--target-pct 0: a target must be above 0 %" in out.stderr


def test_bench_ci_verdict_never_passes_an_unresolved_interval():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from bench_ci import verdict
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    assert verdict([0.004, 0.012], 0.02) == (0.012, True)
    assert verdict([0.004, 0.03], 0.02) == (0.03, False)
    assert verdict([0.004, 0.0], 0.02) == (None, False)  # zero width: the clock did not resolve the interval
    assert verdict([0.004, None], 0.02) == (None, False)  # unbounded: too few queries


def test_bench_overhead_exits_1_on_a_missed_target(tmp_path):
    model = _noop(tmp_path)
    missed = _run(
        "benchmarks/bench_overhead.py",
        "--model",
        str(model),
        "--pairs",
        "1",
        "--seconds",
        "0.1",
        "--tolerance-pct",
        "-1",
    )
    assert missed.returncode == 1, missed.stdout + missed.stderr
    assert "FAIL" in missed.stdout
