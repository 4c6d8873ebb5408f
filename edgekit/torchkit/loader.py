"""One epoch's training batches: this process's shard of a seeded order, assembled in DataLoader workers when the
split lives in the store, with the time the trainer spent waiting for them.

The order is drawn in the training process from the run's generator, so batch contents do not depend on the
number of workers. With ``world`` processes (DDP) every rank draws the same order, pads it to a multiple of
``world`` (as torch's DistributedSampler does) and takes every ``world``-th sample from its ``rank``: the shards
are disjoint and the ranks take the same number of steps, each of ``batch_size / world`` samples, so the global
batch -- what the learning rate was tuned for -- is the recipe's ``batch_size`` whatever the world size.

In-memory splits (Fashion-MNIST, user arrays) keep the old in-process path: forking workers for data that is
already an array only adds start-up time. Store-backed splits (``Rows``) read and normalise each batch in
``EDGEKIT_LOADER_WORKERS`` workers (default: half the usable cores, at least one), so reading pages, the float
conversion and augmentation (``augment_key``) overlap the model's step: the training process only steps the model.
Augmentation draws come from the batch's place in the run (edgekit.torchkit.augment), so they do not depend on
the number of workers either.
"""

from __future__ import annotations

import math
import os
import time

import numpy as np
import torch

from edgekit.data.dataset import Split, normalize
from edgekit.data.rows import Rows
from edgekit.torchkit.augment import augment, draws


def loader_workers(split: Split) -> int:
    if not isinstance(split.x, Rows):
        return 0
    env = os.environ.get("EDGEKIT_LOADER_WORKERS", "")
    return int(env) if env.isdigit() else max(1, len(os.sched_getaffinity(0)) // 2)


def shard(order: np.ndarray, rank: int, world: int) -> np.ndarray:
    """This rank's part of the global order: padded to a multiple of ``world``, every ``world``-th sample."""
    if world == 1:
        return order
    pad = (-len(order)) % world
    return np.concatenate([order, order[:pad]])[rank::world]


def steps_per_epoch(n: int, batch_size: int, world: int = 1) -> int:
    return math.ceil(math.ceil(n / world) / max(1, batch_size // world))


class _BatchSet(torch.utils.data.Dataset):
    """Item i is the whole batch i (one pread run per batch, normalised and augmented in the worker)."""

    def __init__(self, split: Split, chunks: list[np.ndarray], mean, std, augment_key: tuple[int, ...] | None):
        self.split, self.chunks, self.mean, self.std, self.key = split, chunks, mean, std, augment_key

    def __len__(self) -> int:
        return len(self.chunks)

    def __getitem__(self, i: int):
        by_row = np.argsort(self.chunks[i], kind="stable")
        idx = self.chunks[i][by_row]  # sorted: consecutive rows coalesce into one read; the batch is a set
        x = normalize(self.split.x[idx], self.mean, self.std)  # (B, C, H, W) float32
        return torch.from_numpy(_augmented(x, self.key, i, by_row)), torch.from_numpy(self.split.y[idx])


def _augmented(x: np.ndarray, key: tuple[int, ...] | None, i: int, order: np.ndarray | None = None) -> np.ndarray:
    """Batch i augmented (edgekit.torchkit.augment) when a key is set and x is images; ``order``: the positions
    in the drawn order of x's rows, so every sample gets its own flip however the batch was sorted."""
    if key is None or x.ndim != 4:
        return x
    flip, sy, sx = draws((*key, i), len(x), x.shape[2])
    return augment(x, flip if order is None else flip[order], sy, sx)


class TimedEpoch:
    """Iterate (x, y) batches; ``wait_s`` is the time spent blocked on the next batch, ``share()`` that over the
    wall time since iteration began (what the per-epoch 'data wait' reports)."""

    def __init__(
        self,
        split: Split,
        batch_size: int,
        mean,
        std,
        rng: np.random.Generator,
        rank: int = 0,
        world: int = 1,
        pin: bool = False,
        augment_key: tuple[int, ...] | None = None,
    ):
        order = shard(rng.permutation(len(split)), rank, world)
        bs = max(1, batch_size // world)
        self.chunks = [order[i : i + bs] for i in range(0, len(order), bs)]
        self.split, self.mean, self.std, self.pin = split, mean, std, pin
        self.key = None if augment_key is None else (*augment_key, rank)  # e.g. (seed, epoch, rank)
        self.workers = loader_workers(split)
        self.wait_s, self.t0 = 0.0, None

    def _batches(self):
        if self.workers == 0:  # the old path, batch for batch: same order, same contents
            for i, idx in enumerate(self.chunks):
                x = self.split.x[idx]
                x = _augmented(normalize(x, self.mean, self.std), self.key, i) if len(self.mean) else x
                yield torch.from_numpy(x), torch.from_numpy(self.split.y[idx])
            return
        yield from torch.utils.data.DataLoader(
            _BatchSet(self.split, self.chunks, self.mean, self.std, self.key),
            batch_size=None,
            shuffle=False,
            num_workers=self.workers,
            pin_memory=self.pin,
            prefetch_factor=4,
            multiprocessing_context="fork",
        )

    def __iter__(self):
        self.t0 = time.perf_counter()
        it = self._batches()
        while True:
            t = time.perf_counter()
            batch = next(it, None)
            self.wait_s += time.perf_counter() - t
            if batch is None:
                return
            yield batch

    def share(self) -> float:
        wall = time.perf_counter() - self.t0 if self.t0 is not None else 0.0
        return self.wait_s / wall if wall > 0 else 0.0
