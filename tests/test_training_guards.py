"""Training that cannot fail silently: BatchNorm statistics recomputed before evaluation, and a run whose loss
falls while validation accuracy stays at chance stopped with the reason."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from edgekit.data.dataset import Split  # noqa: E402
from edgekit.torchkit.training import NotLearning, TrainSettings, evaluate, fit, recalibrate_bn  # noqa: E402

MEAN, STD = (0.0,), (0.05,)  # inputs 0..20, far from BatchNorm's initial running mean 0 and variance 1


pytestmark = pytest.mark.usefixtures("torch_one_thread")  # conftest.py


def _quadrants(n: int, seed: int) -> Split:
    """4 classes of 1x8x8 uint8 images: a large constant level, noise, and one brighter quadrant (the class).
    The constant level makes BatchNorm's true mean far from its initial running mean."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 4
    x = (150 + rng.integers(0, 30, (n, 1, 8, 8))).astype(np.uint8)
    for i, c in enumerate(y):
        r, col = divmod(int(c), 2)
        x[i, 0, r * 4 : (r + 1) * 4, col * 4 : (col + 1) * 4] += 60
    return Split(x, y.astype(np.int64))


def _net(momentum: float) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.BatchNorm2d(16, momentum=momentum),
        nn.ReLU(),
        nn.Conv2d(16, 16, 3, padding=1),
        nn.BatchNorm2d(16, momentum=momentum),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(64, 4),
    )


def test_recalibrated_statistics_are_exact_averages_over_the_data():
    data = _quadrants(64, 0)
    model = _net(0.01).eval()
    n = recalibrate_bn(model, data, MEAN, STD, batch_size=64)
    x = torch.from_numpy((data.x.astype(np.float32) / 255 - MEAN[0]) / STD[0])
    bn = model[1]
    h = model[0](x)  # (64, 16, 8, 8): the first BatchNorm's input
    assert n == 2 and not model.training and bn.momentum == 0.01  # settings restored
    torch.testing.assert_close(bn.running_mean, h.mean((0, 2, 3)), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(bn.running_var, h.var((0, 2, 3), unbiased=True), rtol=1e-4, atol=1e-4)


def test_short_training_with_slow_batchnorm_momentum_still_evaluates_right():
    # the failure: momentum 0.01 (torchvision's MobileNetV3) and a few steps leave eval-mode statistics
    # near their initial values; without recalibration this model scores 0.50 here (measured), with it 1.00
    train, val = _quadrants(256, 1), _quadrants(128, 2)
    model = _net(0.01)
    result = fit(model, train, val, MEAN, STD, TrainSettings(epochs=2, lr=1e-2, batch_size=32))
    assert result["val_accuracy"] > 0.9 and result["chance_accuracy"] == 0.25
    assert evaluate(model, val, MEAN, STD) == pytest.approx(result["val_accuracy"])


def test_loss_falls_but_validation_at_chance_stops_with_the_reason():
    # validation labels do not match its images (a derangement of the classes): training fits, validation cannot
    train, val = _quadrants(256, 1), _quadrants(128, 2)
    val = Split(val.x, (val.y + 1) % 4)
    with pytest.raises(NotLearning) as e:
        fit(_net(0.1), train, val, MEAN, STD, TrainSettings(epochs=2, lr=1e-2, batch_size=32), label="train")
    msg = e.value.message
    assert (
        msg.startswith("stage 'train': training loss fell from ")
        and "stayed at chance level (0.250) in every epoch" in msg
    )
    assert "check that images and labels match" in msg and e.value.exit_code == 1


def test_keep_last_keeps_the_schedules_end_and_validates_once():
    # a learning curve's only labels are its training set: every epoch that fits it would tie at 100 %, so the
    # earliest (mid-schedule, at a high learning rate) must not win by default
    train = _quadrants(256, 1)
    model = _net(0.1)
    result = fit(model, train, train, MEAN, STD, TrainSettings(epochs=3, lr=1e-2, batch_size=32), keep_last=True)
    assert result["best_epoch"] == 3 and [h["val_accuracy"] is None for h in result["history"]] == [True, True, False]
    assert evaluate(model, train, MEAN, STD) == pytest.approx(result["val_accuracy"])
    with pytest.raises(NotLearning):  # still caught at chance with one validation
        fit(
            _net(0.1),
            train,
            Split(train.x, (train.y + 1) % 4),
            MEAN,
            STD,
            TrainSettings(epochs=2, lr=1e-2, batch_size=32),
            keep_last=True,
        )
