"""Train (or fine-tune) a classifier. Starts from the recipe's model, or from the previous stage's model
when there is one (e.g. recovery after pruning).

``distill: {teacher: train}`` adds knowledge distillation from an earlier torch model (usually the
unpruned one when recovering after ``prune``). The teacher must be an ancestor of this stage's input, so
the cache key, which already covers the input's lineage, covers the teacher too."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edgekit.strict import ID_PATTERN, StageConfig, Strict
from edgekit.registry import register_stage
from edgekit.stage import StageContext, StageOutput


class DistillConfig(Strict):
    teacher: str = Field(pattern=ID_PATTERN, description="id of an earlier stage whose torch model teaches (an ancestor of the input)")
    temperature: float = Field(4.0, gt=0, le=100, description="softmax temperature of both models' logits")
    weight: float = Field(0.7, ge=0, le=1, description="share of the distillation term; the rest is cross-entropy on labels")


class TrainConfig(StageConfig):
    kind: Literal["train"] = "train"
    epochs: int = Field(3, ge=1, le=1000, description="passes over the training split")
    lr: float = Field(3e-3, gt=0, lt=10, description="peak learning rate (write 4.0e-3: YAML reads 4e-3 without a dot as text)")
    batch_size: int = Field(128, ge=1, le=65536, description="training samples per step")
    optimizer: Literal["adamw", "sgd"] = Field("adamw", description="adamw (fused) or sgd with Nesterov momentum")
    weight_decay: float = Field(5e-4, ge=0, lt=1, description="L2 weight decay (decoupled for adamw)")
    schedule: Literal["onecycle", "cosine", "constant"] = Field("onecycle", description="learning-rate schedule over all steps")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="share of the target probability spread over the other classes")
    augment: bool = Field(False, description="random flips and shifts of training images (helps long schedules, slows short ones)")
    channels_last: bool = Field(False, description="train CNNs in NHWC memory layout: faster oneDNN kernels on CPU")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="where to train; artifacts are always CPU models")
    distill: DistillConfig | None = Field(None, description="knowledge distillation from an earlier model")


@register_stage(TrainConfig, consumes="torch?", produces="torch")
def run(ctx: StageContext, cfg: TrainConfig) -> StageOutput:
    import torch

    from edgekit.fsutil import resolve_path
    from edgekit.sense import chance_level, near_chance
    from edgekit.torchkit.models import build_model, load_model, load_weights, save_model
    from edgekit.torchkit.small_maps import fast_small_map_convs
    from edgekit.torchkit.training import TrainSettings, distillation_loss, evaluate, fit, pick_device

    torch.set_num_threads(ctx.threads)
    torch.manual_seed(ctx.recipe.seed)
    ds = ctx.dataset()
    if ctx.input is not None:
        model, meta = load_model(ctx.input.dir)
        spec, extra = meta["spec"], {k: v for k, v in meta.items() if k != "spec"}
    elif ds.kind == "text":
        from edgekit.errors import InputError
        from edgekit.torchkit.text import new_text_model

        try:
            model, spec, pre = new_text_model(ctx.recipe.model, ds, ctx.loaded.file.parent)
        except InputError as e:
            raise ctx.loaded.error(("model", "source"), e.message.removeprefix("model.source: ")) from None
        extra = {"preprocess": pre}
    else:
        spec = {**ctx.recipe.model.model_dump(), "num_classes": len(ds.classes), "in_channels": ds.input_shape[0]}
        if spec["source"].startswith("python:"):  # later stages rebuild the model from its module, next to the recipe
            spec["code_dir"] = str(ctx.loaded.file.parent.resolve())
        model = build_model(spec, spec["num_classes"], spec["in_channels"])
        weights = spec.get("weights")
        if weights and weights != "imagenet":
            path = resolve_path(weights, ctx.loaded.file.parent)
            if not path.is_file():
                raise ctx.loaded.error(("model", "weights"), f"{path}: no such weights file")
            try:
                model.load_state_dict(load_weights(path))
            except (RuntimeError, OSError, ValueError) as e:
                raise ctx.loaded.error(("model", "weights"), f"{path}: does not fit the model ({str(e).splitlines()[0]})") from None
        extra = {}
    if ds.kind == "text":  # the tokenizer is part of the model: keep the one it was built with
        from edgekit.torchkit.text import token_splits

        train, val, test = token_splits(extra["preprocess"], ds.train, ds.val, ds.test)
    else:
        extra["preprocess"] = ds.preprocess()
        train, val, test = ds.train, ds.val, ds.test
    settings = TrainSettings(cfg.epochs, cfg.lr, cfg.batch_size, cfg.optimizer, cfg.weight_decay,
                             schedule=cfg.schedule, label_smoothing=cfg.label_smoothing, augment=cfg.augment,
                             seed=ctx.recipe.seed, device=pick_device(cfg.device), channels_last=cfg.channels_last)
    loss_fn, teachers = None, []
    if cfg.distill is not None:
        teachers = [load_model(_ancestor(ctx, cfg.distill.teacher).dir)[0].to(settings.device)]
        loss_fn = distillation_loss(teachers[0], cfg.distill.temperature, cfg.distill.weight, cfg.label_smoothing)
    with fast_small_map_convs(*teachers):
        result = fit(model, train, val, ds.mean, ds.std, settings, console=ctx.console, loss_fn=loss_fn, label=cfg.id)
    with fast_small_map_convs(model):
        test_acc = evaluate(model, test, ds.mean, ds.std)
    save_model(model, ctx.out, spec, extra)
    params = sum(p.numel() for p in model.parameters())
    chance = chance_level(test.y.tolist())
    if chance is not None and near_chance(test_acc, chance):  # the loss did not fall either (else fit stopped)
        ctx.console.print(f"  [bold yellow]![/] test accuracy {test_acc:.4f} is at chance level ({chance:.4f}): "
                          f"the model learned nothing; try another lr or more epochs", highlight=False)
    return StageOutput("model.safetensors", {**result, "test_accuracy": round(test_acc, 5), "params": params,
                                             "test_chance_accuracy": chance})


def _ancestor(ctx: StageContext, stage_id: str):
    """The artifact of ``stage_id`` on this stage's input lineage (input, its input, ...)."""
    where = ctx.loaded.stage_loc(ctx.cfg.id, "distill", "teacher")
    art = ctx.ancestor(stage_id)
    if art is None:
        raise ctx.loaded.error(where, f"'{stage_id}' is not an earlier stage on this stage's input lineage")
    if art.produces != "torch":
        raise ctx.loaded.error(where, f"stage '{stage_id}' produces {art.produces or 'no model'}, a teacher must be a torch model")
    return art
