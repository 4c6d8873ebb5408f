"""`edgekit curve` on a detection recipe (issue 32): sizes count training images (seeded, nested), points are scored
by mAP@0.5:0.95 with the metric's bootstrap interval, and that interval, not a binomial one, is the test-set noise of
the CI and the crossover; a prompted arm is left out (named: an InputError, one line); a tiny curve runs end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgekit.cli.main import main
from edgekit.curve.arms import Arm
from edgekit.curve.detect_point import image_subset
from edgekit.curve.sizes import ALL, IMAGES

from test_detect_search import TINY_DETECTOR

RECIPE = TINY_DETECTOR + "  - {id: evaluate, kind: evaluate}\n"


def test_image_subsets_are_seeded_nested_and_sorted():
    small, large = image_subset(500, 30, seed=1), image_subset(500, 100, seed=1)
    assert len(small) == 30 and len(large) == 100 and set(small) <= set(large)
    assert np.all(np.diff(large) > 0)
    assert np.array_equal(image_subset(500, 30, seed=1), small) and not np.array_equal(image_subset(500, 30, 2), small)
    assert np.array_equal(image_subset(40, ALL, seed=3), np.arange(40))


def _points():
    """A detector's points (mAP, narrow bootstrap intervals) and a constructed flat arm, as curve.run leaves them."""
    pts = [
        {"arm": "vlm", "size": None, "accuracy": 0.20, "accuracy_ci95": [0.18, 0.22], "size_bytes": None,
         "examples": None, "metric": "mAP@0.5:0.95"}
    ]  # fmt: skip
    for size, maps in ((20, [0.10, 0.12]), (60, [0.24, 0.26]), (ALL, [0.40])):
        pts += [
            {"arm": "train", "size": size, "seed": i, "accuracy": m, "accuracy_ci95": [m - 0.02, m + 0.02],
             "metric": "mAP@0.5:0.95", "train_s": 1.0, "size_bytes": 0.4e6, "examples": 96 if size == ALL else size}
            for i, m in enumerate(maps)
        ]  # fmt: skip
    return pts


def test_the_test_noise_of_map_is_its_bootstrap_interval_not_binomial():
    from edgekit.curve.crossover import Z95
    from edgekit.curve.report import build, markdown

    arms = [Arm("train", "train", None), Arm("vlm", "zero-shot", None)]
    doc = build(_points(), arms, [20, 60, ALL], n_test=32, classes=10, timing={"total_s": 1.0}, unit=IMAGES)
    assert doc["metric"] == "mAP@0.5:0.95" and doc["size_unit"] == "labelled training images"
    assert "bootstrap" in doc["test_noise"]
    one_seed = next(r for r in doc["table"] if r["arm"] == "train" and r["size"] == ALL)
    # ALL: one seed, so the seed spread is borrowed from 60 images (sd 0.0141); the test part is (0.04 / 3.92)^2
    seed_var, test_var = 0.0141421**2, (0.04 / (2 * Z95)) ** 2
    assert one_seed["ci95"] == pytest.approx(Z95 * (seed_var + test_var) ** 0.5, abs=1e-4)
    # a binomial test term on 32 images would be 0.4 * 0.6 / 32: an interval 4x as wide
    assert one_seed["ci95"] < Z95 * (0.4 * 0.6 / 32) ** 0.5 / 2
    assert one_seed["examples_per_class"] == 96  # 'all' in images
    pair = next(c for c in doc["crossovers"] if c["b"] == "vlm")
    assert pair["n_star"] == 60 and pair["b_wins_up_to"] == 20
    assert doc["sentence"] == (
        "with ≥ 60 labelled training images, train (0.4 MB) beats vlm (zero-shot); up to 20 images vlm wins."
    )
    assert "| 60 img | train | train | 25.0 ±" in markdown(doc)


def test_a_detection_curve_leaves_prompted_arms_out_and_refuses_a_named_one():
    """A prompted detector's mAP is the prompted stage's row (shrink scores it); the curve trains detectors only."""
    from edgekit.curve.arms import for_detection
    from edgekit.errors import InputError

    arms = [Arm("train", "train", None), Arm("vlm", "zero-shot", None)]
    assert for_detection(arms, named=False) == ([arms[0]], ["vlm"])
    with pytest.raises(InputError, match="--arms: vlm is a prompted arm of a detection recipe"):
        for_detection(arms, named=True)
    with pytest.raises(InputError, match="no arm for a detection curve"):
        for_detection(arms[1:], named=False)


@pytest.mark.slow
def test_a_tiny_detection_curve_end_to_end(tmp_path, capsys, torch_one_thread):
    """Two sizes of a width-0.5 detector on 64 px canvases (24 images, 2 seeds; all 96): mAP grows with the images,
    every point carries its bootstrap interval, the chart and table say images and mAP; one more size computes only
    that size."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE)
    args = ["curve", str(recipe), "--run-dir", str(tmp_path / "run"), "--seeds", "2", "--seeds-up-to", "24"]
    assert main([*args, "--sizes", "24,all", "--min-steps", "1", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["metric"] == "mAP@0.5:0.95" and doc["size_unit"] == "labelled training images"
    assert len(doc["points"]) == 3 and doc["test_samples"] == 32
    for p in doc["points"]:
        lo, hi = p["accuracy_ci95"]
        assert lo <= p["accuracy"] <= hi and p["metrics"]["mAP@0.5"] >= p["accuracy"]
    small = next(r for r in doc["table"] if r["size"] == 24)
    whole = next(r for r in doc["table"] if r["size"] == ALL)
    assert small["seeds"] == 2 and whole["examples_per_class"] == 96
    assert whole["accuracy"] > 0.05 and whole["accuracy"] > small["accuracy"]  # above chance (0), more images help
    assert whole["p50_ms"] > 0
    md = (tmp_path / "run" / "curve" / "curve.md").read_text()
    assert "| 24 img | train | train |" in md and "mAP@0.5:0.95 ± 95 % CI" in md
    assert (tmp_path / "run" / "curve" / "curve.png").read_bytes()[:4] == b"\x89PNG"

    assert main([*args, "--sizes", "24,48,all", "--min-steps", "1", "--json"]) == 0
    fresh = [p for p in json.loads(capsys.readouterr().out)["points"] if not p["cached"]]
    assert {p["size"] for p in fresh} == {48}


def test_one_loader_for_both_tasks(tmp_path):
    """edgekit.data.load.load_data (what curve reads data with) gives a detection recipe's boxes and a classification
    recipe's labels, each from its own loader; a bad detection source is the loader's one-line error."""
    from edgekit.data.errors import DataSourceError
    from edgekit.data.load import load_data
    from edgekit.recipe.model import DataConfig

    det = load_data(DataConfig(source="fashion-detect", limit_train=40, limit_test=10, image_size=32), 0, tmp_path)
    assert det.kind == "detection" and len(det.test) == 10 and det.train.objects >= len(det.train)
    cls = load_data(DataConfig(source="fashion-mnist", limit_train=100, limit_test=10), 0, tmp_path)
    assert cls.kind == "image" and len(cls.test) == 10 and hasattr(cls.train, "y")
    with pytest.raises(DataSourceError, match="fashion-detect takes no argument"):
        load_data(DataConfig(source="fashion-detect:x"), 0, tmp_path)
