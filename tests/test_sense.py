"""Sense checks (edgekit.decide.sense): each one provoked on a run directory as the pipeline writes it, then seen in
report.json, report.md/html, the console of `edgekit check` and, with fail_on, as a gate failure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgekit.cli.main import main
from edgekit.report.build import build_report
from edgekit.report.render import html_page, markdown
from edgekit.decide.sense import CHECKS, chance_level, near_chance

FP = {"cpu": "Test CPU", "cores": 2}


def _row(stage: str, acc: float, p50: float, macs: int | None = 50_000_000, **extra) -> dict:
    return {
        "stage": stage,
        "file": f"{stage}.onnx",
        "accuracy": acc,
        "chance_accuracy": 0.1,
        "size_bytes": 1_000_000,
        "latency_ms": {"p50": p50},
        "params": 1_000_000,
        "macs": macs,
        **extra,
    }


def _run(
    tmp_path: Path, rows: list[dict], stages: list[tuple[str, str, str | None, dict]], files: dict | None = None
) -> Path:
    """A run directory: ``stages`` are (id, kind, input id, metrics); ``files`` maps a stage id to its main file
    hash."""
    files = files or {}
    records = []
    for sid, kind, parent, metrics in stages:
        d = tmp_path / "stages" / sid
        d.mkdir(parents=True)
        manifest = {
            "inputs": [{"stage": parent, "key": "k"}] if parent else [],
            "artifact": "model.bin",
            "files": {"model.bin": {"size": 1, "sha256": files.get(sid, sid)}},
        }
        (d / "manifest.json").write_text(json.dumps(manifest))
        records.append({"id": sid, "kind": kind, "dir": str(d), "metrics": metrics})
    records.append(
        {
            "id": "evaluate",
            "kind": "evaluate",
            "dir": str(tmp_path / "none"),
            "metrics": {"artifacts": rows, "machine": FP, "valid": True, "invalid_reasons": []},
        }
    )
    (tmp_path / "run.json").write_text(
        json.dumps(
            {"recipe": {"name": "sense", "file": "r.yaml", "sha256": "ab" * 32}, "status": "ok", "stages": records}
        )
    )
    return tmp_path


PRUNE = {"params_before": 1_000_000, "params_after": 600_000, "macs_before": 50_000_000, "macs_after": 30_000_000}
LINEAGE = [
    ("train", "train", None, {}),
    ("export", "export", "train", {}),
    ("prune", "prune", "train", PRUNE),
    ("recover", "train", "prune", {}),
    ("export-pruned", "export", "recover", {}),
    ("int8", "quantize", "export-pruned", {}),
]


def _checks(report: dict) -> set[tuple[str, str]]:
    return {(f["check"], f["artifact"]) for f in report["sense"]}


def test_sane_run_has_no_findings(tmp_path):
    rows = [
        _row("export", 0.90, 1.0),
        _row("export-pruned", 0.89, 0.6, 30_000_000),
        _row("int8", 0.885, 0.4, 30_000_000),
    ]
    report = build_report(_run(tmp_path, rows, LINEAGE))
    assert report["sense"] == []
    assert next(a for a in report["artifacts"] if a["id"] == "int8")["lineage"] == [
        "export-pruned",
        "recover",
        "prune",
        "train",
    ]
    assert "Sense checks" in markdown(report) and "None: accuracy above chance" in markdown(report)


def test_issue_13_run_chance_pruned_slower_and_int8_findings(tmp_path):
    # the issue's numbers: every artifact at chance, the pruned fp32 file 2.97x slower than the unpruned one
    rows = [
        _row("export", 0.1023, 0.90),
        _row("export-pruned", 0.0940, 2.67, 30_000_000),
        _row("int8", 0.0940, 3.10, 30_000_000),
    ]
    report = build_report(_run(tmp_path, rows, LINEAGE))
    assert _checks(report) == {
        ("chance", "export"),
        ("chance", "export-pruned"),
        ("chance", "int8"),
        ("pruned-slower", "export-pruned"),
        ("int8-slower", "int8"),
    }
    slower = next(f for f in report["sense"] if f["check"] == "pruned-slower")["message"]
    assert "2.97× slower than its unpruned parent export (p50 2.670 vs 0.900 ms with 0.60× its MACs)" in slower
    md, page = markdown(report), html_page(report, None)
    assert "| pruned-slower | export-pruned |" in md and "2.97× slower" in page
    assert "| 10.00 % |" in md  # the chance column next to every accuracy


def test_slower_is_the_shipping_rules_slower_not_a_second_rule(tmp_path):
    # a user's text run: INT8's p50 1.21x its parent's, yet faster in one of the five alternating rounds; the ship
    # rule called the latencies a tie, so the sense check must not say "ship export instead"
    rounds = {"measured_by": "evaluate"}
    user = [0.0441, 0.0417, 0.041, 0.0249, 0.0248]  # the float parent's round medians (ms)
    rows = [
        _row("export", 0.735, 0.037, **rounds, latency_round_p50_ms=user),
        _row("export-pruned", 0.735, 0.037, 30_000_000, **rounds, latency_round_p50_ms=user),
        _row("int8", 0.735, 0.0446, **rounds, latency_round_p50_ms=[0.0526, 0.0602, 0.0319, 0.053, 0.0338]),
    ]
    assert _checks(build_report(_run(tmp_path / "tie", rows, LINEAGE))) == set()
    rows[2]["latency_round_p50_ms"] = [0.0526, 0.0602, 0.0419, 0.053, 0.0338]  # slower in every round: flagged
    assert _checks(build_report(_run(tmp_path / "slower", rows, LINEAGE))) == {("int8-slower", "int8")}


def test_int8_collapse_vs_float_parent(tmp_path):
    rows = [_row("export", 0.90, 1.0), _row("export-pruned", 0.89, 0.6), _row("int8", 0.70, 0.4)]
    report = build_report(_run(tmp_path, rows, LINEAGE))
    assert _checks(report) == {("int8-collapse", "int8")}
    assert "70.00 % vs 89.00 % for its float parent export-pruned (19.0 pt lost)" in report["sense"][0]["message"]


def test_inc_quantize_is_compared_with_the_export_of_the_same_torch_model(tmp_path):
    stages = [("train", "train", None, {}), ("export", "export", "train", {}), ("inc", "inc-quantize", "train", {})]
    report = build_report(_run(tmp_path, [_row("export", 0.9, 1.0), _row("inc", 0.9, 1.5)], stages))
    assert _checks(report) == {("int8-slower", "inc")}


def test_stage_that_changed_nothing(tmp_path):
    nothing = {**PRUNE, "params_after": 1_000_000, "macs_after": 50_000_000}
    stages = [
        ("train", "train", None, {}),
        ("export", "export", "train", {}),
        ("prune", "prune", "train", nothing),
        ("export-pruned", "export", "prune", {}),
        ("int8", "quantize", "export-pruned", {}),
    ]
    rows = [_row("export", 0.9, 1.0), _row("export-pruned", 0.9, 1.0), _row("int8", 0.9, 1.0)]
    # the quantize stage kept the float model: its file has its input's bytes
    report = build_report(_run(tmp_path, rows, stages, files={"int8": "same", "export-pruned": "same"}))
    assert _checks(report) == {("unchanged", "prune"), ("unchanged", "int8")}
    msgs = {f["artifact"]: f["message"] for f in report["sense"]}
    assert "pruning removed nothing" in msgs["prune"] and "the float model was kept" in msgs["int8"]


def test_counts_unknown_says_why(tmp_path):
    why = "2 node(s) with a shape ONNX shape inference left unknown: Conv_3, MatMul_7"
    rows = [_row("export", 0.9, 1.0, macs=None, counts_unknown=why)]
    report = build_report(_run(tmp_path, rows, LINEAGE[:2]))
    assert report["sense"] == [{"check": "counts-unknown", "artifact": "export", "message": f"MACs unknown: {why}"}]


@pytest.fixture
def chance_run(tmp_path) -> Path:
    return _run(tmp_path, [_row("export", 0.1023, 0.9), _row("export-pruned", 0.5, 2.0)], LINEAGE)


def test_gate_warns_by_default_and_fails_with_fail_on(chance_run, tmp_path, capsys):
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("max_size_mb: 100\n")
    assert main(["check", str(chance_run), "--budgets", str(budgets)]) == 0
    err = capsys.readouterr().err
    assert "sense: chance (export): accuracy 10.23 % is at chance level (10.00 %" in err
    assert "sense: pruned-slower (export-pruned)" in err
    budgets.write_text("max_size_mb: 100\nfail_on: [chance]\n")
    assert main(["check", str(chance_run), "--budgets", str(budgets)]) == 1
    captured = capsys.readouterr()
    assert "FAIL sense.chance: export: accuracy 10.23 %" in captured.out
    assert "sense: pruned-slower (export-pruned)" in captured.err  # not in fail_on: still a warning
    budgets.write_text("fail_on: [int8-collapse]\n")  # fail_on alone is a gate; nothing triggers it here
    assert main(["check", str(chance_run), "--budgets", str(budgets)]) == 0
    assert "PASS sense.int8-collapse" in capsys.readouterr().out


def test_gate_without_budgets_names_the_sense_warnings(chance_run, capsys):
    assert main(["check", str(chance_run)]) == 2
    assert "nothing to check" in (err := capsys.readouterr().err) and "sense warning(s), e.g. chance (export)" in err


def test_unknown_fail_on_check_is_bad_input(chance_run, tmp_path, capsys):
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("max_size_mb: 100\nfail_on: [chanse]\n")
    assert main(["check", str(chance_run), "--budgets", str(budgets)]) == 2
    err = capsys.readouterr().err
    assert "budgets.yaml:2: fail_on[0]:" in err and "chance" in err and "Traceback" not in err


def test_chance_level_and_near_chance():
    assert chance_level([0, 1, 2, 3] * 5) == 0.25 and chance_level([0, 0, 0, 1]) == 0.75 and chance_level([]) is None
    assert near_chance(0.1023, 0.1) and near_chance(0.14, 0.1) and not near_chance(0.2, 0.1)
    assert near_chance(0.76, 0.75) and not near_chance(0.80, 0.75)
    assert len(set(CHECKS)) == len(CHECKS)  # fail_on names each check once


def test_graph_counter_says_why_macs_are_unknown(tmp_path):
    """A real ONNX graph whose conv input comes from a custom op: shape inference cannot see through it."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from edgekit.bench import graph

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    w = numpy_helper.from_array(np.ones((4, 1, 3, 3), np.float32), "w")
    nodes = [
        helper.make_node("Mystery", ["x"], ["h"], name="custom", domain="com.example"),
        helper.make_node("Conv", ["h", "w"], ["y"], name="conv_after_custom"),
    ]
    model = helper.make_model(
        helper.make_graph(nodes, "g", [x], [y], [w]),
        opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("com.example", 1)],
    )
    onnx.save(model, tmp_path / "m.onnx")
    counts = graph.count(tmp_path / "m.onnx")
    assert counts["macs"] is None and counts["params"] == 36
    assert counts["why"].startswith("1 node(s) with a shape ONNX shape inference left unknown: conv_after_custom")


def test_prune_stage_that_measured_its_model_slower_is_flagged(tmp_path):
    # the prune stage's own timing (edgekit.torchkit.prune_speed), even with no evaluate row of the pair
    slow = {**PRUNE, "speed": {"ratio": 1.52, "min": 1.41, "max": 1.59, "chosen": "none", "slower_than_parent": True}}
    fast = {**PRUNE, "speed": {"ratio": 0.58, "min": 0.55, "max": 0.61, "chosen": "8", "slower_than_parent": False}}
    noisy = {**PRUNE, "speed": {"ratio": 1.05, "min": 0.97, "max": 1.12, "chosen": "none", "slower_than_parent": False}}
    # slower in all 5 rounds but by 1 %: what twins do once in 32 comparisons
    twin = {**PRUNE, "speed": {"ratio": 1.01, "min": 1.002, "max": 1.9, "chosen": "16", "slower_than_parent": False}}
    rows = [_row("export", 0.90, 1.0)]
    for metrics, expected in ((slow, {("pruned-slower", "prune")}), (fast, set()), (noisy, set()), (twin, set())):
        stages = [s if s[0] != "prune" else ("prune", "prune", "train", metrics) for s in LINEAGE[:2] + LINEAGE[2:4]]
        run = tmp_path / metrics["speed"]["chosen"] / str(metrics["speed"]["ratio"])
        report = build_report(_run(run, rows, stages))
        assert _checks(report) == expected
        assert next(s for s in report["stages"] if s["id"] == "prune")["speed"]["ratio"] == metrics["speed"]["ratio"]
    assert "1.52× its parent's p50" in markdown(build_report(run.parent.parent / "none" / "1.52"))


def test_prune_stage_that_missed_its_latency_target_is_flagged(tmp_path):
    missed = {
        **PRUNE,
        "speed": {
            "ratio": 0.71,
            "min": 0.66,
            "max": 0.74,
            "chosen": "8",
            "slower_than_parent": False,
            "latency_target": 0.5,
            "target_met": False,
            "macs_ratio": 0.1,
        },
    }
    met = {**PRUNE, "speed": {**missed["speed"], "ratio": 0.48, "target_met": True, "macs_ratio": 0.35}}
    rows = [_row("export", 0.90, 1.0)]
    for name, metrics, expected in (("missed", missed, {("latency-missed", "prune")}), ("met", met, set())):
        stages = [s if s[0] != "prune" else ("prune", "prune", "train", metrics) for s in LINEAGE[:4]]
        report = build_report(_run(tmp_path / name, rows, stages))
        assert _checks(report) == expected
    assert (
        "asked for x0.50 the parent's p50; the fastest candidate measured x0.71 (90% of the MACs removed"
        in markdown(build_report(tmp_path / "missed"))
    )
