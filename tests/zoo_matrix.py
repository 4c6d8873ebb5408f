"""The model-zoo matrix: architectures users bring, each taken through train -> export -> MACs -> prune -> INT8
on a few hundred real Fashion-MNIST images. Shared by tests/test_zoo.py and benchmarks/zoo.py (which adds
latency). Everything is the real component: torchvision models, edgekit's training loop, torch.onnx,
onnxruntime, torch-pruning, ORT static quantization."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edgekit.data.dataset import Split, normalize

# name -> (model spec, image side). Small sides keep CPU steps cheap; each side is one its stem/downsampling
# handles (stem_stride 1 swaps an ImageNet stem for a 3x3 conv, see torchkit/models.adapt_input).
ARCHS: dict[str, tuple[dict, int]] = {
    "resnet18": ({"source": "torchvision:resnet18", "stem_stride": 2}, 16),
    "mobilenet_v2": ({"source": "torchvision:mobilenet_v2", "stem_stride": 2}, 16),
    "mobilenet_v3_small": ({"source": "torchvision:mobilenet_v3_small", "stem_stride": 2}, 16),
    "efficientnet_b0": ({"source": "torchvision:efficientnet_b0", "stem_stride": 2}, 16),
    "shufflenet_v2_x0_5": ({"source": "torchvision:shufflenet_v2_x0_5", "stem_stride": 2}, 16),
    "squeezenet1_1": ({"source": "torchvision:squeezenet1_1", "stem_stride": 1}, 32),  # its ceil-mode max-pools need 32
    "regnet_x_400mf": ({"source": "torchvision:regnet_x_400mf", "stem_stride": 2}, 16),
    "densenet121": ({"source": "torchvision:densenet121", "stem_stride": 2}, 16),
    "convnext_tiny": ({"source": "torchvision:convnext_tiny"}, 32),  # 4x4 patchify stem: 32 -> 8
    "vit-small": ({"source": "python:zoo_models:vit_small"}, 16),  # torchvision's VisionTransformer class, small
}
SLOW = {"densenet121", "convnext_tiny", "regnet_x_400mf", "efficientnet_b0"}  # measured > 20 s each on 2 cores
CLASSES = 10
FASHION = Path("/usr/share/datasets/fashion-mnist")


@dataclass
class ZooResult:
    name: str
    accuracy: float  # on the test subset, torch, BatchNorm recalibrated
    chance: float
    export_max_abs_diff: float
    export_top1_agreement: float
    macs: int | None  # counted from the ONNX graph
    macs_pruned: int | None = None  # torch-pruning's count (and the pruned ONNX graph's, with export_pruned)
    macs_ratio: float | None = None  # pruned / unpruned, torch-pruning's count
    prune_refused: str | None = None  # the reason, when pruning refused
    int8_accuracy: float | None = None
    files: dict[str, Path] = field(default_factory=dict)  # float, pruned, int8 -> ONNX path
    seconds: dict[str, float] = field(default_factory=dict)


def fashion_subset(n_train: int, n_test: int, side: int, seed: int = 0) -> tuple[Split, Split]:
    """Stratified real Fashion-MNIST images, 28x28 resized to side x side (uint8, (N, 1, side, side))."""
    from edgekit.data.sources import read_idx

    def take(prefix: str, n: int) -> Split:
        x = read_idx(FASHION / f"{prefix}-images-idx3-ubyte.gz")
        y = read_idx(FASHION / f"{prefix}-labels-idx1-ubyte.gz").astype(np.int64)
        idx = np.concatenate([np.flatnonzero(y == c)[: n // CLASSES] for c in range(CLASSES)])
        np.random.default_rng(seed).shuffle(idx)
        t = torch.from_numpy(x[idx]).float()[:, None]
        if side != t.shape[-1]:
            t = nn.functional.interpolate(t, size=(side, side), mode="bilinear", align_corners=False)
        return Split(t.round().clamp(0, 255).to(torch.uint8).numpy(), y[idx])

    return take("train", n_train), take("t10k", n_test)


def run_arch(name: str, out: Path, n_train: int = 320, n_test: int = 200, epochs: int = 2, prune_ratio: float = 0.3,
             export_pruned: bool = False) -> ZooResult:
    """Train, export (parity checked), count MACs, prune to ``prune_ratio`` fewer MACs (or record why not), export
    again and quantize to INT8. Raises on anything that should not fail."""
    from edgekit.bench import graph
    from edgekit.quant.calibration import BatchReader
    from edgekit.quant.ort_static import Attempt, preprocess, quantize
    from edgekit.runtime import ort
    from edgekit.sense import chance_level
    from edgekit.torchkit.export import export_onnx
    from edgekit.torchkit.models import build_model
    from edgekit.torchkit.pruning import PruneError, PruneSettings, prune
    from edgekit.torchkit.training import TrainSettings, evaluate, fit, recalibrate_bn

    spec, side = ARCHS[name]
    train, test = fashion_subset(n_train, n_test, side)
    val = test  # a tiny matrix run: validation picks the epoch, the assertion is on the same real held-out images
    mean, std = (0.286,), (0.353,)  # Fashion-MNIST pixel statistics
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    torch.manual_seed(0)
    model = build_model(spec, CLASSES, 1)
    fit(model, train, val, mean, std, TrainSettings(epochs=epochs, lr=2e-3, batch_size=32), label=name)
    acc = evaluate(model, test, mean, std)
    times["train"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    x = normalize(test.x, mean, std)
    path = out / f"{name}.onnx"
    export_onnx(model, torch.from_numpy(x[:2]), path, 18)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    got = ort.predict(ort.session(path, 1), x)
    result = ZooResult(name, acc, chance_level(test.y.tolist()), float(np.abs(ref - got).max()),
                       float((ref.argmax(1) == got.argmax(1)).mean()), graph.count(path)["macs"], files={"float": path})
    times["export"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    try:
        pruned = prune(model, torch.from_numpy(x[:2]), PruneSettings(target="macs", ratio=prune_ratio))
    except PruneError as e:
        result.prune_refused = e.message
    else:
        (m0, m1) = pruned.macs
        result.macs_pruned, result.macs_ratio = m1, m1 / m0
        if export_pruned:
            recalibrate_bn(pruned.model, train, mean, std, 64)
            result.files["pruned"] = out / f"{name}-pruned.onnx"
            export_onnx(pruned.model, torch.from_numpy(x[:2]), result.files["pruned"], 18)
            result.macs_pruned = graph.count(result.files["pruned"])["macs"]
    times["prune"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    pre, q = out / f"{name}-pre.onnx", out / f"{name}-int8.onnx"
    preprocess(path, pre)
    reader = BatchReader(train.x[:64], "input", lambda b: normalize(b, mean, std), 32)
    quantize(pre, q, Attempt(), reader)
    result.int8_accuracy = ort.accuracy(ort.session(q, 1), x, test.y)
    result.files["int8"] = q
    times["int8"] = time.perf_counter() - t0
    result.seconds = times
    return result
