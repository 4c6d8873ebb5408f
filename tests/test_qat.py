"""Quantization-aware training (the qat stage): the simulation matches what ORT will run, the learned ranges reach
the right ONNX tensors, the recipe wiring refuses a wrong `after:`, and (slow) on a constructed network whose
post-training INT8 collapses, QAT brings the integer-kernel INT8 file back within 1 pt of fp32."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from edgekit.cli.main import main
from edgekit.quant import qat_ranges
from edgekit.torchkit import qat


def _onnx_chain(path: Path) -> None:
    """input -> Conv -> Relu -> MaxPool -> Flatten -> Gemm: two weighted nodes, the second behind three
    ops that share their input's quantization parameters."""
    w1 = numpy_helper.from_array(np.ones((4, 1, 3, 3), np.float32), "w1")
    w2 = numpy_helper.from_array(np.ones((4 * 4 * 4, 3), np.float32), "w2")
    nodes = [
        helper.make_node("Conv", ["input", "w1"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "w2"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "chain",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 3])],
        [w1, w2],
    )
    onnx.save(helper.make_model(graph), str(path))


def test_bind_forces_each_range_back_through_the_ops_that_share_it(tmp_path):
    _onnx_chain(tmp_path / "m.onnx")
    got = qat_ranges.bind([("conv", -1.0, 2.0), ("fc", 0.0, 3.5)], tmp_path / "m.onnx")
    assert got == {"input": (-1.0, 2.0), "f": (0.0, 3.5), "p": (0.0, 3.5), "r": (0.0, 3.5), "c": (0.0, 3.5)}
    with pytest.raises(ValueError, match="2 weighted Conv/Gemm/MatMul nodes, but QAT quantized 1"):
        qat_ranges.bind([("conv", -1.0, 2.0)], tmp_path / "m.onnx")


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3)
    )


def test_weights_are_fake_quantized_as_ort_quantizes_them():
    """s8 symmetric, [-127, 127], scale max|w| / 127 per output channel: at most 255 levels per channel, and the
    largest weight of each channel kept exactly."""
    w = torch.randn(5, 3, 3, 3) * torch.tensor([1e-3, 1.0, 10.0, 3.0, 0.1]).view(5, 1, 1, 1)
    q = qat.WeightQuant(per_channel=True)(w)
    for c in range(5):
        scale = w[c].abs().max() / 127
        levels = (q[c] / scale).round()
        assert torch.allclose(q[c], levels * scale, atol=1e-6 * float(scale))
        assert levels.abs().max() == 127 and len(levels.unique()) <= 255
    assert (qat.WeightQuant(per_channel=False)(w)[0] == 0).all()  # per tensor: the 1e-3 channel rounds to 0


def test_prepare_observe_finish_leave_clamped_float_model_and_ranges_in_forward_order():
    model = _net().eval()
    x = torch.randn(16, 1, 6, 6)
    ref = model(x).detach()
    sim = qat.prepare(model, per_channel=True)
    qat.observe(sim, [x[:8], x[8:]])
    assert [n for n, _ in sim.acts] == ["0", "4"]
    (lo0, hi0), (lo1, hi1) = sim.acts[0][1].range(), sim.acts[1][1].range()
    assert lo0 < 0 < hi0 <= x.max() + 1e-6 and lo1 == 0 < hi1  # the linear reads ReLU output: the range starts at 0
    losses = qat.fine_tune(sim, [(x, torch.arange(16) % 3)] * 3, lr=1e-3, range_lr=1e-2)
    assert len(losses) == 3 and all(np.isfinite(losses))
    assert not model[1].training  # BatchNorm statistics stay as ORT will fold them
    learned = qat.finish(sim)
    assert [n for n, _, _ in learned] == ["0", "4"]
    assert not any(torch.nn.utils.parametrize.is_parametrized(m) for m in model.modules())
    assert not any(isinstance(m, qat.ActQuant) for m in model.modules())
    out = model(x * 1000)  # inputs far outside the learned range are clamped, as the trained function was
    assert torch.isfinite(out).all() and out.abs().max() < 1000 * ref.abs().max()


QAT_RECIPE = """\
edgekit: 1
name: tiny
data: {{source: fashion-mnist, limit_train: 400, limit_test: 200}}
model: {{source: "edgekit:resnet-small", width: 0.25}}
stages:
  - {{id: train, kind: train, epochs: 1}}
  - {{id: export, kind: export}}
  - {{id: int8, kind: quantize, on_miss: keep-best}}
  - {{id: qat, kind: qat, {qat}}}
  - {{id: evaluate, kind: evaluate}}
search:
  space:
    qat.epochs: [0.5, 2.0]
    qat.per_channel: [true, false]
"""


def test_after_must_name_an_earlier_quantize_stage(tmp_path, capsys):
    path = tmp_path / "recipe.yaml"
    path.write_text(QAT_RECIPE.format(qat="after: int8"))
    assert main(["validate", str(path)]) == 0  # a search space over the qat stage's keys validates too
    capsys.readouterr()
    for bad in ("after: export", "after: evaluate"):
        path.write_text(QAT_RECIPE.format(qat=bad))
        assert main(["validate", str(path)]) == 2
        err = " ".join(capsys.readouterr().err.split())
        assert f"{path}:9: stages[3].after: after: '{bad.split()[1]}' is not an earlier quantize stage" in err


def test_after_must_quantize_the_export_of_the_model_qat_trains(tmp_path, capsys):
    path = tmp_path / "recipe.yaml"
    text = QAT_RECIPE.format(qat="after: int8").replace(
        "  - {id: export,", "  - {id: other, kind: train, epochs: 1}\n  - {id: export, input: train,"
    )
    path.write_text(text)  # qat reads the nearest torch model, 'other'; int8 quantizes the export of 'train'
    assert main(["validate", str(path)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "after: 'int8' quantizes the export of 'train', but this stage reads 'other' (set input: train)" in err
    path.write_text(text.replace("after: int8", "after: int8, input: train"))
    assert main(["validate", str(path)]) == 0


def test_after_a_quantize_stage_that_fails_on_a_miss_is_refused(tmp_path, capsys):
    path = tmp_path / "recipe.yaml"
    path.write_text(QAT_RECIPE.format(qat="after: int8").replace("on_miss: keep-best", "on_miss: fail"))
    assert main(["validate", str(path)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"{path}:9: stages[3].after:" in err and "set on_miss: keep-best on 'int8'" in err


def test_qat_stage_reads_the_torch_model_then_the_quantize_stage(tmp_path):
    from edgekit.recipe.graph import wire
    from edgekit.recipe.read import load
    from edgekit.stages import stage_kinds

    path = tmp_path / "recipe.yaml"
    path.write_text(QAT_RECIPE.format(qat="after: int8"))
    assert wire(load(path), stage_kinds())["qat"] == ["train", "int8"]


@pytest.mark.slow  # trains a small CNN twice and quantizes it five times: ~30 s of CPU
def test_qat_recovers_a_constructed_ptq_collapse_with_integer_kernels_only():
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    try:
        from qat import constructed_case
    finally:
        sys.path.pop(0)
    rows = constructed_case(n_train=2000, n_test=500, steps=300, qat_steps=200)
    fp32 = max(rows["fp32"]["accuracy"], rows["fp32 fine-tuned"]["accuracy"])
    assert fp32 > 0.7
    ptq = [r for n, r in rows.items() if n.startswith("PTQ")]
    assert len(ptq) == 4 and all(r["accuracy"] < fp32 - 0.3 for r in ptq)  # every first rung collapses
    q = next(r for n, r in rows.items() if n.startswith("QAT"))
    assert q["accuracy"] >= fp32 - 0.01, rows
    assert q["int8"] == 3 and q["float"] == 0, q  # two QLinearConv and a QGemm: nothing left in float


@pytest.mark.slow  # a tiny recipe end to end: train, export, quantize, two qat stages, evaluate (~1-2 min)
def test_qat_stage_passes_ptq_on_when_it_met_and_trains_when_asked(recipe):
    import json

    path = recipe(
        more_stages="  - {id: int8, kind: quantize, on_miss: keep-best, min_seconds: 0.2, latency_runs: 30}\n"
        "  - {id: int8-qat, kind: qat, after: int8, min_seconds: 0.2, latency_runs: 30}\n"
        "  - {id: qat, kind: qat, input: train, epochs: 0.5, on_miss: keep-best, min_seconds: 0.2, latency_runs: 30}\n"
    )
    run_dir = path.parent / "run"
    assert main(["shrink", str(path), "--run-dir", str(run_dir)]) == 0
    stages = {d.name.rsplit("-", 1)[0]: d for d in (run_dir / "stages").iterdir()}
    int8 = json.loads((stages["int8"] / "manifest.json").read_text())["metrics"]
    passed = json.loads((stages["int8-qat"] / "manifest.json").read_text())["metrics"]
    assert int8["met_tolerance"] and "QAT not run" in passed["skipped"]  # PTQ paid: the rung never trained
    assert (stages["int8-qat"] / "model.onnx").read_bytes() == (stages["int8"] / "model.onnx").read_bytes()
    report = json.loads((run_dir / "report.json").read_text())
    assert {s["id"]: s["unchanged"] for s in report["stages"]}["int8-qat"] is None  # passed on by design
    trials = json.loads((stages["qat"] / "trials.json").read_text())["trials"]
    assert len(trials) == 1 and trials[0]["label"].startswith("qat static")
    assert trials[0]["kernels"]["int8"] > 0  # the QAT file's Q/DQ became integer kernels in ORT's graph
    keys = sorted(d.name for d in (run_dir / "stages").iterdir())
    assert main(["shrink", str(path), "--run-dir", str(run_dir)]) == 0  # every stage cached by its key
    assert sorted(d.name for d in (run_dir / "stages").iterdir()) == keys
