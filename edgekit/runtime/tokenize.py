"""Torch-free tokenizers: text -> fixed-length int64 token ids, rebuilt from a plain dict in preprocess.json.

Every text model takes one input, ``ids`` (B, L) int64 padded with ``pad_id``; the model derives its own
attention mask from it, so the ONNX file has a single input like an image model and any consumer that
calls ``prepare`` can feed it.

- ``words``: lower-cased words plus hashed word bigrams (fastText's trick: word order for free). Pure
  Python + numpy, so it runs where only onnxruntime is installed.
- ``hf``: a Hugging Face ``tokenizer.json`` (WordPiece, BPE, ...) run by the ``tokenizers`` library.
"""

from __future__ import annotations

import json
import re
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
PAD, UNK = 0, 1


def words(text: str, lowercase: bool = True) -> list[str]:
    return WORD.findall(text.lower() if lowercase else text)


class WordTokenizer:
    """ids: 0 pad, 1 unknown word, 2.. vocabulary words, then ``bigram_buckets`` hashed bigram slots."""

    def __init__(self, vocab: Sequence[str], max_length: int = 64, bigram_buckets: int = 0, lowercase: bool = True):
        self.vocab = list(vocab)
        self.index = {w: i + 2 for i, w in enumerate(self.vocab)}
        self.max_length = max_length
        self.bigram_buckets = bigram_buckets
        self.lowercase = lowercase
        self.pad_id = PAD

    @classmethod
    def fit(cls, texts: Iterable[str], max_vocab: int = 20000, min_count: int = 2, **kw) -> WordTokenizer:
        """Vocabulary: the ``max_vocab`` most frequent words seen at least ``min_count`` times (ties by word)."""
        counts = Counter(w for t in texts for w in words(t, kw.get("lowercase", True)))
        ranked = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        return cls(ranked[:max_vocab], **kw)

    @property
    def size(self) -> int:
        """Rows the model's embedding table needs."""
        return 2 + len(self.vocab) + self.bigram_buckets

    def _ids(self, text: str) -> list[int]:
        ws = words(text, self.lowercase)
        ids = [self.index.get(w, UNK) for w in ws]
        if self.bigram_buckets:
            base = 2 + len(self.vocab)
            # crc32, not hash(): Python's str hash is salted per process
            ids += [base + zlib.crc32(f"{a} {b}".encode()) % self.bigram_buckets for a, b in zip(ws, ws[1:])]
        return ids[: self.max_length]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.full((len(texts), self.max_length), PAD, np.int64)  # (N, L)
        for i, t in enumerate(texts):
            ids = self._ids(str(t))
            out[i, : len(ids)] = ids
        return out

    def to_dict(self) -> dict:
        return {
            "type": "words",
            "vocab": self.vocab,
            "max_length": self.max_length,
            "bigram_buckets": self.bigram_buckets,
            "lowercase": self.lowercase,
            "pad_id": PAD,
        }


class HFTokenizer:
    """A ``tokenizer.json`` run by the Rust ``tokenizers`` library (no torch, no transformers)."""

    def __init__(self, spec: dict | str, max_length: int = 128, pad_id: int = 0):
        from edgekit.errors import require

        Tokenizer = require("tokenizers", "text").Tokenizer
        self.spec = spec if isinstance(spec, dict) else json.loads(spec)
        self.max_length = max_length
        self.pad_id = pad_id
        self._tok = Tokenizer.from_str(json.dumps(self.spec))
        self._tok.enable_truncation(max_length)
        self._tok.enable_padding(length=max_length, pad_id=pad_id)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        enc = self._tok.encode_batch([str(t) for t in texts])
        return np.array([e.ids for e in enc], np.int64).reshape(len(texts), self.max_length)  # (N, L)

    def to_dict(self) -> dict:
        return {"type": "hf", "tokenizer": self.spec, "max_length": self.max_length, "pad_id": self.pad_id}


def from_dict(d: dict) -> WordTokenizer | HFTokenizer:
    if d.get("type") == "words":
        return WordTokenizer(d["vocab"], d["max_length"], d.get("bigram_buckets", 0), d.get("lowercase", True))
    if d.get("type") == "hf":
        return HFTokenizer(d["tokenizer"], d["max_length"], d.get("pad_id", 0))
    raise ValueError(f"unknown tokenizer type {d.get('type')!r} (expected 'words' or 'hf')")
