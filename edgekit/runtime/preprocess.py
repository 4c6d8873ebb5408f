"""Raw samples -> model input, from the ``preprocess.json`` stored beside every ONNX artifact.

One function for every consumer (export parity, evaluate, bench), so training and deployment agree."""

from __future__ import annotations

import numpy as np

from edgekit.data.dataset import normalize


def prepare(pre: dict, x: np.ndarray) -> np.ndarray:
    """Images: uint8 (N, C, H, W) -> float32 normalised (N, C, H, W).
    Text: (N,) str -> int64 token ids (N, L), by the tokenizer stored in ``pre["tokenizer"]``."""
    kind = pre.get("kind", "image")
    if kind == "image":
        return normalize(x, pre["mean"], pre["std"])
    if kind == "text":
        from edgekit.runtime.tokenize import from_dict

        if "tokenizer" not in pre:
            raise ValueError("text preprocessing needs a 'tokenizer' entry in preprocess.json")
        return from_dict(pre["tokenizer"]).encode(x)
    raise ValueError(f"no preprocessing for inputs of kind {kind!r}")
