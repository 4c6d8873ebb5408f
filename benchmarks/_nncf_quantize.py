"""NNCF's post-training INT8 with its defaults, for benchmarks/peers.py. Runs under the separate NNCF venv's python
(NNCF is no edgekit dependency), so it imports nothing from edgekit:

    /work/venvs/peers/bin/python benchmarks/_nncf_quantize.py fp32.onnx calibration.npy out.onnx

calibration.npy holds prepared model inputs (N, ...) float32, the same samples edgekit calibrates on; each is one
batch-1 item of the nncf.Dataset. Prints NNCF's version on the last line."""

from __future__ import annotations

import sys

import nncf
import numpy as np
import onnx


def main(src: str, calibration: str, out: str) -> None:
    model = onnx.load(src)
    name = model.graph.input[0].name
    x = np.load(calibration)
    data = nncf.Dataset([x[i : i + 1] for i in range(len(x))], lambda item: {name: item})
    # defaults throughout: preset performance (symmetric), subset_size 300, fast bias correction
    onnx.save(nncf.quantize(model, data), out)
    print(f"nncf {nncf.__version__}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
