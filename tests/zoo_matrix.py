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
    "squeezenet1_1": ({"source": "torchvision:squeezenet1_1", "stem_stride": 1}, 16),
    "regnet_x_400mf": ({"source": "torchvision:regnet_x_400mf", "stem_stride": 2}, 16),
    "densenet121": (
        {"source": "torchvision:densenet121", "stem_stride": 2},
        32,
    ),  # pool0 + 3 transitions: 16 is too small
    "convnext_tiny": ({"source": "torchvision:convnext_tiny"}, 32),  # 4x4 patchify stem: 32 -> 8
    "vit-small": ({"source": "python:zoo_models:vit_small"}, 16),  # torchvision's VisionTransformer class, small
}
# SqueezeNet has no BatchNorm and a ReLU on its logits: at lr 2e-3 they die within 20 steps (accuracy 0.100,
# measured); at 1e-3 it needs ~50 steps to leave chance (0.28 after 5 epochs of 320 images, measured)
TRAIN = {"squeezenet1_1": {"epochs": 5, "lr": 1e-3}}
SLOW = set(ARCHS) - {"mobilenet_v3_small", "vit-small"}  # the fast tier: the issue's model and the transformer
CLASSES = 10
FASHION = Path("/usr/share/datasets/fashion-mnist")


@dataclass
class ZooResult:
    name: str
    accuracy: float  # on the test subset, torch, BatchNorm recalibrated
    chance: float
    export_scaled_diff: float  # max |torch - ONNX| logit difference / largest logit magnitude (edgekit's export check)
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


def run_arch(
    name: str,
    out: Path,
    n_train: int = 320,
    n_test: int = 200,
    prune_ratio: float = 0.3,
    export_pruned: bool = False,
    exporter: str = "dynamo",
) -> ZooResult:
    """Train, export (parity measured), count MACs, prune to ``prune_ratio`` fewer MACs (or record why not),
    optionally export the pruned model, and quantize the float one to INT8. Raises on anything that should not fail.
    The tests export with the legacy exporter (1.2 s vs 26 s for EfficientNet-B0, measured); the benchmark with
    dynamo, the default users get."""
    from edgekit.bench import graph
    from edgekit.quant.calibration import BatchReader
    from edgekit.quant.ort_static import Attempt, preprocess, quantize
    from edgekit.runtime import ort
    from edgekit.decide.sense import chance_level
    from edgekit.torchkit.export import export_onnx, parity
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
    fit(
        model,
        train,
        val,
        mean,
        std,
        TrainSettings(**{"epochs": 2, "lr": 2e-3, **TRAIN.get(name, {})}, batch_size=32),
        label=name,
    )
    acc = evaluate(model, test, mean, std)
    times["train"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    x = normalize(test.x, mean, std)
    path = out / f"{name}.onnx"
    export_onnx(model, torch.from_numpy(x[:2]), path, 18, exporter)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    _, scaled, agree = parity(ref, ort.predict(ort.session(path, 1), x))
    result = ZooResult(
        name, acc, chance_level(test.y.tolist()), scaled, agree, graph.count(path)["macs"], files={"float": path}
    )
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
            export_onnx(pruned.model, torch.from_numpy(x[:2]), result.files["pruned"], 18, exporter)
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
