"""Structured pruning: remove channels (and attention heads) for real, so the model gets smaller and faster.

    - {id: prune, kind: prune, target: macs, ratio: 0.5}      # remove half of the MACs
    # or: {id: prune, kind: prune, target: latency, ratio: 0.5}  # halve the p50 measured on this machine
    - {id: recover, kind: train, epochs: 2, lr: 1.0e-3, distill: {teacher: train}}
    - {id: export, kind: export}

Recovery: pruning alone costs accuracy, so follow this stage with a ``train`` stage — it fine-tunes the
pruned model it receives (optionally distilling from the unpruned one) and keeps the best validation
epoch. With ``steps > 1`` the target is reached in equal slices; ``finetune_epochs`` then fine-tunes
between slices (not after the last: that is the recovery stage's job), which tolerates harsher targets.

Speed: fewer MACs alone do not make a float model faster on a CPU (odd channel counts miss ONNX Runtime's
blocked kernels). With ``round_to: auto`` (the default) the stage prunes once per channel rounding (none, 8,
16), times each exported candidate against the unpruned model here (edgekit.torchkit.prune_speed) and keeps
the fastest; ``speed`` in its metrics holds what it measured, and a pruned model slower than its parent in every
round is flagged (edgekit.decide.sense: pruned-slower), never passed on silently. ``target: latency`` asks for the speed
itself: it times a grid of MACs shares x roundings against the unpruned model and keeps the least pruning that
measured (smoothed over shares) at or under (1 - ratio) x the parent's p50
(edgekit.torchkit.prune_latency.prune_to_latency); a target no candidate reached keeps the fastest and is flagged
(edgekit.decide.sense: latency-missed). Measured here: set it on the machine the model will run on, or one like it.

Metrics: params and MACs before/after (torch-pruning's counter, per sample), per-layer output widths,
the chosen ``round_to`` and ``speed`` (p50 pruned/parent ratio with per-round min/max, every candidate),
and test accuracy before pruning and right after it (before any recovery). Pruning changes every layer's
input, so BatchNorm statistics are recomputed over training samples before that measurement and before the
model is saved (exact averages, no weight changed): a cheap step that alone recovers much of the loss.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Annotated, Literal

from pydantic import Field

from edgekit.recipe.strict import StageConfig
from edgekit.torchkit.importance import IMPORTANCE
from edgekit.run.registry import register_stage
from edgekit.run.stage import StageContext, StageOutput


class PruneConfig(StageConfig):
    kind: Literal["prune"] = "prune"
    target: Literal["macs", "params", "channels", "latency"] = Field(
        "macs", description="what `ratio` removes, measured (latency: of the p50 measured here, batch 1, 1 thread)"
    )
    ratio: float = Field(0.5, gt=0, lt=1, description="share of the target to remove (0.5: half the MACs)")
    importance: Literal[IMPORTANCE] = Field(  # type: ignore[valid-type]  (derived: the vocabulary is written once)
        "l2", description="how channels are ranked (taylor uses gradients on training samples)"
    )
    scope: Literal["layer", "global"] = Field(
        "layer", description="layer: every layer loses the same share; global: channels ranked model-wide"
    )
    steps: int = Field(1, ge=1, le=50, description="reach the target in this many equal slices")
    finetune_epochs: int = Field(0, ge=0, le=100, description="fine-tuning epochs between slices (steps > 1)")
    lr: float = Field(1e-3, gt=0, lt=10, description="learning rate of the between-slice fine-tuning")
    batch_size: int = Field(128, ge=1, le=65536, description="samples per step of the between-slice fine-tuning")
    # auto: prune once per rounding in AUTO_ROUND_TO and keep the one that measures fastest here (edgekit.torchkit.
    # prune_speed). Which one wins depends on the model and machine: MobileNetV3-Small on 32x32 digits measured 1.9x
    # slower than unpruned with odd widths and 0.57x rounded to 8; resnet18 at 50 % MACs gained little from rounding.
    round_to: Annotated[int, Field(ge=2, le=256)] | Literal["auto"] | None = Field(
        "auto",
        description="keep channel counts multiples of this (8/16: SIMD-friendly); auto: the fastest measured "
        "of none/8/16; null: off",
    )
    measure_speed: bool = Field(
        True,
        description="time the pruned model against its parent here (ONNX Runtime, batch 1, "
        "1 thread, alternating rounds) and record the speed-up",
    )
    max_layer_ratio: float = Field(0.9, gt=0, lt=1, description="never remove more than this share of one layer")
    ignore: list[str] = Field(
        default_factory=list, description="module-name glob patterns to leave untouched, e.g. 'layer4.*'"
    )
    ignore_classifier: bool = Field(True, description="never prune the layer writing the logits")
    attention: Literal["heads", "head-dims"] = Field(
        "heads", description="transformers: remove whole heads or shrink each"
    )
    gradient_samples: int = Field(512, ge=1, le=100_000, description="training samples for taylor importance")


def settings_of(cfg: PruneConfig):
    """The torch-pruning settings this stage asks for (without the seed: the recipe's)."""
    from edgekit.torchkit.pruning import PruneSettings

    return PruneSettings(
        target=cfg.target,
        ratio=cfg.ratio,
        importance=cfg.importance,
        scope=cfg.scope,
        steps=cfg.steps,
        round_to=None if cfg.round_to == "auto" else cfg.round_to,
        max_layer_ratio=cfg.max_layer_ratio,
        ignore=tuple(cfg.ignore),
        ignore_classifier=cfg.ignore_classifier,
        attention=cfg.attention,
    )


def _check_settings(cfg: PruneConfig, error) -> None:
    """Settings that contradict each other; ``error(key, message)`` makes the exception to raise."""
    if cfg.finetune_epochs and cfg.steps == 1:
        raise error(
            "finetune_epochs",
            "fine-tuning runs between slices and needs steps > 1; recover with a train stage after this one",
        )
    if cfg.round_to == "auto" and not cfg.measure_speed:
        raise error(
            "round_to",
            "auto picks the rounding that measures fastest and needs measure_speed: true; give a number or null",
        )
    if cfg.target == "latency" and not cfg.measure_speed:
        raise error("measure_speed", "target: latency is measured; it needs measure_speed: true")


def precheck(loaded, cfg: PruneConfig, model, example) -> None:
    """Prune a copy of the model about to be trained as this stage will (its weights do not matter here): an
    architecture torch-pruning cannot follow (ShuffleNet's channel shuffle) or a target it cannot reach fails
    before the training, not after it."""
    import copy

    import torch

    from edgekit.torchkit.prune_latency import latency_grid
    from edgekit.torchkit.pruning import PruneError, prune

    error = partial(loaded.stage_error, cfg.id)
    _check_settings(cfg, error)
    settings = replace(settings_of(cfg), steps=1)
    if cfg.importance == "taylor":  # no gradients before training; layer-wise, the ranking cannot change the widths
        settings = replace(settings, importance="l2")
    if cfg.target == "latency":  # the lightest prune its grid will try
        settings = replace(settings, target="macs", ratio=latency_grid(cfg.max_layer_ratio)[0])
    try:
        with torch.random.fork_rng():  # the check must not change the training that follows it
            prune(copy.deepcopy(model), example, settings)
    except PruneError as e:
        if e.key == "ratio" and cfg.scope == "global" and settings.importance != cfg.importance:
            return  # a model-wide ranking by another importance reaches other widths: the stage itself will tell
        raise error(e.key, e.message) from None


@register_stage(PruneConfig, consumes="torch", produces="torch", precheck=precheck)
def run(ctx: StageContext, cfg: PruneConfig) -> StageOutput:
    import numpy as np
    import torch
    from torch import nn

    from edgekit.torchkit.models import build_model, load_model, save_model
    from edgekit.torchkit.pruning import PruneError
    from edgekit.torchkit.reshape import diff
    from edgekit.torchkit.training import TrainSettings, batches, evaluate, example_batch, fit, recalibrate_bn

    _check_settings(cfg, ctx.error)
    torch.set_num_threads(ctx.threads)
    torch.manual_seed(ctx.recipe.seed)
    ds = ctx.dataset()
    if ds.kind == "detection":
        from edgekit.torchkit.detect_prune import prune_detection

        return prune_detection(ctx, cfg, ds, settings_of(cfg))
    model, meta = load_model(ctx.input.dir)
    spec, extra = meta["spec"], {k: v for k, v in meta.items() if k not in ("spec", "pruned")}
    pre = meta.get("preprocess") or ds.preprocess()
    example = example_batch(pre, ds.val)
    train, val, test = ds.train, ds.val, ds.test
    if ds.kind == "text":  # token ids once, by the model's own tokenizer; batches() then passes them through
        from edgekit.torchkit.text import token_splits

        train, val, test = token_splits(pre, train, val, test)

    def gradients(m: nn.Module) -> None:  # Taylor importance: |w * dL/dw| summed over a few batches
        m.train()
        loss_fn = nn.CrossEntropyLoss()
        sub = train.take(np.arange(min(cfg.gradient_samples, len(train))))
        for x, y in batches(sub, cfg.batch_size, ds.mean, ds.std):
            loss_fn(m(x), y).backward()
        m.eval()

    def finetune(m: nn.Module, step: int) -> None:
        s = TrainSettings(cfg.finetune_epochs, cfg.lr, cfg.batch_size, seed=ctx.recipe.seed + step)
        fit(m, train, val, ds.mean, ds.std, s, console=ctx.console, label=f"{cfg.id} slice {step}")

    settings = replace(settings_of(cfg), seed=ctx.recipe.seed)
    acc_before = evaluate(model, test, ds.mean, ds.std)
    parent = model
    try:
        result, speed = prune_for_speed(ctx, cfg, parent, example, settings, gradients, finetune)
    except PruneError as e:
        raise ctx.error(e.key, e.message) from None
    model = result.model
    recalibrated = recalibrate_bn(model, train, ds.mean, ds.std, cfg.batch_size, seed=ctx.recipe.seed)
    acc_after = evaluate(model, test, ds.mean, ds.std)

    reference = build_model({**spec, "weights": None}, spec["num_classes"], spec["in_channels"])
    save_model(model, ctx.out, spec, {**extra, "preprocess": pre, "pruned": diff(reference, model)})
    (macs0, macs1), (params0, params1) = result.macs, result.params
    ctx.console.print(
        f"  removed {1 - macs1 / macs0:.0%} of the MACs and {1 - params1 / params0:.0%} of the params; "
        f"test accuracy {acc_before:.2%} -> {acc_after:.2%} before any recovery",
        highlight=False,
    )
    if params1 > 0.9 * params0 and macs1 < 0.9 * macs0:  # a bag-of-words model: its embedding table is the file
        ctx.console.print(
            "  [yellow]note:[/] the parameters sit in layers pruning keeps whole (an embedding table, ignored "
            "layers): the file barely shrinks; quantize it for size",
            highlight=False,
        )
    return StageOutput(
        "model.safetensors",
        {
            "target": cfg.target,
            "ratio": cfg.ratio,  # what was asked, for the report beside what was reached
            "macs_before": macs0,
            "macs_after": macs1,
            "macs_ratio": round(macs1 / macs0, 5),
            "params_before": params0,
            "params_after": params1,
            "params_ratio": round(params1 / params0, 5),
            "test_accuracy_before": round(acc_before, 5),
            "test_accuracy_after_pruning": round(acc_after, 5),
            "test_accuracy": round(acc_after, 5),
            "layers": {name: {"before": b, "after": a} for name, (b, a) in result.layers.items()},
            "ignored": result.ignored,
            "bn_layers_recalibrated": recalibrated,
            "round_to": result_round_to(speed, cfg),
            "speed": speed,
        },
    )


def result_round_to(speed: dict | None, cfg: PruneConfig) -> int | None:
    if speed and "chosen" in speed:
        return None if speed["chosen"] == "none" else int(speed["chosen"])
    return None if cfg.round_to == "auto" else cfg.round_to


def prune_for_speed(ctx: StageContext, cfg: PruneConfig, parent, example, settings, gradients, finetune):
    """(PruneResult, speed metrics or None): edgekit.torchkit.prune_latency.prune_to_latency (target: latency) or
    prune_fastest with this stage's settings; a latency target no candidate reached, or a pruned model measured slower
    than its parent (every round, over 5 %), is said out loud here (and flagged by edgekit.decide.sense)."""
    from edgekit.torchkit.prune_latency import prune_to_latency
    from edgekit.torchkit.prune_speed import AUTO_ROUND_TO, prune_fastest

    between, log = finetune if cfg.finetune_epochs else None, (lambda msg: ctx.console.print(f"  {msg}"))
    if cfg.target == "latency":
        result, speed = prune_to_latency(
            parent,
            example,
            settings,
            AUTO_ROUND_TO if cfg.round_to == "auto" else (cfg.round_to,),
            grad_fn=gradients,
            between=between,
            log=log,
        )
    else:
        result, speed = prune_fastest(
            parent,
            example,
            settings,
            AUTO_ROUND_TO if cfg.round_to == "auto" else None,
            measure=cfg.measure_speed,
            grad_fn=gradients,
            between=between,
            log=log,
        )
    if speed and speed.get("target_met") is False:
        ctx.console.print(
            f"  [yellow]warning:[/] no candidate reached x{speed['latency_target']:.2f} the parent's p50; "
            f"kept the fastest (x{speed['ratio']:.2f}); the report flags it",
            highlight=False,
        )
    if speed and speed["slower_than_parent"]:
        ctx.console.print(
            f"  [yellow]warning:[/] the pruned model measured {speed['ratio']:.2f}x the parent's latency "
            f"here (slower in every round); the report flags it",
            highlight=False,
        )
    return result, speed
