"""The stage cache knows what changed: edgekit's own source per stage, package versions, user model code and
hf folders; cached files are verified by content; train/prune keys ignore limit_test; a run that fails after
taking the lock is recorded as failed. Fast tests on real keys and real stage directories."""

from __future__ import annotations

import hashlib
import json
import shutil
import textwrap
from pathlib import Path

import pytest

from edgekit.run import codehash
from edgekit.cli.main import main
from edgekit.data import load_dataset
from edgekit.fsutil import write_json
from edgekit.run.pipeline import load_artifact
from edgekit.run.stagekey import model_fingerprint, stage_code, stage_key
from edgekit.recipe.read import parse
from edgekit.stages import stage_kinds
from edgekit.run.stage import MANIFEST, MANIFEST_VERSION


def _stage_dir(tmp_path: Path, content: bytes) -> Path:
    d = tmp_path / "stages" / "export-0123"
    d.mkdir(parents=True)
    (d / "model.onnx").write_bytes(content)
    write_json(
        d / MANIFEST,
        {
            "manifest_version": MANIFEST_VERSION,
            "stage": {"id": "export", "kind": "export"},
            "key": "k",
            "files": {"model.onnx": {"size": len(content), "sha256": hashlib.sha256(content).hexdigest()}},
        },
    )
    return d


def test_same_size_overwrite_is_a_cache_miss(tmp_path):
    d = _stage_dir(tmp_path, b"A" * 4096)
    assert load_artifact(d) is not None
    (d / "model.onnx").write_bytes(b"B" * 4096)  # same size, other bytes
    assert load_artifact(d) is None


def _all_stage_codes(root: Path) -> dict[str, str]:
    return {
        name: codehash.code_fingerprint((kind.run.__module__, "edgekit.data"), root)["source"]
        for name, kind in stage_kinds().items()
    }


def test_editing_quant_changes_only_the_quantize_stages_code(tmp_path):
    src = tmp_path / "edgekit"
    shutil.copytree(codehash.ROOT, src, ignore=shutil.ignore_patterns("__pycache__"))
    before = _all_stage_codes(src)
    assert before == _all_stage_codes(codehash.ROOT)  # the hash is of content, not of where the tree lies
    with open(src / "quant" / "tolerance.py", "a") as f:
        f.write("# a comment is an edit too: the cache cannot tell a harmless one from a real one\n")
    after = _all_stage_codes(src)
    changed = sorted(k for k in before if before[k] != after[k])
    assert changed == ["inc-quantize", "qat", "quantize"]  # qat holds its trial to the same tolerance
    with open(src / "torchkit" / "training.py", "a") as f:
        f.write("# edit\n")
    changed = sorted(k for k, v in _all_stage_codes(src).items() if v != after[k])
    assert "train" in changed and "prune" in changed and "quantize" not in changed and "evaluate" not in changed


def test_editing_the_recipe_schema_or_error_wording_reruns_no_stage(tmp_path):
    """strict/yamlerrors/model_config shape and word the recipe; the validated config is in the key already."""
    src = tmp_path / "edgekit"
    shutil.copytree(codehash.ROOT, src, ignore=shutil.ignore_patterns("__pycache__"))
    before = _all_stage_codes(src)
    for leaf in ("strict.py", "yamlerrors.py", "model_config.py"):
        with open(src / leaf, "a") as f:
            f.write("# edit\n")
    assert _all_stage_codes(src) == before


def test_stage_code_carries_the_versions_of_the_packages_it_imports():
    kinds = stage_kinds()
    assert "onnxruntime" in stage_code(kinds["quantize"])["packages"]
    assert "onnxruntime" in stage_code(kinds["evaluate"])["packages"]
    train = stage_code(kinds["train"])["packages"]
    if "torch" in codehash.package_versions({"torch"}):
        assert "torch" in train
    assert "neural-compressor" not in train and "onnxruntime" not in train


RECIPE = """\
edgekit: 1
name: keys
data: {{source: "python:{data_mod}:load", limit_test: {limit_test}}}
model: {{source: "{model}"}}
stages:
  - {{id: train, kind: train, epochs: 1}}
  - {{id: export, kind: export}}
  - {{id: evaluate, kind: evaluate}}
"""


@pytest.fixture
def user_code(tmp_path, monkeypatch):
    pkg = tmp_path / "usercode"
    pkg.mkdir()
    (pkg / "ek_user_data.py").write_text(
        textwrap.dedent("""\
        import numpy as np
        def load(seed):
            rng = np.random.default_rng(0)
            x = rng.integers(0, 255, (200, 1, 8, 8), dtype=np.uint8)
            y = np.arange(200) % 2
            return {"train": (x[:150], y[:150]), "test": (x[150:], y[150:]), "classes": ["a", "b"]}
        """)
    )
    (pkg / "ek_user_model.py").write_text("def build(num_classes, in_channels):\n    raise NotImplementedError\n")
    monkeypatch.syspath_prepend(str(pkg))
    return pkg


def _loaded(tmp_path, model="python:ek_user_model:build", limit_test=40):
    path = tmp_path / "r.yaml"
    path.write_text(RECIPE.format(data_mod="ek_user_data", model=model, limit_test=limit_test))
    return parse(path.read_text(), path)


def test_user_model_code_is_in_the_train_key(tmp_path, user_code):
    loaded = _loaded(tmp_path)
    before = model_fingerprint(loaded)
    (user_code / "ek_user_model.py").write_text("def build(num_classes, in_channels):\n    return None  # changed\n")
    assert model_fingerprint(loaded) != before


def test_user_model_next_to_the_recipe_is_found_and_hashed(tmp_path, monkeypatch):
    """A python: module beside the recipe (no PYTHONPATH) passes validation from another folder, and editing it
    changes the train key: the module is found where the train stage imports it from."""
    from edgekit.recipe.preflight import preflight

    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir(), elsewhere.mkdir()
    (project / "ek_beside_model.py").write_text("def build(num_classes, in_channels):\n    return None\n")
    path = project / "r.yaml"
    path.write_text(RECIPE.format(data_mod="ek_beside_model", model="python:ek_beside_model:build", limit_test=40))
    monkeypatch.chdir(elsewhere)
    loaded = parse(path.read_text(), path)
    assert preflight(loaded) == []
    before = model_fingerprint(loaded)
    assert before == model_fingerprint(loaded)
    (project / "ek_beside_model.py").write_text("def build(num_classes, in_channels):\n    return 1  # changed\n")
    assert model_fingerprint(loaded) != before


def test_hf_folder_content_is_in_the_train_key(tmp_path, user_code):
    folder = tmp_path / "hfmodel"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"\0" * 64)
    loaded = _loaded(tmp_path, model=f"hf:{folder}")
    before = model_fingerprint(loaded)
    (folder / "model.safetensors").write_bytes(b"\1" * 64)
    assert model_fingerprint(loaded) != before


def test_limit_test_does_not_change_train_keys(tmp_path, user_code):
    keys = {}
    for limit_test in (20, 40):
        loaded = _loaded(tmp_path, limit_test=limit_test)
        ds = load_dataset(loaded.recipe.data, loaded.recipe.seed, tmp_path)
        kinds = stage_kinds()
        train_cfg, _, eval_cfg = loaded.recipe.stages
        keys[limit_test] = (
            stage_key(train_cfg, kinds["train"], [], loaded, ds.fingerprint, ds.train_fingerprint),
            stage_key(eval_cfg, kinds["evaluate"], [], loaded, ds.fingerprint, ds.train_fingerprint),
        )
    assert keys[20][0] == keys[40][0]  # train: same model, no re-training
    assert keys[20][1] != keys[40][1]  # evaluate scores another test subset


FAILING = """\
edgekit: 1
name: {name}
data: {{source: fashion-mnist, path: {path}}}
model: {{source: "edgekit:resnet-small"}}
stages:
  - {{id: train, kind: train, epochs: 1}}
"""


def _ok_record(run_dir: Path, name: str) -> None:
    write_json(run_dir / "run.json", {"recipe": {"name": name}, "status": "ok", "stages": []})


def test_a_run_failing_early_marks_the_run_failed(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    _ok_record(run_dir, "early")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(FAILING.format(name="early", path=tmp_path / "nowhere"))
    assert main(["shrink", str(recipe), "--run-dir", str(run_dir)]) == 2
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "failed" and "nowhere" in record["error"]
    capsys.readouterr()
    assert main(["check", str(run_dir), "--budgets", str(_budgets(tmp_path))]) == 1
    assert "FAIL run_status" in capsys.readouterr().out


def _budgets(tmp_path: Path) -> Path:
    p = tmp_path / "budgets.yaml"
    p.write_text("max_size_mb: 100\n")
    return p


def test_a_run_refused_by_the_owner_check_marks_the_run_failed_and_keeps_the_owner(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    _ok_record(run_dir, "other")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(FAILING.format(name="mine", path=tmp_path))
    assert main(["shrink", str(recipe), "--run-dir", str(run_dir)]) == 2
    assert "holds runs of recipe 'other'" in capsys.readouterr().err
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "failed" and record["recipe"]["name"] == "other"


def test_tree_fingerprint_changes_with_any_source_file(tmp_path):
    src = tmp_path / "edgekit"
    shutil.copytree(codehash.ROOT, src, ignore=shutil.ignore_patterns("__pycache__"))
    before = codehash.tree_fingerprint(src)
    assert before == codehash.tree_fingerprint()
    with open(src / "report" / "check.py", "a") as f:
        f.write("# edit\n")
    assert codehash.tree_fingerprint(src)["source"] != before["source"]
