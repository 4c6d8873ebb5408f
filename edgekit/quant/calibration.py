"""Calibration samples: class-stratified and seeded, drawn from the training split, fed in batches so that only
one batch of float input exists at a time (raw uint8 stays the only full copy)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from edgekit.errors import InputError


def stratified_indices(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` indices with every class in proportion to its frequency (each present class at least once when
    ``n`` allows), seeded; sorted so reads from the split stay sequential."""
    if len(y) == 0:
        raise InputError("calibration: the training split is empty, there is nothing to calibrate on")
    n = min(n, len(y))
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(y, return_counts=True)
    quota = np.floor(counts / counts.sum() * n).astype(int)
    if n >= len(classes):
        quota = np.maximum(quota, 1)
    # hand out what rounding left over to the largest classes first
    for i in np.argsort(-counts)[: max(0, n - quota.sum())]:
        quota[i] += 1
    picked = []
    for c, q in zip(classes, quota):
        idx = np.flatnonzero(y == c)
        picked.append(rng.choice(idx, size=min(q, len(idx)), replace=False))
    return np.sort(np.concatenate(picked))[:n]


class BatchReader:
    """An ``onnxruntime.quantization.CalibrationDataReader``-compatible stream of ``{input_name: batch}``.

    ``prepare(raw) -> float32`` turns raw samples into model input one batch at a time."""

    def __init__(
        self, raw: np.ndarray, input_name: str, prepare: Callable[[np.ndarray], np.ndarray], batch_size: int = 32
    ):
        if len(raw) == 0:
            raise InputError("calibration: no samples to calibrate on (calibration.samples must be at least 1)")
        self.raw, self.input_name, self.prepare, self.batch_size = raw, input_name, prepare, batch_size
        self._range = (0, len(self))
        self._it: Iterator[dict] | None = None

    def _batches(self) -> Iterator[dict]:
        for b in range(*self._range):
            yield {self.input_name: self.prepare(self.raw[b * self.batch_size : (b + 1) * self.batch_size])}

    def get_next(self) -> dict | None:
        if self._it is None:
            self._it = self._batches()
        return next(self._it, None)

    def rewind(self) -> None:
        self._it = None

    def set_range(self, start_index: int, end_index: int) -> None:
        """Restrict the stream to batches [start, end): ORT's strided calibration merges ranges per stride, so
        passing ``CalibStridedMinMax=1`` keeps only one batch of activations in memory at a time."""
        self._range = (start_index, min(end_index, len(self)))
        self._it = None

    def __iter__(self) -> Iterator[dict]:
        return self._batches()

    def __len__(self) -> int:
        """Number of batches (the unit of ``set_range``)."""
        return -(-len(self.raw) // self.batch_size)


def check_matches(model_path, sample: np.ndarray) -> str:
    """The model's single input must accept ``sample`` (1, ...); returns the input name. One-line InputError if not."""
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    init = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in init]
    if len(inputs) != 1:
        raise InputError(f"{model_path}: expected a model with one input, it has {len(inputs)}")
    dims = [d.dim_value if d.HasField("dim_value") else None for d in inputs[0].type.tensor_type.shape.dim]
    got = list(sample.shape)
    if len(dims) != len(got) or any(d is not None and d != g for d, g in zip(dims[1:], got[1:])):
        shown = ["N" if d is None else d for d in dims]
        raise InputError(
            f"calibration: data of shape {got[1:]} per sample does not fit the model input "
            f"'{inputs[0].name}' {shown} ({model_path})"
        )
    return inputs[0].name
