"""The evaluate stage measures each distinct file once: two artifacts with the same bytes (a quantize stage that kept
its float input hands on that input's bytes) get the same measurements, so neither can come out faster than the
other and the ship rule calls them a tie, never a win."""

from __future__ import annotations

import json

import numpy as np

RECIPE = """\
edgekit: 1
name: same-bytes
seed: 0
data: {source: fashion-mnist, limit_train: 200, limit_test: 100}
model: {source: "onnx:user.onnx"}
stages:
  - {id: model, kind: import}
  - {id: again, kind: import}
  - {id: evaluate, kind: evaluate, min_seconds: 0.05, latency_runs: 20, rounds: 2}
"""


def _linear_onnx(path):
    """A linear classifier on 28x28 images, written with onnx's helpers (no torch): weights that score above chance."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(0).standard_normal((784, 10)).astype(np.float32) * 0.01
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["input"], ["flat"]),
            helper.make_node("Gemm", ["flat", "w", "b"], ["logits"]),
        ],
        "linear",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, 28, 28])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.zeros(10, np.float32), "b")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))


def test_same_bytes_are_measured_once(tmp_path, capsys):
    from edgekit.cli.main import main

    _linear_onnx(tmp_path / "user.onnx")
    (tmp_path / "recipe.yaml").write_text(RECIPE)
    main(["shrink", str(tmp_path / "recipe.yaml"), "--run-dir", str(tmp_path / "run")])
    out = capsys.readouterr()
    assert "evaluating 2 ONNX artifact(s) (1 distinct files)" in out.out + out.err
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    a, b = report["artifacts"]
    assert (a["id"], b["id"]) == ("model", "again")
    assert a["latency_round_p50_ms"] == b["latency_round_p50_ms"] and a["latency_ms"] == b["latency_ms"]
    assert a["accuracy"] == b["accuracy"]
