"""Evaluate every ONNX artifact of the run with ONNX Runtime: test accuracy, file size, batch-1 latency.

Torch-free. One session at a time, so no idle thread pool competes with the one being timed."""

from __future__ import annotations

import json
import statistics
from typing import Literal

from pydantic import Field

from edgekit.fsutil import write_json
from edgekit.recipe import StageConfig
from edgekit.registry import register_stage
from edgekit.stage import StageContext, StageOutput


class EvaluateConfig(StageConfig):
    kind: Literal["evaluate"] = "evaluate"
    threads: int = Field(1, ge=1, le=256, description="onnxruntime intra-op threads for the latency measurement")
    latency_runs: int = Field(100, ge=1, le=100_000, description="at least this many timed batch-1 queries")
    min_seconds: float = Field(2.0, ge=0, le=600, description="and at least this long")


def evaluate_onnx(path, pre: dict, ds, cfg: EvaluateConfig) -> dict:
    from edgekit.runtime import ort
    from edgekit.runtime.preprocess import prepare

    x = prepare(pre, ds.test.x)
    sess = ort.session(path, threads=max(cfg.threads, 1))
    acc = ort.accuracy(sess, x, ds.test.y)
    times = ort.latency_ms(sess, x[:1], runs=cfg.latency_runs, min_seconds=cfg.min_seconds)
    del sess
    return {"accuracy": round(acc, 5), "size_bytes": path.stat().st_size,
            "latency_p50_ms": round(statistics.median(times), 4), "latency_runs": len(times),
            "threads": cfg.threads, "test_samples": len(ds.test)}


@register_stage(EvaluateConfig, consumes="onnx*", produces=None, needs="")
def run(ctx: StageContext, cfg: EvaluateConfig) -> StageOutput:
    ds = ctx.dataset()
    rows = []
    for art in ctx.inputs:
        pre = json.loads((art.dir / "preprocess.json").read_text())
        ctx.console.print(f"  evaluating {art.stage_id} ({art.file.name}) on {len(ds.test)} test samples")
        rows.append({"stage": art.stage_id, "file": str(art.file), **evaluate_onnx(art.file, pre, ds, cfg)})
    write_json(ctx.out / "evaluation.json", {"artifacts": rows})
    return StageOutput("evaluation.json", {"artifacts": rows})
