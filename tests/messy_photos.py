"""A small folder of photos as people have them: mixed sizes, modes and formats, class names with spaces and
non-ASCII letters, and stray files (Thumbs.db, README, .DS_Store). Colours carry the class, so a tiny model
learns it in one epoch (a run that learned nothing is not what these tests are about)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

CLASSES = {"golden retriever": (200, 150, 60), "Käfer": (40, 60, 200), "chat noir": (30, 30, 30)}
SIZES = [(48, 36), (64, 48), (40, 40), (36, 60), (80, 52)]  # (width, height), as cameras and crops give
STRAY = ["Thumbs.db", "notes.txt"]


def make(root: Path, per_class: int = 20, seed: int = 0) -> Path:
    from PIL import Image

    rng = np.random.default_rng(seed)
    for ci, (name, rgb) in enumerate(CLASSES.items()):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            w, h = SIZES[(i + ci) % len(SIZES)]
            pixels = np.clip(np.asarray(rgb) + rng.normal(0, 25, (h, w, 3)), 0, 255).astype(np.uint8)
            im = Image.fromarray(pixels)
            kind = i % 4
            if kind == 0:
                im.save(folder / f"IMG_{i:04d}.JPG", quality=90)
            elif kind == 1:
                im.convert("RGBA").save(folder / f"screenshot {i}.png")
            elif kind == 2:
                im.convert("P", palette=Image.Palette.ADAPTIVE, colors=64).save(folder / f"pal_{i}.png")
            else:
                im.save(folder / f"photo-{i}.jpeg", quality=85)
        for stray in STRAY:
            (folder / stray).write_bytes(b"\x00not an image")
    (root / "README.md").write_text("photos from the field trip\n")
    (root / ".DS_Store").write_bytes(b"\x00\x00")
    return root
