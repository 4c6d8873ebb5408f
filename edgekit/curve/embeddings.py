"""Sentence embeddings computed once per model and text, kept on disk: every curve point of the fine-tune
and few-shot arms reads them instead of running the encoder again.

One file per model folder (named by the folder's content hash): row keys are sha256 prefixes of the texts,
so adding a size or a seed embeds only the texts not seen before. Written temp-then-rename.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from edgekit.fsutil import write_atomic

BATCH = 512  # texts embedded between progress lines (and saves): ~2 s of MiniLM on 2 cores


def text_key(text: str) -> str:
    return hashlib.sha256(str(text).encode()).hexdigest()[:24]


class EmbeddingStore:
    def __init__(self, path: Path, embed: Callable[[Sequence[str]], np.ndarray]):
        self.path, self._embed = Path(path), embed
        self.rows: dict[str, np.ndarray] = {}
        if self.path.is_file():
            try:
                with np.load(self.path) as f:
                    self.rows = dict(zip(f["keys"].tolist(), f["vectors"]))
            except (OSError, ValueError, KeyError):  # a corrupt store is a miss, never a crash
                self.rows = {}

    def missing(self, texts: Sequence[str]) -> list[str]:
        seen, out = set(self.rows), []
        for t in texts:
            k = text_key(t)
            if k not in seen:
                seen.add(k)
                out.append(str(t))
        return out

    def fill(self, texts: Sequence[str], log: Callable[[str], None] | None = None) -> int:
        """Embed every text not stored yet; returns how many were embedded."""
        todo = self.missing(texts)
        for i in range(0, len(todo), BATCH):
            chunk = todo[i : i + BATCH]
            for t, v in zip(chunk, self._embed(chunk)):
                self.rows[text_key(t)] = np.asarray(v, np.float32)
            if log:
                log(f"embedded {min(i + BATCH, len(todo))}/{len(todo)} texts")
        if todo:
            self._save()
        return len(todo)

    def get(self, texts: Sequence[str]) -> np.ndarray:
        """(N, D) float32 for texts already filled."""
        self.fill(texts)
        return np.stack([self.rows[text_key(t)] for t in texts]) if len(texts) else np.zeros((0, 0), np.float32)

    def _save(self) -> None:
        buf = io.BytesIO()
        np.savez(buf, keys=np.array(list(self.rows)), vectors=np.stack(list(self.rows.values())))
        write_atomic(self.path, buf.getvalue())
