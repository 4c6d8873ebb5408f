"""``coco:DIR``: a COCO-JSON folder (bbox annotations).

    DIR/annotations.json + DIR/images/          a seeded test split is held out (by image)
    DIR/train/... + DIR/test/...                 the same layout twice: a fixed test split

The json may also be the one ``*.json`` in DIR/annotations/. ``file_name`` is relative to images/ (or to DIR).
Categories are the classes, in ``id`` order; ``iscrowd`` annotations are left out. Bad annotations stop the run
with the file and the key (``annotations[12].bbox``) named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edgekit.data.errors import DataSourceError
from edgekit.data.filehash import hash_files
from edgekit.detect.boxes import xywh_to_xyxy
from edgekit.detect.dataset import DetSplit, split_images
from edgekit.detect.images import decode, scale_boxes
from edgekit.hashing import hash_obj


def json_file(root: Path) -> Path:
    if (root / "annotations.json").is_file():
        return root / "annotations.json"
    found = sorted((root / "annotations").glob("*.json")) if (root / "annotations").is_dir() else []
    if len(found) == 1:
        return found[0]
    raise DataSourceError(
        "source", f"{root}: no annotations.json (or one *.json in annotations/); edgekit reads COCO-JSON folders so"
    )


def _fail(f: Path, key: str, what: str):
    raise DataSourceError("source", f"{f}: {key}: {what}")


def parse(f: Path) -> tuple[list[str], list[int], list[dict], dict[int, list[tuple[list[float], int]]]]:
    """(class names, category ids, images, {image id: [(xywh, category id)]}), checked."""
    try:
        doc = json.loads(f.read_text())
    except json.JSONDecodeError as e:
        raise DataSourceError("source", f"{f}:{e.lineno}: not valid JSON ({e.msg})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataSourceError("source", f"{f}: cannot read ({e})") from None
    if not isinstance(doc, dict):
        _fail(f, "(top level)", "expected an object with images, annotations and categories")
    for key in ("images", "annotations", "categories"):
        if not isinstance(doc.get(key), list):
            _fail(f, key, "missing or not a list")
    cats = {}
    for i, c in enumerate(doc["categories"]):
        if not isinstance(c, dict) or not isinstance(c.get("id"), int) or not isinstance(c.get("name"), str):
            _fail(f, f"categories[{i}]", 'expected {"id": int, "name": str}')
        cats[c["id"]] = c["name"]
    if not cats:
        _fail(f, "categories", "empty: name at least one category")
    images = []
    ids = set()
    for i, im in enumerate(doc["images"]):
        if not isinstance(im, dict) or not isinstance(im.get("id"), int) or not isinstance(im.get("file_name"), str):
            _fail(f, f"images[{i}]", 'expected {"id": int, "file_name": str, ...}')
        if im["id"] in ids:
            _fail(f, f"images[{i}].id", f"{im['id']} appears twice")
        ids.add(im["id"])
        images.append(im)
    boxes: dict[int, list] = {}
    for i, a in enumerate(doc["annotations"]):
        if not isinstance(a, dict):
            _fail(f, f"annotations[{i}]", "expected an object")
        if a.get("iscrowd"):
            continue
        if a.get("image_id") not in ids:
            _fail(f, f"annotations[{i}].image_id", f"{a.get('image_id')!r} is no image's id")
        if a.get("category_id") not in cats:
            _fail(f, f"annotations[{i}].category_id", f"{a.get('category_id')!r} is no category's id")
        b = a.get("bbox")
        if not (isinstance(b, list) and len(b) == 4 and all(isinstance(v, (int, float)) for v in b)):
            _fail(f, f"annotations[{i}].bbox", f"expected [x, y, width, height], got {b!r}")
        if b[2] <= 0 or b[3] <= 0:
            _fail(f, f"annotations[{i}].bbox", f"width and height must be > 0, got {b!r}")
        boxes.setdefault(a["image_id"], []).append((b, a["category_id"]))
    order = sorted(cats)
    return [cats[k] for k in order], order, images, boxes


def _read_part(root: Path, size: int | None):
    f = json_file(root)
    classes, cat_ids, images, anns = parse(f)
    base = root / "images" if (root / "images").is_dir() else root
    paths = [base / im["file_name"] for im in images]
    for i, p in enumerate(paths):
        if not p.is_file():
            _fail(f, f"images[{i}].file_name", f"{p} does not exist")
    try:
        hashes = hash_files(root, [str(p) for p in paths] + [str(f)])
    except OSError as e:
        raise DataSourceError("source", f"{e.filename}: cannot read ({e.strerror})") from None
    x, scales = decode(paths, size)
    label_of = {c: k for k, c in enumerate(cat_ids)}
    boxes, labels = [], []
    side = x.shape[-1]
    for im, s in zip(images, scales):
        mine = anns.get(im["id"], [])
        b = scale_boxes(xywh_to_xyxy(np.array([a[0] for a in mine], np.float32)), s)
        boxes.append(np.clip(b, 0, side))  # a box that runs off the image ends at its edge
        labels.append(np.array([label_of[a[1]] for a in mine], np.int64))
    return DetSplit(x, boxes, labels), classes, hashes


def read(root: Path, size: int | None, seed: int, test_fraction: float):
    """(train, test, classes, files) of a COCO folder."""
    if not root.is_dir():
        raise DataSourceError("source", f"{root}: no such folder")
    if (root / "train").is_dir() and (root / "test").is_dir():
        train, classes, h1 = _read_part(root / "train", size)
        test, test_classes, h2 = _read_part(root / "test", size or train.x.shape[-1])
        if test_classes != classes:
            raise DataSourceError("source", f"{root}: train and test name different categories")
        return train, test, classes, hash_obj([h1, h2])
    split, classes, h = _read_part(root, size)
    rest, test = split_images(split, test_fraction, seed + 1)
    return rest, test, classes, hash_obj(h)
