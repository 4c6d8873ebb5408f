"""Training batches: DDP shards are disjoint, cover the split and give every rank the same step count; a
store-backed split trains through DataLoader workers with the same batches as in-process, and reports its
data-wait share per epoch."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgekit.data.dataset import Split  # noqa: E402
from edgekit.data.store import decoded  # noqa: E402
from edgekit.torchkit.loader import TimedEpoch, shard, steps_per_epoch  # noqa: E402

Image = pytest.importorskip("PIL.Image")


@pytest.mark.parametrize("n,world", [(10, 2), (11, 2), (13, 4), (5, 1)])
def test_shards_are_disjoint_cover_the_order_and_have_equal_lengths(n, world):
    order = np.random.default_rng(0).permutation(n)
    parts = [shard(order, r, world) for r in range(world)]
    assert len({len(p) for p in parts}) == 1
    assert set(np.concatenate(parts).tolist()) == set(range(n))
    assert sum(len(p) for p in parts) - n == (-n) % world  # only the padding repeats
    steps = {
        len(
            list(
                TimedEpoch(
                    Split(np.zeros((n, 1, 2, 2), np.uint8), np.zeros(n, np.int64)),
                    4,
                    (0.5,),
                    (0.25,),
                    np.random.default_rng(1),
                    r,
                    world,
                )
            )
        )
        for r in range(world)
    }
    assert steps == {steps_per_epoch(n, 4, world)}


def _store_split(tmp_path, monkeypatch, n=64):
    """Images whose brightness is their class: an easy task that a one-epoch linear model learns."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("EDGEKIT_STORE", raising=False)
    y = np.arange(n) % 2
    paths = []
    for i in range(n):
        p = tmp_path / f"{i:03d}.png"
        Image.fromarray(np.full((6, 6), 40 + 170 * y[i] + i % 7, np.uint8), "L").save(p)
        paths.append(str(p))
    rows = decoded("loader-test", paths, None, "L", n, workers=1, log=lambda m: None)
    return Split(rows, y.astype(np.int64)), Split(np.asarray(rows), y.astype(np.int64))


def test_worker_batches_hold_the_same_samples_as_in_process_ones(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEKIT_LOADER_WORKERS", "1")
    stored, in_memory = _store_split(tmp_path, monkeypatch)
    a = list(TimedEpoch(stored, 16, (0.5,), (0.25,), np.random.default_rng(3)))
    b = list(TimedEpoch(in_memory, 16, (0.5,), (0.25,), np.random.default_rng(3)))
    assert len(a) == len(b) == 4
    for (xa, ya), (xb, yb) in zip(a, b):  # worker batches come sorted by row: compare as sets of samples
        key = lambda x, y: sorted(zip(x.flatten(1).tolist(), y.tolist()))  # noqa: E731
        assert key(xa, ya) == key(xb, yb)


def test_a_store_backed_split_trains_in_loader_workers_and_reports_data_wait(tmp_path, monkeypatch):
    from torch import nn

    from edgekit.torchkit.training import TrainSettings, fit

    monkeypatch.setenv("EDGEKIT_LOADER_WORKERS", "1")
    stored, _ = _store_split(tmp_path, monkeypatch)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(36, 2))
    result = fit(model, stored, stored, (0.5,), (0.25,), TrainSettings(epochs=3, lr=0.05, batch_size=16))
    assert [0 <= h["data_wait"] <= 1 for h in result["history"]] == [True] * 3
    assert result["val_accuracy"] == 1.0
