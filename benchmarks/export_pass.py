"""What the exact fixed-size export pass removes (edgekit.runtime.fixed_size): MACs counted, p50 measured side by side.

    python benchmarks/export_pass.py                     # the default recipe's resnet18 (1x28x28, untrained)
    python benchmarks/export_pass.py --model FILE.onnx   # any exported file (as written before the pass)

The file without and with the pass: the same outputs (max |diff| on random inputs, onnxruntime both sides), MACs from
edgekit's graph counter, p50 from the bench harness in alternating rounds (batch 1). Exit 1 when the pass removes
nothing, changes the outputs, or makes the file slower.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from edgekit.bench import PRESETS, bench  # noqa: E402
from edgekit.runtime import ort  # noqa: E402
from edgekit.runtime.fixed_size import crop_padding_taps  # noqa: E402

MAX_DIFF = 1e-4  # float32 summation order: the cropped conv adds the same products, fewer zeros


def main() -> int:
    import onnx

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--model", type=Path, help="an ONNX file as the exporter wrote it (default: resnet18 as in the default recipe)"
    )
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=5.0, help="measured seconds per file, over all rounds")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        if args.model:
            before = args.model
        else:
            from _models import default_model

            before = default_model(Path(tmp))
        model = onnx.load(str(before))
        report = crop_padding_taps(model)
        after = Path(tmp) / "cropped.onnx"
        onnx.save(model, str(after))
        a, b = ort.session(before), ort.session(after)
        shape = [d if isinstance(d, int) else 4 for d in a.get_inputs()[0].shape]
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        diff = float(np.abs(ort.predict(a, x) - ort.predict(b, x)).max())
        del a, b
        settings = replace(PRESETS["default"], rounds=args.rounds, min_seconds=args.seconds)
        run = bench([before, after], settings=settings, reference=0, peak=False)
    base, res = run.results
    ratio = res.vs_reference
    macs0, macs1 = run.models[before]["macs"], run.models[after]["macs"]
    ok = report.macs_removed > 0 and diff <= MAX_DIFF and ratio["p50_ratio"] < 1.0
    doc = {
        "convs_cropped": report.convs_cropped,
        "pools_removed": report.pools_removed,
        "kernels": {k: f"{'x'.join(map(str, v[0]))} -> {'x'.join(map(str, v[1]))}" for k, v in report.kernels.items()},
        "macs_before": macs0,
        "macs_after": macs1,
        "macs_removed": report.macs_removed,
        "p50_before_ms": round(base.stats.p50, 4),
        "p50_after_ms": round(res.stats.p50, 4),
        "p50_ratio": round(ratio["p50_ratio"], 4),
        "ratio_min": round(ratio["min"], 4),
        "ratio_max": round(ratio["max"], 4),
        "max_abs_diff": diff,
        "ok": ok,
    }
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print(
            f"exact fixed-size pass on {before.name}: {report.convs_cropped} conv(s) cropped "
            f"({', '.join(f'{k}: {v}' for k, v in doc['kernels'].items())}), {report.pools_removed} pool(s) removed"
        )
        print(
            f"  MACs {macs0 / 1e6:.2f} M -> {macs1 / 1e6:.2f} M  ({report.macs_removed / 1e6:.2f} M removed, "
            f"{report.macs_removed / macs0:.1%})"
        )
        print(
            f"  p50  {doc['p50_before_ms']:.3f} -> {doc['p50_after_ms']:.3f} ms  x{doc['p50_ratio']:.3f} "
            f"[per round {doc['ratio_min']:.3f}-{doc['ratio_max']:.3f}], batch 1, 1 thread, "
            f"{args.rounds} alternating rounds"
        )
        print(f"  outputs: max |diff| {diff:.2e} (limit {MAX_DIFF:.0e})  {'OK' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
