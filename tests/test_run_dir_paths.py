"""A run directory is self-contained: the paths its records hold are relative to itself, so a copy or a move
reports, compares and checks the same as the original — from any working directory."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
from pathlib import Path

import pytest

from report_run import real_run


def cli(*args: str) -> tuple[int, str, str]:
    from edgekit.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


@pytest.mark.slow
def test_moved_run_dir_reports_compares_and_checks(tmp_path_factory, tmp_path, monkeypatch):
    original = real_run(tmp_path_factory)
    record = json.loads((original / "run.json").read_text())
    assert all(not Path(s["dir"]).is_absolute() and s["dir"].startswith("stages/") for s in record["stages"])
    rows = [r for s in record["stages"] for r in s["metrics"].get("artifacts", [])]
    assert rows and all(r["file"].startswith("stages/") and (original / r["file"]).is_file() for r in rows)
    assert (original / record["recipe"]["file"]).is_file()

    moved = tmp_path / "elsewhere" / "copied-run"
    shutil.copytree(original, moved)
    hidden = original.with_name(original.name + "-hidden")  # the original must not be read behind our back
    original.rename(hidden)
    try:
        monkeypatch.chdir(tmp_path_factory.mktemp("unrelated-cwd"))
        code, out, err = cli("report", str(moved), "--json")
        assert code == 0, err
        report = json.loads(out)
        assert report["versions"].get("onnxruntime") and report["versions"].get(
            "torch"
        )  # read from the moved manifests
        assert report["artifacts"] and all(a["params"] for a in report["artifacts"])
        assert (moved / "report.html").is_file() and "Versions" in (moved / "report.md").read_text()

        budgets = tmp_path / "budgets.yaml"
        budgets.write_text("min_accuracy_pct: 1\nmax_size_mb: 50\n")
        code, out, err = cli("check", str(moved), "--budgets", str(budgets), "--baseline", str(hidden / "report.json"))
        assert code == 0, out + err
        code, out, err = cli("compare", str(hidden), str(moved), "--json")
        assert code == 0, err
        diff = json.loads(out)
        assert diff["schema"] == "edgekit.compare/1"
    finally:
        hidden.rename(original)


def test_in_run_resolves_against_the_run_dir_and_reads_old_records(tmp_path, monkeypatch):
    from edgekit.report.build import in_run

    run = tmp_path / "run"
    (run / "stages" / "a").mkdir(parents=True)
    assert in_run(run, "stages/a") == run / "stages" / "a"
    assert in_run(run, str(run / "stages" / "a")) == run / "stages" / "a"
    monkeypatch.chdir(tmp_path)  # records written before paths were relative to the run: relative to the cwd
    assert in_run(run, "run/stages/a") == Path("run/stages/a") and os.path.isdir(in_run(run, "run/stages/a"))
    assert in_run(run, None) is None
