"""Zero-shot image classification with a local CLIP-class model: the class whose text prompts are most similar
(cosine, in the joint space) to the image wins; several templates per class are averaged.

``clip`` reads a CLIP folder; ``siglip`` any transformers AutoModel with image and text towers (SigLIP, SigLIP 2):
SigLIP scores each pair with a sigmoid of the scaled cosine, a monotonic map, so the argmax of the cosine is
its answer too. SigLIP was trained on text padded to the full length, so its prompts are padded that way.

    clip = ClipZeroShot(model=Path("clip-vit-b32/"), labels=LabelSet.of(["cat", "dog"]))
    clip.classify(images_uint8_nchw)   # -> (N,) class indices
    SiglipZeroShot(model=Path("siglip-base-patch16-224/"), labels=..., templates=["a photo of {label}."])
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgekit.baselines.base import Baseline, LabelSet, disk_size, fill
from edgekit.errors import InputError, require

DEFAULT_TEMPLATES = ("a photo of a {label}.",)


class ClipZeroShot(Baseline):
    provider = "clip"
    padding: bool | str = True  # tokenizer padding of the label prompts

    def __init__(
        self,
        model: Path,
        labels: LabelSet,
        templates: Sequence[str] = DEFAULT_TEMPLATES,
        batch_size: int = 32,
        **_unused,
    ):
        import torch

        transformers = require("transformers", "text")
        if not (Path(model) / "config.json").is_file():
            raise InputError(f"{model}: not a Hugging Face {self.provider} folder (no config.json)")
        self.model = transformers.AutoModel.from_pretrained(str(model)).eval()
        if not hasattr(self.model, "get_image_features"):
            raise InputError(
                f"{model}: a {type(self.model).__name__} has no image tower (need a CLIP/SigLIP-style model)"
            )
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(str(model))
        self.images = transformers.AutoImageProcessor.from_pretrained(str(model))
        self.labels, self.batch_size = labels, batch_size
        self.size_bytes = disk_size(model)
        self.params = sum(p.numel() for p in self.model.parameters())
        prompts = [fill(t, d) for d in labels.descriptions for t in templates]
        tokens = self.tokenizer(prompts, padding=self.padding, truncation=True, return_tensors="pt")
        if self.padding == "max_length":  # SigLIP's text tower takes no attention mask: it saw padded text in training
            tokens.pop("attention_mask", None)
        with torch.no_grad():
            text = self._unit(self.model.get_text_features(**tokens))  # (K*T, D)
        per_class = text.reshape(len(labels), len(templates), -1).mean(1)  # prompt ensembling
        self.class_vectors = per_class / np.linalg.norm(per_class, axis=1, keepdims=True)  # (K, D)

    @staticmethod
    def _unit(t) -> np.ndarray:
        v = getattr(t, "pooler_output", t)  # newer transformers return an output object
        v = v.detach().float().numpy()
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    def image_vectors(self, images: np.ndarray) -> np.ndarray:
        """uint8 (N, C, H, W) -> unit image embeddings (N, D). Grayscale is repeated to 3 channels."""
        import torch

        x = np.asarray(images)
        if x.ndim != 4:
            raise InputError(f"clip expects images (N, C, H, W), got shape {x.shape}")
        if x.shape[1] == 1:
            x = np.repeat(x, 3, axis=1)
        out = []
        for i in range(0, len(x), self.batch_size):
            batch = [im.transpose(1, 2, 0) for im in x[i : i + self.batch_size]]  # HWC uint8, as the processor expects
            pixels = self.images(images=batch, return_tensors="pt")["pixel_values"]
            with torch.no_grad():
                out.append(self._unit(self.model.get_image_features(pixel_values=pixels)))
        return np.concatenate(out)

    def classify(self, samples) -> np.ndarray:
        return (self.image_vectors(samples) @ self.class_vectors.T).argmax(1).astype(np.int64)


class SiglipZeroShot(ClipZeroShot):
    provider = "siglip"
    padding = "max_length"
