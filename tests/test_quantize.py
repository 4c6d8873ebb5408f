"""INT8 quantization with real components: ONNX Runtime static/dynamic quantization, INC 3.x, the fallback ladder.

Models are tiny (the built-in resnet-small at width 0.5, a 2-layer BERT) and data is a Fashion-MNIST subset,
so the whole file runs in about two minutes on two cores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from edgekit.errors import InputError, RecipeError, StageFailed
from edgekit.quant.calibration import BatchReader, stratified_indices
from edgekit.quant.measure import Measurement, Trial
from edgekit.quant.outcome import choose, decide
from edgekit.quant.tolerance import Tolerance
from edgekit.recipe.read import parse
from edgekit.run.stage import Artifact, StageContext

torch = pytest.importorskip("torch")

RECIPE = """\
edgekit: 1
name: qtest
seed: 0
data: {{source: fashion-mnist, limit_train: 1000, limit_test: 200}}
model: {{source: "edgekit:resnet-small", width: 0.5}}
stages:
  - {{id: train, kind: train, epochs: 1}}
  - {{id: export, kind: export}}
  - {stage}
"""
FAST = "val_samples: 300, latency_runs: 5, min_seconds: 0, calibration: {samples: 64, batch_size: 32}"


# ---------------------------------------------------------------- pure parts: no model needed


@pytest.mark.parametrize(
    "spec, float_acc, quant_acc, met",
    [
        (0.5, 0.90, 0.896, True),
        (0.5, 0.90, 0.894, False),
        ("1%", 0.90, 0.892, True),
        ("1%", 0.90, 0.890, False),
        (0, 0.9, 0.9, True),
        (0, 0.9, 0.8999, False),
    ],
)
def test_tolerance_points_and_relative(spec, float_acc, quant_acc, met):
    assert Tolerance.parse(spec).met(float_acc, quant_acc) is met


@pytest.mark.parametrize("bad", ["abc", "-1", "150%"])
def test_tolerance_rejects_nonsense(bad):
    with pytest.raises(ValueError):
        Tolerance.parse(bad)


def test_recipe_rejects_a_bad_tolerance_with_its_line(tmp_path):
    with pytest.raises(RecipeError, match=r"recipe.yaml:9: stages\[2\].max_accuracy_drop: must be accuracy points"):
        parse(RECIPE.format(stage="{id: q, kind: quantize, max_accuracy_drop: lots}"), tmp_path / "recipe.yaml")
    with pytest.raises(RecipeError, match=r"stages\[2\].on_miss"):
        parse(RECIPE.format(stage="{id: q, kind: inc-quantize, on_miss: ignore}"), tmp_path / "recipe.yaml")


def test_calibration_is_stratified_seeded_and_bounded():
    y = np.repeat(np.arange(4), [400, 300, 200, 100])
    idx = stratified_indices(y, 100, seed=3)
    assert len(idx) == 100 and len(set(idx.tolist())) == 100
    assert np.bincount(y[idx]).tolist() == [40, 30, 20, 10]
    assert np.array_equal(idx, stratified_indices(y, 100, seed=3))
    assert not np.array_equal(idx, stratified_indices(y, 100, seed=4))
    assert len(stratified_indices(y, 10_000, seed=0)) == len(y)
    raw = np.zeros((70, 1, 4, 4), np.uint8)
    reader = BatchReader(raw, "input", lambda b: b.astype(np.float32), batch_size=32)
    sizes = [len(b["input"]) for b in reader]
    assert sizes == [32, 32, 6] and len(reader) == 3
    reader.set_range(1, 2)
    assert [len(b["input"]) for b in iter(reader.get_next, None)] == [32]
    with pytest.raises(InputError, match="no samples"):
        BatchReader(raw[:0], "input", lambda b: b)


def _m(acc, ms):
    return Measurement(acc, 1000, ms, 10, 1)


def test_decide_prefers_faster_float_and_says_so():
    trial = Trial(1, "static", {}, _m(0.90, 2.0), 0.0, True, 1.0)
    d = decide("q", _m(0.90, 1.0), trial, Tolerance.parse(0.5), "fail", prefer_faster=True)
    assert d.keep == "float" and "slower than float" in d.notes[0]
    d = decide("q", _m(0.90, 1.0), trial, Tolerance.parse(0.5), "fail", prefer_faster=False)
    assert d.keep == "int8" and "keeping INT8 anyway" in d.notes[0]


def test_decide_on_miss_fails_or_keeps_best():
    trials = [Trial(1, "a", {}, _m(0.80, 0.5), 10.0, False, 1.0), Trial(2, "b", {}, _m(0.85, 0.5), 5.0, False, 1.0)]
    with pytest.raises(StageFailed, match="best: trial 2") as e:
        decide("q", _m(0.90, 1.0), choose(trials), Tolerance.parse(0.5), "fail", True, tried=len(trials))
    assert e.value.exit_code == 1 and "in 2 trial(s)" in str(e.value)
    d = decide("q", _m(0.90, 1.0), choose(trials), Tolerance.parse(0.5), "keep-best", True, tried=len(trials))
    assert d.keep == "int8" and d.trial.index == 2 and not d.met


# ---------------------------------------------------------------- real models through the stages


@pytest.fixture(scope="module")
def data():
    loaded = parse(RECIPE.format(stage="{id: evaluate, kind: evaluate}"), Path("qtest.yaml"))
    from edgekit.data import load_dataset

    return load_dataset(loaded.recipe.data, 0, Path("."))


def _save(tmp: Path, model, ds) -> tuple[Artifact, Artifact]:
    """A torch artifact (model.safetensors + model.json) and its ONNX export (model.onnx + preprocess.json)."""
    from edgekit.runtime.preprocess import prepare
    from edgekit.torchkit.export import export_onnx
    from edgekit.torchkit.models import save_model

    tdir, odir = tmp / "torch", tmp / "onnx"
    tdir.mkdir(parents=True)
    odir.mkdir()
    spec = {"source": "edgekit:resnet-small", "width": 0.5, "num_classes": 10, "in_channels": 1}
    save_model(model, tdir, spec, {"preprocess": ds.preprocess()})
    export_onnx(model, torch.from_numpy(prepare(ds.preprocess(), ds.val.x[:2])), odir / "model.onnx", 18)
    (odir / "preprocess.json").write_text(json.dumps(ds.preprocess()))
    return (
        Artifact("train", "train", "t", tdir, {"artifact": "model.safetensors", "produces": "torch"}),
        Artifact("export", "export", "e", odir, {"artifact": "model.onnx", "produces": "onnx"}),
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data):
    from edgekit.torchkit.models import build_model
    from edgekit.torchkit.training import TrainSettings, fit

    torch.set_num_threads(1)  # two threads on a shared two-core machine run ~10x slower than one
    torch.manual_seed(0)
    model = build_model({"source": "edgekit:resnet-small", "width": 0.5}, 10, 1)
    fit(
        model,
        data.train,
        data.val,
        data.mean,
        data.std,
        TrainSettings(2, 3e-3, 32, augment=False),
        console=Console(quiet=True),
    )
    return _save(tmp_path_factory.mktemp("trained"), model.eval(), data)


def _ctx(tmp_path, data, inputs, stage: str) -> tuple[StageContext, object]:
    loaded = parse(RECIPE.format(stage=stage), tmp_path / "recipe.yaml")
    cfg = loaded.recipe.stages[-1]
    out = tmp_path / "out"
    out.mkdir(parents=True)
    return StageContext(loaded, cfg, out, inputs, 1, Console(quiet=True), lambda: data), cfg


def _run(ctx, cfg):
    from edgekit.stages import stage_kinds

    return stage_kinds()[cfg.kind].run(ctx, cfg)


def test_static_cnn_end_to_end(tmp_path, data, trained):
    from edgekit.quant.onnx_int8 import kernel_counts
    from edgekit.runtime import ort
    from edgekit.runtime.preprocess import prepare

    ctx, cfg = _ctx(
        tmp_path, data, [trained[1]], f"{{id: q, kind: quantize, max_accuracy_drop: 2, prefer_faster: false, {FAST}}}"
    )
    out = _run(ctx, cfg)
    m = out.metrics
    assert (ctx.out / "model.onnx").is_file() and out.artifact == "model.onnx"
    assert json.loads((ctx.out / "preprocess.json").read_text()) == data.preprocess()
    assert m["kept"] == "int8" and m["met_tolerance"] and m["accuracy_drop_points"] <= 2
    assert m["size_ratio"] < 0.7  # int8 weights; a 0.2 MB model keeps proportionally more graph overhead
    assert kernel_counts(ctx.out / "model.onnx")["int8"] > 0
    assert json.loads((ctx.out / "trials.json").read_text())["trials"] == m["trials"]
    sess = ort.session(ctx.out / "model.onnx")  # the file stands alone: evaluate's way of reading it works
    assert 0 < ort.accuracy(sess, prepare(data.preprocess(), data.test.x), data.test.y) <= 1


# percentile calibration that clips the top 9.5 % of every activation: a first attempt that must miss
CLIPPED = (
    "latency_runs: 5, min_seconds: 0, val_samples: 300, "
    "calibration: {samples: 64, method: percentile, percentile: 90.5}"
)


def test_ladder_walks_until_tolerance_met(tmp_path, data, trained):
    """The first attempt misses by construction; the ladder walks on, and keeping the nodes measured most
    sensitive in float ends at float predictions, so a tolerance of 0.5 pt is met at the latest there."""
    ctx, cfg = _ctx(
        tmp_path,
        data,
        [trained[1]],
        "{id: q, kind: quantize, max_accuracy_drop: 0.5, prefer_faster: false, max_trials: 24, max_excluded: 1000, "
        f"speed_rungs: 0, {CLIPPED}}}",
    )
    m = _run(ctx, cfg).metrics
    trials = m["trials"]
    assert not trials[0]["met_tolerance"] and len(trials) > 1
    assert [t["trial"] for t in trials] == list(range(1, len(trials) + 1))
    assert trials[-1]["met_tolerance"] and m["chosen_trial"] == trials[-1]["trial"]
    assert m["met_tolerance"] and m["accuracy_drop_points"] <= 0.5
    assert all(not t["met_tolerance"] for t in trials[:-1]), "the ladder stops at the first candidate that meets it"
    kept = json.loads((ctx.out / "trials.json").read_text())
    assert kept["chosen_trial"] == trials[-1]["trial"] and len(kept["trials"]) == len(trials)


def test_unmet_tolerance_fails_or_keeps_best(tmp_path, data, trained):
    stage = f"{{id: q, kind: quantize, max_accuracy_drop: 0.5, ladder: false, prefer_faster: false, {CLIPPED}}}"
    ctx, cfg = _ctx(tmp_path / "fail", data, [trained[1]], stage)
    with pytest.raises(StageFailed, match="no INT8 candidate met max_accuracy_drop 0.5 pt") as e:
        _run(ctx, cfg)
    assert e.value.exit_code == 1 and not any(ctx.out.iterdir()), "nothing written on failure"

    ctx, cfg = _ctx(
        tmp_path / "keep", data, [trained[1]], stage.replace("ladder: false", "ladder: false, on_miss: keep-best")
    )
    m = _run(ctx, cfg).metrics
    assert len(m["trials"]) == 1 and not m["met_tolerance"] and m["kept"] == "int8"
    assert (ctx.out / "model.onnx").is_file()


def test_bad_inputs_are_one_line_errors(tmp_path, data, trained):
    # dynamic quantization of a conv net: refused, pointing at the recipe key
    ctx, cfg = _ctx(tmp_path / "dyn", data, [trained[1]], "{id: q, kind: quantize, mode: dynamic}")
    with pytest.raises(RecipeError, match=r"recipe.yaml:9: stages\[2\].mode: dynamic quantization of a convolutional"):
        _run(ctx, cfg)
    # a corrupt input model
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "model.onnx").write_bytes(b"not an onnx file")
    (bad / "preprocess.json").write_text(json.dumps(data.preprocess()))
    ctx, cfg = _ctx(
        tmp_path / "corrupt",
        data,
        [Artifact("export", "export", "e", bad, {"artifact": "model.onnx"})],
        "{id: q, kind: quantize}",
    )
    with pytest.raises(InputError, match="not a valid ONNX model") as e:
        _run(ctx, cfg)
    assert "\n" not in e.value.message
    # calibration data that does not fit the model's input (3 channels expected, data has 1)
    from edgekit.torchkit.export import export_onnx
    from edgekit.torchkit.models import build_model

    rgb = tmp_path / "rgb"
    rgb.mkdir()
    export_onnx(
        build_model({"source": "edgekit:resnet-small", "width": 0.5}, 10, 3).eval(),
        torch.zeros(2, 3, 28, 28),
        rgb / "model.onnx",
        18,
    )
    (rgb / "preprocess.json").write_text(json.dumps(data.preprocess()))
    ctx, cfg = _ctx(
        tmp_path / "mismatch",
        data,
        [Artifact("export", "export", "e", rgb, {"artifact": "model.onnx"})],
        "{id: q, kind: quantize}",
    )
    with pytest.raises(InputError, match=r"calibration: data of shape \[1, 28, 28\] per sample does not fit"):
        _run(ctx, cfg)
    assert not any(ctx.out.iterdir())


def test_transformer_encoder_dynamic(tmp_path):
    """A tiny randomly initialised BERT, exported with torch.onnx, quantized dynamically (MatMul -> int8)."""
    transformers = pytest.importorskip("transformers")
    from edgekit.quant import ort_static
    from edgekit.quant.measure import MeasureSettings, measure_onnx
    from edgekit.quant.onnx_int8 import kernel_counts
    from edgekit.quant.ort_flow import LadderSettings, run_trials

    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=200,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        max_position_embeddings=32,
        num_labels=4,
    )
    model = transformers.BertForSequenceClassification(config).eval()

    class Logits(torch.nn.Module):  # one tensor in, one tensor out: the shape every edgekit ONNX file has
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, ids):
            return self.m(input_ids=ids).logits

    ids = torch.randint(0, 200, (64, 16), generator=torch.Generator().manual_seed(0))
    src = tmp_path / "bert.onnx"
    torch.onnx.export(
        Logits(model).eval(),
        (ids[:2],),
        str(src),
        dynamo=True,
        external_data=False,
        opset_version=18,
        input_names=["input"],
        output_names=["logits"],
        dynamic_shapes=({0: torch.export.Dim("batch", max=1024)},),
    )
    onnx_model = ort_static.load_checked(src)
    assert not ort_static.is_conv_net(onnx_model)
    with torch.no_grad():
        labels = model(input_ids=ids).logits.argmax(1).numpy()  # float predictions: float accuracy is 1.0
    x = ids.numpy()
    settings = MeasureSettings(1, 1, 5, 0.0)
    float_m = measure_onnx(src, x, labels, settings)
    assert float_m.accuracy == 1.0
    work = tmp_path / "work"
    work.mkdir()
    trials = run_trials(
        src,
        work,
        ort_static.Attempt(mode="dynamic"),
        x,
        labels,
        float_m,
        Tolerance.parse(10),
        lambda: BatchReader(x, "input", lambda b: b, 16),
        settings,
        LadderSettings(max_trials=4),
        Console(quiet=True),
    )
    best = trials[-1]
    assert best.met and best.measurement.accuracy >= 0.9
    assert best.measurement.size_bytes < 0.6 * float_m.size_bytes
    kernels = kernel_counts(best.path)
    assert kernels["int8"] > 0, kernels


@pytest.mark.slow
def test_inc_stage_writes_real_int8_onnx(tmp_path, data, trained):
    pytest.importorskip("neural_compressor")
    from edgekit.quant.onnx_int8 import kernel_counts

    ctx, cfg = _ctx(
        tmp_path,
        data,
        [trained[0]],
        f"{{id: inc, kind: inc-quantize, input: train, max_accuracy_drop: 3, prefer_faster: false, "
        f"max_trials: 1, {FAST}}}",
    )
    m = _run(ctx, cfg).metrics
    assert m["backend"] == "neural-compressor" and m["kept"] == "int8" and m["met_tolerance"]
    assert m["folded_weights"] > 0 and m["kernels"]["int8"] > 0
    assert kernel_counts(ctx.out / "model.onnx")["int8"] > 0
    assert m["size_ratio"] < 0.8  # unfolded, INC's export is as large as fp32 (1.0); tiny models keep graph overhead
    assert (ctx.out / "preprocess.json").is_file()
