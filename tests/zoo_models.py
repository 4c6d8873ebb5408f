"""Models the zoo matrix builds through ``python:zoo_models:NAME`` sources (the way a user brings their own)."""

from __future__ import annotations

from torch import nn


def vit_small(num_classes: int, in_channels: int) -> nn.Module:
    """torchvision's VisionTransformer, small: 16x16 images in 4x4 patches (16 tokens + class token), 2 layers.
    ``in_channels`` is applied by edgekit's input adaptation (the patch projection is the first conv)."""
    from torchvision.models.vision_transformer import VisionTransformer

    return VisionTransformer(
        image_size=16, patch_size=4, num_layers=2, num_heads=4, hidden_dim=64, mlp_dim=128, num_classes=num_classes
    )
