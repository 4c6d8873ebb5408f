"""Ctrl-C at every edge of a run (issue 33): SIGINT at a sweep of moments across a whole tiny `edgekit shrink`,
from Python's imports to interpreter shutdown after "shipped:", sent to the process alone and to its process
group as a terminal does (the bench workers must not receive it). Every outcome is exit 130 with one line
naming where, or exit 0 only when the run had finished; no traceback; nothing half-written; and the same
command afterwards resumes and finishes.

A moment is "a line appeared on stderr, then a delay" (or a delay from the start), not a wall-clock guess, so
the sweep hits the same edges on a fast or a loaded machine; what the signal interrupts still varies with speed,
which is why every outcome is checked against the rule, not against one expected answer."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from edgekit.hashing import hash_file
from tiny import tiny_recipe

pytest.importorskip("torch")
pytestmark = pytest.mark.slow  # about 12 short runs of a tiny recipe, stages cached: ~1-2 min on 2 cores

ROOT = Path(__file__).resolve().parents[1]
RECIPE = tiny_recipe(
    "sigint",
    limit_train=300,
    limit_test=100,
    batch_size=64,
    more_stages="  - {id: int8, kind: quantize, max_accuracy_drop: 5.0, on_miss: keep-best, val_samples: 100}\n",
    evaluate="min_seconds: 0.3, latency_runs: 30",
)
WHERE = re.compile(r"^error: interrupted (during stage '[\w-]+'|during the run|while [^\n]+|during `edgekit shrink`)")

# (name, extra args, stderr line that arms the signal or None for "from the start", delay in s, to the group)
# importing: PYTHONPROFILEIMPORTTIME makes Python print a line as each module finishes importing, so the signal
# lands inside edgekit's imports (of rich, of torch), not in the interpreter's own start-up, which no program
# can catch (a SIGINT there kills python before its first line runs)
MOMENTS = [
    ("importing the command line", ["--force"], r"\|\s+rich\.console$", 0.0, False),
    ("importing torch", ["--force"], r"\|\s+torch\._C$", 0.0, True),
    ("train", ["--force"], r"▶ train", 0.5, True),
    ("between train and export", ["--from", "export"], r"✓ train", 0.0, False),
    ("export", ["--from", "export"], r"▶ export", 0.3, True),
    ("int8", ["--from", "int8"], r"▶ int8", 0.5, False),
    ("evaluate, bench workers running", ["--from", "evaluate"], r"round 1/", 0.0, True),
    ("report", ["--from", "evaluate"], r"✓ evaluate", 0.0, True),
    ("ship copy", [], r"^report: ", 0.0, False),
    ("after shipped", [], r"^shipped: ", 0.0, True),
    ("shutdown", [], r"\d+ stages, \d+ cached", 0.0, True),
]


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}


def _as_from_a_terminal() -> None:
    """In the child before exec: SIGINT as a terminal's process has it. A shell's background job (`cmd &`, as a CI
    script may be started) ignores SIGINT, children inherit that, and Python then never sees the signal."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _shrink(cwd: Path, args: list[str], trigger: str | None = None, delay: float = 0.0, group: bool = False):
    """Run `edgekit shrink`, send SIGINT ``delay`` s after ``trigger`` appears on stderr (no trigger: no signal);
    (exit code, stdout, stderr, whether the signal was sent)."""
    env = {**_env(), "PYTHONPROFILEIMPORTTIME": "1"} if trigger and "|" in trigger else _env()
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgekit", "shrink", "r.yaml", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=_as_from_a_terminal,
    )
    sent = threading.Event()

    def fire():
        time.sleep(delay)
        if proc.poll() is None:
            (os.killpg if group else os.kill)(proc.pid, signal.SIGINT)  # killpg: what a terminal's Ctrl-C does
            sent.set()

    stdout_lines: list[str] = []
    reader = threading.Thread(target=lambda: stdout_lines.extend(proc.stdout))
    reader.start()
    err_lines = []
    for line in proc.stderr:
        err_lines.append(line)
        if trigger is not None and not sent.is_set() and re.search(trigger, line):
            trigger = None
            threading.Thread(target=fire).start()
    code = proc.wait(timeout=300)
    reader.join()
    return code, "".join(stdout_lines), "".join(err_lines), sent.is_set()


def _nothing_half_written(run: Path) -> None:
    """Every stage folder a later run would reuse is complete; ship/ is whole; the JSON files parse."""
    for d in (run / "stages").glob("*"):
        if not d.name.startswith("."):  # .tmp-* folders are named as unfinished and cleaned by the next run
            assert (d / "manifest.json").is_file(), f"{d} has no manifest"
            json.loads((d / "manifest.json").read_text())
    for f in ("run.json", "report.json"):
        if (run / f).exists():
            json.loads((run / f).read_text())
    ship = run / "ship"
    if ship.exists():
        meta = json.loads((ship / "ship.json").read_text())
        assert hash_file(ship / "model.onnx") == meta["sha256"]


def test_sigint_sweep_across_a_whole_run(tmp_path):
    (tmp_path / "r.yaml").write_text(RECIPE)
    run = tmp_path / "runs" / "sigint"
    code, out, err, _ = _shrink(tmp_path, [])  # fills the cache: later runs interrupt one stage, not all
    assert code == 0, err[-2000:]
    outcomes = []
    for name, args, trigger, delay, group in MOMENTS:
        if trigger and trigger.startswith(r"\d+ stages"):  # printed on stdout, last: interrupt during shutdown
            code, out, err, sent = _shutdown(tmp_path, group)
        else:
            code, out, err, sent = _shrink(tmp_path, args, trigger, delay, group)
        outcomes.append((name, code, sent))
        assert "Traceback" not in err, f"{name}: {err[-2000:]}"
        finished = bool(re.search(r"\d+ stages, \d+ cached", out))
        if code == 0:
            assert finished, f"{name}: exit 0 without a finished run\n{err[-1500:]}"
        else:
            last = [ln for ln in err.splitlines() if ln.strip()][-1]
            assert code == 130 and WHERE.match(last), f"{name}: exit {code}, last line {last!r}\n{err[-1500:]}"
            assert err.count("error:") == 1, f"{name}: more than one error line\n{err[-1500:]}"
            if "evaluate" in name and "stage 'evaluate'" in last:
                assert "benchmark worker exited" not in err  # the workers never saw the signal
        _nothing_half_written(run)
    interrupted = [name for name, code, sent in outcomes if code == 130]
    # the sweep really interrupted: at least the moments inside stages ended in 130
    assert {"train", "export", "int8"} <= set(interrupted), outcomes
    code, out, err, _ = _shrink(tmp_path, [])  # the same command resumes and finishes
    assert code == 0, err[-2000:]
    _nothing_half_written(run)
    assert (run / "ship" / "model.onnx").is_file()


def _shutdown(cwd: Path, group: bool):
    """SIGINT just after the last stdout line: the command is done and the interpreter is shutting down."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgekit", "shrink", "r.yaml"],
        cwd=cwd,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=_as_from_a_terminal,
    )
    err_lines: list[str] = []
    reader = threading.Thread(target=lambda: err_lines.extend(proc.stderr))
    reader.start()
    out_lines, sent = [], False
    for line in proc.stdout:
        out_lines.append(line)
        if not sent and re.search(r"\d+ stages, \d+ cached", line) and proc.poll() is None:
            (os.killpg if group else os.kill)(proc.pid, signal.SIGINT)
            sent = True
    code = proc.wait(timeout=300)
    reader.join()
    return code, "".join(out_lines), "".join(err_lines), sent
