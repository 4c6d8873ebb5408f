"""One point of a learning curve: an arm given one labelled subset, scored on the curve's test samples.

No point sees the validation split: a user with N labelled examples has no other labels, so the trained
arms keep the last epoch of their schedule. Every point of an arm trains for as many optimizer steps as its
largest size does, and at least ``min_steps`` (more epochs on small sets): 10 examples per class would otherwise
get a single step from a 4-epoch recipe, and a mid-size point a fraction of the largest one's training.

    point = train_point(arm, data, idx, seed=1)   # {"accuracy": ..., "train_s": ..., "params": ..., ...}
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from edgekit.curve.arms import Arm
from edgekit.data.dataset import Dataset, Split

LATENCY_RUNS = 30  # batch-1 queries timed once per arm (largest size, first seed): a p50, not a benchmark


@dataclass(frozen=True)
class CurveData:
    ds: Dataset  # the recipe's dataset: its training split is what subsets are drawn from
    test: Split  # the samples every point is scored on
    base_dir: Path  # the recipe's folder (relative model paths)
    largest_n: int  # training examples at the ladder's largest size: what the auto step floor is sized by
    min_steps: int = 150  # the step floor never goes below this (a small ladder's largest size takes few steps)
    in_context: int = 4  # in-context examples per class at most (llm / openai few-shot)


def batch1_p50(classify: Callable[[Sequence], object], xs: Sequence, runs: int = LATENCY_RUNS) -> float:
    """Median ms of batch-1 queries, in-process: the prompted stage's timer (torch models, not ONNX files)."""
    from types import SimpleNamespace

    from edgekit.stages.prompted import timed_batch1

    return round(statistics.median(timed_batch1(SimpleNamespace(classify=classify), xs, runs)), 4)


def epochs_for(n: int, batch_size: int, epochs: int, min_steps: int) -> int:
    """The recipe's epochs, or more when they would give fewer than ``min_steps`` steps on n examples."""
    return max(epochs, math.ceil(min_steps / max(1, math.ceil(n / batch_size))))


def schedule(arm: Arm) -> tuple[int, int]:
    """(batch size, epochs) a trained arm's points train with: the head's on cached embeddings (head_point, as
    CurveRun.compute routes an arm with head:), else the stage's (train_point)."""
    head = arm.stage.head
    if head is None:
        return arm.stage.batch_size, arm.stage.epochs
    from edgekit.torchkit.text_head import HeadSettings

    return HeadSettings.batch_size, head.epochs


def step_floor(arm: Arm, data: CurveData) -> int:
    """Optimizer steps every point of ``arm`` takes at least: as many as the recipe's epochs take at the ladder's
    largest size, and never under ``min_steps``. So a point differs from the next in how many distinct examples it
    saw, not in how long it trained (a 4-epoch student on 1,000 glosses per class got a fifth of the steps of the
    whole split, and scored 8.8 pt lower than with as many)."""
    batch, epochs = schedule(arm)
    return max(data.min_steps, epochs * max(1, math.ceil(data.largest_n / batch)))


def _new_model(model_cfg, ds: Dataset, base_dir: Path):
    """A fresh model for this (subset) dataset -> (model, preprocess or None). A text vocabulary is fitted on the
    subset alone, so nothing of the other training texts leaks in."""
    if ds.kind == "text":
        from edgekit.torchkit.text import new_text_model

        model, _, pre = new_text_model(model_cfg, ds, base_dir)
        return model, pre
    from edgekit.torchkit.models import build_model

    spec = {**model_cfg.model_dump(), "num_classes": len(ds.classes), "in_channels": ds.input_shape[0]}
    if spec["source"].startswith("python:"):
        spec["code_dir"] = str(Path(base_dir).resolve())
    return build_model(spec, spec["num_classes"], spec["in_channels"]), None


def train_point(arm: Arm, data: CurveData, idx: np.ndarray, seed: int, timing: bool = False) -> dict:
    """Train the arm's model from its start on the subset ``idx`` of the training split; test accuracy."""
    import torch
    from rich.console import Console

    from edgekit.torchkit.training import TrainSettings, evaluate, fit

    cfg = arm.stage
    torch.manual_seed(seed)
    sub = data.ds.train.take(idx)
    t0 = time.perf_counter()
    model, pre = _new_model(arm.model, replace(data.ds, train=sub), data.base_dir)
    train, test = sub, data.test
    if pre is not None:
        from edgekit.torchkit.text import token_splits

        train, test = token_splits(pre, sub, data.test)
    settings = TrainSettings(
        epochs_for(len(sub), cfg.batch_size, cfg.epochs, step_floor(arm, data)),
        cfg.lr,
        cfg.batch_size,
        cfg.optimizer,
        cfg.weight_decay,
        schedule=cfg.schedule,
        label_smoothing=cfg.label_smoothing,
        augment=cfg.augment,
        seed=seed,
        device="cpu",
        channels_last=cfg.channels_last,
    )
    # the N examples are the only labels: no epoch is picked by them (all would tie at 100 % early), the schedule's
    # last is kept; they are scored once, so a model stuck at chance is still caught
    fit(
        model,
        train,
        train,
        data.ds.mean,
        data.ds.std,
        settings,
        console=Console(quiet=True),
        label=arm.name,
        keep_last=True,
    )
    train_s = time.perf_counter() - t0
    acc = evaluate(model, test, data.ds.mean, data.ds.std)
    params = sum(p.numel() for p in model.parameters())
    point = {
        "accuracy": round(acc, 5),
        "train_s": round(train_s, 3),
        "epochs": settings.epochs,
        "params": params,
        "size_bytes": 4 * params,
    }  # fp32 weights
    if timing:
        from edgekit.data.dataset import normalize

        def classify(x):
            x = torch.from_numpy(x if pre is not None else normalize(x, data.ds.mean, data.ds.std))
            with torch.no_grad():
                return model(x).argmax(1)

        point["p50_ms"] = batch1_p50(classify, test.x)
    return point


def head_point(arm: Arm, encoder, store, data: CurveData, idx: np.ndarray, seed: int, timing: bool = False) -> dict:
    """A linear head on frozen, cached sentence embeddings, started as the prompted classifier (head: init)."""
    import torch
    from torch import nn

    from edgekit.torchkit.text_head import HeadSettings, descriptions_for, train_head

    h, cfg = arm.stage.head, arm.stage
    sub = data.ds.train.take(idx)
    feats = torch.from_numpy(store.get(sub.x))  # (N, D) unit rows
    test_feats = torch.from_numpy(store.get(data.test.x))
    t0 = time.perf_counter()
    descriptions = descriptions_for(data.ds.classes, h.labels)
    torch.manual_seed(seed)
    fc = nn.Linear(feats.shape[1], len(data.ds.classes))
    if h.init == "prompted":
        with torch.no_grad():
            fc.weight.copy_(h.scale * torch.from_numpy(encoder.label_vectors(h.prompts, descriptions)))
            fc.bias.zero_()
    s = HeadSettings(
        descriptions,
        tuple(h.prompts),
        h.init,
        h.scale,
        epochs_for(len(sub), HeadSettings.batch_size, h.epochs, step_floor(arm, data)),
        h.lr,
        weight_decay=cfg.weight_decay,
        seed=seed,
    )
    train_head(fc, feats, sub.y, feats, sub.y, s)  # selection on the N labelled examples only
    train_s = time.perf_counter() - t0
    with torch.no_grad():
        acc = float((fc(test_feats).argmax(1).numpy() == data.test.y).mean())
    head = sum(p.numel() for p in fc.parameters())
    point = {
        "accuracy": round(acc, 5),
        "train_s": round(train_s, 3),
        "epochs": s.epochs,
        "params": encoder.params + head,
        "size_bytes": encoder.size_bytes + 4 * head,
    }
    if timing:

        def classify(x):
            with torch.no_grad():
                return fc(torch.from_numpy(encoder.embed([str(t) for t in x]))).argmax(1)

        point["p50_ms"] = batch1_p50(classify, data.test.x)
    return point


def embedding_point(class_vectors: np.ndarray, encoder, store, data: CurveData, timing: bool = False) -> dict:
    """Nearest class vector (cosine) for every cached test embedding: zero-shot label prompts or few-shot prototypes."""
    t0 = time.perf_counter()
    pred = (store.get(data.test.x) @ class_vectors.T).argmax(1)
    point = {
        "accuracy": round(float((pred == data.test.y).mean()), 5),
        "train_s": round(time.perf_counter() - t0, 3),
        "params": encoder.params,
        "size_bytes": encoder.size_bytes,
    }
    if timing:
        point["p50_ms"] = batch1_p50(
            lambda x: (encoder.embed([str(t) for t in x]) @ class_vectors.T).argmax(1), data.test.x
        )
    return point


def prompted_point(baseline, data: CurveData) -> dict:
    """A prompted provider (llm, openai) on every test sample; p50 from its per-query times where it keeps them."""
    t0 = time.perf_counter()
    pred = np.concatenate([baseline.classify(data.test.x[i : i + 64]) for i in range(0, len(data.test), 64)])
    wall = time.perf_counter() - t0
    times = getattr(baseline, "latencies_ms", None)
    return {
        "accuracy": round(float((pred == data.test.y).mean()), 5),
        "train_s": 0.0,
        "query_s": round(wall, 3),
        "params": baseline.params,
        "size_bytes": baseline.size_bytes,
        "p50_ms": round(statistics.median(times), 4) if times else round(wall * 1e3 / max(1, len(data.test)), 4),
        **({"usage": baseline.usage()} if baseline.usage() else {}),
    }
