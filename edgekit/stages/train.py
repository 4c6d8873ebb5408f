"""Train (or fine-tune) a classifier. Starts from the recipe's model, or from the previous stage's model
when there is one (e.g. recovery after pruning).

    - {id: train, kind: train, epochs: 2, lr: 4.0e-3, batch_size: 256}
    - {id: recover, kind: train, epochs: 1, distill: {teacher: train, temperature: 4.0, weight: 0.5}}
    - {id: small, kind: train, model: {source: "edgekit:resnet-small", width: 0.5}, epochs: 3}

``distill: {teacher: train}`` adds knowledge distillation from an earlier torch model (usually the
unpruned one when recovering after ``prune``). The teacher must be an ancestor of this stage's input, so
the cache key, which already covers the input's lineage, covers the teacher too.

``model:`` starts a second lineage in the same recipe (e.g. a small student next to a fine-tuned encoder):
the stage builds that model instead of the recipe's and reads no earlier stage.

Text encoders (``hf:``) with ``head:`` start from the prompted zero-shot classifier and train the head on
cached embeddings first (``edgekit.torchkit.text_head``); ``encoder: frozen`` stops there (seconds on a CPU)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edgekit.recipe.model_config import ModelConfig
from edgekit.recipe.strict import ID_PATTERN, StageConfig, Strict
from edgekit.run.registry import register_stage
from edgekit.run.stage import StageContext, StageOutput
from edgekit.stages.model_start import start_model
from edgekit.stages.teach import DEFAULT_TEMPERATURE, DEFAULT_WEIGHT, teach
from edgekit.stages.train_ddp import distributed, fit_distributed, world_key


class DistillConfig(Strict):
    teacher: str = Field(
        pattern=ID_PATTERN, description="id of an earlier stage whose torch model teaches (an ancestor of the input)"
    )
    temperature: float = Field(
        DEFAULT_TEMPERATURE, gt=0, le=100, description="softmax temperature of both models' logits"
    )
    weight: float = Field(
        DEFAULT_WEIGHT, ge=0, le=1, description="share of the distillation term; the rest is cross-entropy on labels"
    )
    unlabelled: int = Field(
        0,
        ge=0,
        le=10_000_000,
        description="text: extra training samples beyond data.limit_train, "
        "taught by the teacher alone (its logits computed once, up front)",
    )


class HeadConfig(Strict):
    init: Literal["prompted", "random"] = Field(
        "prompted", description="prompted: the head starts as the zero-shot classifier over the label prompts"
    )
    prompts: list[str] = Field(
        ["This is a definition of {label}."], min_length=1, description="label prompt templates with {label}, averaged"
    )
    labels: dict[str, str] | None = Field(
        None, description="description of each class used in prompts (default: the class name)"
    )
    scale: float = Field(20.0, gt=0, le=1000, description="logits = scale x cosine similarity to the label embeddings")
    epochs: int = Field(
        30, ge=0, le=10_000, description="head-only epochs on cached embeddings of the training texts (encoder frozen)"
    )
    lr: float = Field(1e-2, gt=0, lt=10, description="learning rate of the head-only epochs")


class TrainConfig(StageConfig):
    kind: Literal["train"] = "train"
    epochs: int = Field(3, ge=1, le=1000, description="passes over the training split")
    lr: float = Field(
        3e-3, gt=0, lt=10, description="peak learning rate (write 4.0e-3: YAML reads 4e-3 without a dot as text)"
    )
    batch_size: int = Field(128, ge=1, le=65536, description="training samples per step")
    optimizer: Literal["adamw", "sgd"] = Field("adamw", description="adamw (fused) or sgd with Nesterov momentum")
    weight_decay: float = Field(5e-4, ge=0, lt=1, description="L2 weight decay (decoupled for adamw)")
    schedule: Literal["onecycle", "cosine", "constant"] = Field(
        "onecycle", description="learning-rate schedule over all steps"
    )
    label_smoothing: float = Field(
        0.0, ge=0, lt=1, description="share of the target probability spread over the other classes"
    )
    augment: bool = Field(
        False, description="random flips and shifts of training images (helps long schedules, slows short ones)"
    )
    channels_last: bool = Field(False, description="train CNNs in NHWC memory layout: faster oneDNN kernels on CPU")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="where to train; artifacts are always CPU models"
    )
    distill: DistillConfig | None = Field(None, description="knowledge distillation from an earlier model")
    model: ModelConfig | None = Field(
        None,
        description="train this model from its start instead of the recipe's "
        "(a second lineage; reads no earlier stage)",
    )
    head: HeadConfig | None = Field(
        None, description="text encoders (hf:): prompted head init, then head-only training on cached embeddings"
    )
    encoder: Literal["finetune", "frozen"] = Field(
        "finetune", description="with head: fine-tune the whole encoder after the head (epochs, lr) or keep it frozen"
    )

    def key_context(self, recipe) -> dict | None:
        """The world size when the CLI launches DDP (``--nproc-per-node``/``--nnodes``): edgekit.stages.train_ddp."""
        return world_key()


@register_stage(TrainConfig, consumes="torch?", produces="torch")
def run(ctx: StageContext, cfg: TrainConfig) -> StageOutput:
    import torch

    from edgekit.decide.sense import chance_level, near_chance
    from edgekit.torchkit.models import load_model, save_model
    from edgekit.torchkit.small_maps import fast_small_map_convs
    from edgekit.torchkit.distill_loss import distillation_loss
    from edgekit.torchkit.training import TrainSettings, evaluate, example_batch, fit, pick_device

    torch.set_num_threads(ctx.threads)
    torch.manual_seed(ctx.recipe.seed)
    ds = ctx.dataset()
    if ds.kind == "detection":
        from edgekit.torchkit.detect_stage import train_detection

        return train_detection(ctx, cfg, ds)
    if cfg.head is not None and (
        ds.kind != "text" or ctx.input is not None or not _model_cfg(ctx, cfg).source.startswith("hf:")
    ):
        raise ctx.error(
            "head", "head: initialises a text encoder's new head (hf: model, trained from its start, text data)"
        )
    if cfg.encoder == "frozen" and cfg.head is None:
        raise ctx.error("encoder", "a frozen encoder trains only its head: add head: (e.g. head: {init: prompted})")
    if ctx.input is not None:
        model, meta = load_model(ctx.input.dir)
        spec, extra = meta["spec"], {k: v for k, v in meta.items() if k != "spec"}
    else:
        model, spec, extra = start_model(ctx, _model_cfg(ctx, cfg), ds, normalize=cfg.head is not None)
    if ds.kind == "text":  # the tokenizer is part of the model: keep the one it was built with
        from edgekit.torchkit.text import token_splits

        train, val, test = token_splits(extra["preprocess"], ds.train, ds.val, ds.test)
    else:
        extra["preprocess"] = ds.preprocess()
        train, val, test = ds.train, ds.val, ds.test
    if ctx.before_training is not None:  # a later prune stage that could never run fails now, not after training
        ctx.before_training(model, example_batch(extra["preprocess"], ds.val))
    settings = TrainSettings(
        cfg.epochs,
        cfg.lr,
        cfg.batch_size,
        cfg.optimizer,
        cfg.weight_decay,
        schedule=cfg.schedule,
        label_smoothing=cfg.label_smoothing,
        augment=cfg.augment,
        seed=ctx.recipe.seed,
        device=pick_device(cfg.device),
        channels_last=cfg.channels_last,
    )
    loss_fn, teachers, taught = None, [], {}
    if cfg.distill is not None and cfg.distill.unlabelled:
        train, loss_fn, taught = _taught_with_unlabelled(ctx, cfg.distill, ds, extra["preprocess"])
    elif cfg.distill is not None:
        teachers = [load_model(_ancestor(ctx, cfg.distill.teacher).dir)[0].to(settings.device)]
        loss_fn = distillation_loss(teachers[0], cfg.distill.temperature, cfg.distill.weight, cfg.label_smoothing)

    def fit_all(m):
        with fast_small_map_convs(*teachers):
            return fit(m, train, val, ds.mean, ds.std, settings, console=ctx.console, loss_fn=loss_fn, label=cfg.id)

    if cfg.head is not None:
        from edgekit.runtime.preprocess import prepare
        from edgekit.torchkit.text_head import train_head_first

        result = train_head_first(
            model,
            lambda raw: prepare(extra["preprocess"], raw),
            train,
            val,
            _head_settings(ctx, cfg, ds),
            fit_all,
            log=lambda msg: ctx.console.print(f"  {msg}"),
        )
    elif distributed(ds, cfg):
        teacher = _ancestor(ctx, cfg.distill.teacher).dir if cfg.distill is not None else None
        result = fit_distributed(ctx, cfg, model, spec, extra, settings, teacher)
    else:
        result = fit_all(model)
    with fast_small_map_convs(model):
        test_acc = evaluate(model, test, ds.mean, ds.std)
    save_model(model, ctx.out, spec, extra)
    params = sum(p.numel() for p in model.parameters())
    chance = chance_level(test.y.tolist())
    if chance is not None and near_chance(test_acc, chance):  # the loss did not fall either (else fit stopped)
        ctx.console.print(
            f"  [bold yellow]![/] test accuracy {test_acc:.4f} is at chance level ({chance:.4f}): "
            f"the model learned nothing; try another lr or more epochs",
            highlight=False,
        )
    return StageOutput(
        "model.safetensors",
        {**result, "test_accuracy": round(test_acc, 5), "params": params, "test_chance_accuracy": chance, **taught},
    )


def _model_cfg(ctx: StageContext, cfg: TrainConfig) -> ModelConfig:
    return cfg.model or ctx.recipe.model


def _head_settings(ctx: StageContext, cfg: TrainConfig, ds):
    from edgekit.torchkit.text_head import HeadSettings, descriptions_for

    h = cfg.head
    try:
        descriptions = descriptions_for(ds.classes, h.labels)
    except ValueError as e:
        raise ctx.error("head", str(e)) from None
    bad = next((t for t in h.prompts if "{label}" not in t), None)
    if bad is not None:
        raise ctx.error("head", f"prompt {bad!r} has no {{label}} placeholder")
    return HeadSettings(
        descriptions, tuple(h.prompts), h.init, h.scale, h.epochs, h.lr, encoder=cfg.encoder, seed=ctx.recipe.seed
    )


def _taught_with_unlabelled(ctx: StageContext, d: DistillConfig, ds, pre: dict):
    """(training split of labelled + unlabelled inputs with index targets, its soft-label loss, metrics): the
    teacher scores every sample once, up front (edgekit.stages.teach, shared with the distill stage): on unlabelled
    samples its soft labels are the only target, so they cannot come from a batch-by-batch teacher."""
    import numpy as np

    from edgekit.data.dataset import Split
    from edgekit.runtime.preprocess import prepare

    where = ctx.loaded.stage_loc(ctx.cfg.id, "distill", "unlabelled")
    got = teach(
        ctx,
        _ancestor(ctx, d.teacher).dir,
        ds,
        d.unlabelled,
        d.temperature,
        d.weight,
        lambda msg: ctx.loaded.error(where, msg),
    )
    train = Split(prepare(pre, got.raw), np.arange(len(got.raw), dtype=np.int64))  # targets: indices into logits
    return train, got.loss, {"labelled_samples": got.labelled, "unlabelled_samples": got.unlabelled}


def _ancestor(ctx: StageContext, stage_id: str):
    """The artifact of ``stage_id`` on this stage's input lineage (input, its input, ...)."""
    where = ctx.loaded.stage_loc(ctx.cfg.id, "distill", "teacher")
    art = ctx.ancestor(stage_id)
    if art is None:
        raise ctx.loaded.error(where, f"'{stage_id}' is not an earlier stage on this stage's input lineage")
    if art.produces != "torch":
        raise ctx.loaded.error(
            where, f"stage '{stage_id}' produces {art.produces or 'no model'}, a teacher must be a torch model"
        )
    return art
