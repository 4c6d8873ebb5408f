"""The open-vocabulary zero-shot detector (``provider: owlvit``) by Hub id: no OWL-ViT weights exist offline here, so
a tiny RANDOM OwlViT (2 layers, 32 px, a byte-level CLIP tokenizer) is written into a local Hub cache under the
default id, google/owlvit-base-patch32, with the Hub unreachable by configuration. The test proves loading by id
(the commit in the stage's manifest), the text-query and post-processing path, and the row; a random model's mAP
is near zero and the sense check must say it is at chance."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from detect_folders import canvases, write_coco
from hubcache import put_in_cache
from test_prompted_detect import CLASSES, SIDE, cli

pytest.importorskip("transformers")
OWL_ID = "google/owlvit-base-patch32"


def tiny_owlvit(folder: Path, seed: int = 0, family: str = "OwlViT") -> Path:
    """A 2-layer OwlViT, or Owlv2 (32-wide towers, 32x32 images, 8 px patches: 16 boxes per image) with a
    character-level CLIP tokenizer (byte-level BPE with no merges), saved as a Hugging Face folder."""
    import torch
    import transformers
    from tokenizers.pre_tokenizers import ByteLevel

    chars = sorted(ByteLevel.alphabet())
    vocab = {t: i for i, t in enumerate(chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"])}
    bos, eos = len(vocab) - 2, len(vocab) - 1
    tokenizer = transformers.CLIPTokenizer(vocab=vocab, merges=[], model_max_length=48)
    torch.manual_seed(seed)
    tower = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2}
    config = getattr(transformers, f"{family}Config")(
        text_config={**tower, "vocab_size": len(vocab), "max_position_embeddings": 48}
        | {"bos_token_id": bos, "eos_token_id": eos, "pad_token_id": eos},
        vision_config={**tower, "image_size": SIDE, "patch_size": 8},
        projection_dim=32,  # the class head compares image embeddings with the text tower's width
    )
    getattr(transformers, f"{family}ForObjectDetection")(config).eval().save_pretrained(folder)
    images = getattr(transformers, f"{family}ImageProcessor")(size={"height": SIDE, "width": SIDE})
    getattr(transformers, f"{family}Processor")(image_processor=images, tokenizer=tokenizer).save_pretrained(folder)
    return folder


def test_owlvit_refuses_a_folder_that_is_no_model(tmp_path):
    from edgekit.baselines import LabelSet, create
    from edgekit.errors import InputError

    with pytest.raises(InputError, match="not a Hugging Face owlvit folder"):
        create("owlvit", model=tmp_path, labels=LabelSet.of(list(CLASSES)))


@pytest.mark.slow  # builds, saves and loads a transformers model (~6 s CPU with the import)
@pytest.mark.parametrize("family", ["OwlViT", "Owlv2"])
def test_owlvit_detects_with_text_queries_in_the_detectors_shape(tmp_path, family):
    from edgekit.baselines import LabelSet, create

    owl = create(
        "owlvit",
        model=tiny_owlvit(tmp_path / "owl", family=family),
        labels=LabelSet.of(list(CLASSES)),
        templates=["a photo of a {label}", "a {label}"],
        score_threshold=0.0,
    )
    x = canvases(3, SIDE, seed=1)[0]  # grey: repeated to 3 channels
    boxes, scores, labels = owl.detect(x)
    assert len(boxes) == len(scores) == len(labels) == 3 and owl.queries[1] == "a a"
    for b, s, lab in zip(boxes, scores, labels):  # a box per patch (16), less the empty ones a random head draws
        assert len(b) <= 16 and b.shape[1:] == (4,) and b.dtype == np.float32 and s.shape == lab.shape == (len(b),)
        assert ((b >= 0) & (b <= SIDE)).all() and (b[:, 2] > b[:, 0]).all() and (b[:, 3] > b[:, 1]).all()
        assert set(lab.tolist()) <= {0, 1, 2} and ((s >= 0) & (s <= 1)).all()  # 6 queries -> 3 classes
    assert owl.pads_square == (family == "Owlv2")  # OWLv2's boxes are in its padded square frame
    assert sum(len(b) for b in boxes) > 0 and owl.params > 0 and owl.size_bytes > 0 and owl.prompt()["queries"] == 6


@pytest.mark.slow  # two shrink runs and a transformers model (~8 s CPU alone)
def test_owlvit_row_by_hub_id_offline_then_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    write_coco(tmp_path / "shelf", *canvases(120, SIDE, seed=5), CLASSES)
    (tmp_path / "r.yaml").write_text(
        'edgekit: 1\nname: owl\nseed: 0\ndata: {source: "coco:shelf"}\n'
        "stages:\n  - {id: owl, kind: prompted, provider: owlvit, latency_runs: 5}\n"  # model: the default Hub id
    )
    code, _, err = cli("shrink", "r.yaml", "--run-dir", "run")
    (row,) = json.loads((tmp_path / "run" / "report.json").read_text())["baselines"]
    assert code == 0 and row["accuracy"] is None and f"offline: {OWL_ID}@main" in row["not_compared"], err

    commit = put_in_cache(cache, OWL_ID, tiny_owlvit(tmp_path / "tiny-owl"))
    code, _, err = cli("shrink", "r.yaml", "--run-dir", "run")
    assert code == 0, err
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    (row,) = report["baselines"]
    assert row["provider"] == "owlvit" and row["model"] == OWL_ID and row["metric"] == "mAP@0.5:0.95"
    assert row["test_samples"] == 12 and row["mean_detections"] > 0 and row["unparsed"] == 0
    assert row["params"] > 0 and row["size_bytes"] > 0 and row["latency_runs"] == 5 and row["latency_ms"]["p50"] > 0
    assert row["prompt"]["templates"] == ["a photo of a {label}"] and row["cost_per_1k"] is None
    (stage,) = [s for s in json.loads((tmp_path / "run" / "run.json").read_text())["stages"] if s["id"] == "owl"]
    manifest = json.loads((tmp_path / "run" / stage["dir"] / "manifest.json").read_text())
    assert manifest["hub"][0]["id"] == OWL_ID and manifest["hub"][0]["commit"] == commit
    # random weights: mAP near zero, and the report says so rather than comparing it as a detector
    assert row["accuracy"] < 0.05 and row["accuracy_ci95"][0] <= 0.005
    (chance,) = [f for f in report["sense"] if f["artifact"] == "owl"]
    assert chance["check"] == "chance" and "at chance level" in chance["message"]
