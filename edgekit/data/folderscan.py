"""What an image folder holds, read without decoding a pixel: its classes, the images edgekit will read, the
files it skips, and every image's size from its header. ``init``, ``validate`` and ``shrink`` all call this,
so they agree on what the folder is: the same files skipped (and listed), the same refusal in the same words.

    DIR/<class>/*.jpg                      one subfolder of images per class, at least two classes
    DIR/train/<class>/ + DIR/test/<class>/ a fixed test split (test classes must be training classes)

Reading the headers of 10,000 JPEGs took 3.5-4.2 s on 2 busy cores (2,000 96x96 JPEGs, 3 rounds): PIL reads
the first bytes of each file, not the pixels. That is why ``validate`` can say "images have different sizes"
before ``shrink`` would."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from edgekit.data.errors import DataSourceError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
FORMATS = (
    "edgekit reads a folder with one subfolder of images per class (two classes or more), "
    "or train/<class>/ + test/<class>/"
)
# choosing data.image_size for a folder of mixed sizes: resized (squashed, not cropped) to size x size
MAX_AUTO_SIZE = 96  # px: a CPU trains a small CNN on 96x96 in minutes; more detail, raise it toward 224
MIN_AUTO_SIZE = 16


@dataclass(frozen=True)
class FolderScan:
    classes: list[str]
    items: list[tuple[Path, int]]  # (image file, label), in a stable order
    skipped: list[Path] = field(default_factory=list)  # files in the folder that are not read (not images)


def walk(folder: str) -> tuple[list[str], list[str]]:
    """(image files, other files) under ``folder``, recursively, not through directory links, as paths relative to
    it in the order ``sorted(Path.rglob)`` gives (by path components), so fingerprints match earlier versions'.
    ``os.scandir`` streams: a million files cost their names, not a ``Path`` and a stat each."""
    images: list[str] = []
    other: list[str] = []
    stack = [""]
    while stack:
        rel = stack.pop()
        try:
            with os.scandir(os.path.join(folder, rel) if rel else folder) as it:
                for e in it:
                    sub = f"{rel}/{e.name}" if rel else e.name
                    if e.is_dir(follow_symlinks=False):
                        stack.append(sub)
                    else:
                        (images if os.path.splitext(e.name)[1].lower() in IMAGE_SUFFIXES else other).append(sub)
        except OSError as err:
            raise DataSourceError(
                "source", f"{os.path.join(folder, rel)}: cannot list folder ({err.strerror})"
            ) from None
    images.sort(key=lambda p: p.split("/"))
    other.sort(key=lambda p: p.split("/"))
    return images, other


def scan(root: Path, classes: list[str] | None = None) -> FolderScan:
    """Classes and images of ``root``. With ``classes`` (the training class map) labels come from it, so a test
    folder with fewer classes still labels a cat as a cat; a class it does not know is bad input."""
    found = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if classes is None:
        classes = found
    unknown = [c for c in found if c not in classes]
    if unknown:
        raise DataSourceError(
            "source",
            f"{root}: class folder(s) {', '.join(unknown)} not in the training classes "
            f"({', '.join(classes)}); a test class must be one the model was trained on",
        )
    index = {c: i for i, c in enumerate(classes)}
    items, skipped = [], [p for p in sorted(root.iterdir()) if p.is_file()]  # files beside the class folders
    for c in found:
        images, other = walk(str(root / c))
        items += [(root / c / f, index[c]) for f in images]
        skipped += [root / c / f for f in other]
    return FolderScan(classes, items, skipped)


def layout(root: Path) -> tuple[FolderScan, FolderScan | None]:
    """(training scan, test scan or None) of an image folder; DataSourceError, naming the formats edgekit reads,
    for a folder it cannot read as classes (a COCO export, one class, no images)."""
    if not root.is_dir():
        raise DataSourceError("source", f"{root}: no such directory")
    fixed_test = (root / "train").is_dir() and (root / "test").is_dir()
    train = scan(root / "train" if fixed_test else root)
    if len(train.classes) < 2 or not train.items:
        hint = ""
        if any((root / n).is_file() for n in ("annotations.json", "instances.json", "_annotations.coco.json")):
            hint = " (this looks like a COCO export: read its boxes with source: coco:DIR)"
        raise DataSourceError(
            "source",
            f"{root}: found {len(train.classes)} class folder(s) with {len(train.items)} images{hint}; {FORMATS}",
        )
    test = scan(root / "test", train.classes) if fixed_test else None
    if test is not None and not test.items:
        raise DataSourceError(
            "source", f"{root / 'test'}: no images (expected test/<class>/*.png for classes {', '.join(train.classes)})"
        )
    return train, test


def skipped_note(root: Path, scans: list[FolderScan]) -> str | None:
    """One line naming the files a run will not read, or None."""
    files = [p for s in scans for p in s.skipped]
    if not files:
        return None
    names = [p.relative_to(root).as_posix() for p in files]
    shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
    return f"{root}: skipping {len(files)} file(s) that are not images ({'/'.join(sorted(IMAGE_SUFFIXES))}): {shown}"


def header_sizes(items: list[tuple[Path, int]]) -> Counter:
    """(width, height) -> how many images, from the file headers; an unreadable image is the loader's error."""
    from edgekit.errors import require

    Image = require("PIL.Image", "shrink")
    sizes: Counter = Counter()
    for path, _ in items:
        try:
            with Image.open(path) as im:
                sizes[im.size] += 1
        except (OSError, Image.DecompressionBombError) as e:
            raise DataSourceError("source", f"{path}: cannot read image ({e})") from None
    return sizes


def mixed_sizes_error(sizes: Counter) -> str:
    """The loader's words for a folder of mixed sizes without data.image_size (as (H, W[, C]) arrays it sees)."""
    return f"images have different sizes {sorted((h, w) for w, h in sizes)[:3]}: set data.image_size"


def choose_size(sizes: Counter) -> tuple[int | None, str]:
    """data.image_size for a folder, and why (a recipe comment). None when every image has one square size."""
    if len(sizes) == 1:  # one size, square or not: the loader stacks them as they are
        return None, ""
    shorter = sorted(min(wh) for wh, n in sizes.items() for _ in range(n))
    median = shorter[len(shorter) // 2]
    size = max(MIN_AUTO_SIZE, min(median, MAX_AUTO_SIZE) // 8 * 8)
    why = (
        f"image_size {size}: the images have {len(sizes)} sizes (shorter side {shorter[0]}-{shorter[-1]} px); each is "
        f"resized to {size}x{size} (squashed, not cropped). "
        + (
            f"{size} px keeps CPU training to minutes (their median shorter side is {median} px); "
            "raise it for fine detail."
            if median > size
            else f"{size} px is their median shorter side, so most images are not enlarged."
        )
    )
    return size, why
