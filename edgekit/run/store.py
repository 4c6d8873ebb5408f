"""The stage store: one directory per stage key under RUN_DIR/stages/, complete only once its manifest is in it.

    stages/.tmp-<id>-<key16>-<pid>/   a stage running (or one that died: removed unless its process lives)
    stages/<id>-<key16>/              finished: the artifact + manifest.json (every file's size and sha256)

A stage writes into a temporary directory that is renamed into place only when complete, so a killed run never
leaves something a later run mistakes for finished; an entry whose files do not match their manifest is a miss.
"""

from __future__ import annotations

import os
import platform
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edgekit import __version__
from edgekit.hashing import hash_file
from edgekit.recipe.strict import StageConfig
from edgekit.run.registry import StageKind
from edgekit.run.stage import MANIFEST, MANIFEST_VERSION, Artifact, StageOutput
from edgekit.fsutil import read_json


def load_artifact(stage_dir: Path) -> Artifact | None:
    """A finished stage directory, or None when missing or corrupt (a corrupt entry is a miss, not a crash).
    Every file's sha256 is checked against the manifest, not only its size: same-size bytes written over an
    artifact would otherwise be reused and keep every downstream key unchanged (~0.1 s per 45 MB file)."""
    try:
        m = read_json(stage_dir / MANIFEST)
        if m.get("manifest_version") != MANIFEST_VERSION:
            return None
        for name, info in m["files"].items():
            path = stage_dir / name
            if path.stat().st_size != info["size"] or hash_file(path) != info["sha256"]:
                return None
        return Artifact(m["stage"]["id"], m["stage"]["kind"], m["key"], stage_dir, m)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def manifest(
    cfg: StageConfig,
    kind: StageKind,
    key: str,
    inputs: list[Artifact],
    out: Path,
    output: StageOutput,
    wall: float,
    data_fingerprint: str,
    hub: list[dict],
) -> dict[str, Any]:
    files = {
        p.relative_to(out).as_posix(): {"size": p.stat().st_size, "sha256": hash_file(p)}
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }
    return {
        "manifest_version": MANIFEST_VERSION,
        "stage": {"id": cfg.id, "kind": cfg.kind},
        "key": key,
        "config": cfg.model_dump(),
        "inputs": [{"stage": a.stage_id, "key": a.key} for a in inputs],
        "data_fingerprint": data_fingerprint,
        **({"hub": hub} if hub else {}),  # Hugging Face models read: id, revision, resolved commit, files hash
        "produces": kind.produces,
        "artifact": output.artifact,
        "files": files,
        "metrics": output.metrics,
        "wall_time_s": round(wall, 3),
        "versions": versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"edgekit": __version__, "python": platform.python_version()}
    for pkg in ("numpy", "onnx", "onnxruntime", "torch", "torchvision", "torch-pruning", "neural-compressor"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def alive(pid: str) -> bool:
    """Whether the process that named a temporary directory (its pid is the last part) is still running here."""
    if not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's process
    return True


def clean_partial(stages_dir: Path) -> None:
    """Remove the temporary directories of runs that died. The caller holds the run-directory lock, so one is from a
    dead run -- unless its process still lives: `edgekit search` trials of several workers share one stage cache."""
    if stages_dir.is_dir():
        for d in stages_dir.glob(".tmp-*"):
            if not alive(d.name.rsplit("-", 1)[-1]):
                shutil.rmtree(d, ignore_errors=True)


def commit(tmp: Path, final: Path) -> None:
    """``tmp`` (its manifest written last) becomes ``final``; a forced re-run replaces the entry in one rename,
    never a mix of old and new."""
    if final.exists():
        trash = final.parent / f".tmp-old-{final.name}-{os.getpid()}"
        final.rename(trash)
        tmp.rename(final)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        tmp.rename(final)
