"""Recipe validation: every malformed recipe exits 2 with file:line and the key path, never a traceback."""

import json

import pytest

from edgekit.cli.main import main
from edgekit.recipe.read import json_schema, parse

GOOD = """\
edgekit: 1
name: demo
seed: 0
data: {source: fashion-mnist, val_fraction: 0.1}
model: {source: "edgekit:resnet-small"}
stages:
  - {id: train, kind: train, epochs: 1}
  - {id: export, kind: export, opset: 18}
  - {id: evaluate, kind: evaluate}
"""


def write(tmp_path, text, name="recipe.yaml"):
    p = tmp_path / name
    p.write_text(text) if isinstance(text, str) else p.write_bytes(text)
    return p


def test_good_recipe_validates(tmp_path, capsys):
    assert main(["validate", str(write(tmp_path, GOOD))]) == 0
    assert "train (train) → export (export) → evaluate (evaluate)" in capsys.readouterr().out


# (recipe text, the line the error must name, text the message must contain)
BAD = {
    "unknown-key": (GOOD.replace("seed: 0", "sed: 0"), 3, "unknown key 'sed' (did you mean 'seed'?)"),
    "unknown-stage-key": (
        GOOD.replace("epochs: 1", "epoch: 1"),
        7,
        "stages[0].epoch: unknown key 'epoch' (did you mean 'epochs'?)",
    ),
    "wrong-type": (GOOD.replace("epochs: 1", "epochs: many"), 7, "stages[0].epochs: must be a valid integer"),
    "out-of-range": (
        GOOD.replace("val_fraction: 0.1", "val_fraction: 1.5"),
        4,
        "data.val_fraction: must be less than 1, got 1.5",
    ),
    "opset-range": (
        GOOD.replace("opset: 18", "opset: 99"),
        8,
        "stages[1].opset: must be less than or equal to 23, got 99",
    ),
    "unknown-kind": (
        GOOD.replace("kind: evaluate", "kind: evaluat"),
        9,
        "unknown stage kind 'evaluat' (did you mean 'evaluate'?)",
    ),
    "unknown-data-source": (
        GOOD.replace("fashion-mnist", "fashion-mnits"),
        4,
        "data.source: unknown data source 'fashion-mnits'",
    ),
    "missing-key": (GOOD.replace("name: demo\n", ""), None, "name: required key is missing"),
    "bad-version": (GOOD.replace("edgekit: 1", "edgekit: 2"), 1, "edgekit: must be 1"),
    "duplicate-id": (GOOD.replace("id: export", "id: train"), 8, "stages[1].id: duplicate stage id 'train'"),
    "duplicate-key": (GOOD.replace("seed: 0", "seed: 0\nseed: 1"), 4, "seed: duplicate key"),
    "bad-input-ref": (
        GOOD.replace("kind: export,", "kind: export, input: trian,"),
        8,
        "no earlier stage 'trian' (did you mean 'train'?)",
    ),
    "bad-stage-id": (GOOD.replace("id: train", "id: Train!"), 7, "stages[0].id: string should match pattern"),
    "empty-stages": (GOOD.split("stages:")[0] + "stages: []\n", 6, "stages: list should have at least 1 item"),
    "not-yaml": ("edgekit: 1\nname: [unclosed\n", 3, "not valid YAML"),
    "not-a-mapping": ("- just\n- a list\n", 1, "a recipe is a YAML mapping"),
    "empty-file": ("", None, "the recipe is empty"),
    "stage-not-mapping": (
        GOOD.replace("  - {id: evaluate, kind: evaluate}", "  - evaluate"),
        9,
        "a stage is a mapping",
    ),
    "bad-model-source": (
        GOOD.replace('"edgekit:resnet-small"', "resnet18"),
        5,
        "model.source: must be torchvision:NAME",
    ),
    "binary-file": (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", None, "recipe.yaml"),
    "nothing-to-export": (
        GOOD.replace("  - {id: train, kind: train, epochs: 1}\n", ""),
        7,
        "stages[0].kind: 'export' needs an earlier stage that produces a torch model",
    ),
    "wrong-input-kind": (
        GOOD.replace("kind: evaluate}", "kind: evaluate, input: train}"),
        9,
        "stage 'train' produces a torch model, 'evaluate' needs an ONNX model",
    ),
    "no-model-to-train": (
        GOOD.replace('model: {source: "edgekit:resnet-small"}\n', ""),
        6,
        "the recipe has no model: key",
    ),
    "yaml-tag": (GOOD.replace("seed: 0", "seed: !!python/object:os.system 0"), 3, "not valid YAML"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_malformed_recipe_exit_2_with_line_and_key(tmp_path, capsys, case):
    text, line, expected = BAD[case]
    path = write(tmp_path, text)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert expected in err, err
    if line is not None:
        assert f"{path}:{line}:" in err, err


def test_missing_recipe_file(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nope.yaml")]) == 2
    assert "no such recipe file" in capsys.readouterr().err


def test_missing_dataset_names_data_path(tmp_path, capsys):
    text = GOOD.replace("val_fraction: 0.1}", f"val_fraction: 0.1, path: {tmp_path / 'nowhere'}}}")
    path = write(tmp_path, text)
    assert main(["shrink", str(path), "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert f"{path}:4: data.path:" in err and "dataset-fashion-mnist" in err, err
    assert not (tmp_path / "run" / "stages").exists() or not any((tmp_path / "run" / "stages").iterdir())


def test_missing_imagefolder_dir(tmp_path, capsys):
    path = write(tmp_path, GOOD.replace("source: fashion-mnist", "source: imagefolder:no/such/dir"))
    assert main(["shrink", str(path), "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert f"{path}:4: data.source:" in err and "no such directory" in err, err


def test_schema_lists_every_stage_kind(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    kinds = {
        d["properties"]["kind"]["const"]
        for d in schema["$defs"].values()
        if "kind" in d.get("properties", {}) and "const" in d["properties"]["kind"]
    }
    assert {"train", "export", "evaluate"} <= kinds
    assert schema == json_schema()


def test_parse_keeps_typed_stage_configs(tmp_path):
    loaded = parse(GOOD, tmp_path / "r.yaml")
    train = loaded.recipe.stages[0]
    assert type(train).__name__ == "TrainConfig" and train.epochs == 1 and train.lr == 3e-3
