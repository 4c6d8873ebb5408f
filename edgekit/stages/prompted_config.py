"""The prompted stage's config: a pydantic union discriminated by ``provider``, one strict model per family.

    EmbeddingConfig   embedding       prompts, latency_runs, threads          (local, label-prompt similarity)
    ImageTextConfig   clip / siglip   prompts, latency_runs, threads          (local, image-text similarity)
    LLMConfig         llm             instruction, few_shot, calibrate, threads (local, label likelihood)
    OpenAIConfig      openai          instruction, few_shot, base_url, timeout_s, retries, prices, ... (endpoint)
    GroundingConfig   grounding       instruction, max_tokens, base_url, timeout_s, ... (endpoint, boxes)
    OwlViTConfig      owlvit          prompts, score_threshold, latency_runs, threads (local, boxes)

Each model has only its own keys (``extra="forbid"``), so a key of another family (``timeout_s`` on a local
model, ``prompts`` for a chat endpoint) is a recipe error at ``edgekit validate``, never silently ignored;
edgekit.recipe.variants words it as "'timeout_s' does not apply to the embedding provider (openai only)".
The tags are the ``PROVIDERS`` vocabulary (tests/test_vision_prompting.py checks the two agree). Which task each
provider serves is checked against the recipe's data at ``edgekit validate`` too (``check_recipe``): boxes for a
detection recipe (grounding, owlvit), a class for any other.
"""

from __future__ import annotations

import os
import re
from typing import Annotated, Literal

from pydantic import Field

from edgekit.baselines import PROVIDERS, serves
from edgekit.detect.task import task_of
from edgekit.recipe.strict import StageConfig

ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")  # a whole value "${NAME}"
EnvRef = Annotated[str, Field(pattern=ENV_REF.pattern)]
Price = Annotated[float, Field(ge=0)] | EnvRef | None  # a number >= 0 or "${NAME}" (checked again once read)
ENV_FIELDS = ("base_url", "model", "price_input_per_1m", "price_output_per_1m")


class PromptedBase(StageConfig):
    """Keys every provider has (not a config itself: the union below picks a family by ``provider``)."""

    kind: Literal["prompted"] = "prompted"
    model: str | None = Field(
        None,
        description="local model folder or file (relative to the recipe, or package/path inside an installed package); "
        'for openai the remote model name; "${NAME}" reads an environment variable',
    )
    labels: dict[str, str] | None = Field(
        None, description="description of each class used in prompts (default: the class name)"
    )
    samples: int | None = Field(
        None,
        ge=1,
        description="score a seeded subset of this many test samples (slow or paid providers); "
        "the evaluate stage scores every artifact on the same subset",
    )
    price_per_1k: float | None = Field(
        None, ge=0, description="cost per 1000 queries (e.g. hosting), reported as cost_per_1k"
    )

    def env_refs(self) -> dict[str, str]:
        """Field -> environment variable, for values written as ${NAME}."""
        values = {f: getattr(self, f, None) for f in ENV_FIELDS}
        return {f: m.group(1) for f, v in values.items() if isinstance(v, str) and (m := ENV_REF.match(v))}

    def key_context(self, recipe) -> dict | None:
        """The referenced variables' values belong in the stage key: another endpoint or model is another result."""
        refs = self.env_refs()
        return {"env": {name: os.environ.get(name) for name in refs.values()}} if refs else None

    def resolved(self, ctx) -> PromptedBase:
        """The config with ${NAME} values read from the environment (an unset price is no price)."""
        update = {}
        for f, name in self.env_refs().items():
            value = os.environ.get(name) or None
            if value is not None and f.startswith("price"):
                try:
                    price = float(value)
                except ValueError:
                    price = -1.0
                if not price >= 0:  # a negative number, NaN or no number at all
                    raise ctx.error(f, f"${name} = {value!r} is not a price (a number >= 0)") from None
                value = price
            update[f] = value
        return self.model_copy(update=update)

    def hub_models(self) -> list[str]:
        """A local provider's model, which may be a Hub id: edgekit.run.stagekey resolves it and keys its commit."""
        local = not PROVIDERS[self.provider].remote and self.model and not ENV_REF.match(self.model)
        return [self.model] if local else []

    def check_recipe(self, recipe) -> tuple[str, str] | None:
        """A provider for another task than the recipe's data: ("provider", why), else None."""
        task = task_of(recipe)
        if serves(self.provider, task):
            return None
        fits = [n for n in PROVIDERS if serves(n, task)]
        does = "finds boxes (detection data)" if task != "detection" else "classifies text or images"
        use = " or ".join([", ".join(fits[:-1]), fits[-1]] if len(fits) > 2 else fits)
        return (
            "provider",
            f"the {self.provider} provider {does}; this recipe's data is {task} (use {use})",
        )

    def required_env(self) -> list[str]:
        """Variables without which there is nothing to prompt (endpoint and model; prices are optional)."""
        return [name for f, name in self.env_refs().items() if f in ("base_url", "model")]


class _Local(PromptedBase):
    threads: int = Field(1, ge=1, le=256, description="torch threads while timing batch-1 queries (local providers)")


class _Templates(_Local):
    prompts: list[str] | None = Field(
        None,
        min_length=1,
        description="embedding/clip/siglip: label prompt templates with {label}, averaged (prompt ensembling); "
        "owlvit: each filled template is a text query",
    )
    latency_runs: int = Field(
        30,
        ge=1,
        le=100_000,
        description="batch-1 queries timed (embedding/clip/siglip/owlvit; llm/openai time every query)",
    )


class _Instruction(PromptedBase):
    instruction: str | None = Field(
        None,
        description="llm/openai: the task text, with {labels} (and, for text, {input}) placeholders; grounding: "
        "with {labels}, {width} and {height}",
    )


class _Instructed(_Instruction):
    few_shot: int = Field(
        0,
        ge=0,
        le=64,
        description="llm/openai: labelled training examples (texts or images) shown before each query, seeded",
    )


class EmbeddingConfig(_Templates):
    """Sentence-embedding similarity to label prompts (text)."""

    provider: Literal["embedding"] = Field(description="how the large model is prompted")


class ImageTextConfig(_Templates):
    """Image-text similarity with a local CLIP or SigLIP model (images)."""

    provider: Literal["clip", "siglip"] = Field(description="how the large model is prompted")


class LLMConfig(_Instructed, _Local):
    """A local generative model scoring each label's likelihood (text)."""

    provider: Literal["llm"] = Field(description="how the large model is prompted")
    calibrate: bool = Field(
        True,
        description="llm: subtract each label's log-probability on content-free inputs "
        '("N/A") before taking the most likely; '
        "corrects a small model's preference for some label words",
    )


class _Endpoint(PromptedBase):
    """An OpenAI-compatible chat endpoint's keys (openai, grounding)."""

    price_input_per_1m: Price = Field(
        None, description='openai/grounding: price per million prompt tokens (or "${NAME}")'
    )
    price_output_per_1m: Price = Field(
        None, description='openai/grounding: price per million completion tokens (or "${NAME}")'
    )
    base_url: str | None = Field(
        None,
        description="openai/grounding: endpoint base URL, e.g. http://127.0.0.1:8080/v1, "
        'or "${NAME}" for an environment variable',
    )
    api_key_env: str = Field(
        "OPENAI_API_KEY",
        description="openai/grounding: environment variable holding the API key (may be unset for local servers)",
    )
    timeout_s: float = Field(30.0, gt=0, le=3600, description="openai/grounding: per-request timeout")
    retries: int = Field(
        3, ge=0, le=20, description="openai/grounding: retries with exponential backoff on timeouts, 429 and 5xx"
    )
    concurrency: int = Field(4, ge=1, le=256, description="openai/grounding: requests in flight at once")
    cache: bool = Field(
        True,
        description="openai/grounding: keep every answer on disk (~/.cache/edgekit/openai) "
        "so a rerun or a failed run never pays twice",
    )
    image_size: int = Field(
        224,
        ge=8,
        le=4096,
        description="openai on images, grounding: pixels high each image is resized to before it is sent",
    )
    image_format: Literal["png", "jpeg"] = Field(
        "png", description="openai on images, grounding: how images are encoded in the data URIs"
    )


class OpenAIConfig(_Instructed, _Endpoint):
    """Any OpenAI-compatible chat endpoint (text, or images as data URIs)."""

    provider: Literal["openai"] = Field(description="how the large model is prompted")


class GroundingConfig(_Instruction, _Endpoint):
    """A vision-language model behind an OpenAI-compatible endpoint, asked for boxes as JSON (detection)."""

    provider: Literal["grounding"] = Field(description="how the large model is prompted")
    max_tokens: int = Field(
        512, ge=16, le=32768, description="grounding: completion tokens allowed per answer (a box is ~20)"
    )


class OwlViTConfig(_Templates):
    """An open-vocabulary zero-shot detector (OWL-ViT, OWLv2) by Hub id or folder, class names as text queries."""

    provider: Literal["owlvit"] = Field(description="how the large model is prompted")
    model: str | None = Field(
        "google/owlvit-base-patch32",
        description="owlvit: Hub id (org/name[@revision]) or folder of an OWL-ViT or OWLv2 model",
    )
    score_threshold: float = Field(
        0.05, ge=0, le=1, description="owlvit: boxes scoring below this are dropped (mAP ranks the rest by score)"
    )


# member order = PROVIDERS order, so "(embedding/llm/clip/siglip only)" lists providers as docs/prompting.md does
PromptedConfig = Annotated[
    EmbeddingConfig | LLMConfig | OpenAIConfig | ImageTextConfig | GroundingConfig | OwlViTConfig,
    Field(discriminator="provider"),
]
