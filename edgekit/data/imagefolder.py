"""``imagefolder:DIR``: a folder of images, one subfolder per class, decoded once into the store.

    DIR/<class>/*.png                       a seeded, stratified test split is held out
    DIR/train/<class>/ + DIR/test/<class>/  a fixed test split, labelled with the training classes

The scan streams ``os.scandir`` (a million files cost their names, not a ``Path`` object and a stat each);
the fingerprint is the file names, labels and content hashes (remembered by size/mtime/inode,
``edgekit.data.filehash``); the pixels come from ``edgekit.data.store``, so every split is rows of one
on-disk array and RAM does not grow with the folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edgekit.data.dataset import Split, split_train_val
from edgekit.data.filehash import hash_files
from edgekit.data.sources import DataSourceError, register_source
from edgekit.data.store import DecodeError, decoded
from edgekit.fsutil import resolve_path
from edgekit.hashing import hash_obj

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def walk_images(folder: str) -> list[str]:
    """Image files under ``folder`` (recursively, not through directory links) as paths relative to it, in the
    order ``sorted(Path.rglob)`` gives (by path components), so fingerprints match those of earlier versions."""
    found: list[str] = []
    stack = [""]
    while stack:
        rel = stack.pop()
        try:
            with os.scandir(os.path.join(folder, rel) if rel else folder) as it:
                for e in it:
                    sub = f"{rel}/{e.name}" if rel else e.name
                    if e.is_dir(follow_symlinks=False):
                        stack.append(sub)
                    elif os.path.splitext(e.name)[1].lower() in IMAGE_SUFFIXES:
                        found.append(sub)
        except OSError as err:
            raise DataSourceError("source", f"{os.path.join(folder, rel)}: cannot list folder ({err.strerror})") from None
    found.sort(key=lambda p: p.split("/"))
    return found


def scan_classes(root: Path, classes: list[str] | None = None) -> tuple[list[str], list[str], np.ndarray]:
    """(class names, image paths relative to ``root``'s parent-free root, labels). With ``classes`` (the training
    class map) labels come from it, so a test folder with fewer classes still labels a cat as a cat; a class it does
    not know is bad input."""
    found = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
    if classes is None:
        classes = found
    unknown = [c for c in found if c not in classes]
    if unknown:
        raise DataSourceError("source", f"{root}: class folder(s) {', '.join(unknown)} not in the training classes "
                                        f"({', '.join(classes)}); a test class must be one the model was trained on")
    index = {c: i for i, c in enumerate(classes)}
    paths, labels = [], []
    for c in found:
        files = walk_images(str(root / c))
        paths += [f"{c}/{f}" for f in files]
        labels += [index[c]] * len(files)
    return classes, paths, np.asarray(labels, np.int64)


def _mode(path: Path) -> str:
    from edgekit.errors import require

    Image = require("PIL.Image", "shrink")
    try:
        with Image.open(path) as im:
            return "L" if im.mode in ("L", "1", "I;16") else "RGB"
    except (OSError, Image.DecompressionBombError) as e:
        raise DataSourceError("source", f"{path}: cannot read image ({e})") from None


@register_source("imagefolder")
def imagefolder(cfg, arg: str, base_dir: Path, seed: int):
    """DIR/<class>/*.png, or DIR/train/<class>/ + DIR/test/<class>/ for a fixed test split (labelled with the
    training classes)."""
    root = resolve_path(arg, base_dir)
    if not root.is_dir():
        raise DataSourceError("source", f"{root}: no such directory")
    fixed_test = (root / "train").is_dir() and (root / "test").is_dir()
    train_root = root / "train" if fixed_test else root
    classes, paths, y = scan_classes(train_root)
    if len(classes) < 2 or not paths:
        raise DataSourceError("source", f"{root}: expected one subfolder of images per class (found {len(classes)} classes, {len(paths)} images)")
    rel = [f"train/{p}" for p in paths] if fixed_test else paths  # relative to root
    test_rel, test_y = [], np.zeros(0, np.int64)
    if fixed_test:
        _, test_paths, test_y = scan_classes(root / "test", classes)
        if not test_paths:
            raise DataSourceError("source", f"{root / 'test'}: no images (expected test/<class>/*.png for classes {', '.join(classes)})")
        test_rel = [f"test/{p}" for p in test_paths]
    every = rel + test_rel
    # content, not stat: a same-size image copied with `cp -p` must change it; class names and labels are in it
    # too (an empty class folder shifts every label)
    full = [f"{root}/{p}" for p in every]  # strings: a Path per file costs seconds at a million files
    try:
        hashes = hash_files(root, full)
    except OSError as e:  # a file that vanished or cannot be opened: name it, no traceback
        raise DataSourceError("source", f"{e.filename}: cannot read ({e.strerror})") from None
    labels = np.concatenate([y, test_y])
    files = hash_obj({"classes": classes, "files": [(p, int(label), hashes[p]) for p, label in zip(every, labels)]})
    mode = _mode(root / every[0])
    try:
        x = decoded(files, full, cfg.image_size, mode, strict=len(rel))
    except DecodeError as e:
        raise DataSourceError(e.key, f"{e.path}: {e.message}") from None
    n = len(rel)
    if fixed_test:
        test = Split(x.take(np.arange(n, len(every))), test_y)
        train_x, train_y = x.take(np.arange(n)), y
    else:  # hold out a seeded, stratified test split of the same size as validation
        rest, test = split_train_val(x, y, cfg.val_fraction, seed + 1)
        train_x, train_y = rest.x, rest.y
    return train_x, train_y, test, classes, {"files": files}
