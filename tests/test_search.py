"""`edgekit search`: the search space is checked against the stage models (exit 2, file:line: key), and the
study storage, retries and result (fast tests here; the end-to-end runs are in test_search_runs.py)."""

from __future__ import annotations

import textwrap

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
