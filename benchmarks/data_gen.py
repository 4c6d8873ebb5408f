"""JPEG folders of Fashion-MNIST at 96x96 RGB, for benchmarks/data_scale.py.

    python benchmarks/data_gen.py OUT_DIR --sizes 30000 100000 300000 [--workers 2]

Writes OUT_DIR/all/<class>/<i>.jpg (the largest size) once, then OUT_DIR/<n>/ as hard links to the first n
files, so the folders share their bytes on disk. Copy k of a source image (i >= 70,000) is shifted by k
pixels, so no two files have the same bytes (a content-addressed store would otherwise dedupe them).
Idempotent: files that exist are kept.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from edgekit.data.sources import FASHION_CLASSES, FASHION_FILES, SYSTEM_DIR, _find_idx, read_idx  # noqa: E402

SIDE = 96
_SRC: tuple[np.ndarray, np.ndarray] | None = None


def _source() -> tuple[np.ndarray, np.ndarray]:
    global _SRC
    if _SRC is None:
        f = [_find_idx(SYSTEM_DIR, s) for s in FASHION_FILES]
        x = np.concatenate([read_idx(f[0]), read_idx(f[2])])  # (70000, 28, 28) uint8
        y = np.concatenate([read_idx(f[1]), read_idx(f[3])]).astype(np.int64)
        _SRC = (x, y)
    return _SRC


def name_of(i: int) -> str:
    return f"{FASHION_CLASSES[_source()[1][i % 70000]].replace('/', '-')}/{i:07d}.jpg"


def _write(args: tuple[str, int, int]) -> int:
    from PIL import Image

    root, start, stop = args
    x, _ = _source()
    for i in range(start, stop):
        path = Path(root) / name_of(i)
        if path.exists():
            continue
        img = np.roll(x[i % 70000], i // 70000, axis=1)  # (28, 28)
        im = Image.fromarray(img).resize((SIDE, SIDE), Image.BILINEAR).convert("RGB")
        tmp = path.with_suffix(".tmp")
        im.save(tmp, "JPEG", quality=90)
        os.replace(tmp, path)
    return stop - start


def generate(out: Path, sizes: list[int], workers: int = 2) -> dict[int, Path]:
    """{n: folder of the first n images}."""
    top = max(sizes)
    root = out / "all"
    for c in FASHION_CLASSES:
        (root / c.replace("/", "-")).mkdir(parents=True, exist_ok=True)
    chunks = [(str(root), s, min(top, s + 2000)) for s in range(0, top, 2000)]
    done = 0
    with mp.get_context("fork").Pool(workers) as pool:
        for n in pool.imap_unordered(_write, chunks):
            done += n
            if done % 20000 < 2000:
                print(f"  generated {done}/{top}", flush=True)
    folders = {}
    for n in sizes:
        folder = out / str(n)
        for i in range(n):
            dst = folder / name_of(i)
            if not dst.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.link(root / name_of(i), dst)
        folders[n] = folder
    return folders


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--sizes", type=int, nargs="+", default=[30000, 100000, 300000])
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    for n, folder in generate(a.out, a.sizes, a.workers).items():
        print(f"{n}: {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
