"""A plain supervised training loop on in-memory numpy splits: validation every epoch, best weights kept.

Two guards make it hard to fail silently: BatchNorm statistics are recomputed over training samples before
every evaluation (``recalibrate_bn``), and a run whose loss falls while validation accuracy stays at chance
stops with the reason (``NotLearning``) instead of shipping a model that guesses."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
from torch import nn

from edgekit.data.dataset import Split, normalize
from edgekit.errors import StageFailed
from edgekit.decide.sense import chance_level, near_chance
from edgekit.progress import progress as progress_for
from edgekit.torchkit.optim import optimizer, scheduler
from edgekit.torchkit.loader import TimedEpoch, steps_per_epoch as steps_per_epoch_of
from edgekit.torchkit.small_maps import fast_small_map_convs
from edgekit.torchkit.text import by_length

# BatchNorm recalibration reads at most this many training samples: the running mean and variance of a
# layer are then within ~1/sqrt(4096) of the full-data values, at a fraction of an epoch's cost.
BN_SAMPLES = 4096


class NotLearning(StageFailed):
    """Training loss fell but validation accuracy stayed at chance: the model fits nothing that generalises."""


@dataclass(frozen=True)
class TrainSettings:
    epochs: int
    lr: float
    batch_size: int
    optimizer: str = "adamw"
    weight_decay: float = 5e-4
    momentum: float = 0.9
    schedule: str = "onecycle"
    label_smoothing: float = 0.0
    augment: bool = False
    seed: int = 0
    device: str = "cpu"
    channels_last: bool = False
    rank: int = 0  # DDP: this process's rank among ``world`` (edgekit.torchkit.ddp_worker); batch_size stays global
    world: int = 1


def batches(
    split: Split, batch_size: int, mean, std, rng: np.random.Generator | None = None, pad_id: int | None = None
):
    """Yield (x, y) tensors; shuffled when an rng is given. Normalisation is the shared numpy one.

    ``pad_id`` (token-id rows of a text model that trims its padding): unshuffled batches come in length
    order, each trimmed to its own longest row. Shuffled ones stay random: grouping them by length (Hugging
    Face's group_by_length) also groups the categories whose texts run long, and a 24-step bag-of-words fit
    then fell below its test's 50 % floor."""
    order = rng.permutation(len(split)) if rng is not None else np.arange(len(split))
    if pad_id is not None and rng is None and split.x.ndim == 2:
        order = by_length(split.x, pad_id)
    for i in range(0, len(order), batch_size):
        idx = order[i : i + batch_size]
        x = (
            normalize(split.x[idx], mean, std) if len(mean) else split.x[idx]
        )  # no mean: already model input (token ids)
        yield torch.from_numpy(x), torch.from_numpy(split.y[idx])


def example_batch(preprocess: dict, split: Split) -> torch.Tensor:
    """Two real samples through the model's own preprocessing: what a graph trace sees (torch-pruning, the prune
    precheck), so the precheck before training and the prune stage trace the same input."""
    from edgekit.runtime.preprocess import prepare

    return torch.from_numpy(prepare(preprocess, split.x[:2]))


def pick_device(name: str) -> str:
    """'auto' takes a GPU when torch sees one; training on a workstation GPU, deploying on a CPU is common."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def batchnorms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


@torch.no_grad()
def recalibrate_bn(
    model: nn.Module,
    split: Split,
    mean,
    std,
    batch_size: int = 256,
    samples: int = BN_SAMPLES,
    seed: int = 0,
    memory_format: torch.memory_format = torch.contiguous_format,
) -> int:
    """Recompute every BatchNorm layer's running statistics over training samples; no weight changes.

    Running statistics are an exponential average over training steps with momentum 0.1 (0.01 in torchvision's
    MobileNetV3 and EfficientNet): after a short run, or after pruning changed every layer's input, they still
    describe older weights and eval-mode accuracy can sit at chance while training loss falls. Here they are reset
    and rebuilt as exact cumulative averages (momentum None) of batch statistics, with only the BatchNorm layers
    in train mode (dropout stays off). Returns the number of layers recalibrated."""
    layers = batchnorms(model)
    if not layers or len(split) == 0:
        return 0
    was_training = model.training
    momenta = [m.momentum for m in layers]
    sub = split.take(np.random.default_rng(seed).permutation(len(split))[:samples]) if len(split) > samples else split
    device = next(model.parameters()).device
    model.eval()
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
        m.train()
    try:
        for x, _ in batches(sub, batch_size, mean, std):
            if len(x) > 1 or len(sub) == 1:  # a batch of one has no variance to average
                model(x.to(device, memory_format=memory_format if x.ndim == 4 else torch.contiguous_format))
    finally:
        for m, mom in zip(layers, momenta):
            m.momentum = mom
        model.train(was_training)
    return len(layers)


def check_learning(history: list[dict], first_loss: float | None, chance: float | None, label: str) -> None:
    """Raise NotLearning when the training loss fell clearly but no epoch's validation accuracy left chance level."""
    if chance is None or not history or first_loss is None:
        return
    validated = [h for h in history if h["val_accuracy"] is not None]
    best = max(h["val_accuracy"] for h in validated)
    last_loss = history[-1]["loss"]
    if near_chance(best, chance) and last_loss < 0.7 * first_loss:
        accs = ", ".join(f"{h['val_accuracy']:.3f}" for h in validated)
        raise NotLearning(
            f"stage '{label}': training loss fell from {first_loss:.3f} to {last_loss:.3f} but validation accuracy "
            f"stayed at chance level ({chance:.3f}) in every epoch ({accs}), even with BatchNorm statistics "
            f"recomputed: the model memorises the training batches without generalising; check that images and "
            f"labels match, lower lr, or train longer"
        )


# evaluation batches hold at most this many input values (16 MB of float32): 512 Fashion-MNIST images, 151 at
# 3x96x96. A batch's activations scale with it: 512 images at 96 px raised edgekit curve's peak RSS by 250 MB
# over its training peak (ResNet-small, width 0.25); accuracy does not depend on the batch in eval mode.
EVAL_VALUES = 1 << 22


@torch.no_grad()
def evaluate(model: nn.Module, split: Split, mean, std, batch_size: int = 512) -> float:
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    per_sample = int(np.prod(split.x.shape[1:])) if split.x.ndim == 4 else 1
    batch_size = max(1, min(batch_size, EVAL_VALUES // per_sample))
    for x, y in batches(split, batch_size, mean, std, pad_id=getattr(model, "pad_id", None)):
        correct += int((model(x.to(device)).argmax(1).cpu() == y).sum())
    return correct / max(1, len(split))


def _memory_format(model: nn.Module, s: TrainSettings, train: Split, console) -> torch.memory_format:
    """NHWC when asked for: oneDNN's faster conv kernels (1.1-1.3x per ResNet-18 CPU step, benchmarks/train_step.py)."""
    if not s.channels_last or train.x.ndim != 4:
        return torch.contiguous_format
    # oneDNN's NHWC weight gradient of a strided 1x1 conv with under 8 input channels corrupts the heap
    # (torch 2.14 on AVX2, measured: glibc aborts); such models (tiny ones, or heavily pruned) train in NCHW
    bad = [
        name
        for name, m in model.named_modules()
        if isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1) and m.stride != (1, 1) and m.in_channels < 8
    ]
    if bad and s.device == "cpu":
        if console is not None:
            console.print(f"  channels_last off: {bad[0]} is a strided 1x1 conv with < 8 input channels (oneDNN bug)")
        return torch.contiguous_format
    return torch.channels_last


def fit(
    model: nn.Module,
    train: Split,
    val: Split,
    mean,
    std,
    s: TrainSettings,
    console=None,
    loss_fn=None,
    label: str = "train",
    keep_last: bool = False,
) -> dict:
    """Train ``model`` in place and leave it holding the weights of the best validation epoch.

    ``loss_fn(logits, x, y)`` replaces cross-entropy (distillation uses it). ``keep_last``: the schedule's last
    epoch, validated once: for a caller whose only labels are the training set (there, the first epoch to fit it
    perfectly would win every tie, mid-schedule at a high learning rate). Returns per-epoch history."""
    torch.manual_seed(s.seed)
    model.to(s.device)
    layout = _memory_format(model, s, train, console)
    model.to(memory_format=layout)
    rng = np.random.default_rng(s.seed)
    steps_per_epoch = steps_per_epoch_of(len(train), s.batch_size, s.world)
    opt = optimizer(model, s)
    sched = scheduler(opt, s, s.epochs * steps_per_epoch)
    ce = nn.CrossEntropyLoss(label_smoothing=s.label_smoothing)
    loss_fn = loss_fn or (lambda logits, x, y: ce(logits, y))
    best = {"val_accuracy": -1.0, "epoch": 0}
    best_state = copy.deepcopy(model.state_dict())
    history = []
    chance = chance_level(val.y.tolist()) if len(val) else None
    first_losses: list[float] = []  # the first tenth of epoch 1: what the loss started from
    warmup = max(1, steps_per_epoch // 10)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeRemainingColumn(),
    )
    with progress_for(console, *columns, transient=False) as progress, fast_small_map_convs(model):
        net = _ddp(model, s)  # the model itself, or DDP around it: gradients averaged over the ranks at backward
        for epoch in range(1, s.epochs + 1):
            task = progress.add_task(f"{label} epoch {epoch}/{s.epochs}", total=steps_per_epoch, info="")
            model.train()
            total, n = 0.0, 0
            epoch_batches = TimedEpoch(
                train,
                s.batch_size,
                mean,
                std,
                rng,
                s.rank,
                s.world,
                pin=s.device.startswith("cuda"),
                augment_key=(s.seed, epoch) if s.augment else None,  # flips and shifts happen in the loader
            )
            for x, y in epoch_batches:
                x, y = x.to(s.device, memory_format=layout, non_blocking=True), y.to(s.device, non_blocking=True)
                loss = loss_fn(net(x), x, y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                total, n = total + loss.item() * len(y), n + len(y)
                if len(first_losses) < warmup and epoch == 1:
                    first_losses.append(loss.item())
                progress.update(task, advance=1, info=f"loss {total / n:.4f}")
            # the share of the epoch's training loop spent waiting for batches: near 0 when the input pipeline
            # keeps up, near 1 when the model starves (more loader workers, or a faster disk, would help)
            wait = round(epoch_batches.share(), 3)
            if keep_last and epoch < s.epochs:
                history.append(
                    {"epoch": epoch, "loss": round(total / max(1, n), 5), "val_accuracy": None, "data_wait": wait}
                )
                continue
            # every rank recalibrates and validates on the same samples, so they agree on the best epoch
            recalibrate_bn(model, train, mean, std, s.batch_size, seed=s.seed + epoch, memory_format=layout)
            acc = evaluate(model, val, mean, std)
            history.append(
                {"epoch": epoch, "loss": round(total / max(1, n), 5), "val_accuracy": round(acc, 5), "data_wait": wait}
            )
            progress.update(
                task,
                info=f"loss {total / max(1, n):.4f}  val {acc:.4f}  data wait {wait:.0%}"
                + (f" (chance {chance:.3f})" if chance is not None else ""),
            )
            if acc > best["val_accuracy"] or keep_last:
                best = {"val_accuracy": acc, "epoch": epoch}
                best_state = copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    model.cpu().to(memory_format=torch.contiguous_format).eval()
    check_learning(history, sum(first_losses) / len(first_losses) if first_losses else None, chance, label)
    return {
        "history": history,
        "best_epoch": best["epoch"],
        "val_accuracy": round(best["val_accuracy"], 5),
        "chance_accuracy": None if chance is None else round(chance, 5),
    }


def _ddp(model: nn.Module, s: TrainSettings) -> nn.Module:
    if s.world == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(
        model, device_ids=[torch.device(s.device).index] if s.device.startswith("cuda") else None
    )
