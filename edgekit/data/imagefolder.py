"""``imagefolder:DIR``: a folder of images, one subfolder per class, decoded once into the store.

    DIR/<class>/*.png                       a seeded, stratified test split is held out
    DIR/train/<class>/ + DIR/test/<class>/  a fixed test split, labelled with the training classes

The scan is ``edgekit.data.folderscan``'s, as in ``init`` and ``validate``; the fingerprint is the file names, labels
and content hashes (remembered by size/mtime/inode, ``edgekit.data.filehash``); the pixels come from
``edgekit.data.store``, so every split is rows of one
on-disk array and RAM does not grow with the folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.data import folderscan
from edgekit.data.dataset import Split, split_train_val
from edgekit.data.filehash import hash_files
from edgekit.data.sources import DataSourceError, register_source
from edgekit.data.store import DecodeError, decoded
from edgekit.fsutil import resolve_path
from edgekit.hashing import hash_obj


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
    train_scan, test_scan = folderscan.layout(root)  # the same refusals, in the same words, as validate and init
    fixed_test = test_scan is not None
    classes = train_scan.classes
    rel = [p.relative_to(root).as_posix() for p, _ in train_scan.items]
    y = np.asarray([label for _, label in train_scan.items], np.int64)
    test_rel = [p.relative_to(root).as_posix() for p, _ in test_scan.items] if fixed_test else []
    test_y = np.asarray([label for _, label in test_scan.items] if fixed_test else [], np.int64)
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
