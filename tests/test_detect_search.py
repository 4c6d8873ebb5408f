"""`edgekit search` on a detection recipe (issue 32): the quality objective is the task's metric, named mAP (a
classifier's name refused in one line, exit 2, and the other way round), keys a detector's train stage refuses
are no search dimension, and a tiny detection search runs end to end with mAP in its result, table and chart."""

from __future__ import annotations

import json

import pytest

from edgekit.cli.main import main

# a width-0.5 detector on 96 canvases of 64 px, 20 epochs: ~16 % mAP@0.5:0.95 on 32 test canvases, in seconds of CPU
# (test_detect_curve reads it too)
TINY_DETECTOR = """\
edgekit: 1
name: det
seed: 0
threads: 1
data: {source: fashion-detect, limit_train: 96, limit_test: 32, image_size: 64}
model: {source: "edgekit:centernet-small", width: 0.5}
stages:
  - {id: train, kind: train, epochs: 20, lr: 5.0e-3, batch_size: 16}
  - {id: export, kind: export}
"""
DETECT = (
    TINY_DETECTOR
    + """\
  - {id: prune, kind: prune, input: train, ratio: 0.5, measure_speed: false, round_to: 8}
  - {id: recover, kind: train, epochs: 10, lr: 5.0e-3, batch_size: 16}
  - {id: export-pruned, kind: export}
  - {id: evaluate, kind: evaluate, min_seconds: 0.1, latency_runs: 20}
ship: {objective: size, max_metric_drop_pt: 100, reference: export}
search:
  space:
    prune.ratio: {choices: [0.3, 0.4]}
"""
)
CLASSIFY = """\
edgekit: 1
name: cls
data: {source: fashion-mnist, limit_train: 400, limit_test: 200}
model: {source: "edgekit:resnet-small", width: 0.25}
stages:
  - {id: train, kind: train, epochs: 1}
  - {id: export, kind: export}
  - {id: evaluate, kind: evaluate}
search:
  space:
    train.lr: [1.0e-3, 3.0e-3]
"""


def _write(tmp_path, text: str):
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    return path


REFUSED = [
    (DETECT, "  objectives: [accuracy, size]\n", 18, "search.objectives[0]", "a detection recipe is scored by mAP"),
    (CLASSIFY, "  objectives: [mAP, p50]\n", 12, "search.objectives[0]", "a classification recipe is scored by"),
    (DETECT, "    recover.distill.weight: [0, 1]\n", 18, "search.space.recover.distill.weight", "is for classifiers"),
    (DETECT, "    train.head.epochs: [1, 3]\n", 18, "search.space.train.head.epochs", "'head' is for classifiers"),
]


@pytest.mark.parametrize("recipe,extra,line,key,message", REFUSED, ids=["accuracy", "mAP", "distill", "head"])
@pytest.mark.parametrize("command", ["search", "validate"])
def test_a_search_that_makes_no_sense_for_the_task_exits_2_in_one_line(
    tmp_path, capsys, recipe, extra, line, key, message, command
):
    path = _write(tmp_path, recipe + extra)
    args = [command, str(path)] + (["--run-dir", str(tmp_path / "run")] if command == "search" else [])
    assert main(args) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert err.count("error:") == 1 and "Traceback" not in err, err
    assert f"{path}:{line}: {key}: " in err and message in err, err
    assert not (tmp_path / "run").exists()  # nothing half-written


def test_a_detection_search_optimises_map_by_default_and_reads_it_from_the_primary_metric(tmp_path):
    from edgekit.recipe.read import load
    from edgekit.search.results import frontier
    from edgekit.search.space import objectives
    from edgekit.search.study import objective_values

    det = objectives(load(_write(tmp_path, DETECT)))
    assert det == ["mAP", "size", "p50"]
    assert objectives(load(_write(tmp_path, CLASSIFY))) == ["accuracy", "size", "p50"]

    def row(m, size, p50):  # a detection evaluate row: accuracy holds mAP@0.5:0.95, with its bootstrap interval
        return {
            "stage": "export",
            "metric": "mAP@0.5:0.95",
            "accuracy": m,
            "accuracy_ci95": [m - 0.01, m + 0.01],
            "size_bytes": size,
            "latency_ms": {"p50": p50},
        }

    assert objective_values(det, row(0.5, 2_000_000, 1.5)) == [50.0, 2.0, 1.5]
    trials = [
        {"number": n, "state": "COMPLETE", "feasible": True, "row": r}
        for n, r in enumerate([row(0.50, 1_600_000, 1.6), row(0.51, 500_000, 0.6), row(0.30, 400_000, 0.5)])
    ]
    # #0 is beaten on size and p50 at a tie in mAP; #2 is smaller but 21 points lower: both #1 and #2 stay
    assert frontier(trials, det) == [2, 1]


@pytest.mark.slow
def test_a_tiny_detection_search_runs_end_to_end_in_map(tmp_path, capsys, torch_one_thread):
    """Two trials (the hand ratio 0.5, then 0.3 or 0.4) of a detector trained 20 epochs on 96 canvases: every
    trial's row is scored by mAP through ONNX Runtime above chance, the result names mAP as its objective, the table
    heads its column with the metric and the chart is drawn."""
    path = _write(tmp_path, DETECT + "  trials: 2\n")
    assert main(["search", str(path), "--run-dir", str(tmp_path / "run"), "--json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["objectives"] == ["mAP", "size", "p50"]
    done = [t for t in result["trials"] if t["state"] == "COMPLETE"]
    assert len(done) == 2, [t["error"] for t in result["trials"]]
    ratios = {t["settings"]["prune.ratio"] for t in done}
    assert len(ratios) == 2 and 0.5 in ratios  # the hand ratio is outside the space: the second trial differs
    for t in done:
        assert t["row"]["metric"] == "mAP@0.5:0.95" and t["row"]["test_samples"] == 32
        assert 0.02 < t["row"]["accuracy"] < 1 and t["reference"]["accuracy"] > 0.02  # above chance (0)
        lo, hi = t["row"]["accuracy_ci95"]
        assert lo <= t["row"]["accuracy"] <= hi
    assert "best mAP@0.5:0.95 #" in captured.err
    assert (tmp_path / "run" / "search" / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["search", str(path), "--run-dir", str(tmp_path / "run")]) == 0  # resumed: nothing left to run
    table = capsys.readouterr().out
    assert "mAP@0.5:0.95" in table and "frontier over mAP, size, p50" in " ".join(table.split())
