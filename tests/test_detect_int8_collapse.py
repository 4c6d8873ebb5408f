"""Issue 32's done-means line: an INT8 that collapses a detector's head is caught by the ladder. The constructed
case is benchmarks/detect_int8_collapse.py (a trained centernet-small exported YOLO-style, boxes in pixels and class
probabilities concatenated into one tensor); here it is built smaller and held to the same verdict."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest


@pytest.mark.slow  # trains a small detector (~1 CPU-min), exports it, quantizes and scores ~6 candidates
def test_the_ladder_keeps_the_concat_float_and_the_convs_integer(tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    try:
        from detect_int8_collapse import constructed_case, verdict
    finally:
        sys.path.pop(0)
    case = constructed_case(tmp_path, n_train=500, n_val=120, epochs=4)
    rows, misses, sense = verdict(case)
    # a detector that learned something (measured 5.46 % at this size; chance is 0), so its collapse means something
    assert case["fp32"].accuracy > 0.03, rows
    first, pick = case["trials"][0], case["pick"]
    assert first.measurement.accuracy < 0.5 * case["fp32"].accuracy, rows  # the plain first rung collapses
    assert sense and sense[0].startswith("int8-collapse"), sense  # and edgekit's sense check says so
    assert misses == [], (misses, rows)
    kept = pick.config["exclude"]
    assert any(name.startswith("node_cat") or "concat" in name.lower() for name in kept), kept  # the head's concat
    assert pick.kernels["int8"] > 0 and pick.kernels["float"] == 0, pick.kernels
