"""Prompted large-model baselines: the alternative to training that every report measures against.

A provider turns raw samples into class indices without any training on the task:

- ``embedding``: sentence-embedding similarity to label prompts (zero-shot, prompt ensembling).
- ``llm``: a local generative model scoring each label's likelihood (constrained, optional few-shot).
- ``openai``: any OpenAI-compatible chat endpoint (llama.cpp server, Ollama, vLLM, hosted APIs).
- ``clip``: image-text similarity with a local CLIP model (zero-shot image classification).

Each is a class with ``classify(samples) -> (N,) int64``, ``size_bytes``, ``params`` and ``usage()``;
heavy libraries are imported inside the classes so ``import edgekit.baselines`` stays light.
"""

from __future__ import annotations

from edgekit.baselines.base import Baseline, LabelSet, default_label_text

PROVIDERS = ("embedding", "llm", "openai", "clip")

__all__ = ["Baseline", "LabelSet", "PROVIDERS", "default_label_text", "create"]


def create(provider: str, **kw) -> Baseline:
    """Instantiate a provider by name; keyword arguments go to its constructor."""
    if provider == "embedding":
        from edgekit.baselines.embedding import EmbeddingZeroShot as cls
    elif provider == "llm":
        from edgekit.baselines.llm import LLMScorer as cls
    elif provider == "openai":
        from edgekit.baselines.openai import OpenAIChat as cls
    elif provider == "clip":
        from edgekit.baselines.clip import ClipZeroShot as cls
    else:
        raise ValueError(f"unknown provider {provider!r}; known: {', '.join(PROVIDERS)}")
    return cls(**kw)
