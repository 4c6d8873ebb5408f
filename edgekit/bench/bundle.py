"""Evaluation bundle: a dataset's test inputs and labels plus preprocess.json in one ``.npz``, so a device can
measure accuracy with numpy and onnxruntime alone (no dataset loader, no recipe, no torch).

    edgekit bundle recipes/quick.yaml -o quick-test.npz      # on the workstation
    edgekit bench model.onnx --bundle quick-test.npz         # on the Pi
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.errors import InputError
from edgekit.fsutil import write_atomic

FORMAT = "edgekit.bundle/1"


@dataclass(frozen=True)
class Bundle:
    x: np.ndarray  # raw inputs as the dataset stores them: images uint8 (N, C, H, W), texts (N,) str
    y: np.ndarray  # (N,) int64 class indices
    preprocess: dict  # the dataset's preprocess.json (used when a model has none beside it)


def save_bundle(path: Path, x: np.ndarray, y: np.ndarray, preprocess: dict) -> None:
    """Written atomically, so a half-written bundle never exists under ``path``."""
    if len(x) != len(y):
        raise ValueError(f"bundle inputs ({len(x)}) and labels ({len(y)}) differ in length")
    buf = io.BytesIO()
    np.savez_compressed(
        buf, x=x, y=y.astype(np.int64), preprocess=np.array(json.dumps(preprocess)), format=np.array(FORMAT)
    )
    write_atomic(Path(path), buf.getvalue())


def load_bundle(path: Path) -> Bundle:
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z.get("format", "")) != FORMAT:
                raise InputError(f"{path}: not an edgekit evaluation bundle ({FORMAT}); make one with `edgekit bundle`")
            return Bundle(z["x"], z["y"], json.loads(str(z["preprocess"])))
    except (OSError, ValueError, KeyError) as e:
        raise InputError(f"{path}: cannot read evaluation bundle ({type(e).__name__}: {str(e)[:200]})") from None


def bundle_from_dataset(ds, limit: int | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """The test split (or a seeded random ``limit`` of it, in original order) and its preprocessing."""
    idx = np.arange(len(ds.test))
    if limit is not None and limit < len(idx):
        idx = np.sort(np.random.default_rng(0).permutation(len(idx))[:limit])
    x = ds.test.x[idx]
    if x.dtype == object:  # texts: fixed-width unicode, which .npz stores without pickling
        x = x.astype(str)
    return x, ds.test.y[idx], ds.preprocess()
