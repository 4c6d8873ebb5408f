"""edgekit's INT8 against its peers on the same fp32 files (issue 27): edgekit's quantize stage (ladder, speed race,
keep-float decision), ONNX Runtime `quantize_static` with its defaults and NNCF `nncf.quantize` with its defaults,
all calibrated on the quantize stage's own samples, timed in one alternating `edgekit.bench` run (batch 1, 1 thread,
5 rounds) and scored on the same test samples.

    PYTHONPATH=. python benchmarks/peers.py --archs mobilenet_v3_small --work /tmp/peers [--run runs/fashion-mnist]

Per architecture a short run (benchmarks/_quick_runs.py: Fashion-MNIST 28x28, 3,000 images, 1 epoch, export,
quantize within 0.5 pt) makes the fp32 file; --run adds an existing run's (the default recipe's ResNet-18). NNCF
lives in its own venv (--nncf-python, default /work/venvs/peers/bin/python), created once by
`python3 -m venv /work/venvs/peers && /work/venvs/peers/bin/pip install nncf onnx onnxruntime`.
Exit 1 when edgekit is behind the best peer beyond noise: a peer within the accuracy budget where edgekit is not,
or, both within it, edgekit's file clearly slower (every alternating round, by over 5 %) than the peer's."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import numpy as np  # noqa: E402

from edgekit.bench.stats import ratio_with_spread  # noqa: E402
from edgekit.decide.noise import clearly_slower  # noqa: E402

import _quick_runs  # noqa: E402

ARCHS = ("resnet18", "mobilenet_v3_small", "mnasnet0_5")
PEERS = ("ort-defaults", "nncf")
NNCF_PYTHON = Path("/work/venvs/peers/bin/python")
BUDGET_PT = _quick_runs.BUDGET_PT


@dataclass
class Row:
    model: str
    file: str  # fp32 | edgekit | ort-defaults | nncf
    accuracy: float
    size_bytes: int
    rounds: list[list[float]]  # per-round latencies (ms), alternating with every other file of the bench run
    note: str = ""


def ort_defaults(src: Path, calibration: np.ndarray, out: Path) -> None:
    """quantize_static with every default (QDQ, MinMax, per-tensor, S8S8), no preprocessing: what its docs show."""
    from onnxruntime.quantization import CalibrationDataReader, quantize_static

    import onnx

    name = onnx.load(str(src)).graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{name: calibration[i : i + 32]} for i in range(0, len(calibration), 32)])

        def get_next(self):
            return next(self.batches, None)

    quantize_static(str(src), str(out), Reader())


def nncf_quantize(python: Path, src: Path, calibration: np.ndarray, out: Path) -> str:
    with tempfile.TemporaryDirectory(prefix="peers-nncf-") as tmp:
        npy = Path(tmp) / "calibration.npy"
        np.save(npy, calibration)
        proc = subprocess.run(
            [str(python), str(ROOT / "benchmarks" / "_nncf_quantize.py"), str(src), str(npy), str(out)],
            capture_output=True,
            text=True,
        )
    if proc.returncode != 0:
        raise SystemExit(f"nncf.quantize failed on {src}:\n{proc.stderr[-2000:]}")
    return proc.stdout.strip().splitlines()[-1]


def files_for(model: str, run, out: Path, nncf_python: Path) -> tuple[dict[str, Path], str]:
    """fp32, edgekit's kept file and each peer's INT8 of the same fp32 file, same calibration samples."""
    src = run.dirs["export"] / "model.onnx"
    calibration = run.calibration()
    files = {"fp32": src, "edgekit": run.dirs["int8"] / "model.onnx"}
    files["ort-defaults"] = out / f"{model}-ort-defaults.onnx"
    ort_defaults(src, calibration, files["ort-defaults"])
    files["nncf"] = out / f"{model}-nncf.onnx"
    version = nncf_quantize(nncf_python, src, calibration, files["nncf"])
    return files, version


def ratio(row: Row, ref: Row) -> dict:
    """p50 ratio of ``row`` to ``ref`` with the min/max of the per-round ratios (the pair's own noise)."""
    return ratio_with_spread(row.rounds, ref.rounds)


def within_budget(row: Row, fp32: Row, budget_pt: float) -> bool:
    return (fp32.accuracy - row.accuracy) * 100 <= budget_pt + 1e-9


def behind(rows: list[Row], budget_pt: float = BUDGET_PT) -> list[str]:
    """Why edgekit is behind a peer on one model's rows, beyond noise (empty: at or ahead of every peer)."""
    by = {r.file: r for r in rows}
    fp32, ours = by["fp32"], by["edgekit"]
    problems = []
    for peer in (by[p] for p in PEERS if p in by):
        if not within_budget(peer, fp32, budget_pt):
            continue
        if not within_budget(ours, fp32, budget_pt):
            problems.append(
                f"{ours.model}: {peer.file} is within {budget_pt} pt of fp32 "
                f"({peer.accuracy:.2%}), edgekit is not ({ours.accuracy:.2%})"
            )
            continue
        v = ratio(ours, peer)
        if clearly_slower(v["p50_ratio"], v["min"]):
            problems.append(
                f"{ours.model}: edgekit {v['p50_ratio']:.2f}x {peer.file}'s p50 "
                f"[rounds {v['min']:.2f}-{v['max']:.2f}], both within {budget_pt} pt"
            )
    return problems


def table(rows: list[Row]) -> str:
    """At most 80 columns: model, file, p50 / fp32 [per-round range], size, test accuracy."""
    out = [f"{'model':<19} {'file':<13} {'p50/fp32 [rounds]':<19} {'size MB':>8} {'accuracy':>9}"]
    fp32 = {r.model: r for r in rows if r.file == "fp32"}
    for r in rows:
        v = ratio(r, fp32[r.model])
        p50 = f"{v['p50_ratio']:.2f}x [{v['min']:.2f}-{v['max']:.2f}]"
        out.append(f"{r.model:<19} {r.file:<13} {p50:<19} {r.size_bytes / 1e6:8.2f} {r.accuracy:9.2%}")
        if r.note:
            out.append(f"{'':<20}{r.note}"[:80])
    return "\n".join(out)


def measure(sets: dict[str, tuple[dict[str, Path], object]], rounds: int) -> list[Row]:
    """Accuracy per file on its model's test set; latency of every file in one alternating bench run."""
    order = [(m, k, f) for m, (files, _) in sets.items() for k, f in files.items()]
    timed = _quick_runs.time_rounds([f for _, _, f in order], rounds)
    rows = []
    for (model, kind, path), per_round in zip(order, timed):
        run = sets[model][1]
        note = f"quantize stage kept {run.trials()['kept']}" if kind == "edgekit" else ""
        rows.append(Row(model, kind, _quick_runs.accuracy(path, *run.test_set()), path.stat().st_size, per_round, note))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archs", nargs="*", choices=list(_quick_runs.MODELS), default=list(ARCHS))
    ap.add_argument("--run", type=Path, action="append", default=[], help="an existing run with export + int8 stages")
    ap.add_argument("--work", type=Path, default=ROOT / "runs" / "peers")
    ap.add_argument("--nncf-python", type=Path, default=NNCF_PYTHON)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not args.nncf_python.is_file():
        print(
            f"error: no NNCF venv at {args.nncf_python}: python3 -m venv /work/venvs/peers && "
            "/work/venvs/peers/bin/pip install nncf onnx onnxruntime",
            file=sys.stderr,
        )
        return 2
    load0 = os.getloadavg()[0]
    work = args.work.resolve()
    runs = {p.name: _quick_runs.read(p) for p in args.run}
    runs |= {a: _quick_runs.shrink(work / a, a) for a in args.archs}
    sets, versions = {}, set()
    for model, run in runs.items():
        files, version = files_for(model, run, work, args.nncf_python)
        sets[model] = (files, run)
        versions.add(version)
    rows = measure(sets, args.rounds)
    problems = [p for m in sets for p in behind([r for r in rows if r.model == m])]
    if args.json:
        fp32 = {r.model: r for r in rows if r.file == "fp32"}
        summary = [
            {
                "model": r.model,
                "file": r.file,
                "accuracy": r.accuracy,
                "size_bytes": r.size_bytes,
                **ratio(r, fp32[r.model]),
            }
            for r in rows
        ]
        print(json.dumps(summary, indent=1))
    print(table(rows))
    print(f"{', '.join(sorted(versions))}; load average {load0:.1f} at start, {os.getloadavg()[0]:.1f} at end")
    for p in problems:
        print(f"BEHIND  {p}")
    print("edgekit is behind a peer" if problems else "edgekit at or ahead of the best peer on every model")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
