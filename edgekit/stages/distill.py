"""Train a new, small student from an earlier (large) torch model's soft labels: "train big, then shrink".

    - {id: finetune, kind: train, head: {init: prompted}}                   # the teacher: fine-tuned MiniLM
    - {id: distilled, kind: distill, student: {source: "edgekit:bow"}, unlabelled: 10000}

The teacher is this stage's input (so the cache key covers its content); the student is built from
``student:`` like a recipe model and may read the data differently (its own tokenizer): the teacher scores
every training sample once with its own preprocessing (``edgekit.torchkit.soft_labels``). ``unlabelled: N``
adds N more training texts the student never sees labels for, taken from the training split beyond
``data.limit_train`` — the teacher labels them (the "vast private data" case)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edgekit.recipe.model_config import ModelConfig
from edgekit.recipe.strict import StageConfig
from edgekit.run.registry import register_stage
from edgekit.run.stage import StageContext, StageOutput
from edgekit.stages.teach import DEFAULT_TEMPERATURE, DEFAULT_WEIGHT, teach
from edgekit.stages.train_ddp import fit_distributed, world_key


class DistillStageConfig(StageConfig):
    kind: Literal["distill"] = "distill"
    student: ModelConfig = Field(description="the model to train, built from its start like the recipe's model:")
    epochs: int = Field(4, ge=1, le=1000, description="passes over the (labelled + unlabelled) training texts")
    lr: float = Field(1e-2, gt=0, lt=10, description="peak learning rate of the student")
    batch_size: int = Field(256, ge=1, le=65536, description="training samples per step")
    weight_decay: float = Field(0.0, ge=0, lt=1, description="decoupled AdamW weight decay")
    schedule: Literal["onecycle", "cosine", "constant"] = Field(
        "onecycle", description="learning-rate schedule over all steps"
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
        description="extra training samples beyond data.limit_train, taught by the teacher alone",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="where to train; artifacts are always CPU models"
    )

    def key_context(self, recipe) -> dict | None:
        """The world size under a DDP launch (``--nproc-per-node``), as for train."""
        return world_key()


@register_stage(DistillStageConfig, consumes="torch", produces="torch")
def run(ctx: StageContext, cfg: DistillStageConfig) -> StageOutput:
    from dataclasses import replace

    import numpy as np
    import torch

    from edgekit.data.dataset import Split
    from edgekit.runtime.preprocess import prepare
    from edgekit.stages.model_start import start_model
    from edgekit.torchkit.models import save_model
    from edgekit.torchkit.training import TrainSettings, evaluate, fit, pick_device

    torch.set_num_threads(ctx.threads)
    torch.manual_seed(ctx.recipe.seed)
    ds = ctx.dataset()
    got = teach(
        ctx, ctx.input.dir, ds, cfg.unlabelled, cfg.temperature, cfg.weight, lambda msg: ctx.error("unlabelled", msg)
    )
    raw, labels, logits = got.raw, got.labels, got.logits
    # a student's vocabulary is fitted on every text it trains on, unlabelled ones too (never val/test)
    model, spec, extra = start_model(ctx, cfg.student, replace(ds, train=Split(raw, labels)))
    pre = extra.setdefault("preprocess", ds.preprocess())
    agree = float((logits[: len(ds.train)].argmax(1).numpy() == ds.train.y).mean()) if len(ds.train) else 0.0

    student_in = (lambda b: prepare(pre, b)) if ds.kind == "text" else (lambda b: b)  # images: fit normalises
    train = Split(student_in(raw), np.arange(len(raw), dtype=np.int64))  # targets are indices into logits
    val, test = (Split(student_in(s.x), s.y) for s in (ds.val, ds.test))
    settings = TrainSettings(
        cfg.epochs,
        cfg.lr,
        cfg.batch_size,
        weight_decay=cfg.weight_decay,
        schedule=cfg.schedule,
        seed=ctx.recipe.seed,
        device=pick_device(cfg.device),
    )
    if world_key() is not None and ds.kind == "image":  # torchrun/DDP: the ranks train on the taught samples
        taught = {"train": train, "val": val, "logits": logits, "labels": labels}
        taught.update(temperature=cfg.temperature, weight=cfg.weight)
        result = fit_distributed(ctx, cfg, model, spec, extra, settings, taught=taught)
    else:
        result = fit(model, train, val, ds.mean, ds.std, settings, console=ctx.console, loss_fn=got.loss, label=cfg.id)
    test_acc = evaluate(model, test, ds.mean, ds.std)
    save_model(model, ctx.out, spec, extra)
    return StageOutput(
        "model.safetensors",
        {
            **result,
            "test_accuracy": round(test_acc, 5),
            "params": sum(p.numel() for p in model.parameters()),
            "teacher": ctx.input.stage_id,
            "labelled_samples": len(ds.train),
            "unlabelled_samples": got.unlabelled,
            "teacher_train_agreement": round(agree, 5),
        },
    )
