"""Data sources: a name (or ``prefix:argument``) mapped to a loader returning a Dataset.

Relative paths in a recipe are resolved against the recipe file's folder, so a run does not depend on
the directory it was started from.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgekit.data.dataset import Dataset, Split, limit, split_train_val
from edgekit.data.errors import DataSourceError
from edgekit.data.rows import Rows
from edgekit.fsutil import resolve_path
from edgekit.modelpath import import_function
from edgekit.hashing import hash_file, hash_obj


Loader = Callable[..., Dataset]
SOURCES: dict[str, Loader] = {}
WITH_ARGUMENT = {"imagefolder": "imagefolder:DIR", "python": "python:module:function"}


def register_source(name: str):
    def wrap(fn: Loader) -> Loader:
        if name in SOURCES:
            raise ValueError(f"data source '{name}' is registered twice")
        SOURCES[name] = fn
        return fn

    return wrap


def check_source(source: str) -> None:
    """Syntax check for the recipe validator; existence is checked when the data is loaded."""
    from edgekit.detect.task import DETECT_SOURCES

    name, _, arg = source.partition(":")
    if name in DETECT_SOURCES:  # loaded by edgekit.detect (the pipeline dispatches on edgekit.detect.task_of)
        if name != "fashion-detect" and not arg:
            raise ValueError(f"write it as {name}:DIR")
        return
    if name not in SOURCES:
        raise ValueError(f"unknown data source {source!r}; known: {', '.join(sorted([*SOURCES, *DETECT_SOURCES]))}")
    if name in WITH_ARGUMENT and not arg:
        raise ValueError(f"write it as {WITH_ARGUMENT[name]}")


def load_dataset(cfg, seed: int, base_dir: Path) -> Dataset:
    """Load, split (seeded, stratified) and limit the dataset a recipe's ``data:`` describes."""
    from edgekit.detect.task import DETECT_SOURCES

    name, _, arg = cfg.source.partition(":")
    if name in DETECT_SOURCES:  # images with boxes: edgekit.data.load.load_data dispatches them to edgekit.detect
        raise DataSourceError("source", f"{cfg.source}: a detection source; edgekit.data.load.load_data reads it")
    train_x, train_y, test, classes, meta = SOURCES[name](cfg=cfg, arg=arg, base_dir=base_dir, seed=seed)
    train, val = split_train_val(train_x, train_y, cfg.val_fraction, seed)
    train = limit(train, cfg.limit_train, seed)
    val = limit(
        val, None if cfg.limit_train is None else max(len(classes), int(cfg.limit_train * cfg.val_fraction)), seed
    )
    test = limit(test, cfg.limit_test, seed)
    kind = meta.pop("kind", "image")
    files = meta.pop("files")
    fingerprint = hash_obj({"files": files, "classes": classes, "config": cfg.model_dump(), "seed": seed})
    train_fingerprint = hash_obj(
        {"files": files, "classes": classes, "config": cfg.model_dump(exclude={"limit_test"}), "seed": seed}
    )
    mean, std = _channel_stats(train.x) if kind == "image" else ((), ())
    return Dataset(
        name=cfg.source,
        kind=kind,
        classes=classes,
        train=train,
        val=val,
        test=test,
        fingerprint=fingerprint,
        mean=mean,
        std=std,
        train_fingerprint=train_fingerprint,
    )


def _channel_stats(x) -> tuple[tuple[float, ...], tuple[float, ...]]:
    if isinstance(x, Rows):
        return _chunked_stats(x.take(np.arange(min(5000, len(x)))))
    sample = x[:5000].astype(np.float32) / 255.0  # (N, C, H, W); 5k images pin the stats to 3 decimals
    return (
        tuple(round(float(v), 4) for v in sample.mean(axis=(0, 2, 3))),
        tuple(round(float(max(v, 1e-3)), 4) for v in sample.std(axis=(0, 2, 3))),
    )


def _chunked_stats(x: Rows) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The same statistics from per-channel histograms of the uint8 values, a chunk of rows at a time: memory stays
    flat and the sums are exact. (The float32 reduction above, run on the channels-last view the old in-memory
    imagefolder loader built, read an RGB folder's std as 0.303 where it is 0.340; in-memory sources keep it so
    their artifacts stay the same.)"""
    counts = np.zeros((x.shape[1], 256), np.int64)  # (C, value)
    for chunk in x.chunks():  # (B, C, H, W) uint8
        for c in range(chunk.shape[1]):
            counts[c] += np.bincount(chunk[:, c].ravel(), minlength=256)
    v = np.arange(256) / 255.0
    n = counts.sum(axis=1)
    mean = counts @ v / n
    std = np.sqrt(np.maximum(counts @ (v * v) / n - mean * mean, 0.0))
    return tuple(round(float(m), 4) for m in mean), tuple(round(float(max(s, 1e-3)), 4) for s in std)


# --- Fashion-MNIST ---------------------------------------------------------------------------

FASHION_CLASSES = [
    "t-shirt/top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
]
FASHION_FILES = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
]
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally .gz): big-endian magic, dims, then uint8 data."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise DataSourceError("path", f"{path}: not an IDX file of unsigned bytes")
    ndim = data[3]
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    arr = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise DataSourceError("path", f"{path}: truncated IDX file ({arr.size} of {int(np.prod(dims))} bytes)")
    return arr.reshape(dims)


def _find_idx(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def _fashion_dir(cfg, base_dir: Path) -> tuple[Path | None, str]:
    if cfg.path:
        return resolve_path(cfg.path, base_dir), "path"
    candidates = []
    if os.environ.get("EDGEKIT_DATA"):
        env = Path(os.environ["EDGEKIT_DATA"])
        candidates += [env / "fashion-mnist", env]
    candidates += [SYSTEM_DIR, Path.home() / ".cache" / "edgekit" / "fashion-mnist"]
    for c in candidates:
        if _find_idx(c, FASHION_FILES[0]):
            return c, "source"
    return None, "source"


def _download_fashion() -> Path | None:
    """Users with internet: torchvision's downloader into ~/.cache/edgekit. None when that fails."""
    if os.environ.get("EDGEKIT_OFFLINE"):
        return None
    target = Path.home() / ".cache" / "edgekit"
    try:
        import socket

        from torchvision.datasets import FashionMNIST

        socket.setdefaulttimeout(20)
        FashionMNIST(str(target), train=True, download=True)
        FashionMNIST(str(target), train=False, download=True)
    except Exception:
        return None
    raw = target / "FashionMNIST" / "raw"
    return raw if _find_idx(raw, FASHION_FILES[0]) else None


@register_source("fashion-mnist")
def fashion_mnist(cfg, arg: str, base_dir: Path, seed: int):
    folder, key = _fashion_dir(cfg, base_dir)
    if folder is None:
        folder = _download_fashion()
    how = (
        "install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist), set $EDGEKIT_DATA, "
        "or set data.path"
    )
    if folder is None:
        raise DataSourceError("source", f"Fashion-MNIST not found in $EDGEKIT_DATA or {SYSTEM_DIR}: {how}")
    files = [_find_idx(folder, stem) for stem in FASHION_FILES]
    if None in files:
        missing = FASHION_FILES[files.index(None)]
        raise DataSourceError(key, f"{folder}: no {missing}[.gz] there: {how}")
    xtr, ytr, xte, yte = (read_idx(f) for f in files)
    xtr, xte = xtr[:, None], xte[:, None]  # (N, 28, 28) -> (N, 1, 28, 28)
    meta = {"files": {f.name: hash_file(f) for f in files}}
    return xtr, ytr.astype(np.int64), Split(xte, yte.astype(np.int64)), FASHION_CLASSES, meta


# --- user code ---------------------------------------------------------------------------------


@register_source("python")
def python_function(cfg, arg: str, base_dir: Path, seed: int):
    """``python:pkg.module:function``; the function takes seed= and returns
    ``{"train": (x, y), "test": (x, y), "classes": [...], "kind": "image"|"text"}``
    with x (N, C, H, W) uint8 for images."""
    module_name, _, fn_name = arg.partition(":")
    if not fn_name:
        raise DataSourceError("source", f"write it as python:module:function, got python:{arg}")
    try:
        fn = import_function(arg, base_dir)  # next to the recipe first
    except (ImportError, AttributeError) as e:
        raise DataSourceError(
            "source",
            f"cannot import {module_name}:{fn_name} next to the recipe ({base_dir}) or from the import path ({e})",
        ) from None
    out = fn(seed=seed)
    try:
        (xtr, ytr), (xte, yte), classes = out["train"], out["test"], list(out["classes"])
    except (KeyError, TypeError, ValueError):
        raise DataSourceError(
            "source", f"{module_name}:{fn_name} must return a dict with train=(x, y), test=(x, y), classes=[...]"
        ) from None
    xtr, xte = np.asarray(xtr), np.asarray(xte)
    files = hash_obj([hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest() for a in (xtr, ytr, xte, yte)])
    return (
        xtr,
        np.asarray(ytr, np.int64),
        Split(xte, np.asarray(yte, np.int64)),
        classes,
        {"files": files, "kind": out.get("kind", "image")},
    )
