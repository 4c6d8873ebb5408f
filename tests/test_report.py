"""Reports from a real run: report.json contents, the Pareto frontier and chart, report.md, a self-contained
report.html rendered by headless Chromium, `edgekit report` / `edgekit compare`, and the torch-free path."""

from __future__ import annotations

import html as html_module
import json
import re
import subprocess
from pathlib import Path

import pytest

from chromium import screenshot
from conftest import python_without
from edgekit.cli.main import main
from edgekit.fsutil import read_json
from edgekit.report.build import SCHEMA, build_report
from edgekit.report.pareto import frontier
from report_run import real_run, variant

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory):
    return real_run(tmp_path_factory)


@pytest.mark.slow
def test_shrink_writes_report_of_real_run(run_dir):
    for name in ("report.json", "report.md", "report.html", "pareto.png"):
        assert (run_dir / name).is_file(), name
    report = read_json(run_dir / "report.json")
    run = read_json(run_dir / "run.json")
    row = next(s for s in run["stages"] if s["id"] == "evaluate")["metrics"]["artifacts"][0]
    assert report["schema"] == SCHEMA == "edgekit.report/1"
    assert report["recipe"]["sha256"] == run["recipe"]["sha256"] and len(report["recipe"]["sha256"]) == 64
    assert {"edgekit", "onnxruntime", "onnx", "numpy"} <= set(report["versions"])
    assert report["reference"] == report["final"] == "export"
    [art] = report["artifacts"]
    assert art["id"] == "export" and art["kind"] == "export" and art["measured_by"] == "evaluate"
    assert (
        art["accuracy"] == row["accuracy"]
        and art["size_bytes"] == row["size_bytes"] == (run_dir / row["file"]).stat().st_size
    )
    assert (
        art["latency_ms"] == row["latency_ms"] and art["latency_ms"]["p50"] > 0
    )  # one shape in run.json and report.json
    assert art["params"] and art["params"] > 1000  # counted by the stage or inherited from the train stage
    # what the benchmark harness measures: every percentile, MACs, peak memory, the machine it ran on
    assert set(art["latency_ms"]) == {"p50", "p90", "p95", "p99"}
    assert art["macs"] > art["params"] and art["peak_memory_bytes"] > 0
    assert report["machines"][art["machine"]]["onnxruntime"] == report["versions"]["onnxruntime"]
    assert report["baselines"] == [] and report["pareto"]["frontier"] == ["export"]
    assert report["budgets"] is None
    # `edgekit shrink` ships the one artifact: RUN_DIR/ship/model.onnx is that file byte for byte
    assert report["ship"]["artifact"] == "export" and report["ship"]["lost"] == {}
    assert (run_dir / "ship" / "model.onnx").read_bytes() == (run_dir / art["file"]).read_bytes()
    assert json.loads((run_dir / "ship" / "preprocess.json").read_text())["input_shape"] == [1, 28, 28]


@pytest.mark.slow
def test_pareto_png_is_a_valid_png(run_dir):
    import matplotlib.image as mpimg

    data = (run_dir / "pareto.png").read_bytes()
    assert data[:8] == PNG_MAGIC
    img = mpimg.imread(run_dir / "pareto.png")
    assert img.ndim == 3 and img.shape[0] > 300 and img.shape[1] > 400
    assert img[..., :3].std() > 0.05, "the chart is blank"


def test_frontier_on_constructed_points():
    pts = [
        ("fast-bad", 0.70, 1.0),
        ("mid", 0.85, 2.0),
        ("dominated", 0.80, 3.0),
        ("best", 0.90, 5.0),
        ("slower-same", 0.90, 6.0),
        ("tie", 0.85, 2.0),
        ("no-latency", 0.99, None),
        ("no-acc", None, 0.1),
    ]
    rows = [{"id": i, "accuracy": a, "latency_ms": {"p50": ms} if ms else {}} for i, a, ms in pts]
    assert frontier(rows) == ["fast-bad", "mid", "tie", "best"]
    assert frontier([]) == []
    assert frontier(rows[:1]) == ["fast-bad"]


def _constructed_run(tmp_path: Path) -> Path:
    """A run directory as the pipeline writes it (rows in edgekit.decide.rows' contract): some percentiles measured and
    some not, params/MACs/peak memory, per-row and per-stage machine fingerprints, and prompted baselines."""
    fp = {
        "cpu": "Test CPU",
        "isa": ["avx2"],
        "cores": 2,
        "onnxruntime": "1.32.0",
        "timestamp": "2026-01-01",
        "thermal": {"temp_c": 51.0, "governor": "performance"},
    }
    rows = [
        {
            "stage": "export",
            "file": "a.onnx",
            "accuracy": 0.91,
            "size_bytes": 4_000_000,
            "latency_ms": {"p50": 4.0, "p95": 4.6},
            "params": 1_000_000,
            "macs": 50_000_000,
            "peak_memory_bytes": 40_000_000,
            "unstable": True,
            "unstable_reasons": ["p90/p50 1.6"],
        },
        {
            "stage": "prune",
            "file": "b.onnx",
            "accuracy": 0.89,
            "size_bytes": 2_000_000,
            "latency_ms": {"p50": 2.0, "p99": 3.0},
            "peak_memory_bytes": 12_500_000,
            "machine": fp,
        },
        {
            "stage": "quantize",
            "file": "c.onnx",
            "accuracy": 0.88,
            "size_bytes": 600_000,
            "latency_ms": {"p50": 2.5},
            "machine": {**fp, "timestamp": "2026-01-02", "thermal": {"temp_c": 63.5, "governor": "performance"}},
        },
        {
            "stage": "int8-fast",
            "file": "d.onnx",
            "accuracy": 0.80,
            "size_bytes": 500_000,
            "latency_ms": {"p50": 1.0},
            "machine": fp,
        },
    ]
    baselines = [
        {
            "role": "baseline",
            "stage": "zero-shot",
            "accuracy": 0.95,
            "size_bytes": 90_000_000,
            "latency_ms": {"p50": 40.0},
            "params": 22_000_000,
            "cost_per_1k": 0.0,
        },
        {
            "role": "baseline",
            "stage": "smollm",
            "accuracy": 0.60,
            "size_bytes": 100_000_000,
            "latency_ms": {"p50": 900.0},
        },
    ]
    stages = [
        {"id": "train", "kind": "train", "metrics": {"params": 1_100_000}},
        {"id": "export", "kind": "export", "metrics": {}},
        {"id": "prune", "kind": "prune", "metrics": {"params": 400_000, "macs": 20_000_000}},
        {"id": "quantize", "kind": "quantize", "metrics": {}},
        {"id": "int8-fast", "kind": "quantize", "metrics": {}},
        {
            "id": "evaluate",
            "kind": "evaluate",
            "metrics": {"artifacts": rows, "machine": fp, "valid": True, "invalid_reasons": []},
        },
        {"id": "zero-shot", "kind": "prompted", "metrics": {"artifacts": baselines[:1]}},
        {"id": "smollm", "kind": "prompted", "metrics": {"artifacts": baselines[1:]}},
    ]
    inputs = {"export": "train", "prune": "export", "quantize": "prune", "int8-fast": "quantize"}
    for st in stages:
        st["dir"] = str(tmp_path / "stages" / st["id"])
        Path(st["dir"]).mkdir(parents=True)
        parent = inputs.get(st["id"])
        (Path(st["dir"]) / "manifest.json").write_text(
            json.dumps(
                {
                    "inputs": [{"stage": parent, "key": "k"}] if parent else [],
                    "versions": {"edgekit": "0.1.0", "onnxruntime": "1.32.0"},
                }
            )
        )
    # the recipe ships int8-fast by name (ship: {stage: int8-fast}): the verdict follows the shipped artifact
    (tmp_path / "run.json").write_text(
        json.dumps(
            {
                "recipe": {
                    "name": "constructed",
                    "file": "r.yaml",
                    "sha256": "ab" * 32,
                    "ship": {"stage": "int8-fast"},
                },
                "status": "ok",
                "stages": stages,
            }
        )
    )
    return tmp_path


def test_report_json_frontier_and_fields_on_constructed_run(tmp_path):
    report = build_report(_constructed_run(tmp_path))
    by_id = {r["id"]: r for r in report["artifacts"] + report["baselines"]}
    # fastest first; quantize (2.5 ms, 88 %) is dominated by prune (2.0 ms, 89 %), smollm (900 ms, 60 %) by all
    assert report["pareto"]["frontier"] == ["int8-fast", "prune", "export", "zero-shot"]
    assert [a["id"] for a in report["artifacts"]] == ["export", "prune", "quantize", "int8-fast"]
    assert [b["id"] for b in report["baselines"]] == ["zero-shot", "smollm"]
    assert report["reference"] == "export" and report["final"] == "int8-fast"
    assert by_id["prune"]["latency_ms"] == {"p50": 2.0, "p99": 3.0}
    assert by_id["export"]["latency_ms"] == {"p50": 4.0, "p95": 4.6}
    assert by_id["prune"]["peak_memory_bytes"] == 12_500_000 and by_id["export"]["peak_memory_bytes"] == 40_000_000
    assert by_id["export"]["unstable"] is True and by_id["export"]["unstable_reasons"] == ["p90/p50 1.6"]
    assert by_id["prune"]["unstable"] is None and by_id["export"]["measurement_valid"] is True
    assert by_id["export"]["params"] == 1_000_000  # measured on the artifact wins over the train stage's count
    assert by_id["quantize"]["params"] == 400_000 and by_id["quantize"]["params_from"] == "prune"
    assert by_id["quantize"]["macs"] == 20_000_000
    machine = by_id["export"]["machine"]
    assert machine and all(a["machine"] == machine for a in report["artifacts"])  # timestamp is not identity
    assert report["machines"][machine]["cpu"] == "Test CPU"
    assert by_id["zero-shot"]["role"] == "baseline" and by_id["zero-shot"]["cost_per_1k"] == 0.0
    assert by_id["smollm"]["machine"] is None


def test_run_measured_by_an_older_edgekit_is_refused_with_exit_2(tmp_path, capsys):
    run = _constructed_run(tmp_path)
    record = json.loads((run / "run.json").read_text())
    row = record["stages"][5]["metrics"]["artifacts"][0]
    row["latency_p50_ms"] = row.pop("latency_ms")["p50"]  # the flat shape edgekit wrote before the row contract
    (run / "run.json").write_text(json.dumps(record))
    assert main(["report", str(run)]) == 2
    err = capsys.readouterr().err
    assert "stage 'evaluate' was measured by an older edgekit" in err and "Traceback" not in err
    assert not (run / "report.json").exists()


def test_report_command_on_constructed_run_renders_every_row(tmp_path, capsys):
    run = _constructed_run(tmp_path)
    assert main(["report", str(run)]) == 0
    out = capsys.readouterr().out
    assert "Pareto frontier: int8-fast → prune → export → zero-shot" in out
    assert (
        "ships: int8-fast (the recipe names int8-fast (ship: {stage: int8-fast}): 0.50 MB, p50 1.000 ms, 80.00 %)"
        in out
    )
    md = (run / "report.md").read_text()
    for name in ("int8-fast", "prune", "quantize", "export", "zero-shot", "smollm", "![accuracy vs latency"):
        assert name in md
    # the verdict sentence: the shipped artifact against each baseline, then who wins
    assert (
        "ship int8-fast (0.50 MB, p50 1.000 ms, 80.00 %): "
        "15.0 pt less accurate, 180x smaller, 40x faster than zero-shot" in md
    )
    assert "It beats smollm. A trade-off or tie with zero-shot." in md
    assert (run / "pareto.png").read_bytes()[:8] == PNG_MAGIC


def test_console_report_and_check_name_the_same_winner(tmp_path, capsys):
    """One verdict, computed once into report.json: shrink's console table, report.md, report.html and
    `edgekit check` all name the shipped artifact (int8-fast, 80 %), not the most accurate one (export, 91 %)."""
    from rich.console import Console

    from edgekit.cli.shrink import verdict_table

    run = _constructed_run(tmp_path)
    assert main(["report", str(run)]) == 0
    report = read_json(run / "report.json")
    v = report["verdict"]
    assert v["artifact"] == report["final"] == "int8-fast" and v["baseline"] == "zero-shot"
    assert v["accuracy_diff_pt"] == pytest.approx(-15.0) and v["pays"] is False

    sentence, table, lines = verdict_table(report)  # what `edgekit shrink` prints
    console = Console(record=True, width=80)
    console.print(table)
    text = console.export_text()
    assert "…" not in text and max(map(len, text.splitlines())) <= 80 and "trade-off" in text and "int8-fast" in text
    assert sentence == v["sentence"] and [r["contender"] for r in v["rows"]] == ["int8-fast", "zero-shot", "smollm"]
    assert [line.split(":")[0].strip() for line in lines] == ["int8-fast", "zero-shot", "smollm"]
    assert all(r["comparison"] in line for r, line in zip(v["rows"], lines))
    assert "int8-fast" in table.title and [r["outcome"] for r in v["rows"]] == ["", "trade-off", "shipped wins"]
    assert v["sentence"] in (run / "report.md").read_text()
    assert html_module.escape(v["sentence"]) in (run / "report.html").read_text()

    budgets = tmp_path / "b.yaml"
    budgets.write_text("max_size_mb: 100\n")
    capsys.readouterr()
    assert main(["check", str(run), "--budgets", str(budgets)]) == 0
    assert f"verdict: {v['sentence']}" in capsys.readouterr().out
    assert main(["check", str(run), "--budgets", str(budgets), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["verdict"] == v


def _requests_outside(html: str) -> list[str]:
    return re.findall(r"""(?:src|href|url)\s*[=(]\s*["']?\s*(?:https?:)?//""", html, flags=re.I)


@pytest.mark.slow
def test_html_is_self_contained_and_renders_in_headless_chromium(run_dir, tmp_path):
    html = (run_dir / "report.html").read_text()
    assert _requests_outside(html) == []
    assert "<script" not in html.lower()
    assert 'src="data:image/png;base64,' in html
    shot = screenshot(run_dir / "report.html", tmp_path / "shot.png", 1200, 1400)
    import matplotlib.image as mpimg

    assert shot.read_bytes()[:8] == PNG_MAGIC
    img = mpimg.imread(shot)[..., :3]
    assert img.shape[:2] == (1400, 1200)
    assert img.std() > 0.05, "the screenshot is blank"
    # the embedded chart drew: its blue markers appear on the page (the page itself has no blue)
    blue = (img[..., 2] > 0.6) & (img[..., 0] < 0.6) & (img[..., 1] < 0.8)
    assert blue.sum() > 200


def test_html_without_chart_says_how_to_get_it(tmp_path):
    from edgekit.report.render import html_page

    html = html_page(build_report(_constructed_run(tmp_path)), None)
    assert "install the <code>report</code> extra" in html and "<img" not in html
    assert _requests_outside(html) == []


def test_outside_request_detector_catches_links():
    assert _requests_outside('<img src="https://example.com/x.png">')
    assert _requests_outside("<link href='//cdn.example/x.css'>")
    assert _requests_outside("body{background:url(http://x/y.png)}")
    assert not _requests_outside('<img src="data:image/png;base64,AAAA">')


def _without(modules: list[str], code: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run edgekit code in a fresh interpreter where importing ``modules`` fails, as on a base install."""
    return python_without(cwd, tuple(modules))("-c", code, cwd=cwd)


@pytest.mark.slow
def test_report_and_check_run_without_torch(run_dir, tmp_path):
    code = f"""
import sys
from edgekit.cli.main import main
rc_report = main(["report", {str(run_dir)!r}, "--out", {str(tmp_path)!r}])
rc_check = main(["check", {str(run_dir)!r}, "--budgets", {str(tmp_path / "b.yaml")!r}])
assert "torch" not in [m for m in sys.modules if sys.modules[m] is not None], "torch was imported"
print("codes", rc_report, rc_check)
"""
    (tmp_path / "b.yaml").write_text("max_size_mb: 100\nmin_accuracy_pct: 1\n")
    proc = _without(["torch", "torchvision"], code, tmp_path)
    assert "codes 0 0" in proc.stdout, proc.stderr
    assert (tmp_path / "report.html").is_file() and (tmp_path / "pareto.png").is_file()


@pytest.mark.slow
def test_missing_matplotlib_still_writes_json_md_html(run_dir, tmp_path):
    code = f"""
from edgekit.cli.main import main
print("code", main(["report", {str(run_dir)!r}, "--out", {str(tmp_path)!r}]))
"""
    proc = _without(["matplotlib", "torch"], code, tmp_path)
    assert "code 0" in proc.stdout, proc.stderr
    assert "no Pareto chart" in proc.stderr and "pip install 'edgekit[report]'" in proc.stderr
    for name in ("report.json", "report.md", "report.html"):
        assert (tmp_path / name).is_file()
    assert not (tmp_path / "pareto.png").exists()
    assert "install the `report` extra" in (tmp_path / "report.md").read_text()


@pytest.mark.slow
def test_report_json_output_and_bad_run_dir(run_dir, tmp_path, capsys):
    assert main(["report", str(run_dir), "--out", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["schema"] == SCHEMA
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "no such run directory" in capsys.readouterr().err
    assert main(["report", str(tmp_path)]) == 2  # a folder without run.json
    assert "not a run directory" in capsys.readouterr().err


@pytest.mark.slow
def test_compare_two_reports(run_dir, tmp_path, capsys):
    report = read_json(run_dir / "report.json")
    size = report["artifacts"][0]["size_bytes"]
    older = variant(report, tmp_path / "old.json", machine=None)
    newer = variant(
        report,
        tmp_path / "new.json",
        size_bytes=size * 2,
        accuracy=report["artifacts"][0]["accuracy"] - 0.01,
        machine=None,
    )
    assert main(["compare", str(older), str(newer), "--json"]) == 0
    captured = capsys.readouterr()
    diff = json.loads(captured.out)
    [row] = diff["rows"]
    assert row["id"] == "export" and row["in"] == "both"
    assert row["size_pct"] == 100.0 and row["accuracy_pt"] == -1.0
    assert row["latency_pct"] is None  # no fingerprint: two timings are not comparable
    assert diff["notes"] == ["export: latency not compared, no machine fingerprint recorded"]
    a = variant(report, tmp_path / "a.json", machine="m1")
    b = variant(
        report, tmp_path / "b.json", machine="m1", latency_ms={"p50": report["artifacts"][0]["latency_ms"]["p50"] * 1.5}
    )
    assert main(["compare", str(a), str(b), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"][0]["latency_pct"] == pytest.approx(50.0, abs=0.01)
    assert main(["compare", str(older), str(newer)]) == 0
    captured = capsys.readouterr()
    assert "+100.00 %" in captured.out and "-1.00 pt" in captured.out
    assert "note: export: latency not compared" in captured.err


def test_gate_on_constructed_report_targets_and_baselines(tmp_path):
    from edgekit.recipe.budgets import Budgets, Limits
    from edgekit.report.check import check

    report = build_report(_constructed_run(tmp_path))
    budgets = Budgets(
        max_accuracy_drop_pt=5,
        must_beat=["smollm", "zero-shot"],
        artifacts={"prune": Limits(max_latency_ms=2.0, max_size_mb=1.5)},
    )
    got = {(r.budget, r.artifact): (r.status, round(r.measured, 3)) for r in check(report, budgets).results}
    assert got == {
        ("max_accuracy_drop_pt", "int8-fast"): ("fail", 11.0),  # final vs the fp32 export: 91 % → 80 %
        ("must_beat.smollm", "int8-fast"): ("pass", 80.0),
        ("must_beat.zero-shot", "int8-fast"): ("fail", 80.0),
        ("max_latency_ms", "prune"): ("pass", 2.0),  # equal to the limit is within it
        ("max_size_mb", "prune"): ("fail", 2.0),
    }


def test_run_without_measured_artifacts_reports_and_refuses_to_gate(tmp_path, capsys):
    (tmp_path / "run.json").write_text(
        json.dumps(
            {"recipe": {"name": "e"}, "status": "ok", "stages": [{"id": "train", "kind": "train", "metrics": {}}]}
        )
    )
    assert main(["report", str(tmp_path)]) == 0
    report = read_json(tmp_path / "report.json")
    assert report["artifacts"] == [] and report["final"] is None and report["pareto"]["frontier"] == []
    (tmp_path / "b.yaml").write_text("max_size_mb: 1\n")
    assert main(["check", str(tmp_path), "--budgets", str(tmp_path / "b.yaml")]) == 2
    assert "no measured artifact" in capsys.readouterr().err


def test_machine_fingerprint_ids():
    from edgekit.report.build import fingerprint_id

    a = {"cpu": "Cortex-A76", "isa": ["neon", "dotprod"], "cores": 4, "timestamp": "t1", "sensors": {"temp_c": 50}}
    assert fingerprint_id(a) == fingerprint_id({**a, "timestamp": "t2", "sensors": {"temp_c": 80}})
    assert fingerprint_id(a) != fingerprint_id({**a, "cpu": "Cortex-A72"})
    assert fingerprint_id(a) != fingerprint_id({**a, "isa": ["neon"]})
    assert fingerprint_id({"id": "pi5-a76", "cpu": "x"}) == "pi5-a76" and fingerprint_id("abc123") == "abc123"
    assert fingerprint_id(None) is None and fingerprint_id({}) is None
