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


def _random_store_split(tmp_path, monkeypatch, n=40):
    """Random 8x8 grey images: asymmetric, so a flip or a shift shows."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("EDGEKIT_STORE", raising=False)
    rng = np.random.default_rng(5)
    paths = []
    for i in range(n):
        p = tmp_path / f"r{i:03d}.png"
        Image.fromarray(rng.integers(0, 255, (8, 8), np.uint8), "L").save(p)
        paths.append(str(p))
    rows = decoded("augment-test", paths, None, "L", n, workers=1, log=lambda m: None)
    return Split(rows, np.arange(n, dtype=np.int64))  # y: the sample's row, to match samples across batches


def _samples(batches) -> dict[int, np.ndarray]:
    return {int(y): x.numpy() for xb, yb in batches for x, y in zip(xb, yb)}


def test_augmentation_runs_in_loader_workers_and_does_not_depend_on_their_number(tmp_path, monkeypatch):
    import edgekit.torchkit.loader as loader

    split = _random_store_split(tmp_path, monkeypatch)
    calls: list[int] = []
    real = loader.augment
    monkeypatch.setattr(loader, "augment", lambda *a: (calls.append(1), real(*a))[1])

    def epoch(workers: str, key):
        monkeypatch.setenv("EDGEKIT_LOADER_WORKERS", workers)
        return _samples(TimedEpoch(split, 8, (0.5,), (0.25,), np.random.default_rng(3), augment_key=key))

    in_process = epoch("0", (7, 1))
    assert len(calls) == 5  # 40 samples in batches of 8, augmented here
    two = epoch("2", (7, 1))
    assert len(calls) == 5  # ... and in the workers: the training process did none of it
    assert in_process.keys() == two.keys() == set(range(40))
    assert all(np.array_equal(in_process[i], two[i]) for i in range(40))
    plain, next_epoch = epoch("0", None), epoch("0", (7, 2))
    assert sum(not np.array_equal(plain[i], in_process[i]) for i in range(40)) >= 30  # flips and shifts happened
    assert any(not np.array_equal(next_epoch[i], in_process[i]) for i in range(40))  # new draws every epoch


@pytest.mark.parametrize("sy,sx", [(0, 0), (1, -1), (-1, 1), (1, 1)])
def test_augment_is_flip_then_zero_padded_shift(sy, sx):
    from edgekit.torchkit.augment import augment

    x = np.random.default_rng(0).standard_normal((3, 2, 8, 8)).astype(np.float32)
    flip = np.array([True, False, True])
    got = augment(x, flip, sy, sx)
    pad = 1  # max(1, 8 // 8): pad-and-crop, as torchvision's RandomCrop(padding=pad) does
    flipped = np.where(flip[:, None, None, None], x[..., ::-1], x)
    padded = np.pad(flipped, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    assert np.array_equal(got, padded[:, :, pad + sy : pad + sy + 8, pad + sx : pad + sx + 8])


def test_fit_with_augmentation_gives_the_same_model_with_0_or_2_loader_workers(tmp_path, monkeypatch):
    """Same seed, same batches, same flips and shifts; worker batches sum their samples in row order, so the
    weights agree to float rounding, not bit for bit."""
    from torch import nn

    from edgekit.torchkit.training import TrainSettings, fit

    split = _random_store_split(tmp_path, monkeypatch)
    split = Split(split.x, (np.arange(40) % 2).astype(np.int64))
    weights = []
    for workers in ("0", "2"):
        monkeypatch.setenv("EDGEKIT_LOADER_WORKERS", workers)
        torch.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(64, 2))
        fit(model, split, split, (0.5,), (0.25,), TrainSettings(epochs=2, lr=0.01, batch_size=8, augment=True))
        weights.append(model[1].weight.detach().clone())
    assert torch.allclose(weights[0], weights[1], atol=1e-5)


def test_evaluation_batches_of_large_images_are_capped_by_input_values():
    """evaluate's 512 stays for small images; 3x96x96 images go in batches of at most 2**22 input values (151)."""
    from torch import nn

    from edgekit.torchkit.training import EVAL_VALUES, evaluate

    seen: list[int] = []

    class Recorder(nn.Module):
        def __init__(self):
            super().__init__()
            self.p = nn.Parameter(torch.zeros(1))  # evaluate finds the device from a parameter

        def forward(self, x):  # (B, C, H, W) -> (B, 2): always class 0
            seen.append(len(x))
            return torch.zeros(len(x), 2)

    big = Split(np.zeros((400, 3, 96, 96), np.uint8), np.zeros(400, np.int64))
    small = Split(np.zeros((600, 1, 28, 28), np.uint8), np.zeros(600, np.int64))
    model = Recorder()
    assert evaluate(model, big, (0.5,) * 3, (0.25,) * 3) == 1.0
    assert max(seen) == EVAL_VALUES // (3 * 96 * 96) == 151 and sum(seen) == 400
    seen.clear()
    assert evaluate(model, small, (0.5,), (0.25,)) == 1.0
    assert seen == [512, 88]
