"""`edgekit search`: the search space is checked against the stage models (exit 2, file:line: key), and the
study storage, retries and result (fast tests here; the end-to-end runs are in test_search_runs.py)."""

from __future__ import annotations


import pytest

from edgekit.cli.main import main

RECIPE = """\
edgekit: 1
name: tiny
data: {source: fashion-mnist, limit_train: 400, limit_test: 200}
model: {source: "edgekit:resnet-small", width: 0.25}
stages:
  - {id: train, kind: train, epochs: 1}
  - {id: export, kind: export}
  - {id: prune, kind: prune, input: train, ratio: 0.5}
  - {id: recover, kind: train, epochs: 1, distill: {teacher: train}}
  - {id: export-pruned, kind: export}
  - {id: int8, kind: quantize}
  - {id: evaluate, kind: evaluate}
search:
  space:
    int8.per_channel: [true, false]
"""


def write(tmp_path, space_line: str):
    path = tmp_path / "recipe.yaml"
    path.write_text(RECIPE + "    " + space_line + "\n")
    return path


BAD = [
    ("prunee.ratio: [0.3, 0.8]", "no stage 'prunee' in this recipe (did you mean 'prune'?)"),
    ("prune.ratoi: [0.3, 0.8]", "unknown key 'ratoi' in stage 'prune' (PruneConfig) (did you mean 'ratio'?)"),
    ("recover.distill.wieght: [0, 1]", "unknown key 'wieght' in 'recover.distill' (did you mean 'weight'?)"),
    ("recover.epochs: [3, 1]", "empty range [3, 1]: low must be less than high"),
    ("recover.lr: [1.0e-3, 1.0e-3]", "empty range"),
    ("int8.reduce_range: [true, 2]", "2 does not fit stage 'int8': reduce_range: "),
    ("prune.importance: [l1, magic]", "'magic' does not fit stage 'int8'".replace("int8", "prune")),
    ("prune.ratio: [0.3, 1.5]", "1.5 does not fit stage 'prune': ratio: "),
    ("prune.ratio: [fast, slow]", "'prune.ratio' is numeric: give a range [low, high]"),
    ("recover.epochs: [1.5, 3]", "integer key"),
    ("prune.kind: [prune, train]", "cannot be searched"),
    ("prune: [0.3, 0.8]", "name a key of stage 'prune'"),
    ("prune.importance: []", "empty list of choices"),
    ("recover.lr: {low: 0, high: 1.0e-2, log: true}", "a log range needs low > 0"),
]


@pytest.mark.parametrize("line,message", BAD, ids=[b[0].split(":")[0] + f"-{i}" for i, b in enumerate(BAD)])
@pytest.mark.parametrize("command", ["search", "validate"])
def test_bad_search_space_exits_2_naming_file_line_and_key(tmp_path, capsys, line, message, command):
    path = write(tmp_path, line)
    key = line.split(":")[0]
    args = [command, str(path)] + (["--run-dir", str(tmp_path / "run")] if command == "search" else [])
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err  # one line, no traceback
    assert f"{path}:16: search.space.{key}: " in " ".join(err.split()), err
    assert message in " ".join(err.split()), err
    assert not (tmp_path / "run").exists()  # nothing half-written


def test_search_needs_a_search_block(tmp_path, capsys):
    path = tmp_path / "recipe.yaml"
    path.write_text(RECIPE.split("search:")[0])
    assert main(["search", str(path), "--run-dir", str(tmp_path / "run")]) == 2
    assert "recipe.yaml: search: the recipe has no search: block" in capsys.readouterr().err


def test_unknown_objective_and_bad_screening_key(tmp_path, capsys):
    path = write(tmp_path, "prune.ratio: [0.3, 0.8]\n  objectives: [accuracy, speed]")
    assert main(["validate", str(path)]) == 2
    assert "recipe.yaml:17: search.objectives[1]: " in capsys.readouterr().err
    path = write(tmp_path, "prune.ratio: [0.3, 0.8]\n  screening: {recover.epoch: 1}")
    assert main(["validate", str(path)]) == 2
    assert "recipe.yaml:17: search.screening.recover.epoch: unknown key 'epoch'" in capsys.readouterr().err


def loaded_with(tmp_path, extra: str = ""):
    from edgekit.recipe.read import load

    path = tmp_path / "recipe.yaml"
    path.write_text(
        RECIPE
        + "    prune.ratio: [0.3, 0.8]\n    recover.distill.weight: [0, 1]\n    prune.importance: [l1, lamp]\n"
        + extra
    )
    return load(path)


def test_space_types_and_the_recipes_own_values(tmp_path):
    from edgekit.search import space

    loaded = loaded_with(tmp_path)
    params = {p.name: p for p in space.resolve(loaded)}
    assert (params["prune.ratio"].kind, params["prune.ratio"].low, params["prune.ratio"].high) == ("float", 0.3, 0.8)
    assert params["recover.distill.weight"].kind == "float"  # [0, 1] on a float key is a float range, not choices
    assert params["int8.per_channel"].choices == (True, False)
    own = {n: space.recipe_value(loaded, p) for n, p in params.items()}
    assert own == {
        "int8.per_channel": True,
        "prune.ratio": 0.5,
        "recover.distill.weight": 0.7,
        "prune.importance": "l2",
    }


def test_the_hand_trial_keeps_recipe_values_the_space_excludes(tmp_path):
    """A space moved away from the hand settings (prune.ratio 0.5 outside [0.6, 0.8], recover.epochs 1 not among
    the choices) failed trial 0 before it started, reported as a worker that died, and the hand point was lost."""
    import optuna

    from edgekit.recipe.read import load
    from edgekit.search import space
    from edgekit.search.study import enqueue_hand_trial, hand_values

    path = tmp_path / "recipe.yaml"
    path.write_text(RECIPE + "    prune.ratio: [0.6, 0.8]\n    recover.epochs: {choices: [2, 3]}\n")
    loaded = load(path)
    params = space.resolve(loaded)
    study = optuna.create_study(directions=["maximize"])
    enqueue_hand_trial(study, loaded, params)
    trial = study.ask()
    assert trial.user_attrs["hand"]
    assert hand_values(trial, loaded, params) == {"int8.per_channel": True, "prune.ratio": 0.5, "recover.epochs": 1}
    assert trial.params == {"int8.per_channel": True}  # only what the space holds is a suggestion
    assert not space.contains(params[1], 0.5) and space.contains(params[1], 0.6)


def test_trial_recipe_and_pasteable_settings(tmp_path):
    import yaml

    from edgekit.search import space

    loaded = loaded_with(tmp_path, "  screening: {evaluate.min_seconds: 0.5}\n")
    params = space.resolve(loaded)
    values = {
        "prune.ratio": 0.61,
        "recover.distill.weight": 0.25,
        "int8.per_channel": False,
        "prune.importance": "lamp",
    }
    trial = space.with_values(loaded, values, params, loaded.recipe.search.screening)
    by = {s.id: s for s in trial.recipe.stages}
    assert (by["prune"].ratio, by["prune"].importance, by["int8"].per_channel) == (0.61, "lamp", False)
    assert by["recover"].distill.weight == 0.25 and by["recover"].distill.teacher == "train"  # sibling keys kept
    assert by["evaluate"].min_seconds == 0.5 and trial.recipe.search is None and trial.file == loaded.file
    snippet = space.settings_snippet(loaded, values, params)
    assert snippet.splitlines()[0] == "  - {id: prune, ratio: 0.61, importance: lamp}"  # recipe order
    pasted = {d["id"]: d for d in yaml.safe_load("stages:\n" + snippet)["stages"]}
    assert pasted["prune"] == {"id": "prune", "ratio": 0.61, "importance": "lamp"}
    assert pasted["recover"] == {"id": "recover", "distill": {"weight": 0.25}}


def row(stage, acc, size, p50):
    return {"stage": stage, "accuracy": acc, "size_bytes": size, "latency_ms": {"p50": p50}}


def test_trial_artifact_is_the_one_the_shipping_rule_ships(tmp_path):
    from edgekit.search.trial import artifact_row, reference_row

    def measured(stage, acc, size, p50):
        return {**row(stage, acc, size, p50), "test_samples": 10_000, "test_set": "t"}

    rows = [
        measured("export", 0.90, 45_000_000, 3.0),
        measured("export-pruned", 0.899, 23_000_000, 1.5),
        measured("int8", 0.885, 5_800_000, 1.2),
    ]
    loaded = loaded_with(tmp_path)
    assert reference_row(loaded, rows)["stage"] == "export"
    shipped, why = artifact_row(loaded, rows)  # default rule: the smallest file within 0.5 pt of the fp32 export
    assert shipped["stage"] == "export-pruned" and "0.5 pt" in why  # int8 is smaller but 1.5 pt below
    shipped, _ = artifact_row(loaded_with(tmp_path, "ship: {stage: int8}\n"), rows)
    assert shipped["stage"] == "int8"


def test_constraints_from_budgets(tmp_path):
    from edgekit.search.study import constraints
    from edgekit.search.trial import Outcome

    loaded = loaded_with(tmp_path, "budgets: {max_size_mb: 5, max_accuracy_drop_pt: 0.5, min_accuracy_pct: 80}\n")
    out = Outcome(row("int8-pruned", 0.887, 5_800_000, 1.2), row("export", 0.895, 45_000_000, 3.0), tmp_path)
    c = constraints(loaded, out)
    # keyed and signed as the budgets and the gate name them (edgekit.decide.limits): > 0 is broken
    assert c["max_size_mb"] == pytest.approx(0.8) and c["min_accuracy_pct"] == pytest.approx(-8.7)
    assert c["max_accuracy_drop_pt"] == pytest.approx(0.3)  # 0.8 pt drop, 0.5 allowed: infeasible by 0.3


def test_frontier_and_dominance():
    from edgekit.decide.dominance import dominates
    from edgekit.search.results import frontier

    def trial(n, acc, size, p50, state="COMPLETE", feasible=True):
        return {"number": n, "state": state, "feasible": feasible, "row": row("a", acc, size, p50)}

    trials = [
        trial(0, 0.90, 5_800_000, 1.2),
        trial(1, 0.90, 4_000_000, 1.1),
        trial(2, 0.92, 9_000_000, 2.0),
        trial(3, 0.95, 1_000_000, 0.5, feasible=False),
        trial(4, 0.99, 1, 0.1, state="FAIL"),
        trial(5, 0.85, 2_000_000, 1.3),
    ]
    objectives = ["accuracy", "size", "p50"]
    assert frontier(trials, objectives) == [5, 1, 2]  # 0 is dominated by 1; 3 is outside the budget; 4 failed
    assert dominates(trials[1]["row"], trials[0]["row"], objectives)
    assert not dominates(trials[0]["row"], trials[0]["row"], objectives)
    assert frontier(trials, ["accuracy"]) == [2]


def test_bad_storage_url_exits_2_without_a_password(tmp_path, capsys):
    path = write(tmp_path, "prune.ratio: [0.3, 0.8]")
    assert (
        main(["search", str(path), "--run-dir", str(tmp_path / "run"), "--storage", "nosuchdb://me:secret@host/db"])
        == 2
    )
    err = capsys.readouterr().err
    assert "--storage host/db: not a usable SQLAlchemy URL" in err and "secret" not in err


def test_shared_stage_cache_keeps_a_live_workers_temporary_stage(tmp_path):
    """Workers share one stage cache: a run starting must not delete the stage another live process is writing."""
    import subprocess

    from edgekit.run.pipeline import Pipeline

    live = subprocess.Popen(["sleep", "30"])
    dead = subprocess.Popen(["true"])
    dead.wait()
    try:
        pipeline = Pipeline(loaded_with(tmp_path), tmp_path / "run")
        mine = pipeline.stages_dir / f".tmp-train-0123456789abcdef-{live.pid}"
        stale = pipeline.stages_dir / f".tmp-train-0123456789abcdef-{dead.pid}"
        mine.mkdir(parents=True)
        stale.mkdir()
        pipeline._clean_partial()
        assert mine.is_dir() and not stale.exists()
    finally:
        live.kill()
        live.wait()


def test_the_search_ships_by_the_rule_from_the_whole_frontier():
    from edgekit.search.results import shipped
    from edgekit.decide.ship import ShipRule

    def measured(stage, acc, size, p50):
        return {**row(stage, acc, size, p50), "test_samples": 10_000, "test_set": "t"}

    ref = measured("export", 0.905, 45_000_000, 3.0)
    trials = [
        {"number": 0, "row": measured("int8-pruned", 0.903, 5_800_000, 1.2), "reference": ref},
        {"number": 3, "row": measured("int8-pruned", 0.901, 4_100_000, 1.0), "reference": ref},
        {"number": 5, "row": measured("int8-pruned", 0.893, 2_900_000, 0.8), "reference": ref},
    ]
    result = {"trials": trials, "hand": 0, "frontier": [5, 3, 0]}
    assert shipped(result, ShipRule())["trial"] == 3  # 5 is smaller but 1.2 pt below the fp32 export
    assert shipped(result, ShipRule(max_accuracy_drop_pt=1.5))["trial"] == 5


def test_dominating_the_hand_trial_counts_only_differences_beyond_noise():
    from edgekit.search.results import beats_within_noise

    def measured(acc, size, p50, ci):
        return {**row("int8-pruned", acc, size, p50), "test_samples": 10_000, "latency_p50_ci95_ms": ci}

    hand = measured(0.903, 5_800_000, 1.20, [1.15, 1.25])
    assert beats_within_noise(measured(0.901, 4_100_000, 1.18, [1.10, 1.26]), hand)  # smaller; the rest ties
    assert not beats_within_noise(measured(0.903, 5_800_000, 1.10, [1.05, 1.16]), hand)  # faster only within CI
    assert not beats_within_noise(measured(0.880, 4_100_000, 1.00, [0.98, 1.02]), hand)  # 2.3 pt less accurate


def test_a_trial_whose_artifact_is_the_reference_file_ships_as_that_trial():
    # a recipe with nothing after its export: trial 0's artifact is its own fp32 reference, the same row; the
    # search ships trial 0 (it used to answer "no trial" whenever trial 0 alone was on the frontier)
    from edgekit.search.results import shipped
    from edgekit.decide.ship import ShipRule

    row = {
        "stage": "export",
        "kind": "export",
        "accuracy": 0.5,
        "size_bytes": 1000,
        "latency_ms": {"p50": 1.0},
        "test_samples": 100,
        "latency_round_p50_ms": [1.0, 1.0],
    }
    result = {"hand": 0, "frontier": [0], "trials": [{"number": 0, "row": row, "reference": row}]}
    assert shipped(result, ShipRule())["trial"] == 0
