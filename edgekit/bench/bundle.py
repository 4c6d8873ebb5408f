"""Evaluation bundle: a dataset's test inputs and labels plus preprocess.json in one ``.npz``, so a device can
measure accuracy with numpy and onnxruntime alone (no dataset loader, no recipe, no torch).

    edgekit bundle recipes/quick.yaml -o quick-test.npz      # on the workstation
    edgekit bench model.onnx --bundle quick-test.npz         # on the Pi

A detection split's bundle (a recipe on ``fashion-detect``, ``coco:`` or ``yolo:``) holds its boxes as well:
``y`` is then the number of objects per image and ``boxes`` (M, 4) xyxy px / ``labels`` (M,) their concatenation,
and the device scores mAP@0.5:0.95 (``edgekit.detect.metric``) instead of accuracy.

A bundle streams both ways: ``save_bundle`` writes the inputs ``ROWS`` at a time (from an array, or from store
rows that are read only then), and ``x_batches`` reads them back batch by batch out of the compressed member, so
evaluating a test split larger than memory never holds it whole (raw or preprocessed) in any process.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.errors import InputError

FORMAT = "edgekit.bundle/1"
ROWS = 1024  # rows per write when saving: ~28 MB of 3x96x96 images


@dataclass(frozen=True)
class Bundle:
    x: np.ndarray  # raw inputs as the dataset stores them: images uint8 (N, C, H, W), texts (N,) str
    y: np.ndarray  # (N,) int64 class indices (detection: objects per image)
    preprocess: dict  # the dataset's preprocess.json (used when a model has none beside it)


def save_bundle(path: Path, x, y, preprocess: dict) -> None:
    """Written atomically, so a half-written bundle never exists under ``path``. ``x``: an array, or anything
    with ``dtype``, ``shape`` and row slicing (edgekit.data.rows.Rows), read ``ROWS`` rows at a time. ``y``: class
    indices, or a detection split's truth (anything with ``boxes`` and ``labels``, one array per image)."""
    if len(x) != len(y):
        raise ValueError(f"bundle inputs ({len(x)}) and labels ({len(y)}) differ in length")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        # the same layout as np.savez_compressed (one deflated .npy member per array), written member by member
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            with z.open("x.npy", "w", force_zip64=True) as f:
                header = {"descr": np.lib.format.dtype_to_descr(x.dtype), "fortran_order": False, "shape": x.shape}
                np.lib.format.write_array_header_2_0(f, header)
                for i in range(0, len(x), ROWS):
                    f.write(np.ascontiguousarray(x[i : i + ROWS]).tobytes())
            for name, a in (
                *_truth_members(y),
                ("preprocess", np.array(json.dumps(preprocess))),
                ("format", np.array(FORMAT)),
            ):
                with z.open(f"{name}.npy", "w", force_zip64=True) as f:
                    np.lib.format.write_array(f, a, allow_pickle=False)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _truth_members(y) -> list[tuple[str, np.ndarray]]:
    if not hasattr(y, "boxes"):
        return [("y", np.asarray(y).astype(np.int64))]
    counts = np.array([len(b) for b in y.boxes], np.int64)
    boxes = np.concatenate([np.asarray(b, np.float32).reshape(-1, 4) for b in y.boxes]) if len(y) else np.zeros((0, 4))
    labels = np.concatenate([np.asarray(c, np.int64).reshape(-1) for c in y.labels]) if len(y) else np.zeros(0)
    return [("y", counts), ("boxes", boxes.astype(np.float32)), ("labels", labels.astype(np.int64))]


@dataclass(frozen=True)
class Head:
    """A bundle without its inputs: their dtype and shape, the labels and the preprocessing."""

    dtype: np.dtype
    shape: tuple[int, ...]
    y: np.ndarray
    preprocess: dict
    boxes: list[np.ndarray] | None = None  # a detection bundle's truth, per image; None: classification
    labels: list[np.ndarray] | None = None


def read_head(path: Path) -> Head:
    """Everything but the inputs' bytes: what a check, or a streaming reader, needs first."""
    try:
        with zipfile.ZipFile(path) as z:
            small = {n: _member(z, f"{n}.npy") for n in ("format", "y", "preprocess")}
            if str(small["format"]) != FORMAT:
                raise InputError(f"{path}: not an edgekit evaluation bundle ({FORMAT}); make one with `edgekit bundle`")
            with z.open("x.npy") as f:
                shape, dtype = _x_header(f)
            det = {n: _member(z, f"{n}.npy") for n in ("boxes", "labels") if f"{n}.npy" in z.namelist()}
        if shape[0] != len(small["y"]):
            raise ValueError(f"{shape[0]} inputs but {len(small['y'])} labels")
        pre = json.loads(str(small["preprocess"]))
        if not det:
            return Head(dtype, shape, small["y"], pre)
        counts = small["y"]
        if counts.min(initial=0) < 0 or counts.sum() != len(det.get("boxes", ())) or len(det) != 2:
            raise ValueError(f"object counts ({int(counts.sum())}) and boxes/labels do not match")
        cuts = np.cumsum(counts)[:-1]
        return Head(dtype, shape, counts, pre, np.split(det["boxes"], cuts), np.split(det["labels"], cuts))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        raise InputError(f"{path}: cannot read evaluation bundle ({type(e).__name__}: {str(e)[:200]})") from None


def x_batches(path: Path, batch_size: int) -> Iterator[np.ndarray]:
    """The inputs, ``batch_size`` rows at a time, decompressed as they are read."""
    with zipfile.ZipFile(path) as z, z.open("x.npy") as f:
        shape, dtype = _x_header(f)
        row = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
        for i in range(0, shape[0], batch_size):
            n = min(batch_size, shape[0] - i)
            data = f.read(n * row)
            if len(data) != n * row:
                raise InputError(f"{path}: evaluation bundle ends after {i} inputs, its header says {shape[0]}")
            yield np.frombuffer(data, dtype).reshape(n, *shape[1:])


def _member(z: zipfile.ZipFile, name: str) -> np.ndarray:
    with z.open(name) as f:
        return np.lib.format.read_array(f, allow_pickle=False)


def _x_header(f) -> tuple[tuple[int, ...], np.dtype]:
    version = np.lib.format.read_magic(f)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read(f)
    if fortran or not shape or dtype.hasobject:
        raise ValueError("x must be a C-order array of rows without Python objects")
    return tuple(shape), dtype


def load_bundle(path: Path) -> Bundle:
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z.get("format", "")) != FORMAT:
                raise InputError(f"{path}: not an edgekit evaluation bundle ({FORMAT}); make one with `edgekit bundle`")
            return Bundle(z["x"], z["y"], json.loads(str(z["preprocess"])))
    except (OSError, ValueError, KeyError) as e:
        raise InputError(f"{path}: cannot read evaluation bundle ({type(e).__name__}: {str(e)[:200]})") from None


def bundle_from_dataset(ds, limit: int | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """The test split (or a seeded random ``limit`` of it, in original order) and its preprocessing. A store-backed
    split stays rows on disk (edgekit.data.rows.Rows): ``save_bundle`` reads them a block at a time."""
    idx = np.arange(len(ds.test))
    if limit is not None and limit < len(idx):
        idx = np.sort(np.random.default_rng(0).permutation(len(idx))[:limit])
    test = ds.test.take(idx)
    x = test.x
    if getattr(ds, "kind", "") == "detection":  # boxes and labels per image: the device scores mAP
        from edgekit.detect.truth import DetTruth

        return x, DetTruth(test.boxes, test.labels, len(ds.classes)), ds.preprocess()
    if x.dtype == object:  # texts: fixed-width unicode, which .npz stores without pickling
        x = x.astype(str)
    return x, test.y, ds.preprocess()
