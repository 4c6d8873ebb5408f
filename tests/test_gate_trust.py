"""The gate cannot pass by accident: no drop budget against the artifact itself, no ok when nothing was
enforced, no comparison of numbers measured under different conditions, and a machine id that only changes
with what decides speed. Pure functions on report-shaped dicts (the real-run gate tests are in test_check.py)."""

from __future__ import annotations

import copy

import pytest

from edgekit.bench import system
from edgekit.cli.main import main
from edgekit.errors import InputError
from edgekit.fsutil import write_json
from edgekit.recipe.budgets import Budgets
from edgekit.report.check import check


def row(ident: str, kind: str, acc: float, **kw) -> dict:
    return {
        "id": ident,
        "role": "artifact",
        "stage": ident,
        "kind": kind,
        "accuracy": acc,
        "size_bytes": 1_000_000,
        "latency_ms": {"p50": 2.0},
        "threads": 1,
        "batch": 1,
        "test_samples": 10_000,
        "test_set": "aaaa",
        "machine": "m1",
        **kw,
    }


def report(*arts: dict, baselines=(), reference=None) -> dict:
    return {
        "artifacts": list(arts),
        "baselines": list(baselines),
        "final": arts[-1]["id"],
        "reference": reference,
        "run": {"status": "ok"},
    }


def test_accuracy_drop_without_a_separate_fp32_reference_is_bad_input():
    # train -> inc-quantize -> evaluate: the only ONNX row is the INT8 one, 10 % accurate
    rep = report(row("inc-int8", "inc-quantize", 0.10), reference="inc-int8")
    with pytest.raises(InputError, match="no separate fp32 reference.*budgets.reference"):
        check(rep, Budgets(max_accuracy_drop_pt=1.0))


def test_accuracy_drop_against_the_export_still_gates():
    rep = report(row("export", "export", 0.90), row("int8", "quantize", 0.80), reference="export")
    out = check(rep, Budgets(max_accuracy_drop_pt=1.0))
    assert [r.status for r in out.results] == ["fail"] and "10.00 pt" in out.results[0].message


def test_limits_exactly_met_pass():
    # 0.904 - 0.899 is 0.50000000000000044 and 0.899 * 100 is 89.89999999999999 in floats: both failed before
    rep = report(row("export", "export", 0.904), row("int8", "quantize", 0.899), reference="export")
    out = check(rep, Budgets(max_accuracy_drop_pt=0.5, min_accuracy_pct=89.9))
    assert [r.status for r in out.results] == ["pass", "pass"], [r.message for r in out.results]
    assert [r.status for r in check(rep, Budgets(max_accuracy_drop_pt=0.49)).results] == ["fail"]


def test_accuracy_drop_on_different_test_samples_is_bad_input():
    rep = report(row("export", "export", 0.90, test_samples=30), row("int8", "quantize", 0.89), reference="export")
    with pytest.raises(InputError, match="test samples"):
        check(rep, Budgets(max_accuracy_drop_pt=2.0))


def test_all_budgets_skipped_fails_unless_allowed():
    rep = report(row("int8", "quantize", 0.9))
    budgets = Budgets(regression={"latency_pct": 10})  # no --baseline: the only budget is skipped
    out = check(rep, budgets)
    assert not out.passed and out.failed[0].budget == "all_skipped" and "--allow-skipped" in out.failed[0].message
    assert check(rep, budgets, allow_skipped=True).passed


def test_all_skipped_via_the_cli_exits_1_and_allow_skipped_exits_0(tmp_path, capsys):
    path = tmp_path / "report.json"
    write_json(
        path,
        {
            **report(row("int8", "quantize", 0.9)),
            "schema": "edgekit.report/1",
            "recipe": {"name": "r"},
            "machines": {},
            "pareto": {"frontier": []},
        },
    )
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("regression: {latency_pct: 10}\n")
    code = main(["check", str(path), "--budgets", str(budgets)])
    cap = capsys.readouterr()
    assert code == 1 and "ok:" not in cap.out, cap.out + cap.err
    assert main(["check", str(path), "--budgets", str(budgets), "--allow-skipped"]) == 0


def test_latency_regression_only_at_equal_threads_and_batch():
    now = report(row("int8", "quantize", 0.9, latency_ms={"p50": 1.0}, threads=4))
    base = report(row("int8", "quantize", 0.9, latency_ms={"p50": 3.0}, threads=1))
    out = check(now, Budgets(regression={"latency_pct": 10, "size_pct": 1}), base)
    lat = next(r for r in out.results if r.budget == "regression.latency_pct")
    assert lat.status == "skip" and "threads 1 (baseline) vs 4 (now)" in lat.message
    same = copy.deepcopy(base)
    same["artifacts"][0]["latency_ms"] = {"p50": 1.0}
    slower = report(row("int8", "quantize", 0.9, latency_ms={"p50": 3.0}, threads=1))
    out = check(slower, Budgets(regression={"latency_pct": 10}), same)
    assert [r.status for r in out.results] == ["fail"]


def test_must_beat_a_baseline_scored_on_other_samples_is_not_a_pass():
    small = {**row("smollm2", "prompted", 0.175, test_samples=30, test_set="bbbb"), "role": "baseline"}
    rep = report(row("int8", "quantize", 0.9), baselines=[small])
    out = check(rep, Budgets(must_beat=["smollm2"], max_size_mb=10))
    mb = next(r for r in out.results if r.budget == "must_beat.smollm2")
    assert mb.status == "skip" and "test samples 30" in mb.message
    same = {**small, "test_samples": 10_000, "test_set": "aaaa"}
    assert check(report(row("int8", "quantize", 0.9), baselines=[same]), Budgets(must_beat=["smollm2"])).passed


def test_accuracy_regression_on_a_different_sample_set_is_skipped():
    now = report(row("int8", "quantize", 0.5, test_set="cccc"))
    base = report(row("int8", "quantize", 0.9))
    out = check(now, Budgets(regression={"accuracy_pt": 0.5}), base, allow_skipped=True)
    assert [r.status for r in out.results] == ["skip"]


def test_machine_id_ignores_context_and_follows_speed():
    fp = system.fingerprint()
    assert fp["id"] == system.speed_id(fp)
    context = {**fp, "python": "3.99.0", "numpy": "9.9", "os": "Linux-9.9-other", "memory_bytes": 1, "cores": 512}
    assert system.speed_id(context) == fp["id"]  # a runner image update keeps latency checks on
    for key, value in [("cpu", "Other CPU"), ("isa", ["sve"]), ("cores_usable", 99), ("onnxruntime", "0.0.1")]:
        assert system.speed_id({**fp, key: value}) != fp["id"], key
