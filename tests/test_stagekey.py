"""Golden test of the stage cache key: a silent change to what goes into it would invalidate every user's cache
(or, worse, reuse a stale one). If this fails on purpose, say so in the release notes."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgekit.run import stagekey
from edgekit.recipe.read import parse
from edgekit.run.stage import Artifact
from edgekit.run.stagekey import stage_key
from edgekit.stages import stage_kinds

RECIPE = """\
edgekit: 1
name: golden
seed: 7
data: {source: fashion-mnist, limit_train: 100}
model: {source: "edgekit:resnet-small", width: 0.5}
stages:
  - {id: train, kind: train, epochs: 1}
  - {id: export, kind: export, opset: 18}
"""
# sha256 of the sorted-key JSON of {kind, config without id/input, input content hashes, data, model, seed, code,
# machine}, with the code fingerprint pinned below (edgekit's own source changes with every edit)
GOLDEN_EXPORT = (
    "b5a0fcc80cbdc3a6f93d50347d5d116e7208e06d2550c3e7ecfa4c010497b81d"  # issue 18: export gained crop_padding_taps
)


@pytest.fixture
def loaded(tmp_path, monkeypatch):
    monkeypatch.setattr(stagekey, "stage_code", lambda kind: {"pinned": kind.name})
    return parse(RECIPE, tmp_path / "golden.yaml")


def _train_artifact(tmp_path: Path) -> Artifact:
    manifest = {
        "files": {"model.safetensors": {"size": 3, "sha256": "ab" * 32}, "spec.json": {"size": 2, "sha256": "cd" * 32}}
    }
    return Artifact("train", "train", "k" * 64, tmp_path, manifest)


def _key(loaded, cfg, inputs) -> str:
    return stage_key(cfg, stage_kinds()[cfg.kind], inputs, loaded, "d" * 64, "t" * 64)


def test_export_stage_key_is_golden(loaded, tmp_path):
    export = loaded.recipe.stages[1]
    assert _key(loaded, export, [_train_artifact(tmp_path)]) == GOLDEN_EXPORT


def test_key_ignores_id_and_input_but_not_config_or_input_content(loaded, tmp_path):
    export = loaded.recipe.stages[1]
    art = _train_artifact(tmp_path)
    key = _key(loaded, export, [art])
    assert _key(loaded, export.model_copy(update={"id": "other", "input": "train"}), [art]) == key
    assert _key(loaded, export.model_copy(update={"opset": 17}), [art]) != key
    changed = Artifact(
        "train",
        "train",
        "k" * 64,
        tmp_path,
        {"files": {**art.manifest["files"], "spec.json": {"size": 2, "sha256": "ef" * 32}}},
    )
    assert _key(loaded, export, [changed]) != key
