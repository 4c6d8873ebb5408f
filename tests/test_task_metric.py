"""A task's metric through the decision and its readers (issue 32): a detection run's rows carry
``metric: "mAP@0.5:0.95"``, ``metrics`` and ``accuracy_ci95``; the report, the ship rule, the verdict, the gate and
the sense checks say mAP and tie within its interval. Rows are constructed (run.json as the evaluate stage leaves
it); a classification row without ``metric`` reads as before."""

from __future__ import annotations

import json
from pathlib import Path

from edgekit.decide.dominance import judge
from edgekit.decide.noise import metric_margin_pt
from edgekit.decide.rows import metric_name, metric_of, shown
from edgekit.decide.sense import findings
from edgekit.recipe.budgets import Budgets
from edgekit.report.build import build_report
from edgekit.report.check import check
from edgekit.report.render import html_page, markdown

MAP = "mAP@0.5:0.95"


def _det(ident: str, m: float, size: int, p50: float, ci: float = 0.02, **extra) -> dict:
    """A detection evaluate row: primary metric in accuracy, every metric in metrics, a bootstrap interval."""
    return {
        "id": ident,
        "stage": ident,
        "role": "artifact",
        "metric": MAP,
        "accuracy": m,
        "metrics": {MAP: m, "mAP@0.5": round(min(1.0, m * 1.6), 4)},
        "accuracy_ci95": [round(max(0.0, m - ci), 4), round(min(1.0, m + ci), 4)],
        "chance_accuracy": 0.0,
        "test_samples": 200,
        "mean_detections": 3.5,
        "size_bytes": size,
        "latency_ms": {"p50": p50},
        **extra,
    }


def _run(tmp_path: Path, rows: list[dict], parents: dict[str, str], recipe: dict | None = None) -> Path:
    """A run directory: one stage dir per artifact (its manifest names its input) and one evaluate stage."""
    run = tmp_path / "run"
    stages = []
    for r in rows:
        d = run / "stages" / r["id"]
        d.mkdir(parents=True)
        (d / "model.onnx").write_bytes(r["id"].encode() * 100)
        inputs = [{"stage": parents[r["id"]]}] if r["id"] in parents else []
        (d / "manifest.json").write_text(json.dumps({"inputs": inputs}))
        stages.append({"id": r["id"], "kind": r.get("kind", "quantize"), "dir": f"stages/{r['id']}", "metrics": {}})
    (run / "stages" / "evaluate").mkdir()
    measured = [
        {k: v for k, v in r.items() if k not in ("id", "kind")} | {"file": f"stages/{r['id']}/model.onnx"} for r in rows
    ]
    stages.append({"id": "evaluate", "kind": "evaluate", "dir": "stages/evaluate", "metrics": {"artifacts": measured}})
    body = {"recipe": {"name": "det", **(recipe or {})}, "status": "ok", "stages": stages}
    (run / "run.json").write_text(json.dumps(body))
    return run


def _detection_report(tmp_path: Path, int8_map: float = 0.405, **int8) -> dict:
    rows = [
        _det("export", 0.410, 4_000_000, 2.0, kind="export"),
        _det("int8", int8_map, 1_100_000, 1.0, **int8),
    ]
    return build_report(_run(tmp_path, rows, {"int8": "export"}, {"ship": {"max_accuracy_drop_pt": 1.0}}))


def test_a_row_names_its_metric_and_a_classifier_row_is_accuracy():
    assert metric_name({"accuracy": 0.9}) == "accuracy" and metric_name({"metric": MAP}) == MAP
    assert metric_of([{"accuracy": 0.9}, {"metric": MAP}]) == MAP and metric_of([]) == "accuracy"
    assert shown({"accuracy": 0.9012}) == "90.12 %" and shown({"metric": MAP, "accuracy": 0.41}) == f"{MAP} 41.00 %"


def test_the_report_says_map_never_accuracy(tmp_path):
    report = _detection_report(tmp_path)
    art = next(a for a in report["artifacts"] if a["id"] == "int8")
    assert art["metric"] == MAP and art["metrics"]["mAP@0.5"] == 0.648 and art["accuracy_ci95"] == [0.385, 0.425]
    assert report["final"] == "int8"
    assert report["ship"]["rule"] == "smallest file within 1 pt of export's mAP@0.5:0.95"
    md = markdown(report)
    header = next(line for line in md.splitlines() if line.startswith("| artifact | lineage |"))
    assert f"| {MAP} | mAP@0.5 | chance |" in header and "accuracy" not in header
    assert "| 40.50 % [38.50–42.50] | 64.80 % |" in md  # the value, its interval, then mAP@0.5
    assert f"![{MAP} vs latency" in md and f'alt="{MAP} vs latency' in html_page(report, b"png")
    assert "bootstrap interval over the test images" in md
    assert "accuracy" not in report["ship"]["reason"] and f"{MAP} 40.50 %" in report["ship"]["reason"]
    assert f"{MAP} the same within noise (40.50 % vs 41.00 %)" in report["ship"]["lost"]["export"]


def test_the_ship_rule_ties_within_the_metrics_own_interval():
    """1 pt of mAP apart on 100,000 images is beyond the binomial interval (±0.4 pt) but inside a wide bootstrap
    interval (±4.2 pt): with the interval the two tie; without it the binomial one decides."""
    a = _det("a", 0.400, 1_000_000, 1.0, ci=0.03, test_samples=100_000)
    b = _det("b", 0.410, 1_000_000, 1.0, ci=0.03, test_samples=100_000)
    assert round(metric_margin_pt(a, b), 2) == 4.24 and judge(a, b, "accuracy") == (True, False)
    plain = [{k: v for k, v in r.items() if k != "accuracy_ci95"} for r in (a, b)]
    assert judge(*plain, "accuracy") == (False, False)

    from edgekit.decide.ship import ShipRule, decide

    tied = decide([a, b], ShipRule(max_accuracy_drop_pt=2), "a")
    assert tied.artifact == "a" and tied.lost_codes == {"b": "tied"}
    assert decide(plain, ShipRule(max_accuracy_drop_pt=2), "a").artifact == "b"


def test_the_gate_gates_on_map_points(tmp_path):
    report = {**_detection_report(tmp_path, int8_map=0.398), "final": "int8"}  # gate the INT8 file itself
    out = check(report, Budgets(max_accuracy_drop_pt=1.0, min_accuracy_pct=45))
    res = {r.budget: r for r in out.results}
    assert res["max_accuracy_drop_pt"].status == "fail" and res["min_accuracy_pct"].status == "fail"
    assert f"{MAP} drop vs export (41.00 % → 39.80 %) 1.20 pt > limit 1.00 pt" in res["max_accuracy_drop_pt"].message
    assert res["min_accuracy_pct"].message.startswith(f"int8: {MAP} 39.80 %")
    assert check(report, Budgets(max_accuracy_drop_pt=1.5)).passed


def test_a_detector_at_map_zero_is_at_chance_and_does_not_ship(tmp_path):
    report = _detection_report(tmp_path, int8_map=0.0, mean_detections=0.0)
    by = {(f["check"], f["artifact"]): f["message"] for f in report["sense"]}
    assert by[("chance", "int8")].startswith(f"{MAP} 0.00 % is at chance level (0.00 %, 95 % interval")
    assert "NMS produced nothing" in by[("no-detections", "int8")]
    assert ("chance", "export") not in by and ("no-detections", "export") not in by
    assert report["final"] == "export" and report["ship"]["lost_codes"]["int8"] == "at-chance"
    gate = check(report, Budgets(max_size_mb=10, fail_on=["no-detections"]))
    assert [r.budget for r in gate.failed] == ["sense.no-detections"]


def test_a_weak_detector_is_not_at_chance_where_a_classifier_would_be():
    """mAP 5 % with an interval clear of 0 learned something; accuracy 5 % at chance 0 (near_chance's 2-7 pt) not."""
    weak = _det("weak", 0.05, 1_000, 1.0, ci=0.01)
    assert not [f for f in findings({"artifacts": [weak]}) if f.check == "chance"]
    classifier = {k: v for k, v in weak.items() if k not in ("metric", "accuracy_ci95")}
    assert [f.check for f in findings({"artifacts": [classifier]})] == ["chance", "counts-unknown"]


def test_int8_map_collapse_counts_a_halved_map(tmp_path):
    """8 -> 3.5 mAP is 4.5 pt (under the 5 pt an accuracy must lose) but under half the float parent's: collapse."""
    rows = [_det("export", 0.080, 4_000_000, 2.0, kind="export"), _det("int8", 0.035, 1_000_000, 1.0)]
    report = build_report(_run(tmp_path, rows, {"int8": "export"}))
    (collapse,) = [f for f in report["sense"] if f["check"] == "int8-collapse"]
    assert collapse["message"] == f"INT8 {MAP} collapsed: 3.50 % vs 8.00 % for its float parent export (4.5 pt lost)"
    plain = [{k: v for k, v in r.items() if k not in ("metric", "accuracy_ci95", "chance_accuracy")} for r in rows]
    arts = [{**r, "lineage": ["export"] if r["id"] == "int8" else []} for r in plain]
    assert not [f for f in findings({"artifacts": arts}) if f.check == "int8-collapse"]


def test_search_and_curve_name_the_metric_their_rows_carry():
    """A search trial's line and a learning curve's table head say mAP where the rows are scored on it."""
    from edgekit.curve.arms import Arm
    from edgekit.curve.report import build, markdown as curve_markdown
    from edgekit.search.results import describe

    ref, trial = _det("export", 0.41, 4_000_000, 2.0), _det("trial-3", 0.40, 1_000_000, 1.0)
    assert (
        describe(trial, ref)
        == f"trial-3: {MAP} 40.00 %, 1.00 MB, p50 1.000 ms (4.0x smaller than export, 1.00 pt drop)"
    )
    arms = [Arm("student", "train", None)]
    pts = [
        {"arm": "student", "size": 10, "seed": s, "accuracy": a, "metric": MAP, "train_s": 1.0, "examples": 30}
        for s, a in enumerate((0.20, 0.22))
    ]
    doc = build(pts, arms, [10], n_test=200, classes=3, timing={"total_s": 1.0})
    assert doc["metric"] == MAP and f"| size | arm | kind | {MAP} ± 95 % CI |" in curve_markdown(doc)
    classic = build([{**p, "metric": "accuracy"} for p in pts], arms, [10], n_test=200, classes=3, timing={})
    assert "metric" not in classic and "| size | arm | kind | accuracy ± 95 % CI |" in curve_markdown(classic)


def test_max_metric_drop_pt_is_the_same_budget_as_max_accuracy_drop_pt():
    """Points of the task's metric, under a name that says so; the old key keeps working, both at once is an error."""
    import pytest
    from pydantic import ValidationError

    from edgekit.decide.ship import ShipRule

    assert Budgets.model_validate({"max_metric_drop_pt": 1.5}) == Budgets(max_accuracy_drop_pt=1.5)
    assert ShipRule.model_validate({"max_metric_drop_pt": 2}) == ShipRule(max_accuracy_drop_pt=2)
    with pytest.raises(ValidationError):
        Budgets.model_validate({"max_metric_drop_pt": 1.5, "max_accuracy_drop_pt": 1.0})


def test_compare_heads_its_column_with_the_metric(tmp_path):
    from edgekit.report.compare import compare_reports, table

    report = _detection_report(tmp_path)
    diff = compare_reports(report, report)
    assert diff["metric"] == MAP and [c.header for c in table(diff, "a", "b").columns][3:5] == [MAP, "Δ"]
    plain = {**report, "artifacts": [{k: v for k, v in a.items() if k != "metric"} for a in report["artifacts"]]}
    assert "metric" not in compare_reports(plain, plain)


def test_the_verdict_against_a_prompted_detector_speaks_map(tmp_path):
    """A VLM asked for boxes, scored with the same mAP: within the two intervals it ties, and the sentence says mAP."""
    rows = [
        _det("export", 0.410, 4_000_000, 2.0, kind="export"),
        _det("int8", 0.405, 1_100_000, 1.0),
        {**_det("vlm", 0.430, None, 900.0, kind="prompted"), "role": "baseline", "provider": "openai"},
    ]
    report = build_report(_run(tmp_path, rows, {"int8": "export"}, {"ship": {"max_accuracy_drop_pt": 1.0}}))
    v = report["verdict"]
    assert v["contenders"][0]["metric"] == MAP and v["contenders"][0]["accuracy_tie"]
    assert f"the same {MAP} within noise (±2.8 pt)" in v["sentence"] and "accurate" not in v["sentence"]
    assert f"{MAP} 40.50 %" in v["sentence"] and f"{MAP} 43.00 %" in v["sentence"]
    md = markdown(report)
    assert f"| artifact | kind | {MAP} | size | p50 | shipped vs it | outcome |" in md
    assert f"| baseline | {MAP} | size |" in md


def test_on_a_baselines_subset_the_full_sets_interval_is_not_used():
    """A slow VLM scored on 50 seeded images: the artifact's mAP there comes without the full set's interval."""
    from edgekit.decide.limits import on_samples_of

    art = {
        **_det("int8", 0.40, 1_000, 1.0),
        "test_set": "all",
        "accuracy_on": {"sub": {"accuracy": 0.38, "test_samples": 50}},
    }
    sub, same = on_samples_of(art, {"test_set": "sub"})
    assert same and sub["accuracy"] == 0.38 and "accuracy_ci95" not in sub and "metrics" not in sub
    with_ci = {**art, "accuracy_on": {"sub": {"accuracy": 0.38, "test_samples": 50, "accuracy_ci95": [0.3, 0.46]}}}
    assert on_samples_of(with_ci, {"test_set": "sub"})[0]["accuracy_ci95"] == [0.3, 0.46]


def test_a_device_difference_is_judged_on_the_metrics_interval():
    from edgekit.report.devices import accuracy_vs_host

    binomial = accuracy_vs_host(0.41, 0.39, 200, 200, "quantize")
    own = accuracy_vs_host(0.41, 0.39, 200, 200, "quantize", [0.40, 0.42])
    assert not binomial["beyond_noise"] and own["noise_pt"] == 1.0 and own["beyond_noise"]


def test_edgekit_check_gates_a_detection_run_in_map_points(tmp_path, capsys):
    """The command end to end: budgets in mAP points (under the alias that says so) fail a 1.2 pt drop, exit 1."""
    from edgekit.cli.main import main

    rows = [_det("export", 0.410, 4_000_000, 2.0, kind="export"), _det("int8", 0.398, 1_100_000, 1.0)]
    run = _run(tmp_path, rows, {"int8": "export"}, {"ship": {"stage": "int8"}})
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("max_metric_drop_pt: 1.0\nfail_on: [no-detections]\n")
    assert main(["check", str(run), "--budgets", str(budgets)]) == 1
    out = capsys.readouterr().out
    assert f"FAIL max_accuracy_drop_pt: int8: {MAP} drop vs export (41.00 % → 39.80 %) 1.20 pt > limit 1.00 pt" in out
    budgets.write_text("max_metric_drop_pt: 1.5\nfail_on: [no-detections]\n")
    assert main(["check", str(run), "--budgets", str(budgets)]) == 0


def test_shrinks_console_table_heads_its_column_with_the_metric():
    from rich.console import Console

    from edgekit.cli.shrink import results_table

    def printed(rows):
        record = {"recipe": {"name": "det"}, "stages": [{"metrics": {"artifacts": rows}}]}
        console = Console(width=100, record=True)
        console.print(results_table(record))
        return console.export_text()

    detection = printed([_det("export", 0.41, 4_000_000, 2.0, kind="export")])
    assert "mAP@0.5:0.95" in detection and "accuracy" not in detection
    assert "accuracy" in printed([{"stage": "export", "accuracy": 0.9, "size_bytes": 1, "latency_ms": {"p50": 1.0}}])
