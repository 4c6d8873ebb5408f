"""`edgekit check` on reports of a real run: exit 0 within budget, 1 for each kind of broken budget (named with the
measured value and the limit, in the output and the JUnit file), 2 for bad input, and latency gates skipped with a
warning across machines while size gates still hold. `edgekit shrink` runs the same gate for recipe budgets.

Tests that need this file's own real run (tests/report_run.py, a cold run) are marked slow one by one; those that
need no run (bad targets, recipe validation, the schema) and the corrupt-report cases, which only need some real
report.json to damage, are in the fast tier, the latter on the fast tier's shared smoke run (tests/smoke_run.py)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from edgekit.cli.main import main
from edgekit.fsutil import read_json
from report_run import real_run, recipe_with, variant


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory):
    return real_run(tmp_path_factory)


@pytest.fixture(scope="session")
def report(run_dir):
    return read_json(run_dir / "report.json")


@pytest.fixture
def art(report):
    return report["artifacts"][0]


@pytest.fixture
def gate(tmp_path, capsys):
    """Run `edgekit check` and return (exit code, stdout, stderr, parsed JUnit root or None)."""

    def run(target, budgets: str | None = None, *extra: str):
        (tmp_path / "junit.xml").unlink(missing_ok=True)
        args = ["check", str(target), "--junit", str(tmp_path / "junit.xml"), "--summary", str(tmp_path / "summary.md")]
        if budgets is not None:
            (tmp_path / "budgets.yaml").write_text(budgets)
            args += ["--budgets", str(tmp_path / "budgets.yaml")]
        code = main(args + list(extra))
        cap = capsys.readouterr()
        junit = ET.parse(tmp_path / "junit.xml").getroot() if (tmp_path / "junit.xml").exists() else None
        return code, cap.out, cap.err, junit

    return run


def _cases(junit: ET.Element) -> dict[str, str]:
    """budget name -> "pass" | "fail" | "skip" from the JUnit XML."""
    out = {}
    for tc in junit.iter("testcase"):
        out[tc.get("name")] = (
            "fail" if tc.find("failure") is not None else ("skip" if tc.find("skipped") is not None else "pass")
        )
    return out


@pytest.mark.slow
def test_budgets_met_exit_0(gate, run_dir, art, tmp_path):
    size_mb = art["size_bytes"] / 1e6
    acc = art["accuracy"] * 100
    budgets = f"""\
max_size_mb: {size_mb * 1.01:.6f}
max_size_bytes: {art["size_bytes"]}
max_latency_ms: 10000
min_accuracy_pct: {acc - 0.01:.4f}
artifacts:
  export: {{max_size_mb: 100}}
"""
    code, out, err, junit = gate(run_dir, budgets)
    assert code == 0, out + err
    assert "budgets checked, none broken" in out
    cases = [(tc.get("classname"), tc.get("name")) for tc in junit.iter("testcase")]
    # (a drop budget here would compare the export with itself: that is an error now, see test_gate_trust.py)
    assert [name for _, name in cases] == [
        "max_size_mb",
        "max_size_bytes",
        "max_latency_ms",
        "min_accuracy_pct",
        "max_size_mb",
    ]
    assert all(cls == "edgekit.check.export" for cls, _ in cases)
    assert set(_cases(junit).values()) == {"pass"}
    assert junit.get("tests") == "5" and junit.get("failures") == "0"
    summary = (tmp_path / "summary.md").read_text()
    assert summary.startswith("## ✅ edgekit check: all 5 budgets met")


def _broken(report, tmp_path, art):
    """(budget key, budgets YAML, report to check, baseline report or None, text the failure must show)."""
    size, acc, p50 = art["size_bytes"], art["accuracy"], art["latency_ms"]["p50"]
    with_baseline = variant(report, tmp_path / "with-baseline.json")
    data = json.loads(with_baseline.read_text())
    data["baselines"] = [
        {
            **art,
            "id": "zero-shot",
            "role": "baseline",
            "stage": "zero-shot",
            "kind": "prompted",
            "accuracy": min(1.0, acc + 0.05),
        }
    ]
    with_baseline.write_text(json.dumps(data))
    # a less accurate final artifact after the real fp32 export, as a quantize stage would add
    data = json.loads(json.dumps(report))
    data["artifacts"].append({**art, "id": "quantize", "stage": "quantize", "kind": "quantize", "accuracy": acc - 0.03})
    data["final"] = "quantize"
    degraded = tmp_path / "degraded.json"
    degraded.write_text(json.dumps(data))
    smaller = variant(report, tmp_path / "smaller.json", size_bytes=int(size / 1.1))
    better = variant(report, tmp_path / "better.json", accuracy=acc + 0.02)
    same_machine_now = variant(report, tmp_path / "now.json", machine="fp-ci-1")
    same_machine_faster = variant(report, tmp_path / "faster.json", machine="fp-ci-1", latency_ms={"p50": p50 / 2})
    return {
        "max_size_mb": ("max_size_mb: 0.01\n", None, None, f"{size / 1e6:.3f} MB > limit 0.010 MB"),
        "max_size_bytes": (f"max_size_bytes: {size - 1}\n", None, None, f"{size:,} bytes > limit {size - 1:,} bytes"),
        "max_latency_ms": ("max_latency_ms: 0.0001\n", None, None, f"p50 latency {p50:.3f} ms > limit 0.000 ms"),
        "min_accuracy_pct": ("min_accuracy_pct: 99.5\n", None, None, f"accuracy {acc * 100:.2f} % < limit 99.50 %"),
        "max_accuracy_drop_pt": ("max_accuracy_drop_pt: 1\n", degraded, None, "accuracy drop vs export"),
        "must_beat.zero-shot": (
            "must_beat: [zero-shot]\n",
            with_baseline,
            None,
            f"accuracy {acc * 100:.2f} % ≤ zero-shot's",
        ),
        "regression.size_pct": ("regression: {size_pct: 2}\n", None, smaller, "size vs baseline"),
        "regression.accuracy_pt": ("regression: {accuracy_pt: 0.5}\n", None, better, "accuracy drop vs baseline"),
        "regression.latency_pct": (
            "regression: {latency_pct: 10}\n",
            same_machine_now,
            same_machine_faster,
            "p50 latency vs baseline",
        ),
    }


BROKEN = [
    "max_size_mb",
    "max_size_bytes",
    "max_latency_ms",
    "min_accuracy_pct",
    "max_accuracy_drop_pt",
    "must_beat.zero-shot",
    "regression.size_pct",
    "regression.accuracy_pt",
    "regression.latency_pct",
]


@pytest.mark.slow
@pytest.mark.parametrize("budget", BROKEN)
def test_each_broken_budget_exit_1_named_in_output_and_junit(gate, run_dir, report, art, tmp_path, budget):
    yaml_text, target, baseline, shown = _broken(report, tmp_path, art)[budget]
    extra = ["--baseline", str(baseline)] if baseline else []
    code, out, err, junit = gate(target or run_dir, yaml_text, *extra)
    assert code == 1, out + err
    assert f"FAIL {budget}:" in out and shown in out, out
    assert f"budgets broken: {budget} (" in err  # the one-line error names it too
    assert "Traceback" not in err
    cases = _cases(junit)
    assert cases[budget] == "fail" and junit.get("failures") == "1"
    failure = next(tc for tc in junit.iter("testcase") if tc.get("name") == budget).find("failure")
    assert "measured" in failure.text and "limit" in failure.text and shown in failure.get("message")
    assert f"| ❌ | `{budget}` |" in (tmp_path / "summary.md").read_text()


@pytest.mark.slow
def test_fingerprint_mismatch_skips_latency_but_enforces_size(gate, report, art, tmp_path):
    now = variant(report, tmp_path / "now.json", machine="fp-laptop")
    # the baseline was measured elsewhere: faster (would break the latency limit) and smaller (breaks size)
    old = variant(
        report,
        tmp_path / "old.json",
        machine="fp-ci-runner",
        latency_ms={"p50": art["latency_ms"]["p50"] / 3},
        size_bytes=int(art["size_bytes"] / 1.5),
    )
    code, out, err, junit = gate(now, "regression: {size_pct: 2, latency_pct: 10}\n", "--baseline", str(old))
    assert code == 1
    assert "FAIL regression.size_pct" in out and "SKIP regression.latency_pct" in out
    assert "warning:" in err and "measured on different machines (fp-ci-runner in the baseline, fp-laptop now)" in err
    assert _cases(junit) == {"regression.size_pct": "fail", "regression.latency_pct": "skip"}
    assert junit.get("skipped") == "1"
    assert "> ⚠️ regression.latency_pct" in (tmp_path / "summary.md").read_text()
    # same size: the gate passes, the latency check is still only skipped with a warning
    old_same_size = variant(
        report, tmp_path / "old2.json", machine="fp-ci-runner", latency_ms={"p50": art["latency_ms"]["p50"] / 3}
    )
    code, out, err, _ = gate(now, "regression: {size_pct: 2, latency_pct: 10}\n", "--baseline", str(old_same_size))
    assert code == 0 and "SKIP regression.latency_pct" in out and "different machines" in err


def test_latency_limit_pinned_to_another_machine_is_skipped(gate, smoke, tmp_path):
    here = variant(smoke.report, tmp_path / "here.json", machine="0123456789abcdef")
    code, out, err, _ = gate(here, "max_latency_ms: 0.0001\nlatency_machine: fedcba9876543210\nmax_size_mb: 100\n")
    assert code == 0 and "SKIP max_latency_ms" in out and "PASS max_size_mb" in out
    assert "the limit was set on machine fedcba9876543210" in err
    code, out, _, _ = gate(here, 'max_latency_ms: 0.0001\nlatency_machine: "01234567"\n')  # a prefix matches
    assert code == 1 and "FAIL max_latency_ms" in out


@pytest.mark.slow
def test_baseline_alone_applies_default_regression_limits(gate, run_dir, report, art, tmp_path):
    code, out, _, junit = gate(run_dir, None, "--baseline", str(run_dir / "report.json"))
    assert code == 0, out
    assert set(_cases(junit)) == {"regression.size_pct", "regression.accuracy_pt", "regression.latency_pct"}
    bigger = variant(report, tmp_path / "bigger.json", size_bytes=int(art["size_bytes"] * 1.03))
    code, out, _, _ = gate(bigger, None, "--baseline", str(run_dir / "report.json"))
    assert code == 1 and "FAIL regression.size_pct" in out and "limit +2.00 %" in out


@pytest.mark.slow
def test_json_output(gate, run_dir, capsys):
    code, out, _, _ = gate(run_dir, "max_size_mb: 0.01\nmin_accuracy_pct: 1\n", "--json")
    assert code == 1
    data = json.loads(out)
    assert data["passed"] is False
    assert [(r["budget"], r["status"]) for r in data["results"]] == [
        ("max_size_mb", "fail"),
        ("min_accuracy_pct", "pass"),
    ]
    assert data["results"][0]["limit"] == 0.01 and data["results"][0]["unit"] == "MB"


def _corrupt(report: dict, tmp_path: Path) -> dict[str, tuple[Path, str]]:
    good = json.dumps(report)
    cases = {
        "truncated": (good[: len(good) // 2], "corrupt report, not valid JSON"),
        "wrong-version": (
            good.replace('"edgekit.report/1"', '"edgekit.report/9"'),
            "report schema 'edgekit.report/9' is not supported",
        ),
        "no-schema": (json.dumps({"artifacts": []}), "not an edgekit report (no 'schema' field)"),
        "bad-field": (
            json.dumps({**report, "artifacts": [{**report["artifacts"][0], "size_bytes": "big"}]}),
            "corrupt report: artifacts.0.size_bytes",
        ),
        "missing-field": (json.dumps({k: v for k, v in report.items() if k != "pareto"}), "corrupt report: pareto"),
        "not-json-object": ("[1, 2, 3]", "not an edgekit report"),
    }
    out = {}
    for name, (text, msg) in cases.items():
        p = tmp_path / f"{name}.json"
        p.write_text(text)
        out[name] = (p, msg)
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
    out["binary"] = (binary, "binary.json: ")
    return out


@pytest.mark.parametrize(
    "case", ["truncated", "wrong-version", "no-schema", "bad-field", "missing-field", "not-json-object", "binary"]
)
def test_corrupt_or_wrong_version_report_exit_2(gate, smoke, tmp_path, case):
    path, msg = _corrupt(smoke.report, tmp_path)[case]
    code, out, err, junit = gate(path, "max_size_mb: 1\n")
    assert code == 2, out + err
    assert msg in err and str(path) in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert junit is None  # nothing written for a gate that never ran


@pytest.mark.slow
@pytest.mark.parametrize(
    "budgets,msg",
    [
        ("max_sise_mb: 1\n", "budgets.yaml:1: max_sise_mb: unknown key 'max_sise_mb' (did you mean 'max_size_mb'?)"),
        ("min_accuracy_pct: 120\n", "budgets.yaml:1: min_accuracy_pct: must be less than or equal to 100"),
        ("max_size_mb: 1\nlatency_percentile: p42\n", "budgets.yaml:2: latency_percentile:"),
        ("max_size_mb: [1\n", "not valid YAML"),
        ("- 1\n", "budgets are a YAML mapping"),
        ("artifact: quantise\nmax_size_mb: 1\n", "the report has no artifact 'quantise'"),
        ("must_beat: [gpt]\n", "must_beat: the report has no baseline 'gpt'; baselines: none"),
        ("latency_percentile: p95\n", "nothing to check: the budgets set no limit"),
        ("edgekit: 1\nbudgets:\n  max_sise_mb: 1\n", "budgets.yaml:3: budgets.max_sise_mb: unknown key 'max_sise_mb'"),
    ],
)
def test_bad_budgets_exit_2(gate, run_dir, budgets, msg):
    code, out, err, _ = gate(run_dir, budgets)
    assert code == 2, out + err
    assert msg in err, err


@pytest.mark.slow
def test_percentile_the_report_did_not_measure_exit_2(gate, report, tmp_path):
    data = json.loads(json.dumps(report))
    data["artifacts"][0]["latency_ms"] = {"p50": data["artifacts"][0]["latency_ms"]["p50"]}  # as the spine's evaluate
    (tmp_path / "p50-only.json").write_text(json.dumps(data))
    code, _, err, _ = gate(tmp_path / "p50-only.json", "max_latency_ms: 1\nlatency_percentile: p99\n")
    assert code == 2 and "the report has no p99 latency for 'export' (measured: p50)" in err


def test_bad_targets_exit_2(gate, tmp_path, capsys):
    assert main(["check", str(tmp_path / "nope.json"), "--budgets", str(tmp_path / "nope.yaml")]) == 2
    assert "no such report or run directory" in capsys.readouterr().err
    assert main(["check", str(tmp_path)]) == 2
    assert "neither a run directory" in capsys.readouterr().err


def test_failed_run_never_passes(gate, smoke, tmp_path):
    data = {**smoke.report, "run": {"status": "failed", "error": "stage 'quantize' failed: out of memory"}}
    (tmp_path / "failed.json").write_text(json.dumps(data))
    code, out, err, junit = gate(tmp_path / "failed.json", "max_size_mb: 100\n")
    assert code == 1 and "FAIL run_status: the run did not finish (status failed): stage 'quantize' failed" in out
    assert _cases(junit) == {"run_status": "fail", "max_size_mb": "pass"}


@pytest.mark.slow
def test_no_budgets_anywhere_exit_2(gate, run_dir):
    code, _, err, _ = gate(run_dir)
    assert code == 2 and "nothing to check" in err


@pytest.mark.slow
def test_shrink_checks_recipe_budgets_and_check_reuses_them(run_dir, art, tmp_path, capsys):
    failing = recipe_with(run_dir, "budgets:\n  max_size_mb: 0.01\n  min_accuracy_pct: 1\n")
    assert main(["shrink", str(failing), "--run-dir", str(run_dir)]) == 1
    cap = capsys.readouterr()
    assert "FAIL max_size_mb" in cap.out and "PASS min_accuracy_pct" in cap.out
    # nothing ships within those budgets (the shipping rule says so), and the limits are shown on what it would ship
    assert "FAIL ship: nothing ships: no artifact is within budget (export: over budget:" in cap.out
    assert "2 of 3 budgets broken: ship (-), max_size_mb (export)" in cap.err
    assert not (run_dir / "ship").exists()
    stored = read_json(run_dir / "report.json")["budgets"]
    assert stored["max_size_mb"] == 0.01
    # `edgekit check RUN_DIR` with no --budgets uses what the recipe said; `edgekit report` keeps it
    assert main(["report", str(run_dir)]) == 0
    assert main(["check", str(run_dir)]) == 1
    assert "FAIL max_size_mb" in capsys.readouterr().out

    passing = recipe_with(run_dir, f"budgets:\n  max_size_mb: {art['size_bytes'] / 1e6 * 2:.4f}\n")
    assert main(["shrink", str(passing), "--run-dir", str(run_dir)]) == 0
    assert "PASS max_size_mb" in capsys.readouterr().out
    assert main(["check", str(run_dir)]) == 0
    assert (run_dir / "ship" / "model.onnx").read_bytes() == (run_dir / art["file"]).read_bytes()  # shipped again

    typo = recipe_with(run_dir, "budgets:\n  artifact: exprt\n  max_size_mb: 1\n")
    assert main(["validate", str(typo)]) == 2
    assert "budgets.artifact: no stage 'exprt' in this recipe (did you mean 'export'?)" in capsys.readouterr().err

    # a recipe without budgets leaves none behind
    plain = recipe_with(run_dir, "")
    assert main(["shrink", str(plain), "--run-dir", str(run_dir)]) == 0
    assert read_json(run_dir / "report.json")["budgets"] is None


def test_recipe_schema_documents_budgets():
    from edgekit.recipe.read import json_schema

    schema = json_schema()
    budgets = schema["$defs"]["Budgets"]["properties"]
    assert {
        "max_size_mb",
        "max_latency_ms",
        "min_accuracy_pct",
        "max_accuracy_drop_pt",
        "must_beat",
        "regression",
    } <= set(budgets)
    assert budgets["max_size_mb"]["description"].startswith("largest allowed file size")


def test_noisy_timing_warns_and_throttled_timing_skips_latency_gates(gate, smoke, tmp_path):
    noisy = variant(smoke.report, tmp_path / "noisy.json", unstable=True, unstable_reasons=["cv 14 % > 10 %"])
    code, out, err, _ = gate(noisy, "max_latency_ms: 0.0001\n")
    assert code == 1 and "FAIL max_latency_ms" in out  # still enforced ...
    assert "flagged unstable (cv 14 % > 10 %)" in err  # ... with a warning
    throttled = variant(
        smoke.report, tmp_path / "throttled.json", measurement_valid=False, invalid_reasons=["CPU throttled"]
    )
    code, out, err, junit = gate(throttled, "max_latency_ms: 0.0001\nmax_size_mb: 100\n")
    assert code == 0 and "SKIP max_latency_ms" in out and "marked invalid (CPU throttled)" in err
    assert _cases(junit) == {"max_latency_ms": "skip", "max_size_mb": "pass"}


@pytest.mark.parametrize(
    "budgets,line,msg",
    [
        (
            "budgets:\n  max_sise_mb: 1\n",
            11,
            "budgets.max_sise_mb: unknown key 'max_sise_mb' (did you mean 'max_size_mb'?)",
        ),
        (
            "budgets:\n  artifact: exprt\n  max_size_mb: 1\n",
            11,
            "budgets.artifact: no stage 'exprt' in this recipe (did you mean 'export'?)",
        ),
        ("budgets:\n  reference: trian\n  max_size_mb: 1\n", 11, "budgets.reference: no stage 'trian'"),
        ("budgets:\n  latency_percentile: p95\n", 10, "budgets: sets no limit"),
        (
            "budgets:\n  regression: {size_pct: -1}\n",
            11,
            "budgets.regression.size_pct: must be greater than or equal to 0",
        ),
    ],
)
def test_recipe_budgets_are_validated_with_line_and_key(tmp_path, capsys, budgets, line, msg):
    from report_run import RECIPE

    path = tmp_path / "recipe.yaml"
    path.write_text(RECIPE + budgets)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:{line}: {msg}" in err, err
