"""The shipped GitHub workflow, run as a script: its `run:` steps in order, on a copy of the repository's tracked
files (what a fresh clone has: no runs/, no ci/baseline-report.json), with GitHub's step semantics for
`continue-on-error`, `if: always()` and `if: steps.<id>.outcome == 'failure'`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from tiny import tiny_recipe

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "edgekit.yml"
# The install step needs root and the network; the test environment already is that install.
INSTALL_STEP = "Install edgekit and the Fashion-MNIST dataset"

TINY_RECIPE = tiny_recipe("ci-tiny")
TINY_BUDGETS = "min_accuracy_pct: 1\nmax_size_mb: 5\n"  # the gate is under test, not the 1-epoch model


def fresh_clone(dest: Path) -> Path:
    """The tracked files of this checkout, as they are in the working tree (so uncommitted edits are tested)."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, (f.decode() for f in files)):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def job() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())["jobs"]["shrink-and-gate"]


def should_run(step: dict, outcomes: dict[str, str], failed: bool) -> bool:
    cond = str(step.get("if", "success()")).strip()
    if cond == "always()":
        return True
    m = re.fullmatch(r"steps\.([\w-]+)\.outcome == '(\w+)'", cond)
    if m:
        return outcomes.get(m.group(1)) == m.group(2)
    assert cond == "success()", f"this test does not understand if: {cond}"
    return not failed


def run_workflow(clone: Path, env: dict[str, str]) -> tuple[list[tuple[str, int]], bool]:
    """Every run: step in order; ([(step name, exit code)], whether the job failed)."""
    outcomes: dict[str, str] = {}
    done, failed = [], False
    for step in job()["steps"]:
        if "run" not in step or step.get("name") == INSTALL_STEP or not should_run(step, outcomes, failed):
            continue
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        print(f"--- {step['name']}: exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        done.append((step["name"], proc.returncode))
        if "id" in step:
            outcomes[step["id"]] = "success" if proc.returncode == 0 else "failure"
        if proc.returncode != 0 and not step.get("continue-on-error"):
            failed = True
    return done, failed


def test_workflow_cache_key_covers_what_changes_stage_outputs():
    cache = next(s for s in job()["steps"] if str(s.get("uses", "")).startswith("actions/cache"))
    key = cache["with"]["key"]
    # a partial restore is safe only because stage keys cover code and versions (tests/test_code_change_rerun.py
    # re-runs exactly the stages an edit touches from such a restored run dir); it must not cross OSes
    assert key.startswith(cache["with"]["restore-keys"]) and "runner.os" in cache["with"]["restore-keys"]
    for part in ("env.RECIPE", "constraints.txt", "edgekit/**/*.py"):
        assert part in key


def test_shipped_budgets_fit_the_default_recipe():
    from edgekit.recipe.read import load
    from edgekit.recipe.budgets import load_budgets

    env = job()["env"]
    budgets = load_budgets(ROOT / env["BUDGETS"])
    stages = {s.id for s in load(ROOT / env["RECIPE"]).recipe.stages}
    assert budgets.artifact == "final" or budgets.artifact in stages
    assert set(budgets.artifacts or {}) <= stages


@pytest.mark.slow
def test_workflow_steps_pass_on_a_fresh_clone(tmp_path):
    clone = fresh_clone(tmp_path / "clone")
    assert not (clone / "ci" / "baseline-report.json").exists() and not (clone / "runs").exists()
    (clone / "ci" / "tiny.yaml").write_text(TINY_RECIPE)  # the shipped recipe takes 10 minutes; same steps
    (clone / "ci" / "tiny-budgets.yaml").write_text(TINY_BUDGETS)
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "edgekit").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m edgekit "$@"\n')
    (shim / "edgekit").chmod(0o755)
    summary = tmp_path / "step-summary.md"
    summary.write_text("## an earlier step\n")
    env = {
        **os.environ,
        **job()["env"],
        "RECIPE": "ci/tiny.yaml",
        "BUDGETS": "ci/tiny-budgets.yaml",
        "PATH": f"{shim}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(clone),
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    done, failed = run_workflow(clone, env)

    assert [name for name, _ in done] == ["Shrink", "Gate on budgets and regressions vs main"]
    assert not failed and all(code == 0 for _, code in done), done
    run_dir = clone / env["RUN_DIR"]
    junit = ET.parse(run_dir / "edgekit-junit.xml").getroot()
    assert junit.get("tests") == "2" and junit.get("failures") == "0"
    text = summary.read_text()
    assert text.startswith("## an earlier step\n") and "edgekit check: all 2 budgets met" in text  # appended to
    for line in next(s for s in job()["steps"] if s.get("name") == "Upload the report")["with"]["path"].splitlines():
        assert (clone / line.replace("${{ env.RUN_DIR }}", env["RUN_DIR"])).is_file(), line

    # outside GitHub the summary variable is unset: the same step still gates and writes JUnit
    env.pop("GITHUB_STEP_SUMMARY")
    gate = next(s for s in job()["steps"] if s.get("name") == "Gate on budgets and regressions vs main")
    proc = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", gate["run"]], cwd=clone, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
