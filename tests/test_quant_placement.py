"""Latency-aware INT8 on mobile architectures (issue 27), with real components: torchvision models exported by
torch.onnx, ORT's quant_pre_process and static QDQ quantizer, ORT's profiler, the bench harness.

Nothing here asserts a speed: which placement wins depends on the machine; the tests check that the race ran,
recorded every candidate and its verdict, and that the files called INT8 run integer kernels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from rich.console import Console

from edgekit.quant import ort_static, placement
from edgekit.quant.measure import Measurement, MeasureSettings, Trial
from edgekit.quant.onnx_int8 import kernel_counts
from edgekit.quant.outcome import decide
from edgekit.quant.profile import profile
from edgekit.quant.tolerance import Tolerance

# name -> (side, stem_stride, groups it must have, groups it must not have)
ARCHS = {
    "mobilenet_v3_small": (32, 1, {"hardswish", "squeeze-excite", "depthwise", "residual-add"}, set()),
    "mnasnet0_5": (40, 2, {"depthwise", "residual-add"}, {"hardswish", "squeeze-excite"}),
    "efficientnet_b0": (32, 2, {"squeeze-excite", "depthwise", "residual-add"}, {"hardswish"}),
}


def _export(name: str, out: Path) -> Path:
    """The float ONNX file of an untrained (seeded) torchvision model with recomputed BatchNorm statistics, so
    activations have real ranges; 10 classes, RGB, the side the card uses."""
    from edgekit.torchkit.export import export_onnx
    from edgekit.torchkit.models import build_model

    side, stem, _, _ = ARCHS[name]
    torch.manual_seed(0)
    model = build_model({"source": f"torchvision:{name}", "stem_stride": stem}, 10, 3)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average
    model.train()
    with torch.no_grad():
        model(torch.rand(16, 3, side, side))
    path = out / f"{name}.onnx"
    export_onnx(model.eval(), torch.rand(1, 3, side, side), path, 18)
    return path


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """name -> (float file, preprocessed file): each architecture exported once for the module (dynamo export
    takes tens of seconds on a shared 2-core machine, hence every test here is marked slow)."""
    cache: dict[str, tuple[Path, Path]] = {}

    def get(name: str) -> tuple[Path, Path]:
        if name not in cache:
            tmp = tmp_path_factory.mktemp(name)
            src = _export(name, tmp)
            ort_static.preprocess(src, tmp / "prep.onnx")
            cache[name] = (src, tmp / "prep.onnx")
        return cache[name]

    return get


@pytest.mark.slow
@pytest.mark.parametrize("name", list(ARCHS))
def test_groups_find_the_float_islands_of_each_architecture(exported, name):
    import onnx

    model = onnx.load(str(exported(name)[1]))
    found = placement.groups(model)
    _, _, must, must_not = ARCHS[name]
    assert must <= set(found) and not (must_not & set(found)), found
    names = [n for group in found.values() for n in group]
    assert len(names) == len(set(names)), "a node belongs to one group at most"
    assert all(n.name for n in model.graph.node), "preprocess names every node (exclusion lists need names)"
    dw = sum(
        1 for n in model.graph.node if n.op_type == "Conv" and any(a.name == "group" and a.i > 1 for a in n.attribute)
    )
    assert len(found["depthwise"]) == dw
    cands = placement.candidates(found, 3)
    assert 1 <= len(cands) <= 3 and all(nodes for _, nodes in cands)


def _calibration(side: int):
    rng = np.random.default_rng(0)
    return [rng.random((8, 3, side, side), np.float32) for _ in range(3)]


@pytest.mark.slow
def test_race_records_every_placement_and_keeps_integer_kernels(tmp_path, exported):
    """Forced to race (pays=0): the accuracy pick, its per-tensor twin and two placements of mobilenet_v3_small, each
    with its measured ratio and verdict in the log; exactly one chosen, and it runs integer kernels."""
    from edgekit.quant.calibration import BatchReader
    from edgekit.quant.measure import measure_onnx
    from edgekit.quant.ort_flow import LadderSettings, run_trials
    from edgekit.quant.outcome import choose

    src = exported("mobilenet_v3_small")[0]
    cal = np.concatenate(_calibration(32))
    x = np.random.default_rng(1).random((64, 3, 32, 32), np.float32)
    import onnxruntime as ort

    sess = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    y = sess.run(None, {name: x})[0].argmax(1)  # the float model's own answers: float accuracy is 1.0
    measure = MeasureSettings(latency_runs=20, min_seconds=0.2)
    float_m = measure_onnx(src, x, y, measure)
    work = tmp_path / "work"
    work.mkdir()
    trials = run_trials(
        src,
        work,
        ort_static.Attempt(),
        x,
        y,
        float_m,
        Tolerance.parse(100),
        lambda: BatchReader(cal, name, lambda b: b, 8),
        measure,
        LadderSettings(max_trials=2, speed_rungs=3, pays=0.0),
        Console(quiet=True),
    )
    assert len(trials) == 4 and trials[0].config["placement"] == "" and trials[0].config["per_channel"]
    assert not trials[1].config["per_channel"] and trials[1].config["placement"] == "", "per-tensor races first"
    assert [t.config["placement"] for t in trials[2:]] == [
        c for c, _ in placement.candidates(placement.groups(__import__("onnx").load(str(work / "prep.onnx"))), 2)
    ]
    verdicts = [t.speed["verdict"] for t in trials]
    assert verdicts.count("chosen") == 1 and all(v == "chosen" or v.startswith("lost: ") for v in verdicts)
    assert all("ratio" in t.speed for t in trials[1:] if t.met and t.integer)
    chosen = choose(trials)
    assert chosen.speed["verdict"] == "chosen" and chosen.kernels["int8"] > 0
    assert all(t.as_dict()["speed"] == t.speed and t.as_dict()["kernels"] == t.kernels for t in trials)


@pytest.mark.slow
def test_profile_counts_qdq_and_shares(tmp_path, exported):
    """The per-node-type profile of a float file and its INT8 file: counts from the optimised graph, shares of
    the profiled kernel time that add up to 1."""
    src, prep = exported("mobilenet_v3_small")
    q = tmp_path / "q.onnx"
    ort_static.quantize(prep, q, ort_static.Attempt(), reader=_reader(prep))
    pf, pq = profile(src, 5), profile(q, 5)
    assert pf["qdq"] == 0 and pf["float_islands"] == 0 and "Conv" in pf["ops"]
    assert pq["qdq"] > 0 and pq["ops"]["QLinearConv"]["count"] == kernel_counts(q)["ops"]["QLinearConv"]
    for p in (pf, pq):
        assert abs(sum(v["share"] for v in p["ops"].values()) - 1) < 0.01


def _reader(prep: Path):
    import onnx

    from edgekit.quant.calibration import BatchReader

    name = onnx.load(str(prep)).graph.input[0].name
    return BatchReader(np.concatenate(_calibration(32)), name, lambda b: b, 8)


def test_a_file_without_integer_kernels_is_never_kept_as_int8():
    m = Measurement(0.9, 1000, 1.0, 50, 1)
    fake = Trial(
        1, "static", {}, Measurement(0.9, 300, 0.5, 50, 1), 0.0, True, 1.0, None, {"int8": 0, "float": 12, "ops": {}}
    )
    d = decide("q", m, fake, Tolerance.parse(0.5), "fail", prefer_faster=False)
    assert d.keep == "float" and "no integer kernels" in d.notes[0]
    real = Trial(1, "static", {}, fake.measurement, 0.0, True, 1.0, None, {"int8": 5, "float": 0, "ops": {}})
    assert decide("q", m, real, Tolerance.parse(0.5), "fail", prefer_faster=False).keep == "int8"


def test_digits_folder_is_an_imagefolder(tmp_path):
    from mobile_data import digits_folder
    from PIL import Image

    root = digits_folder(tmp_path / "digits")
    files = sorted(root.glob("*/*.png"))
    assert len(files) == 1797 and sorted(p.name for p in root.iterdir()) == [str(k) for k in range(10)]
    with Image.open(files[0]) as im:
        assert im.size == (32, 32) and im.mode == "RGB"
    assert digits_folder(root) == root and len(list(root.glob("*/*.png"))) == 1797  # reused, not rewritten
