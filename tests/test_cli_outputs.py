"""What the CLI leaves behind and shows: file modes, appended summaries, outputs checked first, line-based
progress without a terminal, tables that fit 80 columns, init, validate --json, schema descriptions."""

from __future__ import annotations

import contextlib
import io
import json
import os
import stat
from pathlib import Path

import pytest
from rich.console import Console

from edgekit.cli.main import main

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


# ------------------------------------------------------------------------------------------- files


def test_written_files_follow_the_umask_and_keep_an_existing_mode(tmp_path):
    from edgekit.fsutil import write_atomic, write_json

    old = os.umask(0o022)
    try:
        write_json(tmp_path / "report.json", {"a": 1})
        assert mode(tmp_path / "report.json") == 0o644  # readable by a web server, as model.onnx is
        (tmp_path / "kept.txt").write_text("x")
        os.chmod(tmp_path / "kept.txt", 0o640)
        write_atomic(tmp_path / "kept.txt", "y")
        assert mode(tmp_path / "kept.txt") == 0o640 and (tmp_path / "kept.txt").read_text() == "y"
        target = tmp_path / "target.md"
        target.write_text("old")
        (tmp_path / "link.md").symlink_to(target)
        write_atomic(tmp_path / "link.md", "new")
        assert (tmp_path / "link.md").is_symlink() and target.read_text() == "new"
    finally:
        os.umask(old)


def _outcome(status: str = "pass"):
    from edgekit.report.check import Outcome, Result

    return Outcome(
        [
            Result("max_size_mb", "final", "pass", 1.0, 2.0, "MB", "ok"),
            Result("max_latency_ms", "final", status, None, 5.0, "ms", "not checked: other machine"),
        ]
    )


def test_summary_is_appended_in_place_and_a_skip_is_not_all_met(tmp_path):
    from edgekit.report.ci import append_summary

    summary = tmp_path / "summary.md"
    summary.write_text("## earlier step\n")
    os.chmod(summary, 0o644)
    link = tmp_path / "step-summary"
    link.symlink_to(summary)
    inode = summary.stat().st_ino
    append_summary(_outcome("skip"), link)
    assert link.is_symlink() and summary.stat().st_ino == inode and mode(summary) == 0o644
    text = summary.read_text()
    assert text.startswith("## earlier step\n\n## ⚠️ edgekit check: 1 of 2 budgets met, 1 not checked")
    assert "all 2 budgets met" not in text


def test_check_on_an_interrupted_run_fails_as_unfinished_and_writes_junit(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(
        json.dumps({"recipe": {"name": "x"}, "status": "failed", "error": "KeyboardInterrupt", "stages": []})
    )
    budgets = tmp_path / "b.yaml"
    budgets.write_text("max_size_mb: 2\n")
    code, out, err = cli(
        "check", str(run), "--budgets", str(budgets), "--junit", str(tmp_path / "j.xml"), "--summary", ""
    )
    assert code == 1
    assert "the run did not finish (status failed: KeyboardInterrupt)" in out and "evaluate" not in out + err
    assert 'failures="1"' in (tmp_path / "j.xml").read_text()


def test_report_and_check_warn_while_a_shrink_holds_the_run_dir(tmp_path):
    from edgekit.run import runlock

    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"recipe": {"name": "x"}, "status": "running", "stages": []}))
    with runlock.hold(run):
        assert runlock.in_progress(run)
        code, out, err = cli("report", str(run), "--out", str(tmp_path / "out"))
    assert code == 0, err
    assert "an `edgekit shrink` is still running here" in err
    assert not runlock.in_progress(run)


def test_budgets_from_a_recipe_without_budgets_says_so(tmp_path):
    code, out, err = cli("check", str(tmp_path), "--budgets", str(ROOT / "recipes" / "quick.yaml"))
    assert code == 2
    assert "a recipe without a budgets: section" in err or "neither a run directory" in err


def test_recipe_without_budgets_is_named_as_such(tmp_path):
    from edgekit.errors import InputError
    from edgekit.recipe.budgets import load_budgets

    with pytest.raises(InputError, match="a recipe without a budgets: section"):
        load_budgets(ROOT / "recipes" / "quick.yaml")


# ------------------------------------------------------------------------------------------- logs and tables


def test_progress_without_a_terminal_is_plain_periodic_lines():
    from edgekit.progress import LineProgress, progress

    buf = io.StringIO()
    console = Console(file=buf, force_terminal=False, width=80)
    bar = progress(console)
    assert isinstance(bar, LineProgress)
    bar.interval_s = 3600
    with bar:
        task = bar.add_task("train epoch 1/2", total=100, info="")
        for i in range(100):
            bar.update(task, advance=1, info=f"loss {1 / (i + 1):.4f}")
        bar.update(task, description="train epoch 2/2", completed=0)
    lines = buf.getvalue().splitlines()
    assert "\r" not in buf.getvalue()
    assert [line.split("  [")[0] for line in lines] == [
        "train epoch 1/2 0/100",
        "train epoch 1/2 100/100  loss 0.0100",
        "train epoch 2/2 0/100  loss 0.0100",
    ]


def _bench_doc() -> dict:
    lat = {"p50": 1.234, "p90": 1.5, "p95": 1.6, "p99": 2.0, "cv": 0.05, "ci95": {"p50": [1.2, 1.3]}}
    row = {
        "name": "export-0123456789abcdef",
        "threads": 1,
        "batch": 1,
        "latency_ms": lat,
        "throughput_per_s": 810.0,
        "cold_start_ms": {"total": 55.0},
        "memory": {"inference_bytes": 12_000_000},
        "size_bytes": 45_000_000,
        "params": 11_000_000,
        "macs": 33_000_000,
        "accuracy": {"value": 0.905},
        "unstable": False,
        "vs_reference": {"p50_ratio": 1.0, "min": 1.0, "max": 1.0},
        "gmacs_per_s": 26.74,
        "peak_fraction": 0.6521,
    }
    machine = {
        "cpu": "Intel(R) Xeon(R) CPU @ 2.20GHz",
        "cores_usable": 2,
        "isa": ["avx2", "fma"],
        "onnxruntime": "1.32.0",
    }
    return {
        "machine": machine,
        "results": [
            row,
            {**row, "name": "int8-fedcba9876543210", "vs_reference": {"p50_ratio": 0.41, "min": 0.38, "max": 0.44}},
        ],
    }


def test_shrink_results_table_keeps_names_whole_at_80_columns():
    from edgekit.cli.shrink import results_table

    rows = [
        {
            "stage": "int8-pruned",
            "accuracy": 0.8867,
            "size_bytes": 2_300_000,
            "latency_ms": {"p50": 0.393},
            "threads": 1,
        },
        {
            "stage": "vision-chat",
            "provider": "openai",
            "role": "baseline",
            "accuracy": None,
            "size_bytes": None,
            "latency_ms": {"p50": 812.3},
        },
    ]
    buf = io.StringIO()
    record = {"recipe": {"name": "r"}, "stages": [{"metrics": {"artifacts": rows}}]}
    Console(file=buf, width=80, force_terminal=False).print(results_table(record))
    lines = buf.getvalue().splitlines()
    assert "…" not in buf.getvalue() and max(map(len, lines)) <= 80
    for cell in ("int8-pruned", "vision-chat", "openai baseline", "p50 (batch 1)", "812.300 ms", "not compared"):
        assert any(cell in line for line in lines), cell  # every name and number on one line, never split


@pytest.mark.parametrize("width", [80, 200])
def test_bench_table_is_readable_at_any_width(width):
    from edgekit.cli.bench import results_table

    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=False)
    console.print(results_table(_bench_doc(), console.width))
    text = buf.getvalue()
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= width
    for cell in (
        "1.234 [1.200–1.300]",
        "0.41× [0.38–0.44]",
        "90.50 %",
        "int8-fedcba9876543210",
        "machine ",
        "26.7 (65 %)",
    ):  # achieved GMAC/s and its share of the machine's peak
        assert cell in text
    assert "÷ ref [min–max]" in text
    assert "p50 divided by the p50 of export-0123456789abcdef" in " ".join(text.split())  # the reference is named


def test_bench_notes_name_each_unstable_two_speed_and_throttled_result():
    from edgekit.bench.table import notes

    doc = _bench_doc()
    doc["invalid_reasons"] = ["cpu0 throttled for 1.2 s"]
    assert notes(doc) == ["[red]invalid run:[/] cpu0 throttled for 1.2 s"]  # both results stable, one speed
    fast, slow = doc["results"]
    slow.update(unstable=True, unstable_reasons=["p50 CI 4.1 % > 3 %", "drift 12 %"], steal_percent=3.5)
    fast["speed_states"] = {"fast_share": 0.62, "fast_ms": 0.8123, "slow_ms": 12.345}
    lines = notes(doc)
    assert lines[0] == "[yellow]unstable:[/] int8-fedcba9876543210 (1t, batch 1): p50 CI 4.1 % > 3 %; drift 12 %"
    # milliseconds read as edgekit.units writes them everywhere else: 3 decimals below 10 ms, 1 above
    assert lines[1].startswith("two speeds: export-0123456789abcdef (1t, batch 1): 62% of queries at 0.812 ms, ")
    assert "the rest at 12.3 ms" in lines[1] and len(lines) == 3


# ------------------------------------------------------------------------------------------- recipes


def test_init_writes_a_valid_recipe_and_never_overwrites(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    photos = tmp_path / "data" / "photos"
    from PIL import Image

    for cls in ("cat", "dog"):
        (photos / cls).mkdir(parents=True)
        Image.new("L", (28, 28)).save(photos / cls / "0.png")  # init reads the folder as shrink will: it needs images
    code, out, err = cli("init", str(photos), "-o", str(tmp_path / "recipes" / "photos.yaml"))
    assert code == 0, err
    written = (tmp_path / "recipes" / "photos.yaml").read_text()
    assert 'source: "imagefolder:../data/photos"' in written and "name: photos" in written
    assert cli("validate", str(tmp_path / "recipes" / "photos.yaml"))[0] == 0
    code, _, err = cli("init", str(photos), "-o", str(tmp_path / "recipes" / "photos.yaml"))
    assert code == 2 and "exists; choose another --output or add --force" in err
    code, out, _ = cli("init", "--list")
    assert code == 0 and "imagefolder:DIR" in out and "edgekit:resnet-small" in out and "torchvision:resnet18" in out


def test_validate_json_and_strict_numbers(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "edgekit: 1\nname: r\ndata: {source: fashion-mnist}\nmodel: {source: 'edgekit:resnet-small'}\n"
        "stages:\n  - {id: train, kind: train, lr: 4e-3}\n"
    )
    code, out, err = cli("validate", str(recipe), "--json")
    assert code == 2
    doc = json.loads(out)
    assert doc["schema"] == "edgekit.validate/1" and doc["ok"] is False
    assert "stages[0].lr: must be a valid number, got '4e-3' (YAML read this as text: write 0.004" in err
    recipe.write_text(recipe.read_text().replace("4e-3", "4.0e-3"))
    code, out, _ = cli("validate", str(recipe), "--json")
    assert code == 0 and json.loads(out)["stages"] == [{"id": "train", "kind": "train"}]


def test_every_schema_property_has_a_description():
    from edgekit.recipe.read import json_schema

    missing = []

    def walk(node, where):
        if isinstance(node, dict):
            for key, sub in (node.get("properties") or {}).items():
                if isinstance(sub, dict) and not sub.get("description"):
                    missing.append(f"{where}.{key}")
            for key, sub in node.items():
                walk(sub, key if key not in ("properties", "$defs") else where)
        elif isinstance(node, list):
            for sub in node:
                walk(sub, where)

    walk(json_schema(), "recipe")
    assert not missing, missing


def test_python_sources_are_found_next_to_the_recipe(tmp_path, monkeypatch):
    from edgekit.data import load_dataset
    from edgekit.recipe.read import load

    monkeypatch.chdir("/")  # neither the cwd nor PYTHONPATH holds the module
    (tmp_path / "mydata_next_to_recipe.py").write_text(
        "import numpy as np\n"
        "def load(seed):\n"
        "    x = np.zeros((20, 1, 8, 8), np.uint8); y = np.arange(20) % 2\n"
        "    return {'train': (x[:16], y[:16]), 'test': (x[16:], y[16:]), 'classes': ['a', 'b']}\n"
    )
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "edgekit: 1\nname: r\ndata: {source: 'python:mydata_next_to_recipe:load'}\n"
        "model: {source: 'edgekit:resnet-small'}\nstages:\n  - {id: train, kind: train}\n"
    )
    loaded = load(recipe)
    ds = load_dataset(loaded.recipe.data, 0, recipe.parent)
    assert ds.classes == ["a", "b"] and len(ds.test.y) == 4
    import sys

    assert str(tmp_path) not in sys.path  # the import path is left as it was


def test_a_misspelt_key_gets_the_did_you_mean_not_the_missing_key(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "edgekit: 1\nname: t\ndaat: {source: fashion-mnist}\nmodle: {source: 'edgekit:resnet-small'}\n"
        "stages:\n  - {id: train, kind: train}\n"
    )
    code, _, err = cli("validate", str(recipe))
    assert code == 2 and err.strip() == f"error: {recipe}:3: daat: unknown key 'daat' (did you mean 'data'?) (+2 more)"
