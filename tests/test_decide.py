"""One decision in one place (edgekit.decide): the reference, the budget limits and "better within noise" are read
the same way by the shipping rule, the verdict, the report and its chart, the gate and the search; a run's
decision comes from the run itself (run.json), never from an earlier report.json; nothing at chance ships."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edgekit.recipe.budgets import Budgets
from edgekit.cli.main import main
from edgekit.fsutil import read_json
from edgekit.recipe.read import parse
from edgekit.report.build import build_report
from edgekit.report.check import check
from edgekit.decide.ship import ShipRule, decide
from report_run import real_run, recipe_with

MACHINE = "fp-ci-runner-0001"  # a machine fingerprint id, as report.json names machines


def _row(ident, acc, size, p50, **extra):
    return {
        "id": ident,
        "stage": ident,
        "role": "artifact",
        "accuracy": acc,
        "size_bytes": size,
        "latency_ms": {"p50": p50},
        "test_samples": 10_000,
        **extra,
    }


def _run(tmp_path: Path, rows: list[dict], parents: dict[str, str], recipe: dict) -> Path:
    """A run directory as the pipeline leaves it: one stage dir per artifact (its manifest names its input, so
    the report finds each lineage) and one evaluate stage holding every row."""
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
    (run / "run.json").write_text(json.dumps({"recipe": {"name": "r", **recipe}, "status": "ok", "stages": stages}))
    return run


def test_the_verdict_represents_another_lineage_by_the_runs_own_rule(tmp_path):
    """With ship: {objective: latency}, the other lineage is represented by its fastest file, not its smallest."""
    rows = [
        _row("export", 0.900, 4_000_000, 2.0, kind="export"),
        _row("int8", 0.899, 1_000_000, 1.0),
        _row("small", 0.850, 2_000_000, 0.5, kind="export"),
        _row("small-pruned", 0.850, 600_000, 1.5, kind="export"),  # smaller and slower (a float file)
    ]
    parents = {"int8": "export", "small-pruned": "small"}
    report = build_report(_run(tmp_path, rows, parents, {"ship": {"objective": "latency"}}))
    assert report["final"] == "int8"
    assert [c["id"] for c in report["verdict"]["contenders"]] == ["small"]  # 0.5 ms, not the 600 kB file
    shutil.rmtree(tmp_path / "run")
    default = build_report(_run(tmp_path, rows, parents, {"ship": None}))
    assert [c["id"] for c in default["verdict"]["contenders"]] == ["small-pruned"]


def test_an_int8_file_slower_than_its_float_parent_never_ships(tmp_path):
    """Issue 27: the smallest file within budget would be an INT8 measured slower than its float parent (a mobile
    net where ONNX Runtime's integer kernels lose); the rule refuses it under either objective and says why."""
    rows = [
        _row("export", 0.900, 4_000_000, 1.0, kind="export", latency_round_p50_ms=[1.0] * 5, measured_by="evaluate"),
        _row("int8", 0.900, 1_000_000, 1.2, latency_round_p50_ms=[1.2, 1.3, 1.15, 1.2, 1.2], measured_by="evaluate"),
    ]
    for rule in (None, {"objective": "latency"}):
        report = build_report(_run(tmp_path, rows, {"int8": "export"}, {"ship": rule}))
        assert report["ship"]["artifact"] == "export"
        assert report["ship"]["lost_codes"]["int8"] == "int8-slower"
        assert report["ship"]["lost"]["int8"] == "INT8 slower than its float parent export: p50 1.200 ms vs 1.000 ms"
        assert any(f["check"] == "int8-slower" for f in report["sense"])
        shutil.rmtree(tmp_path / "run")
    # the VM switched speed in one round: p50 rounds say "not every round", the fast speed (p10) says slower
    rows[0] = {**rows[0], "latency_round_p10_ms": [0.9] * 5}
    rows[1] = {
        **rows[1],
        "latency_round_p50_ms": [1.2, 0.8, 1.15, 1.2, 1.2],
        "latency_round_p10_ms": [1.05, 1.04, 1.06, 1.05, 1.03],
    }
    report = build_report(_run(tmp_path, rows, {"int8": "export"}, {"ship": None}))
    assert report["ship"]["lost_codes"]["int8"] == "int8-slower"
    assert report["artifacts"][1]["latency_round_p10_ms"] == [1.05, 1.04, 1.06, 1.05, 1.03]
    shutil.rmtree(tmp_path / "run")
    rows[1] = {**rows[1], "latency_ms": {"p50": 1.03}, "latency_round_p10_ms": [0.91, 0.9, 0.89, 0.92, 0.9]}
    report = build_report(_run(tmp_path, rows, {"int8": "export"}, {"ship": None}))
    assert report["ship"]["artifact"] == "int8"  # the same speed within noise: the smaller file ships


def test_a_point_the_ship_rule_calls_dominated_is_never_on_the_charts_frontier(tmp_path):
    """b reads more accurate and faster, but only inside noise, and its file is 4x larger: the shipping rule calls
    it dominated by a, so the chart's frontier must not hold it (a strict frontier kept b and dropped a)."""
    rows = [_row("a", 0.900, 1_000_000, 1.00, kind="export"), _row("b", 0.901, 4_000_000, 0.99)]
    report = build_report(_run(tmp_path, rows, {"b": "a"}, {}))
    assert report["ship"]["lost"]["b"].startswith("dominated by a")
    assert report["pareto"]["frontier"] == ["a"]
    dominated = [i for i, code in report["ship"]["lost_codes"].items() if code == "dominated"]
    assert dominated == ["b"] and not set(dominated) & set(report["pareto"]["frontier"])


LIMITED = {"max_latency_ms": 1.0, "latency_machine": MACHINE}


@pytest.mark.parametrize("machine, broken", [(MACHINE, True), ("fp-laptop-9999", False)])
def test_one_budgets_file_gives_one_answer_in_gate_ship_rule_and_search(tmp_path, machine, broken):
    """A latency limit set on one machine: broken on that machine everywhere, not applied on another anywhere."""
    from edgekit.search.study import constraints
    from edgekit.search.trial import Outcome

    budgets = Budgets.model_validate(LIMITED)
    ref = _row("export", 0.900, 4_000_000, 1.2, kind="export", machine=machine)
    art = _row("int8", 0.899, 1_000_000, 2.0, machine=machine)
    report = build_report(_run(tmp_path, [ref, art], {"int8": "export"}, {"budgets": LIMITED}))
    gate = {r.budget: r.status for r in check({**report, "final": "int8"}, budgets).results}
    assert gate["max_latency_ms"] == ("fail" if broken else "skip")

    decision = decide(report["artifacts"], ShipRule(), "export", budgets)
    assert decision.lost.get("int8", "").startswith("over budget: p50 2.000 ms") is broken

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        'edgekit: 1\nname: r\ndata: {source: fashion-mnist}\nmodel: {source: "edgekit:resnet-small"}\n'
        "stages:\n  - {id: train, kind: train}\n  - {id: export, kind: export}\n"
        "  - {id: int8, kind: quantize}\n  - {id: evaluate, kind: evaluate}\n"
        f"budgets: {json.dumps(LIMITED)}\n"
    )
    c = constraints(parse(recipe.read_text(), recipe), Outcome(art, ref, tmp_path))
    assert (c.get("max_latency_ms", 0) > 0) is broken and ("max_latency_ms" in c) is broken
    assert c == budgets.violations(art, ref, machine)
    assert (decision.lost_codes.get("int8") == "over-budget") is broken


def test_the_reference_of_an_onnx_import_recipe_is_its_imported_file(tmp_path):
    """import -> quantize -> evaluate has no export: the imported float file is the reference (the search said
    "the fp32 reference 'None' has no measured accuracy" and failed every trial)."""
    from edgekit.search.trial import artifact_row, reference_row

    (tmp_path / "user.onnx").write_bytes(b"")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        'edgekit: 1\nname: r\ndata: {source: fashion-mnist}\nmodel: {source: "onnx:user.onnx"}\n'
        "stages:\n  - {id: model, kind: import}\n  - {id: int8, kind: quantize}\n  - {id: evaluate, kind: evaluate}\n"
    )
    loaded = parse(recipe.read_text(), recipe)
    rows = [
        {k: v for k, v in _row("model", 0.90, 4_000_000, 2.0).items() if k != "id"},
        {k: v for k, v in _row("int8", 0.899, 1_000_000, 1.0).items() if k != "id"},
    ]
    assert reference_row(loaded, rows)["stage"] == "model"
    shipped, why = artifact_row(loaded, rows)
    assert shipped["stage"] == "int8" and "of model's accuracy" in why
    from edgekit.decide.reference import reference_of

    assert reference_of([{"id": "q", "kind": "quantize"}, {"id": "m", "kind": "import"}]) == "m"
    assert reference_of([{"id": "q", "kind": "quantize"}], budgets=Budgets(reference="big")) == "big"


def test_nothing_at_chance_ships():
    chance = {"chance_accuracy": 0.10}
    arts = [_row("export", 0.11, 4_000_000, 2.0, **chance), _row("int8", 0.105, 1_000_000, 1.0, **chance)]
    d = decide(arts, ShipRule(), "export")
    assert d.artifact is None and d.code == "nothing-qualifies" and set(d.lost_codes.values()) == {"at-chance"}
    assert "at chance: 11.00 %" in d.lost["export"]
    named = decide(arts, ShipRule(stage="int8"), None)
    assert named.artifact is None and named.lost_codes["int8"] == "at-chance"
    trained = [_row("export", 0.80, 4_000_000, 2.0, **chance), _row("int8", 0.799, 1_000_000, 1.0, **chance)]
    assert decide(trained, ShipRule(), "export").artifact == "int8"


def test_an_unfinished_run_fails_the_gate_with_or_without_budgets():
    report = {"run": {"status": "failed", "error": "stage 'train' failed"}, "artifacts": [], "baselines": []}
    for budgets in (None, Budgets(max_size_mb=1)):
        out = check(report, budgets)
        assert not out.passed and [r.budget for r in out.results] == ["run_status"]
        assert "did not finish (status failed: stage 'train' failed)" in out.results[0].message


@pytest.fixture
def run_dir(tmp_path_factory, tmp_path):
    """A copy of the shared real run (run directories are self-contained): these tests re-run shrink with budgets,
    which run.json records, and the shared run must stay as other modules expect it (no budgets)."""
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(real_run(tmp_path_factory), copy, symlinks=True)
    return copy


@pytest.mark.slow
def test_a_rebuilt_report_names_what_shrink_shipped(run_dir, capsys):
    """Delete report.json and run `edgekit report`: the report still decides with the run's budgets (run.json),
    so it names what `edgekit shrink` copied to ship/ (and nothing when nothing shipped)."""
    for budgets, shipped in (("budgets:\n  max_size_mb: 0.001\n", False), ("budgets:\n  max_size_mb: 1000\n", True)):
        code = main(["shrink", str(recipe_with(run_dir, budgets)), "--run-dir", str(run_dir)])
        assert code == (0 if shipped else 1)
        assert read_json(run_dir / "run.json")["recipe"]["budgets"] == {"max_size_mb": 0.001 if not shipped else 1000}
        (run_dir / "report.json").unlink()
        assert main(["report", str(run_dir)]) == 0
        final = read_json(run_dir / "report.json")["final"]
        on_disk = read_json(run_dir / "ship" / "ship.json")["stage"] if (run_dir / "ship").exists() else None
        assert final == on_disk and (final is not None) is shipped
    capsys.readouterr()


SEARCH = """\
edgekit: 1
name: byo-search
seed: 0
threads: 1
data: {source: fashion-mnist, limit_train: 600, limit_test: 300}
model: {source: "onnx:user.onnx"}
stages:
  - {id: model, kind: import}
  - {id: int8, kind: quantize, max_accuracy_drop: 100, calibration: {samples: 64}, latency_runs: 20, min_seconds: 0.2}
  - {id: evaluate, kind: evaluate, min_seconds: 0.2, latency_runs: 20, rounds: 1}
search:
  space:
    evaluate.min_seconds: [0.2, 0.4]
  trials: 2
"""


@pytest.mark.slow
def test_a_search_over_an_onnx_import_recipe_finishes_its_trials_and_ships(run_dir, tmp_path, capsys):
    report = read_json(run_dir / "report.json") if (run_dir / "report.json").exists() else build_report(run_dir)
    export = next(a for a in report["artifacts"] if a["kind"] == "export")
    shutil.copyfile(run_dir / export["file"], tmp_path / "user.onnx")  # a trained float file a user brings
    (tmp_path / "recipe.yaml").write_text(SEARCH)
    capsys.readouterr()
    assert main(["search", str(tmp_path / "recipe.yaml"), "--run-dir", str(tmp_path / "run"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [t["state"] for t in result["trials"]] == ["COMPLETE", "COMPLETE"], [t["error"] for t in result["trials"]]
    assert all(t["reference"]["stage"] == "model" for t in result["trials"])
    assert result["ship"]["trial"] in result["frontier"], result["ship"]
