"""An open-vocabulary zero-shot detector as the prompted alternative for detection: OWL-ViT or OWLv2 (any
transformers AutoModelForZeroShotObjectDetection with its processor), by Hub id or folder. Each class name,
filled into each prompt template, is a text query; every image patch predicts one box, scored against every query
(sigmoid), and the box takes its best query's class. Boxes scoring at least ``score_threshold`` are kept: the
(boxes, scores, labels) a detector's ONNX file gives, so the same mAP scores both (edgekit.detect.evaluate).

    owl = OwlViTZeroShot(model=Path("owlvit-base-patch32/"), labels=LabelSet.of(["bag", "shoe"]))
    boxes, scores, labels = owl.detect(images_uint8_nchw)   # one array of each per image, original pixels
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgekit.baselines.base import Baseline, LabelSet, disk_size, fill
from edgekit.errors import InputError, require

DEFAULT_TEMPLATES = ("a photo of a {label}",)
DEFAULT_THRESHOLD = 0.05  # low: mAP ranks by score, so a box kept at a low score costs little and may be a hit


class OwlViTZeroShot(Baseline):
    provider = "owlvit"

    def __init__(
        self,
        model: Path,
        labels: LabelSet,
        templates: Sequence[str] = DEFAULT_TEMPLATES,
        score_threshold: float = DEFAULT_THRESHOLD,
        batch_size: int = 8,
        **_unused,
    ):
        transformers = require("transformers", "text")
        if not (Path(model) / "config.json").is_file():
            raise InputError(f"{model}: not a Hugging Face {self.provider} folder (no config.json)")
        try:
            self.model = transformers.AutoModelForZeroShotObjectDetection.from_pretrained(str(model)).eval()
        except ValueError as e:  # a model of another kind: transformers names the classes it knows
            raise InputError(f"{model}: not a zero-shot object detector (OWL-ViT, OWLv2): {str(e)[:160]}") from None
        self.processor = transformers.AutoProcessor.from_pretrained(str(model))
        # OWLv2 pads each image to a square (bottom and right) before resizing: its boxes are in the padded frame
        self.pads_square = self.model.config.model_type == "owlv2"
        self.labels, self.templates = labels, list(templates)
        self.queries = [fill(t, d) for d in labels.descriptions for t in self.templates]  # class-major
        self.score_threshold, self.batch_size = score_threshold, batch_size
        self.size_bytes = disk_size(model)
        self.params = sum(p.numel() for p in self.model.parameters())

    def prompt(self, images: bool = True) -> dict:
        return {"templates": self.templates, "queries": len(self.queries), "score_threshold": self.score_threshold}

    def detect(self, images: np.ndarray) -> tuple[list, list, list]:
        """uint8 (N, C, H, W) -> (boxes, scores, labels), one array of each per image, in its pixels."""
        import torch

        x = np.asarray(images)
        if x.ndim != 4:
            raise InputError(f"{self.provider} expects images (N, C, H, W), got shape {x.shape}")
        if x.shape[1] == 1:
            x = np.repeat(x, 3, axis=1)
        h, w = x.shape[2:]
        frame = (max(h, w), max(h, w)) if self.pads_square else (h, w)
        out: list[list] = [[], [], []]
        for i in range(0, len(x), self.batch_size):
            batch = [im.transpose(1, 2, 0) for im in x[i : i + self.batch_size]]  # HWC uint8, as the processor expects
            inputs = self.processor(
                text=[self.queries] * len(batch), images=batch, return_tensors="pt", truncation=True
            )
            with torch.no_grad():
                raw = self.model(**inputs)
            found = self.processor.post_process_grounded_object_detection(
                raw, threshold=self.score_threshold, target_sizes=[frame] * len(batch)
            )
            for f in found:
                b = f["boxes"].float().numpy().reshape(-1, 4)
                b = np.clip(b, 0, [w, h, w, h]).astype(np.float32)  # the padded frame's boxes, cut to the image
                keep = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
                out[0].append(b[keep])
                out[1].append(f["scores"].float().numpy().astype(np.float32)[keep])
                out[2].append((f["labels"].numpy().astype(np.int64) // len(self.templates))[keep])
        return out[0], out[1], out[2]
