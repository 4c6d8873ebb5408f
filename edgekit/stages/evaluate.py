"""Evaluate every ONNX artifact of the run with the bench harness (edgekit.bench): test accuracy, size,
params/MACs, latency percentiles with confidence intervals, cold start and memory, each artifact in its own
process, in alternating rounds, with the machine fingerprint stored once.

Torch-free: the same code path as `edgekit bench`, so a Pi reproduces the numbers without the pipeline.

    - {id: evaluate, kind: evaluate}                         # every ONNX artifact, the default preset
    - {id: evaluate, kind: evaluate, threads: 2, min_seconds: 2.0}"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Literal

from pydantic import Field

from edgekit.fsutil import write_json
from edgekit.hashing import hash_file
from edgekit.decide.rows import PERCENTILES, Row
from edgekit.recipe.strict import StageConfig
from edgekit.run.registry import register_stage
from edgekit.decide.sense import chance_level
from edgekit.run.stage import StageContext, StageOutput


class EvaluateConfig(StageConfig):
    kind: Literal["evaluate"] = "evaluate"
    threads: int = Field(1, ge=1, le=256, description="onnxruntime intra-op threads for the latency measurement")
    # defaults equal `edgekit bench`'s default settings, so both report the same numbers
    latency_runs: int = Field(
        500, ge=1, le=100_000, description="at least this many timed batch-1 queries per artifact"
    )
    min_seconds: float = Field(5.0, ge=0, le=600, description="and at least this many seconds per artifact")
    rounds: int = Field(5, ge=1, le=100, description="alternating measurement rounds the queries are split into")
    repeat_unstable: int = Field(
        0, ge=0, le=10, description="measure again up to this many times while a result is unstable"
    )

    def key_context(self, recipe) -> dict | None:
        """Every artifact is also scored on each prompted stage's seeded subset: their sizes are part of the key."""
        sizes = prompted_subsets(recipe)
        return {"prompted_subsets": sizes} if sizes else None


def _content(model: Path) -> str:
    """What an artifact measures by: its bytes and the preprocessing beside it."""
    beside = model.with_name("preprocess.json")
    return hash_file(model) + (hash_file(beside) if beside.is_file() else "")


def prompted_subsets(recipe) -> list[int]:
    """The ``samples:`` of the recipe's prompted stages: slow or paid baselines score a seeded subset of the test
    split, and each artifact is scored on the same one so the verdict compares like with like."""
    return sorted({n for s in recipe.stages if s.kind == "prompted" and (n := getattr(s, "samples", None))})


def subset_accuracies(ctx: StageContext, ds) -> list[dict]:
    """Per input artifact: {test_set digest: {"accuracy", "test_samples"}} on each prompted stage's subset
    (the same seeded draw as edgekit.stages.prompted), in this process, one ORT thread."""
    from edgekit.data.dataset import limit
    from edgekit.runtime import ort
    from edgekit.runtime.preprocess import prepare

    subsets = [
        sub for n in prompted_subsets(ctx.recipe) if len(sub := limit(ds.test, n, ctx.recipe.seed)) < len(ds.test)
    ]
    out: list[dict] = [{} for _ in ctx.inputs]
    for i, art in enumerate(ctx.inputs):
        if not subsets:
            break
        beside = art.file.with_name("preprocess.json")
        pre = json.loads(beside.read_text()) if beside.is_file() else ds.preprocess()
        sess = ort.session(art.file, threads=1)
        for sub in subsets:
            out[i][sub.digest()] = {
                "accuracy": round(ort.accuracy(sess, prepare(pre, sub.x), sub.y), 5),
                "test_samples": len(sub),
            }
    return out


def row(stage_id: str, rec: dict, file: str | None = None) -> Row:
    """One artifact's metrics row (edgekit.decide.rows) from its bench record (schema edgekit.bench/1); ``file``
    relative to the run dir. The extra latency statistics (CI, mean, CV) and memory figures stay beside the row's
    fields."""
    lat, mem = rec["latency_ms"], rec["memory"]
    return {
        "stage": stage_id,
        "file": file or rec["model"],
        "accuracy": round(rec["accuracy"]["value"], 5),
        "test_samples": rec["accuracy"]["samples"],
        "size_bytes": rec["size_bytes"],
        "params": rec["params"],
        "macs": rec["macs"],
        "counts_unknown": rec.get("counts_unknown"),
        "threads": rec["threads"],
        "latency_runs": lat["n"],
        "latency_ms": {p: lat[p] for p in PERCENTILES},
        "latency_p50_ci95_ms": lat["ci95"]["p50"],
        "latency_round_p50_ms": lat["round_medians"],
        "latency_round_p10_ms": lat.get("round_p10") or [],
        "latency_mean_ms": lat["mean"],
        "latency_cv": lat["cv"],
        "unstable": rec["unstable"],
        "unstable_reasons": rec["unstable_reasons"],
        "cold_start_ms": rec["cold_start_ms"]["total"],
        "peak_memory_bytes": mem["peak_rss_bytes"],
        "inference_memory_bytes": mem["inference_bytes"],
        "vs_reference": rec["vs_reference"],
        "gmacs_per_s": rec.get("gmacs_per_s"),
        "peak_fraction": rec.get("peak_fraction"),
        "steal_percent": rec.get("steal_percent"),
    }


@register_stage(EvaluateConfig, consumes="onnx*", produces=None, needs="")
def run(ctx: StageContext, cfg: EvaluateConfig) -> StageOutput:
    from dataclasses import replace

    from edgekit.progress import progress

    from edgekit.bench import PRESETS, bench, document
    from edgekit.bench.bundle import bundle_from_dataset, save_bundle

    ds = ctx.dataset()
    settings = replace(
        PRESETS["default"],
        min_runs=cfg.latency_runs,
        min_seconds=cfg.min_seconds,
        rounds=cfg.rounds,
        repeat_unstable=cfg.repeat_unstable,
    )
    # each distinct file is measured once and its record given to every artifact with its bytes: a quantize stage
    # that kept the float model hands on its input's bytes, and timing the same bytes twice can only measure the
    # machine (on a VM whose speed switches, one copy came out 11 % "faster" in every round and "dominated" export)
    digests = [_content(art.file) for art in ctx.inputs]
    distinct = list(dict.fromkeys(digests))
    models = [ctx.inputs[digests.index(d)].file for d in distinct]
    same = f" ({len(models)} distinct files)" if len(models) < len(digests) else ""
    ctx.console.print(
        f"  evaluating {len(digests)} ONNX artifact(s){same} on {len(ds.test)} test samples, {cfg.threads} thread(s)"
    )
    detection = ds.kind == "detection"  # mAP is scored here (edgekit.detect), the harness measures the rest
    with tempfile.TemporaryDirectory(prefix="edgekit-eval-") as tmp, progress(ctx.console, transient=True) as bar:
        bundle = None if detection else Path(tmp) / "test.npz"
        if bundle is not None:
            save_bundle(bundle, *bundle_from_dataset(ds))
        task = bar.add_task("evaluate", total=None)
        result = bench(
            models,
            threads=(cfg.threads,),
            settings=settings,
            bundle=bundle,
            reference=0 if len(models) > 1 else None,
            progress=lambda what, done, total: bar.update(task, description=what, completed=done, total=total),
        )
    doc = document(result)
    task_fields = [{} for _ in models]
    if detection:
        from edgekit.detect.evaluate import score_files

        task_fields = score_files(models, ds, ctx.recipe.seed, cfg.threads, prompted_subsets(ctx.recipe))
        for rec, f in zip(doc["results"], task_fields):
            rec["accuracy"] = {"value": f["accuracy"], "samples": f["test_samples"]}
    records = [doc["results"][distinct.index(d)] for d in digests]
    task_fields = [task_fields[distinct.index(d)] for d in digests]
    chance = 0.0 if detection else chance_level(ds.test.y.tolist())  # always answering the most common class
    test_set = ds.test.digest()  # which samples: the gate compares accuracies only on the same ones
    rows = [
        {
            **row(art.stage_id, rec, art.file_in_run),
            "batch": rec.get("batch"),
            "test_set": test_set,
            "chance_accuracy": chance,
            **({"accuracy_on": on} if on else {}),
            **task,  # detection: metric, metrics, accuracy_ci95 (issue 32's row contract), accuracy_on
        }
        for art, rec, on, task in zip(
            ctx.inputs, records, [{}] * len(digests) if detection else subset_accuracies(ctx, ds), task_fields
        )
    ]
    for r in rows:
        if r["unstable"]:
            ctx.console.print(
                f"  [yellow]unstable:[/] {r['stage']}: {'; '.join(r['unstable_reasons'])}", highlight=False
            )
    metrics = {
        "artifacts": rows,
        "machine": doc["machine"],
        "valid": doc["valid"],
        "invalid_reasons": doc["invalid_reasons"],
        "peak": doc["peak"],
    }
    write_json(ctx.out / "evaluation.json", metrics)
    write_json(ctx.out / "bench.json", doc)
    return StageOutput("evaluation.json", metrics)
