"""The default recipe's model as ONNX, for benchmark scripts: torchvision resnet18 adapted like
recipes/fashion-mnist.yaml (1 input channel, ImageNet stem, 10 classes). Untrained: latency does not
depend on the weights. Needs torch (the `shrink` extra); pass --model to use an existing file instead."""

from __future__ import annotations

from pathlib import Path


def default_model(cache_dir: Path) -> Path:
    path = cache_dir / "resnet18.onnx"
    if path.exists():
        return path
    import torch

    from edgekit.torchkit.export import export_onnx
    from edgekit.torchkit.models import build_model

    cache_dir.mkdir(parents=True, exist_ok=True)
    model = build_model({"source": "torchvision:resnet18"}, num_classes=10, in_channels=1)
    tmp = path.with_suffix(".tmp.onnx")
    export_onnx(model, torch.randn(2, 1, 28, 28), tmp, 18)
    tmp.replace(path)
    return path
