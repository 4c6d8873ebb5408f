"""Structured pruning: real torch-pruning on real architectures, pickle-free save/reload, ONNX export run in ORT."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch_pruning")

from edgekit.errors import InputError, RecipeError  # noqa: E402
from edgekit.decide.noise import clearly_slower  # noqa: E402
from edgekit.torchkit.export import export_onnx  # noqa: E402
from edgekit.torchkit.models import build_model, load_model, save_model  # noqa: E402
from edgekit.torchkit.pruning import PruneError, PruneSettings, prune, widths  # noqa: E402
from edgekit.torchkit.reshape import apply_shapes, diff  # noqa: E402
from tiny import QUICK_PRUNE_TIMING  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))  # prune_models, for python:prune_models:NAME sources


pytestmark = pytest.mark.usefixtures("torch_one_thread")  # conftest.py


def _image(c: int, size: int) -> torch.Tensor:
    return torch.randn(4, c, size, size, generator=torch.Generator().manual_seed(0))


CASES = {
    # spec, example input, a layer whose output width must shrink
    "resnet-small": (
        {"source": "edgekit:resnet-small", "width": 0.5, "in_channels": 1},
        _image(1, 16),
        "layers.4.conv1",
    ),
    "mobilenet_v2": ({"source": "torchvision:mobilenet_v2", "in_channels": 3}, _image(3, 32), "features.2.conv.0.0"),
    "resnet18": (
        {"source": "torchvision:resnet18", "stem_stride": 2, "in_channels": 1},
        _image(1, 16),
        "layer4.1.conv1",
    ),
    "grouped-concat": ({"source": "python:prune_models:grouped_concat", "in_channels": 1}, _image(1, 16), "grouped.0"),
    "bert": (
        {"source": "python:prune_models:tiny_bert", "in_channels": 1},
        torch.randint(0, 100, (4, 8), generator=torch.Generator().manual_seed(0)),
        "bert.encoder.layer.1.intermediate.dense",
    ),
}


def _build(spec: dict) -> torch.nn.Module:
    spec = {**spec, "num_classes": 10}
    return build_model(spec, 10, spec["in_channels"])


# MobileNetV2 at 32x32 costs ~13 s of CPU here (pruned, exported, reloaded): the slow tier's; the zoo smoke exports it
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "mobilenet_v2" else n for n in CASES])
def test_prune_export_reload_without_pickle(name, tmp_path):
    torch.manual_seed(0)
    spec, x, shrinks = CASES[name]
    spec = {**spec, "num_classes": 10}
    model = _build(spec).eval()
    result = prune(model, x, PruneSettings(target="macs", ratio=0.5))
    pruned = result.model

    # measured target reached; the classifier keeps its classes; the named layer really lost channels
    assert result.macs[1] <= 0.5 * result.macs[0]
    assert result.params[1] < 0.7 * result.params[0]
    assert sum(p.numel() for p in pruned.parameters()) == result.params[1]
    assert result.layers[shrinks][1] < result.layers[shrinks][0] == widths(_build(spec))[shrinks]
    assert widths(pruned)[result.ignored[-1]] == 10
    with torch.no_grad():
        ref = pruned(x).numpy()
    assert ref.shape == (4, 10)

    # save: safetensors + JSON shapes; reload builds the architecture from JSON, never unpickles
    save_model(pruned, tmp_path, spec, {"pruned": diff(_build(spec), pruned)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json", "model.safetensors"]
    assert json.loads((tmp_path / "model.json").read_text())["pruned"]["modules"][shrinks]
    reloaded, _ = load_model(tmp_path)
    assert widths(reloaded) == widths(pruned)
    with torch.no_grad():
        np.testing.assert_allclose(reloaded(x).numpy(), ref, atol=1e-5)

    # ONNX: one file, same logits in onnxruntime
    import onnxruntime as ort

    path = tmp_path / "model.onnx"
    export_onnx(reloaded, x[:2], path, opset=18)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input": x.numpy()})[0]
    np.testing.assert_allclose(got, ref, atol=1e-4)


def test_bert_heads_removed_and_config_updated():
    spec, x, _ = CASES["bert"]
    result = prune(_build(spec).eval(), x, PruneSettings(target="channels", ratio=0.5))
    attn = result.model.bert.encoder.layer[0].attention.self
    assert attn.num_attention_heads == 2 and attn.attention_head_size == 16 and attn.all_head_size == 32
    assert attn.query.out_features == 32
    config = result.model.bert.config
    assert config.num_attention_heads == 2
    assert config.hidden_size == result.model.bert.embeddings.word_embeddings.embedding_dim < 64
    assert config.intermediate_size == result.model.bert.encoder.layer[0].intermediate.dense.out_features < 256


def test_params_target_and_iterative_steps():
    spec, x, _ = CASES["resnet-small"]
    seen = []
    result = prune(
        _build(spec).eval(),
        x,
        PruneSettings(target="params", ratio=0.6, steps=3, importance="lamp", scope="global"),
        between=lambda m, step: seen.append((step, sum(p.numel() for p in m.parameters()))),
    )
    assert result.params[1] <= 0.4 * result.params[0]
    # two recovery hooks, at about 80 % and 60 % of the parameters
    assert [s for s, _ in seen] == [1, 2]
    assert [round(n / result.params[0], 1) for _, n in seen] == [0.8, 0.6]


@pytest.mark.parametrize("importance", ["l1", "bn-scale", "fpgm", "random", "taylor"])
def test_every_importance_criterion(importance):
    spec, x, _ = CASES["resnet-small"]
    model = _build(spec).eval()

    def grads(m):
        torch.nn.functional.cross_entropy(m(x), torch.tensor([0, 1, 2, 3])).backward()

    result = prune(model, x, PruneSettings(target="channels", ratio=0.25, importance=importance), grad_fn=grads)
    assert result.layers["layers.0.conv1"] == (8, 6)


def test_taylor_gradients_survive_the_target_search():
    spec, x, _ = CASES["resnet-small"]
    calls = []

    def grads(m):
        calls.append(1)
        torch.nn.functional.cross_entropy(m(x), torch.tensor([0, 1, 2, 3])).backward()

    result = prune(_build(spec).eval(), x, PruneSettings(target="macs", ratio=0.4, importance="taylor"), grad_fn=grads)
    assert calls == [1] and result.macs[1] <= 0.6 * result.macs[0]


def test_round_to_keeps_multiples():
    # widths 20/36/52 are not multiples of 8, so every pruned width being one shows round_to at work
    # (resnet18's widths are multiples of 16 already: unpruned layers would pass too)
    nn = torch.nn
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 20, 3, padding=1),
        nn.BatchNorm2d(20),
        nn.ReLU(),
        nn.Conv2d(20, 36, 3, padding=1),
        nn.BatchNorm2d(36),
        nn.ReLU(),
        nn.Conv2d(36, 52, 3, padding=1),
        nn.BatchNorm2d(52),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(52, 10),
    )
    result = prune(model.eval(), _image(1, 16), PruneSettings(target="channels", ratio=0.3, round_to=8))
    convs = {name: result.layers[name] for name in ("0", "3", "6")}
    assert [before for before, _ in convs.values()] == [20, 36, 52]
    assert all(after % 8 == 0 and 0 < after < before for before, after in convs.values()), convs


def test_ignored_patterns_stay_untouched():
    spec, x, _ = CASES["resnet18"]
    result = prune(_build(spec).eval(), x, PruneSettings(target="channels", ratio=0.5, ignore=("layer4.*",)))
    assert "layer4.1.conv1" in result.ignored
    assert result.layers["layer4.1.conv1"] == (512, 512)
    assert result.layers["layer3.1.conv1"][1] < 256


def test_unknown_pattern_is_an_error():
    spec, x, _ = CASES["resnet-small"]
    with pytest.raises(PruneError, match="pattern 'layers.9.*' matches no module") as e:
        prune(_build(spec).eval(), x, PruneSettings(ignore=("layers.9.*",)))
    assert e.value.key == "ignore"


def test_unreachable_target_is_an_error():
    spec, x, _ = CASES["resnet-small"]
    with pytest.raises(PruneError, match=r"cannot remove 95% of the MACs: at most \d+\.\d%") as e:
        prune(_build(spec).eval(), x, PruneSettings(target="macs", ratio=0.95, max_layer_ratio=0.5))
    assert e.value.key == "ratio"


def test_layer_torch_pruning_cannot_handle_is_named():
    spec = {"source": "python:prune_models:hardcoded", "in_channels": 1}
    with pytest.raises(PruneError, match="cannot handle module 'pool' \\(Pool16\\)") as e:
        prune(_build(spec).eval(), _image(1, 8), PruneSettings(target="channels", ratio=0.5))
    assert e.value.key == "ignore"


def test_apply_shapes_rejects_foreign_shapes():
    model = _build(CASES["resnet-small"][0])
    with pytest.raises(InputError, match="name module 'nope'"):
        apply_shapes(model, {"modules": {"nope": {"attrs": {}, "params": {}, "buffers": {}}}})
    with pytest.raises(InputError, match="not a numeric attribute"):
        apply_shapes(model, {"modules": {"fc": {"attrs": {"forward": 3}, "params": {}, "buffers": {}}}})


def test_recipe_rejects_ratio_out_of_range(tmp_path):
    from edgekit.recipe.read import parse

    text = (
        "edgekit: 1\nname: t\ndata: {source: fashion-mnist}\nmodel: {source: 'edgekit:resnet-small'}\n"
        "stages:\n  - {id: train, kind: train}\n  - id: prune\n    kind: prune\n    ratio: 1.5\n"
    )
    with pytest.raises(RecipeError, match=r"r.yaml:9: stages\[1\]\.ratio: must be less than 1, got 1.5"):
        parse(text, tmp_path / "r.yaml")


FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.slow
@pytest.mark.skipif(not (FASHION / "train-images-idx3-ubyte.gz").exists(), reason="Fashion-MNIST not installed")
def test_recipe_prune_recover_distill_export_evaluate(tmp_path):
    """train -> prune (taylor, 2 slices with fine-tuning) -> recover with distillation -> export both -> evaluate."""
    from edgekit.run.pipeline import Pipeline
    from edgekit.recipe.read import load

    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"""
edgekit: 1
name: prune-e2e
threads: 1
data: {{source: fashion-mnist, path: {FASHION}, limit_train: 3000, limit_test: 500}}
model: {{source: "edgekit:resnet-small", width: 0.5}}
stages:
  - {{id: train, kind: train, epochs: 1, lr: 3.0e-3, batch_size: 32}}
  - {{id: prune, kind: prune, target: macs, ratio: 0.5, importance: taylor, steps: 2, finetune_epochs: 1, lr: 1.0e-3,
     batch_size: 32, gradient_samples: 256}}
  # channels_last on a pruned model with distillation: the case that once aborted in backward
  - {{id: recover, kind: train, epochs: 1, lr: 1.0e-3, batch_size: 32, channels_last: true,
     distill: {{teacher: train, temperature: 4, weight: 0.7}}}}
  - {{id: export, kind: export}}
  - {{id: export-unpruned, kind: export, input: train}}
  - {{id: evaluate, kind: evaluate, latency_runs: 5, min_seconds: 0}}
""")
    record = Pipeline(load(recipe), tmp_path / "run").run()
    m = {s["id"]: s["metrics"] for s in record["stages"]}
    assert m["prune"]["macs_ratio"] <= 0.5 and m["prune"]["params_ratio"] < 0.7
    assert m["prune"]["layers"]["layers.0.conv1"]["after"] < m["prune"]["layers"]["layers.0.conv1"]["before"]
    assert m["prune"]["test_accuracy_before"] == m["train"]["test_accuracy"]
    # round_to auto: every rounding timed against the unpruned model, the fastest kept and re-pruned in 2 slices
    speed = m["prune"]["speed"]
    assert set(speed["candidates"]) | {s.split(":")[0].split()[-1] for s in speed["skipped"]} == {"none", "8", "16"}
    fair = [c for c in speed["candidates"].values() if 1 - c["macs_ratio"] <= 0.5 + 0.05]  # not over-pruned
    assert speed["ratio"] == min(c["ratio"] for c in fair)
    assert m["prune"]["round_to"] == (None if speed["chosen"] == "none" else int(speed["chosen"]))
    assert m["export"]["parity_top1_agreement"] >= 0.99
    rows = {r["stage"]: r for r in m["evaluate"]["artifacts"]}
    assert rows["export"]["size_bytes"] < 0.7 * rows["export-unpruned"]["size_bytes"]
    # recovery with distillation brings the pruned model back close to its teacher
    assert rows["export"]["accuracy"] > rows["export-unpruned"]["accuracy"] - 0.1
    assert rows["export"]["accuracy"] > 0.5

    # a teacher off the input lineage is a one-line recipe error
    bad = recipe.read_text().replace("teacher: train", "teacher: export-unpruned")
    recipe.write_text(bad)
    with pytest.raises(RecipeError, match=r"distill.teacher: .*no earlier stage|distill.teacher: 'export-unpruned'"):
        Pipeline(load(recipe), tmp_path / "run").run()


def _tiny_recipe(name: str, width: float) -> str:
    """A recipe on 200 Fashion-MNIST images up to one epoch of training; the caller appends stages after it
    (line 8 on)."""
    return f"""edgekit: 1
name: {name}
threads: 1
data: {{source: fashion-mnist, path: {FASHION}, limit_train: 200, limit_test: 50}}
model: {{source: "edgekit:resnet-small", width: {width}}}
stages:
  - {{id: train, kind: train, epochs: 1}}
"""


@pytest.mark.skipif(not (FASHION / "train-images-idx3-ubyte.gz").exists(), reason="Fashion-MNIST not installed")
def test_stage_errors_point_at_the_recipe_key(tmp_path):
    from edgekit.run.pipeline import Pipeline
    from edgekit.recipe.read import load

    recipe = tmp_path / "r.yaml"
    base = _tiny_recipe("prune-errors", 0.25)
    cases = {
        "  - {id: prune, kind: prune, ignore: ['layers.9.*']}\n": (
            r"r.yaml:8: stages\[1\]\.ignore: pattern 'layers.9.\*' matches no module"
        ),
        "  - {id: prune, kind: prune, ratio: 0.9, max_layer_ratio: 0.3}\n": (
            r"r.yaml:8: stages\[1\]\.ratio: cannot remove 90% of the MACs"
        ),
        "  - {id: prune, kind: prune, finetune_epochs: 1}\n": (
            r"r.yaml:8: stages\[1\]\.finetune_epochs: .*needs steps > 1"
        ),
        "  - {id: prune, kind: prune, target: latency, round_to: 8, measure_speed: false}\n": (
            r"r.yaml:8: stages\[1\]\.measure_speed: target: latency is measured"
        ),
    }
    for stage, message in cases.items():
        recipe.write_text(base + stage)
        with pytest.raises(RecipeError, match=message):
            Pipeline(load(recipe), tmp_path / "run").run()


@pytest.mark.skipif(not (FASHION / "train-images-idx3-ubyte.gz").exists(), reason="Fashion-MNIST not installed")
def test_a_model_that_cannot_be_pruned_fails_before_its_training(tmp_path):
    # a user's ShuffleNet trained for minutes, then its prune stage failed: now the train stage prunes a copy of
    # the untrained model first, and a recipe torch-pruning can never run stops before any training
    from edgekit.run.pipeline import Pipeline
    from edgekit.recipe.read import load

    recipe = tmp_path / "r.yaml"
    tiny = _tiny_recipe("prune-precheck", 1.0).replace("epochs: 1}", "epochs: 50}")
    cases = {
        "torchvision:shufflenet_v2_x0_5": r"r.yaml:9: stages\[2\]\.ignore: torch-pruning cannot prune this model: its "
        r"dependency graph breaks at op ViewBackward0 \(a reshape across the channel axis",
        "edgekit:resnet-small": r"r.yaml:9: stages\[2\]\.ratio: cannot remove 90% of the MACs",
    }
    for source, message in cases.items():
        ratio = 0.4 if "shufflenet" in source else 0.9
        recipe.write_text(
            tiny.replace("edgekit:resnet-small", source)
            + f"  - {{id: recover, kind: train, epochs: 1}}\n  - {{id: prune, kind: prune, input: recover, "
            f"ratio: {ratio}, max_layer_ratio: 0.3}}\n"
        )
        with pytest.raises(RecipeError, match=message):
            Pipeline(load(recipe), tmp_path / source.replace(":", "-")).run()
        assert not list((tmp_path / source.replace(":", "-") / "stages").glob("train-*")), "it trained first"


def test_prune_fastest_times_every_rounding_against_the_parent():
    from edgekit.torchkit.prune_speed import prune_fastest

    torch.manual_seed(0)
    parent = build_model({"source": "edgekit:resnet-small", "width": 2.0}, 10, 1).eval()  # 32-128 channels
    before = widths(parent)
    result, speed = prune_fastest(
        parent, _image(1, 16), PruneSettings(target="macs", ratio=0.5), (None, 8), timing=QUICK_PRUNE_TIMING
    )
    assert widths(parent) == before  # the parent is measured, never pruned
    assert set(speed["candidates"]) == {"none", "8"} and speed["chosen"] in speed["candidates"]
    chosen = speed["candidates"][speed["chosen"]]
    # the fastest of those that removed at most 5 points more MACs than asked (rounding lands in steps)
    fair = {k: c for k, c in speed["candidates"].items() if c["macs_ratio"] >= 0.45}
    assert speed["ratio"] == chosen["ratio"] == min(c["ratio"] for c in (fair or speed["candidates"]).values())
    assert all(
        k in fair or any(s.startswith(f"round_to {k}: removes") for s in speed["skipped"]) for k in speed["candidates"]
    )
    assert 0 < speed["min"] <= speed["max"] and speed["p50_ms"] > 0 and speed["parent_p50_ms"] > 0
    assert speed["slower_than_parent"] == clearly_slower(speed["ratio"], speed["min"])
    if speed["chosen"] == "8":  # the kept model is the one that was timed: its pruned widths are multiples of 8
        assert all(w % 8 == 0 for n, w in widths(result.model).items() if w != before[n] and n != "fc")
    assert result.macs[1] <= 0.5 * result.macs[0] and chosen["macs_ratio"] == round(result.macs[1] / result.macs[0], 4)


def test_export_pass_crops_a_resnet_on_small_maps_exactly(tmp_path):
    # resnet-small on 4x4 inputs ends on 1x1 maps: its last convs read mostly padding
    from edgekit.bench import graph
    from edgekit.runtime import ort
    from edgekit.stages.export import crop_file
    from edgekit.torchkit.export import parity

    torch.manual_seed(0)
    model = build_model({"source": "edgekit:resnet-small", "width": 0.5}, 10, 1).eval()
    x = _image(1, 4)
    path = tmp_path / "m.onnx"
    export_onnx(model, x, path, 17, exporter="legacy")  # the fast exporter: the pass is the same on both
    macs_before = graph.count(path)["macs"]
    report = crop_file(path)
    assert report.convs_cropped >= 2 and report.macs_removed > 0.2 * macs_before
    assert graph.count(path)["macs"] == macs_before - report.macs_removed
    with torch.no_grad():
        ref = model(x).numpy()
    _, scaled, agree = parity(ref, ort.predict(ort.session(path), x.numpy()))
    assert scaled < 1e-5 and agree == 1.0


def test_rounding_never_breaks_max_layer_ratio():
    # torch-pruning rounds kept widths *down* after its max-ratio cap (256 channels at 0.9 keep 25.6 -> 16 with
    # round_to 16) and leaves layers it rounded to zero unpruned; resnet18 on 28x28 once came back with layer3 at
    # 16 of 256 channels: the MACs search must reject such copies
    model = build_model({"source": "torchvision:resnet18", "weights": None}, 10, 1).eval()
    before = widths(model)
    result = prune(model, _image(1, 28)[:2], PruneSettings(target="macs", ratio=0.5, round_to=16))
    after = widths(result.model)
    assert result.macs[1] <= 0.5 * result.macs[0]
    assert all(after[n] >= int(w * 0.1) for n, w in before.items()), {n: (w, after[n]) for n, w in before.items()}
    assert all(after[n] % 16 == 0 for n, w in before.items() if after[n] != w)


def test_candidates_that_overshoot_the_target_are_not_compared():
    from edgekit.torchkit.prune_speed import comparable

    speeds = {
        "none": {"ratio": 0.48, "macs_ratio": 0.4998},
        "8": {"ratio": 0.19, "macs_ratio": 0.4833},
        "16": {"ratio": 0.14, "macs_ratio": 0.4097},
    }  # resnet18 on 28x28 at 50 % MACs, measured here
    assert comparable(speeds, PruneSettings(target="macs", ratio=0.5)) == ["none", "8"]
    assert comparable(speeds, PruneSettings(target="macs", ratio=0.58)) == ["none", "8", "16"]
    assert comparable({"16": speeds["16"]}, PruneSettings(target="macs", ratio=0.3)) == ["16"]  # none qualifies: all


def test_latency_target_keeps_the_least_pruning_that_reaches_it():
    from edgekit.torchkit.prune_latency import latency_grid, pick_for_latency

    assert latency_grid(0.9) == [0.1, 0.3, 0.5, 0.7, 0.9]
    assert max(latency_grid(0.3)) == 0.51  # a 0.3 cap per layer leaves 0.7^2 of a layer's MACs at most
    speeds = {
        "a": {"ratio": 0.62, "macs_ratio": 0.6},
        "b": {"ratio": 0.48, "macs_ratio": 0.45},
        "c": {"ratio": 0.41, "macs_ratio": 0.3},
        "d": {"ratio": 0.49, "macs_ratio": 0.35},
    }
    assert pick_for_latency(speeds, 0.5) == ("b", True)  # c and d are faster but spent more MACs
    assert pick_for_latency(speeds, 0.4) == ("c", False)  # none reached it: the fastest, said


def test_smoothing_keeps_one_lucky_measurement_from_deciding():
    from edgekit.torchkit.prune_latency import pick_for_latency, smooth

    # one rounding, more MACs removed down the list; "10" measured fast by luck, slower than the 30 % and 50 % prunes
    speeds = {
        "10": {"ratio": 0.58, "macs_ratio": 0.9},
        "30": {"ratio": 0.70, "macs_ratio": 0.7},
        "50": {"ratio": 0.66, "macs_ratio": 0.5},
        "70": {"ratio": 0.45, "macs_ratio": 0.3},
        "other": {"ratio": 0.9, "macs_ratio": 0.95},
    }
    assert pick_for_latency(speeds, 0.6) == ("10", True)  # raw: the lucky one wins
    smooth(speeds, {"10": "8", "30": "8", "50": "8", "70": "8", "other": "none"})
    assert [speeds[k]["fitted_ratio"] for k in ("10", "30", "50", "70")] == [0.6467, 0.6467, 0.6467, 0.45]
    assert speeds["other"]["fitted_ratio"] == 0.9  # its own group: nothing to pool with
    assert pick_for_latency(speeds, 0.6) == ("70", True)


@pytest.mark.slow  # ~13 candidates pruned and exported: ~14 s of CPU even with QUICK_PRUNE_TIMING
def test_prune_to_latency_times_a_grid_against_the_parent():
    from edgekit.torchkit.prune_latency import latency_grid, pick_for_latency, prune_to_latency

    torch.manual_seed(0)
    parent = build_model({"source": "edgekit:resnet-small", "width": 2.0}, 10, 1).eval()
    before = widths(parent)
    settings = PruneSettings(target="latency", ratio=0.3)
    result, speed = prune_to_latency(parent, _image(1, 16), settings, (None, 8), timing=QUICK_PRUNE_TIMING)
    assert widths(parent) == before
    grid = latency_grid(0.9)
    names = list(speed["candidates"]) + [s.split(":")[0] for s in speed["skipped"]]  # "macs -30.0% round_to 8"
    share = {n: round(float(n.split()[1].strip("-%")) / 100, 3) for n in names}
    assert sorted(n for n in names if share[n] in grid) == sorted(
        f"macs -{g:.1%} round_to {r}" for g in grid for r in ("none", "8")
    )
    fine = [n for n in names if share[n] not in grid]  # the gap below the coarse pick, with its rounding
    assert len(fine) in (0, 3) and all(n.endswith(f"round_to {speed['chosen']}") for n in fine)
    assert speed["latency_target"] == 0.7 and speed["macs_share_asked"] in [share[n] for n in names]
    assert (speed["chosen_candidate"], speed["target_met"]) == pick_for_latency(speed["candidates"], 0.7)
    assert speed["target_met"] == (speed["fitted_ratio"] <= 0.7)
    assert round(result.macs[1] / result.macs[0], 4) == speed["macs_ratio"] <= 1 - speed["macs_share_asked"]
    if speed["chosen"] == "8":
        assert all(w % 8 == 0 for n, w in widths(result.model).items() if w != before[n] and n != "fc")


@pytest.mark.slow  # a pipeline: train, then the latency grid at the stage's own timing settings
@pytest.mark.skipif(not (FASHION / "train-images-idx3-ubyte.gz").exists(), reason="Fashion-MNIST not installed")
def test_recipe_latency_target(tmp_path):
    """target: latency through the pipeline: the stage's metrics say what it asked, measured and kept, and the report's
    sense checks read them."""
    from edgekit.run.pipeline import Pipeline
    from edgekit.recipe.read import load
    from edgekit.report.build import build_report
    from edgekit.report.render import sections

    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        _tiny_recipe("prune-latency", 1.0)
        + "  - {id: prune, kind: prune, target: latency, ratio: 0.3, round_to: 8, steps: 2, finetune_epochs: 1}\n"
    )
    record = Pipeline(load(recipe), tmp_path / "run").run()
    m = next(s["metrics"] for s in record["stages"] if s["id"] == "prune")
    speed = m["speed"]
    assert m["round_to"] == 8 and speed["chosen"] == "8" and speed["latency_target"] == 0.7
    assert all(k.endswith("round_to 8") for k in speed["candidates"])  # one rounding asked: only it is probed
    # the kept model is re-pruned in 2 slices (with fine-tuning between) to the MACs share its timed copy was asked
    assert m["macs_ratio"] <= 1 - speed["macs_share_asked"] and speed["macs_ratio"] <= 1 - speed["macs_share_asked"]
    report = build_report(tmp_path / "run")
    missed = {f["check"] for f in report["sense"]} & {"latency-missed"}
    assert missed == (set() if speed["target_met"] else {"latency-missed"})
    row = next(r for s in sections(report) if s.title == "Pruning" for r in s.rows)  # report.md/html: asked and reached
    assert row[:2] == ["prune", "x0.70 p50"] and row[2] == f"{m['macs_ratio'] * 100:.0f} %" and row[4] == "8"
    assert row[5].startswith(f"x{speed['ratio']:.2f} [") and row[5].endswith(
        "(target met)" if speed["target_met"] else "(target missed)"
    )
