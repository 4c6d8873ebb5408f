"""The report of a run with three model lineages (ResNet-18 shrunk, a small CNN trained directly, EfficientNet-Lite0
fine-tuned) and a prompted baseline: one chart with each lineage in its own colour and the baseline as a third
kind of point, rendered in headless Chromium; the verdict sentence and table name every lineage. Built from a
constructed run.json, so no model is trained."""

from __future__ import annotations

import html
import json
from pathlib import Path

from chromium import screenshot
from edgekit.report.pareto import BASELINE_COLOUR, LINEAGE_COLOURS
from edgekit.report.write import write_report

MODELS = {"train": None, "small": "edgekit:resnet-small", "effnet": "efficientnet-lite0"}


def _row(stage, acc, size, p50, rounds):
    return {
        "stage": stage,
        "file": f"stages/{stage}/model.onnx",
        "accuracy": acc,
        "size_bytes": size,
        "test_samples": 10_000,
        "test_set": "t",
        "latency_ms": {"p50": p50, "p95": p50 * 1.1},
        "latency_round_p50_ms": rounds,
    }


def three_lineage_run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    # stage id -> (kind, input stage, own model)
    graph = {
        "train": ("train", None, None),
        "export": ("export", "train", None),
        "int8": ("quantize", "export", None),
        "small": ("train", None, "edgekit:resnet-small"),
        "export-small": ("export", "small", None),
        "effnet": ("train", None, "efficientnet-lite0"),
        "export-effnet": ("export", "effnet", None),
        "int8-effnet": ("quantize", "export-effnet", None),
    }
    rows = [
        _row("export", 0.905, 45_700_000, 3.60, [3.5, 3.6, 3.7]),
        _row("int8", 0.902, 11_500_000, 1.40, [1.4, 1.4, 1.5]),
        _row("export-small", 0.889, 280_000, 0.30, [0.30, 0.31, 0.30]),
        _row("export-effnet", 0.915, 13_400_000, 6.10, [6.0, 6.1, 6.2]),
        _row("int8-effnet", 0.912, 3_900_000, 2.80, [2.8, 2.9, 2.8]),
    ]
    baseline = {
        "role": "baseline",
        "stage": "zero-shot",
        "provider": "clip",
        "accuracy": 0.68,
        "size_bytes": 350_000_000,
        "test_samples": 10_000,
        "latency_ms": {"p50": 45.0},
        "cost_per_1k": None,
    }
    stages = []
    for sid, (kind, parent, model) in graph.items():
        d = run / "stages" / sid
        d.mkdir(parents=True)
        (d / "manifest.json").write_text(
            json.dumps(
                {
                    "inputs": [{"stage": parent, "key": "k"}] if parent else [],
                    "config": {"model": {"source": model} if model else None},
                }
            )
        )
        stages.append({"id": sid, "kind": kind, "dir": f"stages/{sid}", "metrics": {}})
    for sid, metrics in (("evaluate", {"artifacts": rows}), ("zero-shot", {"artifacts": [baseline]})):
        (run / "stages" / sid).mkdir()
        stages.append(
            {
                "id": sid,
                "kind": "evaluate" if sid == "evaluate" else "prompted",
                "dir": f"stages/{sid}",
                "metrics": metrics,
            }
        )
    (run / "run.json").write_text(
        json.dumps(
            {"recipe": {"name": "three-lineages", "model": "torchvision:resnet18"}, "status": "ok", "stages": stages}
        )
    )
    return run


def test_report_verdict_names_every_lineage_and_the_baseline(tmp_path):
    report = write_report(three_lineage_run(tmp_path)).report
    by_id = {a["id"]: a for a in report["artifacts"]}
    assert {i: (a["lineage_root"], a["lineage_model"]) for i, a in by_id.items()} == {
        "export": ("train", "torchvision:resnet18"),
        "int8": ("train", "torchvision:resnet18"),
        "export-small": ("small", "edgekit:resnet-small"),
        "export-effnet": ("effnet", "efficientnet-lite0"),
        "int8-effnet": ("effnet", "efficientnet-lite0"),
    }
    # the fine-tuned int8-effnet is within 0.5 pt of the fp32 reference (export) and the smallest such file: it ships;
    # each other lineage is represented by what the rule would ship from it (int8; export-small)
    v = report["verdict"]
    assert report["final"] == "int8-effnet"
    assert [r["contender"] for r in v["rows"]] == ["int8-effnet", "int8", "export-small", "zero-shot"]
    assert report["ship"]["lost"]["export-small"].startswith("too inaccurate: 88.90 % is 1.60 pt (")
    assert (
        "1.0 pt more accurate, 2.9x smaller, 2.0x slower than the torchvision:resnet18 lineage (int8)" in v["sentence"]
    )
    assert (
        "2.3 pt more accurate, 14x larger, 9.3x slower than the edgekit:resnet-small lineage (export-small)"
        in v["sentence"]
    )
    assert [r["outcome"] for r in v["rows"][1:]] == ["trade-off", "trade-off", "shipped wins"]
    page = (tmp_path / "run" / "report.html").read_text()
    assert html.escape(v["sentence"]) in page and "<h2>Verdict</h2>" in page and "<h2>Shipped artifact</h2>" in page


def _near(img, hex_colour: str, alpha: float = 0.55, tol: float = 0.05):
    """Pixels of a marker drawn in ``hex_colour`` at ``alpha`` over white (the chart's scatter style)."""
    rgb = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    want = [alpha * c + (1 - alpha) for c in rgb]
    return (
        (abs(img[..., 0] - want[0]) < tol) & (abs(img[..., 1] - want[1]) < tol) & (abs(img[..., 2] - want[2]) < tol)
    ).sum()


def test_screenshot_shows_three_lineage_colours_and_the_baseline(tmp_path):
    run = three_lineage_run(tmp_path)
    write_report(run)
    shot = screenshot(run / "report.html", tmp_path / "shot.png", 1200, 1000)
    import matplotlib.image as mpimg

    img = mpimg.imread(shot)[..., :3]
    assert img.shape[:2] == (1000, 1200)
    # each lineage's markers in its own colour, the baseline's in red: all four visible on the rendered page
    counts = {c: _near(img, c) for c in (*LINEAGE_COLOURS[:3], BASELINE_COLOUR)}
    assert all(n > 40 for n in counts.values()), counts
    assert _near(img, LINEAGE_COLOURS[3]) < 20  # and no fourth lineage colour: the count is not a fluke of the palette
