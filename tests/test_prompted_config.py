"""The prompted stage's config: a key that belongs to another provider (an endpoint's timeout on a local model,
an instruction for a similarity model) is rejected by `edgekit validate` with file, line and key, never ignored:
the config is a union discriminated by `provider` (edgekit.stages.prompted_config), one model per family."""

from __future__ import annotations

import pytest

from edgekit.cli.main import main

RECIPE = """\
edgekit: 1
name: p
data: {source: wordnet-nouns, limit_train: 100, limit_test: 50}
model: {source: "edgekit:bow"}
stages:
  - id: zero-shot
    kind: prompted
    provider: PROVIDER
EXTRA"""


def _validate(tmp_path, provider: str, extra: str, capsys) -> tuple[int, str]:
    path = tmp_path / "recipe.yaml"
    path.write_text(RECIPE.replace("PROVIDER", provider).replace("EXTRA", extra))
    code = main(["validate", str(path)])
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    "provider, extra, key, only",
    [
        ("embedding", "    timeout_s: 5\n", "timeout_s", "openai/grounding only"),
        ("embedding", "    retries: 1\n", "retries", "openai/grounding only"),
        ("llm", "    base_url: http://127.0.0.1:8080/v1\n", "base_url", "openai/grounding only"),
        ("embedding", "    instruction: 'Classify {input}'\n", "instruction", "llm/openai/grounding only"),
        (
            "openai",
            "    base_url: http://h/v1\n    model: m\n    prompts: ['{label}']\n",
            "prompts",
            "embedding/clip/siglip/owlvit only",
        ),
        ("embedding", "    calibrate: false\n", "calibrate", "llm only"),
        (
            "openai",
            "    base_url: http://h/v1\n    model: m\n    threads: 2\n",
            "threads",
            "embedding/llm/clip/siglip/owlvit only",
        ),
    ],
)
def test_a_key_of_another_provider_is_rejected_at_validate(tmp_path, capsys, provider, extra, key, only):
    code, err = _validate(tmp_path, provider, extra, capsys)
    assert code == 2 and "Traceback" not in err, err
    line = 9 + [ln.split(":")[0].strip() for ln in extra.splitlines()].index(key)  # the misplaced key's own line
    assert f"recipe.yaml:{line}: stages[0].{key}: '{key}' does not apply to the {provider} provider ({only})" in err, (
        err
    )
    assert err.count("\n") == 1  # one line


def test_keys_of_the_provider_pass(tmp_path, capsys):
    extra = "    base_url: http://h/v1\n    model: m\n    timeout_s: 5\n    retries: 1\n    few_shot: 2\n"
    assert _validate(tmp_path, "openai", extra, capsys)[0] == 0
    assert _validate(tmp_path, "llm", "    calibrate: false\n    threads: 2\n", capsys)[0] == 0


def test_an_unknown_provider_gets_a_did_you_mean(tmp_path, capsys):
    code, err = _validate(tmp_path, "embeding", "", capsys)
    assert (
        code == 2
        and "recipe.yaml:8: stages[0].provider: unknown provider 'embeding' (did you mean 'embedding'?)" in err
    )


def test_a_key_of_no_provider_is_an_unknown_key(tmp_path, capsys):
    code, err = _validate(tmp_path, "clip", "    prompt: ['a {label}']\n", capsys)
    assert code == 2 and "stages[0].prompt: unknown key 'prompt' (did you mean 'prompts'?)" in err, err


@pytest.mark.parametrize(
    "extra, message",
    [
        ("    price_input_per_1m: -1\n", "price_input_per_1m"),
        ("    price_output_per_1m: cheap\n", "price_output_per_1m"),
        ("    price_per_1k: -0.5\n", "price_per_1k"),
    ],
)
def test_a_price_is_validated(tmp_path, capsys, extra, message):
    code, err = _validate(tmp_path, "openai", "    base_url: http://h/v1\n    model: m\n" + extra, capsys)
    assert code == 2 and "Traceback" not in err and f"recipe.yaml:11: stages[0].{message}" in err, err


def test_each_provider_validates_to_its_family_model(tmp_path):
    from edgekit.recipe.read import parse

    expect = {"embedding": "EmbeddingConfig", "llm": "LLMConfig", "openai": "OpenAIConfig"}
    expect.update(clip="ImageTextConfig", siglip="ImageTextConfig")
    for provider, name in expect.items():
        loaded = parse(RECIPE.replace("PROVIDER", provider).replace("EXTRA", ""), tmp_path / "r.yaml")
        (cfg,) = loaded.recipe.stages
        assert type(cfg).__name__ == name and cfg.provider == provider
