"""The parts both quantize stages share: their data (validation to score, training samples to calibrate) and
what they write (model.onnx + preprocess.json + trials.json, only into the stage's own directory)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from edgekit.errors import InputError
from edgekit.fsutil import write_json
from edgekit.quant.calibration import stratified_indices
from edgekit.run.stage import StageContext
from edgekit.stages.quant_config import GuardedQuantConfig
from edgekit.quant.outcome import Decision


def read_preprocess(stage_dir: Path) -> dict:
    path = stage_dir / "preprocess.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: missing or unreadable ({type(e).__name__}); re-run the export stage") from None


def raw_validation(ctx: StageContext, cfg: GuardedQuantConfig) -> tuple[np.ndarray, np.ndarray]:
    """Validation samples as stored (uint8 images) and labels; a stratified subset when ``val_samples`` is set."""
    ds = ctx.dataset()
    val = ds.val
    if len(val) == 0:
        raise ctx.error("val_samples", "the validation split is empty: candidates cannot be scored")
    if ds.kind == "detection":  # boxes, not labels: a seeded subset of images, scored by mAP
        from edgekit.detect.truth import DetTruth

        if cfg.val_samples is not None and cfg.val_samples < len(val):
            val = val.take(np.sort(np.random.default_rng(ctx.recipe.seed).permutation(len(val))[: cfg.val_samples]))
        return val.x, DetTruth(val.boxes, val.labels, len(ds.classes))
    if cfg.val_samples is not None and cfg.val_samples < len(val):
        val = val.take(stratified_indices(val.y, cfg.val_samples, ctx.recipe.seed))
    return val.x, val.y


def validation(ctx: StageContext, cfg: GuardedQuantConfig, pre: dict) -> tuple[np.ndarray, np.ndarray]:
    """Prepared validation input (N, ...) float32 and labels; a stratified subset when ``val_samples`` is set."""
    from edgekit.runtime.preprocess import prepare

    x, y = raw_validation(ctx, cfg)
    return prepare(pre, x), y


def calibration_raw(ctx: StageContext, cfg: GuardedQuantConfig) -> np.ndarray:
    """Raw training samples for calibration (uint8 images): class-stratified, seeded."""
    train = ctx.dataset().train
    if len(train) == 0:
        raise ctx.error("calibration", "the training split is empty: there is nothing to calibrate on")
    if ctx.dataset().kind == "detection":  # no class per image to stratify by: a seeded subset
        n = min(cfg.calibration.samples, len(train))
        return train.x[np.sort(np.random.default_rng(ctx.recipe.seed).permutation(len(train))[:n])]
    return train.x[stratified_indices(train.y, cfg.calibration.samples, ctx.recipe.seed)]


def profiles(float_file: Path, d: Decision, runs: int = 30) -> dict:
    """Per-node-type time shares (quant/profile.py) of the float input and of the INT8 candidate considered (the
    file kept, or the one refused as slower): why INT8 pays or not, for the metrics and the report."""
    from edgekit.quant.profile import profile

    return {"float": profile(float_file, runs), "int8": profile(d.trial.path, runs)}


def write_result(
    ctx: StageContext, d: Decision, float_file: Path, trials: list[dict], pre: dict, profiles: dict | None = None
) -> None:
    """``trials``: the backend's log of what it tried, as the metrics hold it."""
    shutil.copyfile(float_file if d.keep == "float" else d.trial.path, ctx.out / "model.onnx")
    (ctx.out / "preprocess.json").write_text(json.dumps(pre, indent=2))
    extra = {"profile": profiles} if profiles is not None else {}
    write_json(
        ctx.out / "trials.json",
        {"trials": trials, "kept": d.keep, "chosen_trial": d.trial.index, "notes": list(d.notes), **extra},
    )


def report(ctx: StageContext, d: Decision, float_m, backend: str) -> None:
    for note in d.notes:
        ctx.console.print(f"  [bold yellow]![/] {note}")
    kept = float_m if d.keep == "float" else d.trial.measurement
    if d.trial.kernels is not None:
        k = d.trial.kernels
        ctx.console.print(f"  INT8 candidate runs {k['int8']} integer and {k['float']} float compute kernels")
    ctx.console.print(
        f"  {backend}: kept {d.keep} (trial {d.trial.index}: {d.trial.label}); size "
        f"{kept.size_bytes / float_m.size_bytes:.2f}x, latency {kept.latency_p50_ms / float_m.latency_p50_ms:.2f}x, "
        f"accuracy {kept.accuracy:.4f} vs float {float_m.accuracy:.4f}"
    )
