"""Is the pruned float model faster than the unpruned one? Both files timed side by side; exit 1 on a missed target.

    python benchmarks/prune_speed.py --run-dir RUN --max-ratio 0.65         # a finished run (default recipe)
    python benchmarks/prune_speed.py --model torchvision:mobilenet_v3_small --input 1x32x32 --stem-stride 1 \\
        --ratio 0.4 --max-ratio 1.0                                          # a fresh model, pruned as the stage does
    python benchmarks/prune_speed.py --model torchvision:resnet18 --target latency --ratio 0.5 --max-ratio 0.55
                                                                             # target: latency, re-measured here

With ``--run-dir``: the run's unpruned and pruned export files (an export stage with, and one without, a prune
stage upstream), and the accuracies its evaluate stage measured. Without it: a freshly built model (latency
depends on shapes, not weights) pruned by the prune stage's own code (round_to auto: every rounding timed, the
fastest kept) and exported by the export stage's code (dynamo exporter + the exact fixed-size pass).

Timing: edgekit's bench harness, one worker process per file, ``--rounds`` alternating rounds, batch 1,
``--threads`` threads. The ratio is pruned p50 / unpruned p50 with the min-max of the per-round ratios; on a
shared VM only such side-by-side ratios mean anything.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgekit.bench import PRESETS, bench  # noqa: E402


def run_pair(run_dir: Path) -> tuple[Path, Path, dict]:
    """(unpruned file, pruned file, {"unpruned": acc, "pruned": acc}) of a finished run."""
    from edgekit.report.build import in_run, read_run

    record = read_run(run_dir)
    dirs = {s["id"]: in_run(run_dir, s["dir"]) for s in record["stages"]}
    kinds = {s["id"]: s["kind"] for s in record["stages"]}

    def pruned(stage: str | None) -> bool:
        while stage:
            if kinds.get(stage) == "prune":
                return True
            inputs = json.loads((dirs[stage] / "manifest.json").read_text())["inputs"]
            stage = inputs[0]["stage"] if inputs else None
        return False

    exports = [s for s, k in kinds.items() if k == "export"]
    unpruned = next((s for s in exports if not pruned(s)), None)
    pruned_ = next((s for s in exports if pruned(s)), None)
    if unpruned is None or pruned_ is None:
        sys.exit(f"{run_dir}: needs an export of an unpruned and of a pruned model")
    acc = {}
    for st in record["stages"]:
        for row in (st.get("metrics") or {}).get("artifacts") or []:
            if row.get("stage") in (unpruned, pruned_):
                acc["unpruned" if row["stage"] == unpruned else "pruned"] = row.get("accuracy")
    return dirs[unpruned] / "model.onnx", dirs[pruned_] / "model.onnx", acc


def fresh_pair(args, out: Path) -> tuple[Path, Path, dict]:
    import onnx
    import torch

    from edgekit.stages.export import crop_file
    from edgekit.torchkit.export import export_onnx
    from edgekit.torchkit.models import build_model
    from edgekit.torchkit.prune_latency import prune_to_latency
    from edgekit.torchkit.prune_speed import AUTO_ROUND_TO, prune_fastest
    from edgekit.torchkit.pruning import PruneSettings

    torch.manual_seed(0)
    torch.set_num_threads(1)
    c, h, w = (int(v) for v in args.input.split("x"))
    example = torch.randn(2, c, h, w)
    model = build_model({"source": args.model, "stem_stride": args.stem_stride, "weights": None}, 10, c).eval()
    settings, log = PruneSettings(target=args.target, ratio=args.ratio), (lambda m: print(f"  prune stage: {m}"))
    if args.target == "latency":
        result, speed = prune_to_latency(model, example, settings, AUTO_ROUND_TO, log=log)
    else:
        result, speed = prune_fastest(model, example, settings, AUTO_ROUND_TO, log=log)
    files = {}
    for name, m in (("unpruned", model), ("pruned", result.model)):
        files[name] = out / f"{name}.onnx"
        export_onnx(m, example, files[name], 18)
        crop_file(files[name])
        onnx.checker.check_model(str(files[name]))
    info = {
        "macs_ratio": round(result.macs[1] / result.macs[0], 4),
        "round_to": speed["chosen"],
        "stage_measured_ratio": speed["ratio"],
        **{k: speed[k] for k in ("latency_target", "target_met") if k in speed},
    }
    return files["unpruned"], files["pruned"], info


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run-dir", type=Path, help="measure this finished run's unpruned and pruned exports")
    ap.add_argument("--model", default="torchvision:resnet18")
    ap.add_argument("--stem-stride", type=int, default=None)
    ap.add_argument("--input", default="1x28x28", help="C x H x W of one sample")
    ap.add_argument(
        "--target", choices=("macs", "latency"), default="macs", help="what the fresh model's prune removes"
    )
    ap.add_argument("--ratio", type=float, default=0.5, help="share of --target the fresh model's prune removes")
    ap.add_argument("--max-ratio", type=float, default=0.65, help="pruned p50 / unpruned p50 must be at most this")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=5.0, help="measured seconds per file, over all rounds")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        if args.run_dir:
            unpruned, pruned, info = run_pair(args.run_dir)
        else:
            unpruned, pruned, info = fresh_pair(args, Path(tmp))
        settings = replace(PRESETS["default"], rounds=args.rounds, min_seconds=args.seconds)
        run = bench([unpruned, pruned], threads=(args.threads,), settings=settings, reference=0, peak=False)
    base, res = run.results
    ratio = res.vs_reference
    ok = ratio["p50_ratio"] <= args.max_ratio
    doc = {
        "unpruned_p50_ms": round(base.stats.p50, 4),
        "pruned_p50_ms": round(res.stats.p50, 4),
        "ratio": round(ratio["p50_ratio"], 4),
        "ratio_min": round(ratio["min"], 4),
        "ratio_max": round(ratio["max"], 4),
        "unpruned_macs": run.models[unpruned]["macs"],
        "pruned_macs": run.models[pruned]["macs"],
        "target_max_ratio": args.max_ratio,
        "ok": ok,
        "unstable": {"unpruned": base.unstable, "pruned": res.unstable},
        **info,
    }
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print(
            f"ONNX Runtime p50, batch 1, {args.threads} thread(s), {args.rounds} alternating rounds "
            "(edgekit bench harness)"
        )
        print(f"  unpruned {doc['unpruned_p50_ms']:.3f} ms  ({doc['unpruned_macs'] / 1e6:.1f} M MACs)")
        print(f"  pruned   {doc['pruned_p50_ms']:.3f} ms  ({doc['pruned_macs'] / 1e6:.1f} M MACs)")
        print(
            f"  ratio    x{doc['ratio']:.3f} [per round {doc['ratio_min']:.3f}-{doc['ratio_max']:.3f}]  "
            f"target <= {args.max_ratio}  {'OK' if ok else 'FAIL'}"
        )
        for k, v in info.items():
            print(f"  {k}: {v}")
        for name, why in doc["unstable"].items():
            if why:
                print(f"  unstable ({name}): {'; '.join(why)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
