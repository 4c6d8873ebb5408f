"""Run a recipe's stages in order, each output addressed by the hash of what produced it.

    recipe ──► stage 1 ──► stage 2 ──► ... ──► run.json (+ history/)
                 │            │
      stages/<id>-<key>/   stages/<id>-<key>/      key = sha256(kind, config, input content,
        artifact + manifest.json                          data fingerprint, model, seed, version)

A stage whose directory exists with a valid manifest is reused ("cached"); changing a stage changes its
key and therefore the keys of everything after it. A stage runs in a temporary directory that is renamed
into place only when complete, so a killed run never leaves something a later run mistakes for finished.
"""

from __future__ import annotations

import difflib
import fcntl
import os
import platform
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.console import Console

from edgekit import __version__
from edgekit.errors import EdgekitError, InputError, StageFailed, require
from edgekit.fsutil import read_json, resolve_path, write_json
from edgekit.graph import wire
from edgekit.hashing import hash_file, hash_obj
from edgekit.recipe import LoadedRecipe, StageConfig
from edgekit.registry import StageKind, stage_kinds
from edgekit.stage import MANIFEST, MANIFEST_VERSION, Artifact, StageContext, StageOutput

RUN_FILE = "run.json"


@dataclass
class StageRecord:
    id: str
    kind: str
    key: str
    dir: str
    cached: bool
    wall_time_s: float
    metrics: dict[str, Any]


def model_fingerprint(loaded: LoadedRecipe) -> str | None:
    """The recipe's model spec, plus the content of a local weights or onnx: file (replacing the file re-runs)."""
    model = loaded.recipe.model
    if model is None:
        return None
    weights = model.weights and resolve_path(model.weights, loaded.file.parent)
    if model.source.startswith("onnx:"):
        weights = resolve_path(model.source.removeprefix("onnx:"), loaded.file.parent)
    return hash_obj({"spec": model.model_dump(),
                     "weights": hash_file(weights) if weights and weights.is_file() else model.weights})


def stage_key(cfg: StageConfig, kind: StageKind, inputs: list[Artifact], loaded: LoadedRecipe, data_fingerprint: str) -> str:
    recipe = loaded.recipe
    starts_from_recipe_model = kind.consumes in ("torch?", "model") and not inputs
    return hash_obj({
        "kind": cfg.kind,
        "config": cfg.model_dump(exclude={"id", "input"}),
        # the input's content, not its key: a re-run that reproduces the same bytes keeps downstream cached
        "inputs": [content_hash(a) for a in inputs],
        "data": data_fingerprint,
        # only a stage that builds the recipe's model (train from scratch) depends on it; others on their input
        "model": model_fingerprint(loaded) if starts_from_recipe_model else None,
        "seed": recipe.seed,
        "edgekit": __version__,
    })


def content_hash(art: Artifact) -> str:
    return hash_obj({name: f["sha256"] for name, f in art.manifest["files"].items()})


def load_artifact(stage_dir: Path) -> Artifact | None:
    """A finished stage directory, or None when missing or corrupt (a corrupt entry is a miss, not a crash)."""
    try:
        m = read_json(stage_dir / MANIFEST)
        if m.get("manifest_version") != MANIFEST_VERSION:
            return None
        for name, info in m["files"].items():
            if (stage_dir / name).stat().st_size != info["size"]:
                return None
        return Artifact(m["stage"]["id"], m["stage"]["kind"], m["key"], stage_dir, m)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _manifest(cfg: StageConfig, kind: StageKind, key: str, inputs: list[Artifact], out: Path,
              output: StageOutput, wall: float, data_fingerprint: str) -> dict[str, Any]:
    files = {p.relative_to(out).as_posix(): {"size": p.stat().st_size, "sha256": hash_file(p)}
             for p in sorted(out.rglob("*")) if p.is_file() and p.name != MANIFEST}
    return {
        "manifest_version": MANIFEST_VERSION,
        "stage": {"id": cfg.id, "kind": cfg.kind},
        "key": key,
        "config": cfg.model_dump(),
        "inputs": [{"stage": a.stage_id, "key": a.key} for a in inputs],
        "data_fingerprint": data_fingerprint,
        "produces": kind.produces,
        "artifact": output.artifact,
        "files": files,
        "metrics": output.metrics,
        "wall_time_s": round(wall, 3),
        "versions": _versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"edgekit": __version__, "python": platform.python_version()}
    for pkg in ("numpy", "onnx", "onnxruntime", "torch", "torchvision", "torch-pruning", "neural-compressor"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


@contextmanager
def _lock(run_dir: Path):
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / ".lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"{run_dir}: another edgekit run is using this run directory") from None
        yield


def _check_owner(run_dir: Path, name: str) -> None:
    """Never mix two recipes' results in one run directory."""
    try:
        owner = read_json(run_dir / RUN_FILE).get("recipe", {}).get("name")
    except (OSError, ValueError):
        return
    if owner and owner != name:
        raise InputError(f"{run_dir}: holds runs of recipe '{owner}', not '{name}'; choose another --run-dir")


def _default_threads(threads: int | None) -> int:
    return threads or len(os.sched_getaffinity(0))


class Pipeline:
    def __init__(self, loaded: LoadedRecipe, run_dir: Path, console: Console | None = None):
        self.loaded = loaded
        self.run_dir = Path(run_dir)
        self.stages_dir = self.run_dir / "stages"
        self.console = console or Console(stderr=True)
        self._dataset = None
        self.wiring = wire(loaded)

    def dataset(self):
        if self._dataset is None:
            from edgekit.data import load_dataset
            from edgekit.data.sources import DataSourceError

            try:
                self._dataset = load_dataset(self.loaded.recipe.data, self.loaded.recipe.seed, self.loaded.file.parent)
            except DataSourceError as e:
                raise self.loaded.error(("data", e.key), e.message) from None
        return self._dataset

    def run(self, force: bool = False, from_stage: str | None = None) -> dict[str, Any]:
        recipe = self.loaded.recipe
        ids = [s.id for s in recipe.stages]
        if from_stage is not None and from_stage not in ids:
            hint = difflib.get_close_matches(from_stage, ids, n=1)
            raise InputError(f"--from: no stage '{from_stage}' in {self.loaded.file}" + (f" (did you mean '{hint[0]}'?)" if hint else ""))
        with _lock(self.run_dir):
            _check_owner(self.run_dir, recipe.name)
            self._clean_partial()
            started = datetime.now(timezone.utc)
            fingerprint = self.dataset().fingerprint
            record: dict[str, Any] = {
                "edgekit": __version__,
                "recipe": {"name": recipe.name, "file": str(self.loaded.file), "sha256": hash_obj(self.loaded.text)},
                "started": started.isoformat(timespec="seconds"),
                "status": "running",
                "stages": [],
            }
            done: list[Artifact] = []
            rerun = force
            try:
                for cfg in recipe.stages:
                    rerun = rerun or cfg.id == from_stage
                    art, rec = self._run_stage(cfg, done, fingerprint, rerun)
                    done.append(art)
                    record["stages"].append(rec.__dict__)
                record["status"] = "ok"
            except BaseException as e:
                record["status"] = "failed"
                record["error"] = getattr(e, "message", None) or f"{type(e).__name__}: {e}"
                raise
            finally:
                record["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
                write_json(self.run_dir / RUN_FILE, record)
                write_json(self.run_dir / "history" / f"{started:%Y%m%dT%H%M%S.%f}-{os.getpid()}.json", record)  # µs: two runs in one second stay apart
            return record

    def _clean_partial(self) -> None:
        # we hold the run-directory lock, so any temporary stage directory is from a run that died
        if self.stages_dir.is_dir():
            for d in self.stages_dir.glob(".tmp-*"):
                shutil.rmtree(d, ignore_errors=True)

    def _run_stage(self, cfg: StageConfig, done: list[Artifact], fingerprint: str, rerun: bool):
        kind = stage_kinds()[cfg.kind]
        by_id = {a.stage_id: a for a in done}
        inputs = [by_id[i] for i in self.wiring[cfg.id]]
        key = stage_key(cfg, kind, inputs, self.loaded, fingerprint)
        final = self.stages_dir / f"{cfg.id}-{key[:16]}"
        if not rerun:
            art = load_artifact(final)
            if art is not None:
                self.console.print(f"[green]✓[/] {cfg.id:<12} cached  [dim]{final}[/]")
                return art, StageRecord(cfg.id, cfg.kind, key, str(final), True, art.manifest.get("wall_time_s", 0.0), art.metrics)
            if final.exists():
                self.console.print(f"[yellow]![/] {cfg.id:<12} cache entry incomplete or corrupt, running again")
        if kind.needs:
            require("torch", kind.needs)  # one clear line naming the extra, not an ImportError deep in a stage

        self.console.print(f"[cyan]▶[/] {cfg.id:<12} running {cfg.kind}")
        tmp = self.stages_dir / f".tmp-{cfg.id}-{key[:16]}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        t0 = time.perf_counter()
        ctx = StageContext(self.loaded, cfg, tmp, inputs, _default_threads(self.loaded.recipe.threads), self.console, self.dataset)
        try:
            output = kind.run(ctx, cfg)
        except EdgekitError:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        except BaseException as e:
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(e, (KeyboardInterrupt, SystemExit)):
                raise
            raise StageFailed(f"stage '{cfg.id}' ({cfg.kind}) failed: {type(e).__name__}: {e}") from e
        wall = time.perf_counter() - t0
        manifest = _manifest(cfg, kind, key, inputs, tmp, output, wall, fingerprint)
        write_json(tmp / MANIFEST, manifest)  # written last: its presence marks the directory complete
        if final.exists():  # a forced re-run replaces the entry in one rename, never a mix of old and new
            trash = self.stages_dir / f".tmp-old-{final.name}-{os.getpid()}"
            final.rename(trash)
            tmp.rename(final)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            tmp.rename(final)
        self.console.print(f"[green]✓[/] {cfg.id:<12} done in {wall:.1f}s  [dim]{final}[/]")
        art = Artifact(cfg.id, cfg.kind, key, final, manifest)
        return art, StageRecord(cfg.id, cfg.kind, key, str(final), False, round(wall, 3), output.metrics)
