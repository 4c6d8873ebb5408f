"""Why static INT8 breaks the pruned MiniLM, group by group (issue 27: "the pruned MiniLM's static INT8 within
1 pt of fp32, or the measured reason it cannot").

    PYTHONPATH=. python benchmarks/qat_minilm_probe.py RECIPE [--stage export-pruned] [--test 400] [--cal 128]
                                                          [--no-bench]

RECIPE is a run that has the stage (a text recipe whose export stage holds the pruned MiniLM, e.g. a shortened
recipes/wordnet-minilm.yaml; see docs/qat.md). On that file, with ONNX Runtime's own quant_pre_process and static
QDQ quantizer (edgekit.quant.ort_static), it measures accuracy on the recipe's test glosses and the integer/float
kernels of ORT's optimised graph for:

    every node static (the quantize stage's first rung), per-tensor, entropy and percentile calibration;
    every node static except one transformer group (quant/placement_transformer.py) kept in float;
    the converse, only the weighted MatMul/Gemm static (per-channel, per-tensor, entropy, percentile);
    SmoothQuant through quantize_static's extra option, when the installed neural-compressor provides it;
    dynamic INT8 (the file that survives today);

then times fp32, dynamic and the best static files side by side (edgekit bench: alternating rounds, batch 1,
1 thread) and prints one table. Exit 1 when no static file with integer kernels is within 1 pt of fp32 (the
issue's target missed: the table is the measured reason), 0 when one is. Measured (docs/qat.md): the collapse is
the attention scores' float32-min mask in a u8 range; all-but-matmul is within 1 pt on 400 test glosses, not on the
recipe's 120 validation glosses, and no faster than dynamic INT8."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from edgekit.quant import ort_static, placement
from edgekit.quant.calibration import BatchReader
from edgekit.quant.onnx_int8 import kernel_counts
from edgekit.quant.placement_transformer import matmul_only
from edgekit.runtime import ort
from edgekit.runtime.preprocess import prepare

TARGET_PT = 1.0  # the bar: static INT8 within 1 pt of fp32


def _data(recipe: Path, stage: str, n_test: int, n_cal: int):
    """The stage's float file, its test inputs and labels, and calibration inputs (training glosses)."""
    from edgekit.data import load_dataset
    from edgekit.quant.calibration import stratified_indices
    from edgekit.recipe.read import load

    loaded = load(recipe)
    found = sorted((loaded.file.parent / loaded.recipe.name / "stages").glob(f"{stage}-*/model.onnx"))
    if not found:
        sys.exit(f"{recipe}: no finished '{stage}' stage under runs of this recipe: run `edgekit shrink {recipe}`")
    src = found[-1]
    pre = json.loads((src.parent / "preprocess.json").read_text())
    ds = load_dataset(loaded.recipe.data, loaded.recipe.seed, loaded.file.parent)
    test = ds.test.take(np.arange(min(n_test, len(ds.test))))
    cal = ds.train.x[stratified_indices(ds.train.y, n_cal, loaded.recipe.seed)]
    return src, prepare(pre, test.x), np.asarray(test.y), prepare(pre, cal)


def _configs(prep_model) -> list[tuple[str, ort_static.Attempt]]:
    """(row label, attempt) for every configuration the table holds; static minmax per-channel U8S8 unless said."""
    base = ort_static.Attempt()
    found = placement.groups(prep_model)
    mm = tuple(matmul_only(prep_model, embeddings=False))
    emb = set(found.get("embeddings", []))
    gathers = [n.name for n in prep_model.graph.node if n.op_type == "Gather" and n.name in emb]
    both = tuple(found.get("attention-scores", []) + found.get("gelu", []))

    def mm_but(quantized):  # the converse placement with some more nodes quantized
        return base.but(placement="all-but-matmul", exclude=tuple(n for n in mm if n not in set(quantized)))

    rows = [
        ("all static", base),
        ("all static, per-tensor weights", base.but(per_channel=False)),
        ("all static, entropy calibration", base.but(method="entropy")),
        ("all static, percentile 99.999 calibration", base.but(method="percentile")),
    ]
    rows += [
        (f"all static but {g} float ({len(n)} nodes)", base.but(placement=g, exclude=tuple(n)))
        for g, n in found.items()
    ]
    rows += [
        ("only weighted MatMul/Gemm static", base.but(placement="all-but-matmul", exclude=mm)),
        ("only weighted MatMul/Gemm, per-tensor", base.but(placement="all-but-matmul", exclude=mm, per_channel=False)),
        ("only weighted MatMul/Gemm, entropy", base.but(placement="all-but-matmul", exclude=mm, method="entropy")),
        (
            "only weighted MatMul/Gemm, percentile",
            base.but(placement="all-but-matmul", exclude=mm, method="percentile"),
        ),
        ("weighted MatMul/Gemm + attention MatMuls static", mm_but(found.get("attention-matmul", []))),
        (
            "weighted MatMul/Gemm + embedding Gathers static",
            mm_but(gathers),
        ),
        ("all static but attention-scores + gelu float", base.but(placement="attention-scores+gelu", exclude=both)),
        ("dynamic (weights only, MatMul/Gemm/Gather)", base.but(mode="dynamic")),
    ]
    return rows


def _smoothquant(prep: Path, dst: Path, reader) -> str:
    """quantize_static's SmoothQuant option (alpha 0.5, folded), or why it cannot run here."""
    from onnxruntime.quantization import QuantFormat, quantize_static

    try:
        quantize_static(
            str(prep), str(dst), reader, quant_format=QuantFormat.QDQ, per_channel=True,
            extra_options={"SmoothQuant": True, "SmoothQuantAlpha": 0.5, "CalibStridedMinMax": 1},
        )  # fmt: skip
        return ""
    except Exception as e:  # ORT raises RuntimeError when neural-compressor's ONNX adaptor is missing
        cause = e.__cause__ or e
        return f"{type(e).__name__}: {str(e)[:90]} ({type(cause).__name__}: {str(cause)[:90]})"


def _row(label, path: Path, x, y, ref_pred, float_acc, seconds) -> dict:
    pred = ort.predict(ort.session(path, 2), x, 64).argmax(1)
    acc = float((pred == y).mean())
    k = kernel_counts(path)
    return {
        "config": label,
        "accuracy": round(100 * acc, 2),
        "vs_fp32_pt": round(100 * (acc - float_acc), 2),
        "agreement": round(100 * float((pred == ref_pred).mean()), 2),
        "int8_kernels": k["int8"],
        "float_kernels": k["float"],
        "ops": k["ops"],
        "size_mb": round(path.stat().st_size / 1e6, 2),
        "seconds": round(seconds, 1),
        "path": path,
    }


def _bench(paths: list[Path]) -> list[tuple[float, float, float]]:
    """(p50 ratio, round min, round max) of each file against the first: alternating rounds, batch 1, 1 thread."""
    from dataclasses import replace

    from edgekit.bench import PRESETS, bench

    settings = replace(PRESETS["default"], rounds=6, min_runs=300, min_seconds=6.0)
    run = bench(paths, threads=(1,), settings=settings, reference=0, peak=False)
    out = []
    for r in run.results:
        v = r.vs_reference or {}
        out.append((v.get("p50_ratio", 1.0), v.get("min", 1.0), v.get("max", 1.0), r.stats.p50))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("recipe", type=Path)
    ap.add_argument("--stage", default="export-pruned")
    ap.add_argument("--test", type=int, default=400, help="test glosses scored")
    ap.add_argument("--cal", type=int, default=128, help="training glosses calibrated on")
    ap.add_argument("--no-bench", action="store_true", help="accuracy and kernels only")
    ap.add_argument("--out", type=Path, default=None, help="folder for the files (default: a temporary one)")
    a = ap.parse_args(argv)
    import onnx

    src, x, y, cal = _data(a.recipe, a.stage, a.test, a.cal)
    work = a.out or Path(tempfile.mkdtemp(prefix="minilm-probe-"))
    work.mkdir(parents=True, exist_ok=True)
    prep = work / "prep.onnx"
    ort_static.preprocess(src, prep)
    ref = ort.predict(ort.session(src, 2), x, 64)
    float_acc = float((ref.argmax(1) == y).mean())
    ref_pred = ref.argmax(1)
    print(f"{src}: fp32 accuracy {100 * float_acc:.2f} % on {len(y)} test glosses; calibration {len(cal)} glosses")
    rows = []

    def reader():
        return BatchReader(cal, "input", lambda b: b, 32)

    for i, (label, att) in enumerate(_configs(onnx.load(str(prep)))):
        t0, path = time.perf_counter(), work / f"c{i:02d}.onnx"
        try:
            ort_static.quantize(prep, path, att, reader() if att.mode == "static" else None, cache_dir=work)
        except Exception as e:  # e.g. the histogram calibrators on the attention mask's float32-min values
            print(f"| {label} | failed: {type(e).__name__}: {str(e).splitlines()[0][:120]} |", flush=True)
            continue
        rows.append(_row(label, path, x, y, ref_pred, float_acc, time.perf_counter() - t0))
        print(_fmt(rows[-1]), flush=True)
    t0, sq = time.perf_counter(), work / "smoothquant.onnx"
    why = _smoothquant(prep, sq, reader())
    if why:
        print(f"| SmoothQuant (alpha 0.5) | not run: {why} |")
    else:
        rows.append(_row("SmoothQuant alpha 0.5, all static", sq, x, y, ref_pred, float_acc, time.perf_counter() - t0))
        print(_fmt(rows[-1]), flush=True)
    static = [r for r in rows if not r["config"].startswith("dynamic") and r["int8_kernels"] > 0]
    best = max(static, key=lambda r: r["accuracy"])
    if not a.no_bench:
        dyn = next(r for r in rows if r["config"].startswith("dynamic"))
        timed = list({id(r): r for r in ({"config": "fp32", "path": src}, dyn, rows[0], best)}.values())
        for r, (ratio, lo, hi, p50) in zip(timed, _bench([r["path"] for r in timed])):
            print(f"p50 {r['config']}: {p50:.2f} ms, {ratio:.2f}x fp32 (rounds {lo:.2f}-{hi:.2f}x)")
    ok = best["vs_fp32_pt"] >= -TARGET_PT
    print(f"best static INT8: {best['config']}: {best['vs_fp32_pt']:+.2f} pt vs fp32, {best['int8_kernels']} integer / "
          f"{best['float_kernels']} float kernels: {'within' if ok else 'MISSES'} {TARGET_PT} pt")  # fmt: skip
    return 0 if ok else 1


def _fmt(r: dict) -> str:
    return (
        f"| {r['config']} | {r['accuracy']:.2f} % | {r['vs_fp32_pt']:+.2f} pt | {r['agreement']:.1f} % | "
        f"{r['int8_kernels']} / {r['float_kernels']} | {r['size_mb']:.1f} MB | {r['seconds']:.0f} s |"
    )


if __name__ == "__main__":
    sys.exit(main())
