"""What ``edgekit init`` writes for detection data: a folder recognised as COCO-JSON or YOLO-txt becomes
``coco:DIR`` / ``yolo:DIR`` (relative to the recipe's folder), with the detector's train -> export -> evaluate."""

from __future__ import annotations

import os
from pathlib import Path

from edgekit.detect.task import DETECT_SOURCES

DETECTOR = "edgekit:centernet-small"

DETECTION = """\
data: {{source: "{source}", val_fraction: 0.1}}  # limit_train / limit_test: quick runs on a subset
model: {{source: "{model}"}}  # a small anchor-free detector (docs/detection.md)
stages:
  - {{id: train, kind: train, epochs: 8, lr: 3.0e-3, batch_size: 32}}
  - {{id: export, kind: export}}  # ONNX with box decoding inside, checked against torch
  - {{id: evaluate, kind: evaluate}}  # mAP@0.5:0.95 and mAP@0.5, size and latency of every ONNX file
"""  # noqa: E501 (the recipe text `edgekit init` writes, byte for byte)


def folder_format(folder: Path) -> str | None:
    """ "coco", "yolo" or None (not a detection folder: an image folder, one subfolder per class)."""
    for part in (folder, folder / "train"):
        if (part / "annotations.json").is_file() or (part / "annotations").is_dir():
            return "coco"
        if (part / "labels").is_dir() and (part / "images").is_dir():
            return "yolo"
    return None


def detection_spec(source: str, recipe_dir: Path) -> str | None:
    """The recipe's source for a detection source or folder, else None."""
    name, _, arg = source.partition(":")
    if name in DETECT_SOURCES and (arg or name == "fashion-detect"):
        folder = Path(arg).expanduser()
        return f"{name}:{os.path.relpath(folder.resolve(), recipe_dir.resolve())}" if arg else name
    folder = Path(source).expanduser()
    kind = folder_format(folder) if folder.is_dir() else None
    if kind is None:
        return None
    check(kind, folder)
    return f"{kind}:{os.path.relpath(folder.resolve(), recipe_dir.resolve())}"


def check(kind: str, folder: Path) -> None:
    """Read the annotations (not the images) as shrink will: a bad file is refused at init, in shrink's words."""
    from edgekit.detect import coco, yolo

    if kind == "coco":
        for part in (folder / "train", folder / "test") if (folder / "train").is_dir() else (folder,):
            coco.parse(coco.json_file(part))
    else:
        yolo.class_names(folder / "train" if (folder / "train").is_dir() else folder)


def detection_recipe(spec: str, model: str | None) -> str:
    return DETECTION.format(source=spec, model=model or DETECTOR)
