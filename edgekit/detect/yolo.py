"""``yolo:DIR``: a YOLO-txt folder.

    DIR/images/*.jpg + DIR/labels/<stem>.txt + DIR/classes.txt   a seeded test split is held out (by image)
    DIR/train/... + DIR/test/...                                  the same layout twice: a fixed test split

Each label line is ``class cx cy w h``, centre and size as fractions of the image; an image without a label file
has no objects (YOLO's convention). Class names: ``classes.txt`` one per line, or ``names:`` in ``data.yaml``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.data.errors import DataSourceError
from edgekit.data.filehash import hash_files
from edgekit.data.folderscan import IMAGE_SUFFIXES
from edgekit.detect.boxes import cxcywh_to_xyxy
from edgekit.detect.dataset import DetSplit, split_images
from edgekit.detect.images import decode
from edgekit.hashing import hash_obj


def class_names(root: Path) -> tuple[list[str], Path]:
    for base in (root, root.parent):
        if (base / "classes.txt").is_file():
            f = base / "classes.txt"
            return [line.strip() for line in f.read_text().splitlines() if line.strip()], f
        if (base / "data.yaml").is_file():
            import yaml

            f = base / "data.yaml"
            names = (yaml.safe_load(f.read_text()) or {}).get("names")
            if isinstance(names, dict):
                names = [names[k] for k in sorted(names)]
            if not isinstance(names, list) or not names:
                raise DataSourceError("source", f"{f}: names: expected a list of class names")
            return [str(n) for n in names], f
    raise DataSourceError("source", f"{root}: no classes.txt or data.yaml with names: (YOLO-txt folders need one)")


def parse_labels(f: Path, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(boxes (K, 4) normalised cxcywh, class ids (K,)) of one label file, each line checked."""
    rows, ids = [], []
    for n, line in enumerate(f.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 5:
            raise DataSourceError("source", f"{f}:{n}: expected 'class cx cy w h' (5 numbers), got {len(parts)}")
        try:
            c, vals = int(parts[0]), [float(v) for v in parts[1:]]
        except ValueError:
            raise DataSourceError("source", f"{f}:{n}: not numbers: {line.strip()!r}") from None
        if not 0 <= c < n_classes:
            raise DataSourceError("source", f"{f}:{n}: class {c} out of range (0..{n_classes - 1})")
        if not all(0 <= v <= 1 for v in vals) or vals[2] <= 0 or vals[3] <= 0:
            raise DataSourceError("source", f"{f}:{n}: cx cy w h must be fractions of the image (0..1, w h > 0)")
        rows.append(vals)
        ids.append(c)
    return np.array(rows, np.float32).reshape(-1, 4), np.array(ids, np.int64)


def _read_part(root: Path, size: int | None, classes: list[str]):
    if not (root / "images").is_dir():
        raise DataSourceError("source", f"{root}: no images/ folder (YOLO-txt: images/ + labels/ + classes.txt)")
    paths = sorted(p for p in (root / "images").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise DataSourceError("source", f"{root / 'images'}: no images")
    label_files = [root / "labels" / f"{p.stem}.txt" for p in paths]
    present = [f for f in label_files if f.is_file()]
    try:
        hashes = hash_files(root, [str(p) for p in paths + present])
    except OSError as e:
        raise DataSourceError("source", f"{e.filename}: cannot read ({e.strerror})") from None
    x, _ = decode(paths, size)
    side = x.shape[-1]
    boxes, labels = [], []
    for f in label_files:
        b, c = parse_labels(f, len(classes)) if f.is_file() else (np.zeros((0, 4), np.float32), np.zeros(0, np.int64))
        boxes.append(np.clip(cxcywh_to_xyxy(b) * side, 0, side).astype(np.float32))  # fractions: squash-proof
        labels.append(c)
    return DetSplit(x, boxes, labels), hashes


def read(root: Path, size: int | None, seed: int, test_fraction: float):
    """(train, test, classes, files) of a YOLO-txt folder."""
    if not root.is_dir():
        raise DataSourceError("source", f"{root}: no such folder")
    fixed = (root / "train").is_dir() and (root / "test").is_dir()
    classes, class_file = class_names(root / "train" if fixed else root)
    if fixed:
        train, h1 = _read_part(root / "train", size, classes)
        test, h2 = _read_part(root / "test", size or train.x.shape[-1], classes)
        return train, test, classes, hash_obj([h1, h2, classes])
    split, h = _read_part(root, size, classes)
    rest, test = split_images(split, test_fraction, seed + 1)
    return rest, test, classes, hash_obj([h, classes])
