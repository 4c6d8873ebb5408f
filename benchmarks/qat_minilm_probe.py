"""Probe (not a verdict): on all-MiniLM-L6-v2 with a fresh 10-class head, does QAT's range binding hold, and how
close are PTQ and QAT static U8S8 INT8 to the float model? Inputs are random token ids (no WordNet run needed),
so the figure is top-1 agreement with float on 192 sequences, a fidelity proxy, not accuracy.

    PYTHONPATH=. python benchmarks/qat_minilm_probe.py [shrink|noshrink] [REPEATS]

noshrink: min/max initial ranges (no layer-output search); REPEATS: passes over 4 batches of self-labelled
fine-tuning (0: the initial ranges only). Writes its files under runs/."""

import sys
import time
from pathlib import Path
import numpy as np
import torch
from edgekit.modelpath import resolve_model_path
from edgekit.torchkit.text import build_text_model
from edgekit.torchkit.export import export_onnx
from edgekit.torchkit import qat
from edgekit.quant import ort_static, qat_ranges
from edgekit.quant.calibration import BatchReader
from edgekit.quant.onnx_int8 import kernel_counts
from edgekit.runtime import ort

torch.manual_seed(0)
torch.set_num_threads(1)
folder = resolve_model_path("sentence-transformers/all-MiniLM-L6-v2", Path("."))
m = build_text_model(
    {"source": "hf:x", "num_classes": 10, "text": {"pad_id": 0, "pooler": False, "normalize": True}},
    10,
    pretrained_dir=folder,
).eval()
rng = np.random.default_rng(0)
ids = rng.integers(1000, 20000, size=(320, 24)).astype(np.int64)
ids[:, 0] = 101
ids[:, -1] = 102
cal, test = ids[:128], ids[128:]
w = Path("runs/qat-minilm-" + "-".join(sys.argv[1:]))
w.mkdir(parents=True, exist_ok=True)
t = time.time()
export_onnx(m, torch.from_numpy(test[:2]), w / "f.onnx", 18)
print("export", time.time() - t, flush=True)
ref = ort.predict(ort.session(w / "f.onnx", 2), test)
ort_static.preprocess(w / "f.onnx", w / "prep.onnx")


def agree(p):
    got = ort.predict(ort.session(p, 2), test)
    return float((got.argmax(1) == ref.argmax(1)).mean()), float(np.abs(got - ref).max())


def R():
    return BatchReader(cal, "input", lambda b: b, 32)


a = ort_static.Attempt()
ort_static.quantize(w / "prep.onnx", w / "ptq.onnx", a, R())
print("PTQ static U8S8 agree/maxdiff", agree(w / "ptq.onnx"), kernel_counts(w / "ptq.onnx"), flush=True)
if len(sys.argv) > 1 and sys.argv[1] == "noshrink":
    qat.SHRINK = (1.0,)
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 2
sim = qat.prepare(m, True)
qat.observe(sim, [torch.from_numpy(cal[i : i + 32]) for i in range(0, 128, 32)])
print("quantized Linear inputs:", len(sim.acts), flush=True)
teacher = torch.from_numpy(ort.predict(ort.session(w / "f.onnx", 2), cal)).argmax(1)
qat.fine_tune(
    sim, [(torch.from_numpy(cal[i : i + 32]), teacher[i : i + 32]) for i in range(0, 128, 32)] * reps, 1e-5, 1e-2
)
learned = qat.finish(sim)
export_onnx(m, torch.from_numpy(test[:2]), w / "q.onnx", 18)
ort_static.preprocess(w / "q.onnx", w / "qprep.onnx")
try:
    rg = qat_ranges.bind(learned, w / "qprep.onnx")
    print("bound", len(rg))
except ValueError as e:
    print("BIND FAILED:", e)
    sys.exit(0)
qat_ranges.quantize(w / "qprep.onnx", w / "qat.onnx", a, R(), rg)
print("QAT static U8S8 agree/maxdiff", agree(w / "qat.onnx"), kernel_counts(w / "qat.onnx"))
