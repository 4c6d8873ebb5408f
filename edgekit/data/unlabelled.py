"""Unlabelled training texts: the training split beyond ``data.limit_train``, which only a teacher labels.

The "vast private data" case: a fine-tuned teacher scores texts nobody labelled, and a student (the distill
stage) or a pruned model in recovery (``train`` with ``distill: {unlabelled: N}``) learns from its soft labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.data.dataset import Dataset


def draw_unlabelled(data_cfg, seed: int, base_dir: Path, ds: Dataset, n: int) -> np.ndarray:
    """``n`` training texts outside ``ds``'s labelled subset (seeded); never validation or test samples.
    ValueError says why they cannot be drawn."""
    from edgekit.data import load_dataset

    if n == 0:
        return ds.train.x[:0]
    if ds.kind != "text":
        raise ValueError("unlabelled samples are drawn for text data only (texts identify themselves)")
    if data_cfg.limit_train is None:
        raise ValueError(
            "unlabelled samples come from the training split beyond data.limit_train; set data.limit_train"
        )
    full = load_dataset(data_cfg.model_copy(update={"limit_train": None}), seed, base_dir)
    labelled = set(ds.train.x.tolist())
    pool = np.flatnonzero([x not in labelled for x in full.train.x.tolist()])
    if len(pool) < n:
        raise ValueError(f"only {len(pool)} training samples lie beyond data.limit_train, asked for {n}")
    return full.train.x[np.sort(np.random.default_rng(seed + 7).choice(pool, n, replace=False))]
