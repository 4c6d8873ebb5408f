"""RUN_DIR/ship/: the shipped artifact at a stable path, so a deployment script never needs stage ids or hashes.

    RUN_DIR/ship/model.onnx        the shipped ONNX file, byte for byte
    RUN_DIR/ship/preprocess.json   its preprocessing (what runtime.preprocess applies before the model)
    RUN_DIR/ship/ship.json         which stage it is, its sha256, size, accuracy, p50, and why it ships

The folder is filled beside it and renamed into place, so a reader sees the old folder, no folder for an instant,
or the new one — never a mix or a half-copied file. When nothing ships the folder is removed: an older run's
file must not pass for this run's choice.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from edgekit.fsutil import write_json
from edgekit.hashing import hash_file
from edgekit.report.collect import in_run
from edgekit.decide.rows import latency

SHIP_DIR = "ship"
MODEL_FILE = "model.onnx"
PREPROCESS_FILE = "preprocess.json"


def publish(run_dir: str | Path, report: dict[str, Any]) -> Path | None:
    """Copy the report's shipped artifact into RUN_DIR/ship/ (replacing the folder); None, with the folder removed,
    when nothing ships."""
    run_dir = Path(run_dir)
    target = run_dir / SHIP_DIR
    ship = report.get("ship") or {}
    art = next((a for a in report.get("artifacts") or [] if a["id"] == ship.get("artifact")), None)
    if art is None or not art.get("file"):
        _remove(target, run_dir)
        return None
    src = in_run(run_dir, art["file"])
    tmp = run_dir / f".{SHIP_DIR}-tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        shutil.copyfile(src, tmp / MODEL_FILE)
        pre = src.parent / PREPROCESS_FILE
        if pre.is_file():
            shutil.copyfile(pre, tmp / PREPROCESS_FILE)
        digest = hash_file(tmp / MODEL_FILE)
        if digest != hash_file(src):  # the source changed under us: never publish a file that is not the measured one
            raise OSError(f"{src} changed while it was copied")
        write_json(
            tmp / "ship.json",
            {
                "stage": art["id"],
                "source": art["file"],
                "sha256": digest,
                "size_bytes": (tmp / MODEL_FILE).stat().st_size,
                "accuracy": art.get("accuracy"),
                **({"metric": art["metric"]} if art.get("metric") else {}),  # what accuracy holds (decide.rows)
                "test_samples": art.get("test_samples"),
                "p50_ms": latency(art),
                "reason": ship.get("reason"),
                "rule": ship.get("rule"),
                "lost": ship.get("lost") or {},
            },
        )
        _remove(target, run_dir)
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target / MODEL_FILE


def _remove(target: Path, run_dir: Path) -> None:
    if target.exists():
        trash = run_dir / f".{SHIP_DIR}-old-{os.getpid()}"
        shutil.rmtree(trash, ignore_errors=True)
        target.rename(trash)  # one rename: the old folder disappears whole
        shutil.rmtree(trash, ignore_errors=True)
