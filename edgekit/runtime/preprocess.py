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
        if "tokenizer" not in pre:
            raise ValueError("text preprocessing needs a 'tokenizer' entry in preprocess.json")
        return _tokenizer(pre["tokenizer"]).encode(x)
    raise ValueError(f"no preprocessing for inputs of kind {kind!r}")


_TOKENIZERS: dict[int, tuple[dict, object]] = {}


def _tokenizer(spec: dict):
    """Building a tokenizer from its dict takes ~30 ms (vocabulary index); a per-query caller reuses it.
    Keyed by the dict's identity, holding the dict so the id cannot be reused while cached."""
    from edgekit.runtime.tokenize import from_dict

    hit = _TOKENIZERS.get(id(spec))
    if hit is not None and hit[0] is spec:
        return hit[1]
    if len(_TOKENIZERS) >= 8:
        _TOKENIZERS.clear()
    tok = from_dict(spec)
    _TOKENIZERS[id(spec)] = (spec, tok)
    return tok
