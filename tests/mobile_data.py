"""Image folders for the mobile-architecture card (issue 27), shared by tests and benchmarks/mobile.py.

    digits_folder(DIR)                 # scikit-learn's 1,797 8x8 digits, upsampled to 32x32 RGB PNGs
    fashion_folder(DIR, per_class=300) # Fashion-MNIST (Debian dataset-fashion-mnist) as 40x40 RGB PNGs

Both write DIR/<class>/<index>.png (one folder per class: what `edgekit init DIR` and `imagefolder:DIR` read)
and return DIR. A folder that already holds the expected number of images is reused, so a benchmark and its
tests can share one copy."""

from __future__ import annotations

from pathlib import Path

import numpy as np

FASHION = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = ("tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot")


def _write(root: Path, images: np.ndarray, labels: np.ndarray, names: tuple[str, ...], side: int) -> Path:
    """``images``: (N, H, W) uint8 grey; written as side x side RGB PNGs (bilinear), one folder per class."""
    from PIL import Image

    if root.is_dir() and sum(1 for _ in root.glob("*/*.png")) == len(images):
        return root
    for k, name in enumerate(names):
        (root / name).mkdir(parents=True, exist_ok=True)
    for i, (img, label) in enumerate(zip(images, labels)):
        im = Image.fromarray(img, "L").resize((side, side), Image.BILINEAR).convert("RGB")
        im.save(root / names[int(label)] / f"{i:05d}.png")
    return root


def digits_folder(root: Path, side: int = 32) -> Path:
    """sklearn ``load_digits`` (1,797 images, values 0..16) scaled to 0..255 and upsampled to side x side RGB."""
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.clip(d.images * (255.0 / 16.0), 0, 255).astype(np.uint8)  # (1797, 8, 8)
    return _write(Path(root), images, d.target, tuple(str(k) for k in range(10)), side)


def fashion_folder(root: Path, per_class: int = 300, side: int = 40, seed: int = 0) -> Path:
    """``per_class`` seeded Fashion-MNIST training images per class (10 classes), upsampled to side x side RGB."""
    from edgekit.data.sources import read_idx

    x = read_idx(FASHION / "train-images-idx3-ubyte.gz")  # (60000, 28, 28) uint8
    y = read_idx(FASHION / "train-labels-idx1-ubyte.gz")
    rng = np.random.default_rng(seed)
    idx = np.concatenate([rng.choice(np.flatnonzero(y == k), per_class, replace=False) for k in range(10)])
    return _write(Path(root), x[idx], y[idx], FASHION_CLASSES, side)
