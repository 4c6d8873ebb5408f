"""Fine-tuning that starts where prompting ends.

A randomly initialised classification head throws away what a sentence encoder already knows: measured on
WordNet glosses, MiniLM fine-tuned for an epoch from a random head scored 59.4 % where the same model
prompted zero-shot scored 62.0 %. Here the head of an ``EncoderClassifier`` (unit-length pooled
embeddings) is set to ``scale`` x the unit label-prompt embeddings, so before any step the model computes
scaled cosine similarities to the label prompts: it *is* the zero-shot classifier (epoch 0). Then

1. the head is trained on cached embeddings of the training texts (the encoder frozen: one forward pass
   over the data, then seconds of linear-model training on a CPU), keeping the best validation epoch,
   epoch 0 included;
2. with ``encoder="finetune"`` the whole model is fine-tuned from there (``training.fit``); the encoder's
   weights are kept only if they beat the frozen-encoder model on validation.

    model, spec, pre = new_text_model(model_cfg, ds, base_dir, normalize=True)
    report = train_head_first(model, pre, train, val, HeadSettings(descriptions=("an animal", "a plant")), fit_fn)
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from edgekit.baselines.base import LabelSet, fill
from edgekit.data.dataset import Split
from edgekit.torchkit.text import by_length, in_row_order

DEFAULT_TEMPLATES = ("This is a definition of {label}.",)


@dataclass(frozen=True)
class HeadSettings:
    descriptions: tuple[str, ...]  # one per class, what the prompts say about it
    templates: tuple[str, ...] = DEFAULT_TEMPLATES  # averaged per class (prompt ensembling)
    init: str = "prompted"  # "prompted" or "random"
    scale: float = 20.0  # logits = scale * cosine; softmax temperature 1/scale
    epochs: int = 30  # head-only epochs on cached embeddings (0: keep the prompted head as it is)
    lr: float = 1e-2
    batch_size: int = 256
    weight_decay: float = 0.0
    encoder: str = "finetune"  # "finetune": then train everything; "frozen": stop after the head
    seed: int = 0


@torch.no_grad()
def embed(model: nn.Module, ids: np.ndarray, batch_size: int = 128) -> torch.Tensor:
    """Token ids (N, L) -> the model's pooled sentence embeddings (N, H), in eval mode."""
    model.eval()
    vecs = in_row_order(lambda rows: model.embed(torch.from_numpy(ids[rows])), by_length(ids, model.pad_id), batch_size)
    return torch.empty(0, model.fc.in_features) if vecs is None else vecs


def prompted_head(model: nn.Module, prepare: Callable[[np.ndarray], np.ndarray], s: HeadSettings) -> None:
    """Set ``model.fc`` to scale x the unit mean label-prompt embedding of every class, bias 0."""
    prompts = [fill(t, d) for d in s.descriptions for t in s.templates]
    vecs = embed(model, prepare(np.array(prompts, dtype=object)))  # (K*T, H), unit rows
    per_class = vecs.reshape(len(s.descriptions), len(s.templates), -1).mean(1)  # (K, H)
    per_class = per_class / per_class.norm(dim=1, keepdim=True).clamp(min=1e-12)
    with torch.no_grad():
        model.fc.weight.copy_(s.scale * per_class)
        model.fc.bias.zero_()


def _accuracy(fc: nn.Linear, feats: torch.Tensor, y: np.ndarray) -> float:
    with torch.no_grad():
        return float((fc(feats).argmax(1).numpy() == y).mean()) if len(y) else 0.0


def train_head(
    fc: nn.Linear, feats: torch.Tensor, y: np.ndarray, val_feats: torch.Tensor, val_y: np.ndarray, s: HeadSettings
) -> list[dict]:
    """Train the linear head on cached embeddings (N, H); leaves it at its best validation epoch (0 = as given)."""
    torch.manual_seed(s.seed)
    gen = torch.Generator().manual_seed(s.seed)
    opt = torch.optim.AdamW(fc.parameters(), lr=s.lr, weight_decay=s.weight_decay)
    targets = torch.from_numpy(y)
    history = [{"epoch": 0, "val_accuracy": round(_accuracy(fc, val_feats, val_y), 5)}]
    best, best_state = history[0]["val_accuracy"], copy.deepcopy(fc.state_dict())
    for epoch in range(1, s.epochs + 1):
        order = torch.randperm(len(targets), generator=gen)
        total = 0.0
        for i in range(0, len(order), s.batch_size):
            idx = order[i : i + s.batch_size]
            loss = nn.functional.cross_entropy(fc(feats[idx]), targets[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        acc = _accuracy(fc, val_feats, val_y)
        history.append({"epoch": epoch, "loss": round(total / max(1, len(order)), 5), "val_accuracy": round(acc, 5)})
        if acc > best:
            best, best_state = acc, copy.deepcopy(fc.state_dict())
    fc.load_state_dict(best_state)
    return history


def train_head_first(
    model: nn.Module,
    prepare: Callable[[np.ndarray], np.ndarray],
    train: Split,
    val: Split,
    s: HeadSettings,
    fit_fn: Callable[[nn.Module], dict] | None = None,
    log=None,
) -> dict:
    """The whole schedule on tokenized splits; returns what was done and measured (validation accuracies)."""
    if s.init == "prompted":
        prompted_head(model, prepare, s)
    feats, val_feats = embed(model, train.x), embed(model, val.x)
    head_history = train_head(model.fc, feats, train.y, val_feats, val.y, s)
    head_acc = max(h["val_accuracy"] for h in head_history)
    report = {
        "head_init": s.init,
        "encoder": s.encoder,
        "head_history": head_history,
        "zero_shot_val_accuracy": head_history[0]["val_accuracy"] if s.init == "prompted" else None,
        "head_val_accuracy": head_acc,
    }
    if log:
        start = f"prompted head (epoch 0) val {head_history[0]['val_accuracy']:.4f}, " if s.init == "prompted" else ""
        log(f"{start}head on frozen embeddings val {head_acc:.4f}")
    if s.encoder == "frozen" or fit_fn is None:
        return {**report, "schedule": "frozen-encoder", "kept": "head", "val_accuracy": head_acc}
    frozen = copy.deepcopy(model.state_dict())
    result = fit_fn(model)
    if result["val_accuracy"] < head_acc:  # fine-tuning the encoder did not pay on validation: keep the head
        model.load_state_dict(frozen)
        if log:
            log(f"fine-tuned encoder val {result['val_accuracy']:.4f} < head only: kept the frozen encoder")
        return {**result, **report, "schedule": "head-then-encoder", "kept": "head", "val_accuracy": head_acc}
    return {**result, **report, "schedule": "head-then-encoder", "kept": "encoder"}


def descriptions_for(classes: Sequence[str], labels: dict[str, str] | None) -> tuple[str, ...]:
    """The prompt text of every class: the recipe's description, else the class name read as words."""
    return LabelSet.of(classes, labels).descriptions
