"""Does pruning make the exported model faster? ONNX Runtime p50 latency, batch 1, pruned vs unpruned.

    python benchmarks/prune_latency.py                         # resnet18 as in the default recipe (1x28x28), 50 % MACs
    python benchmarks/prune_latency.py --round-to none,8,16    # which channel rounding runs fastest
    python benchmarks/prune_latency.py --run-dir RUN           # the exports of a finished edgekit run
    python benchmarks/prune_latency.py --json

Latency depends on shapes, not weight values, so the default mode prunes a freshly built model (no
training) and exports every variant. Sessions are measured one at a time (an idle ORT thread pool would
steal a core), in several alternating rounds; each model's figure is the median over its rounds' medians,
so slow drift on a shared machine hits all models alike. Ratios are pruned / unpruned: below 1 is faster.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from edgekit.bench import PRESETS, bench  # noqa: E402
from edgekit.report.build import in_run, read_run  # noqa: E402


def build_variants(args, out: Path) -> dict[str, dict]:
    """Export the unpruned model and one pruned model per round_to value; returns name -> info."""
    import torch

    from edgekit.torchkit.export import export_onnx
    from edgekit.torchkit.models import build_model
    from edgekit.torchkit.pruning import PruneSettings, prune

    torch.manual_seed(0)
    torch.set_num_threads(1)
    c, h, w = (int(v) for v in args.input.split("x"))
    spec = {"source": args.model, "stem_stride": args.stem_stride, "weights": None}
    example = torch.randn(2, c, h, w)
    variants = {}
    base = build_model(spec, args.classes, c).eval()
    export_onnx(base, example, out / "unpruned.onnx", opset=18)
    variants["unpruned"] = {"path": out / "unpruned.onnx", "macs_ratio": 1.0, "params_ratio": 1.0}
    for r in args.round_to.split(","):
        round_to = None if r == "none" else int(r)
        model = build_model(spec, args.classes, c).eval()
        res = prune(model, example, PruneSettings(target=args.target, ratio=args.ratio, round_to=round_to))
        name = f"pruned round_to={r}"
        path = out / f"pruned-{r}.onnx"
        export_onnx(res.model, example, path, opset=18)
        variants[name] = {
            "path": path,
            "macs_ratio": res.macs[1] / res.macs[0],
            "params_ratio": res.params[1] / res.params[0],
        }
    return variants


def run_variants(run_dir: Path) -> dict[str, dict]:
    """The ONNX exports of a finished run, named by stage; pruned ones are those with a prune stage upstream."""
    record = read_run(run_dir)
    dirs = {s["id"]: in_run(run_dir, s["dir"]) for s in record["stages"]}
    kinds = {s["id"]: s["kind"] for s in record["stages"]}

    def lineage(stage: str) -> list[str]:
        chain = []
        while stage:
            chain.append(stage)
            inputs = json.loads((dirs[stage] / "manifest.json").read_text())["inputs"]
            stage = inputs[0]["stage"] if inputs else None
        return chain

    out = {}
    for sid, kind in kinds.items():
        if kind == "export":
            pruned = any(kinds.get(s) == "prune" for s in lineage(sid))
            out[("pruned " if pruned else "unpruned ") + sid] = {"path": dirs[sid] / "model.onnx"}
    if not any(k.startswith("unpruned") for k in out) or not any(k.startswith("pruned") for k in out):
        sys.exit(f"{run_dir}: needs an export of an unpruned and of a pruned model")
    return out


def measure(variants: dict[str, dict], rounds: int, runs: int, threads: int) -> None:
    """p50 of every variant from the harness: one worker per file, rounds alternating between files."""
    settings = replace(PRESETS["default"], rounds=rounds, min_runs=runs * rounds, min_seconds=0.5 * rounds)
    run = bench([Path(v["path"]) for v in variants.values()], threads=(threads,), settings=settings)
    for v, res in zip(variants.values(), run.results):
        v["p50_ms"] = res.stats.p50
        v["size_bytes"] = Path(v["path"]).stat().st_size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="torchvision:resnet18")
    ap.add_argument("--stem-stride", type=int, default=None, help="default: the ImageNet stem, as the default recipe")
    ap.add_argument("--input", default="1x28x28", help="C x H x W of one sample")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--target", default="macs", choices=["macs", "params", "channels"])
    ap.add_argument("--ratio", type=float, default=0.5)
    ap.add_argument("--round-to", default="none", help="comma-separated round_to values to compare ('none' = off)")
    ap.add_argument("--run-dir", type=Path, help="measure the exports of this finished run instead")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=100, help="timed queries per model per round")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        variants = run_variants(args.run_dir) if args.run_dir else build_variants(args, Path(tmp))
        measure(variants, args.rounds, args.runs, args.threads)

    base = next(v for k, v in variants.items() if k.startswith("unpruned"))
    rows = [
        {
            "model": k,
            "p50_ms": round(v["p50_ms"], 4),
            "latency_ratio": round(v["p50_ms"] / base["p50_ms"], 3),
            "size_bytes": v["size_bytes"],
            "size_ratio": round(v["size_bytes"] / base["size_bytes"], 3),
            **(
                {"macs_ratio": round(v["macs_ratio"], 4), "params_ratio": round(v["params_ratio"], 4)}
                if "macs_ratio" in v
                else {}
            ),
        }
        for k, v in variants.items()
    ]
    if args.json:
        print(json.dumps({"batch": 1, "threads": args.threads, "rounds": args.rounds, "rows": rows}, indent=2))
        return
    print(f"ONNX Runtime p50 latency, batch 1, {args.threads} thread(s), median of {args.rounds} alternating rounds")
    for r in rows:
        extra = f"  MACs x{r['macs_ratio']:.3f}  params x{r['params_ratio']:.3f}" if "macs_ratio" in r else ""
        print(
            f"  {r['model']:<24} {r['p50_ms']:8.3f} ms  latency x{r['latency_ratio']:.3f}  "
            f"size x{r['size_ratio']:.3f}{extra}"
        )


if __name__ == "__main__":
    main()
