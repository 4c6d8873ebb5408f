"""Run a recipe's stages in order, each output addressed by the hash of what produced it.

    recipe ──► stage 1 ──► stage 2 ──► ... ──► run.json (+ history/)
                 │            │
      stages/<id>-<key>/   stages/<id>-<key>/      key = sha256(kind, config, input content,
        artifact + manifest.json                          data fingerprint, model, seed, version)

A stage whose directory exists with a valid manifest is reused ("cached"); changing a stage changes its
key and therefore the keys of everything after it. A stage runs in a temporary directory that is renamed
into place only when complete (edgekit.run.store), so a killed run never leaves something a later run
mistakes for finished.
"""

from __future__ import annotations

import difflib
import os
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from edgekit import __version__

from edgekit.run import runlock
from edgekit.errors import EdgekitError, InputError, StageFailed, require
from edgekit.fsutil import read_json, write_json
from edgekit.bench.system import speed_id
from edgekit.recipe.graph import wire
from edgekit.hashing import hash_obj
from edgekit.recipe.preflight import preflight
from edgekit.recipe.read import LoadedRecipe
from edgekit.recipe.strict import StageConfig
from edgekit.run.stage import MANIFEST, Artifact, StageContext
from edgekit.run.stagekey import hub_models, measures_speed, stage_key
from edgekit.run.store import clean_partial, commit, load_artifact, manifest
from edgekit.stages import stage_kinds

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


def _check_owner(run_dir: Path, name: str) -> dict | None:
    """The recipe block of the run.json of another recipe that owns this directory, else None: never mix two
    recipes' results in one run directory."""
    try:
        owner = read_json(run_dir / RUN_FILE).get("recipe", {})
    except (OSError, ValueError, AttributeError):
        return None
    return owner if isinstance(owner, dict) and owner.get("name") and owner["name"] != name else None


def _default_threads(threads: int | None) -> int:
    return threads or len(os.sched_getaffinity(0))


class Pipeline:
    def __init__(self, loaded: LoadedRecipe, run_dir: Path, console: Console | None = None):
        self.loaded = loaded
        self.run_dir = Path(run_dir)
        self.stages_dir = self.run_dir / "stages"
        self.console = console or Console(stderr=True)
        self._dataset = None
        self.wiring = wire(loaded, stage_kinds())
        self.running: str | None = None  # the stage running now, for a message when Ctrl-C interrupts it

    def dataset(self):
        if self._dataset is None:
            from edgekit.data import load_dataset
            from edgekit.data.sources import DataSourceError
            from edgekit.detect.task import task_of

            if task_of(self.loaded.recipe) == "detection":  # images with boxes: edgekit.detect's loaders
                from edgekit.detect.sources import load_detection as load_dataset
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
            raise InputError(
                f"--from: no stage '{from_stage}' in {self.loaded.file}"
                + (f" (did you mean '{hint[0]}'?)" if hint else "")
            )
        with runlock.hold(self.run_dir):
            started = datetime.now(timezone.utc)
            record: dict[str, Any] = {
                "edgekit": __version__,
                # paths relative to the run directory, so a moved or copied run dir is still complete
                "recipe": {
                    "name": recipe.name,
                    "file": os.path.relpath(self.loaded.file.resolve(), self.run_dir.resolve()),
                    "sha256": hash_obj(self.loaded.text),
                    # the shipping rule travels with the run, so `edgekit report RUN_DIR` decides the same way
                    "ship": recipe.ship.model_dump(mode="json", exclude_unset=True) if recipe.ship else None,
                    # and so do its budgets: report and gate read the run, never an earlier report.json
                    "budgets": recipe.budgets.model_dump(mode="json", exclude_unset=True) if recipe.budgets else None,
                    "model": recipe.model.source if recipe.model else None,
                },  # names the main lineage in the report
                "started": started.isoformat(timespec="seconds"),
                "status": "running",
                "stages": [],
            }
            done: list[Artifact] = []
            rerun = force
            # everything after the lock is inside the try: a run that fails early (owner check, missing dataset)
            # must not leave an older run.json saying ok for `edgekit check` to pass
            try:
                # a missing folder or model fails now, not after an hour of training; its notes (files an image
                # folder holds that are not images, skipped) are the ones `edgekit validate` prints
                for note in preflight(self.loaded):
                    self.console.print(f"[yellow]note:[/] {escape(note)}", highlight=False, soft_wrap=True)
                owner = _check_owner(self.run_dir, recipe.name)
                if owner is not None:
                    record["recipe"] = owner  # the directory stays the other recipe's: only its status changes
                    raise InputError(
                        f"{self.run_dir}: holds runs of recipe '{owner.get('name')}', not '{recipe.name}'; "
                        "choose another --run-dir"
                    )
                self._clean_partial()
                fingerprint = self.dataset().fingerprint
                train_fingerprint = self.dataset().train_fingerprint
                for cfg in recipe.stages:
                    rerun = rerun or cfg.id == from_stage
                    art, rec = self._run_stage(cfg, done, fingerprint, train_fingerprint, rerun)
                    done.append(art)
                    record["stages"].append(rec.__dict__)
                record["status"] = "ok"
            except BaseException as e:
                record["status"] = "failed"
                record["error"] = getattr(e, "message", None) or f"{type(e).__name__}: {e}".rstrip(": ")
                raise
            finally:
                record["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
                write_json(self.run_dir / RUN_FILE, record)
                write_json(
                    self.run_dir / "history" / f"{started:%Y%m%dT%H%M%S.%f}-{os.getpid()}.json", record
                )  # µs: two runs in one second stay apart
            return record

    def _in_run(self, path: Path) -> str:
        return path.relative_to(self.run_dir).as_posix()

    def _clean_partial(self) -> None:
        clean_partial(self.stages_dir)  # we hold the run-directory lock

    def _lineage(self, inputs: list[Artifact], by_id: dict[str, Artifact]) -> list[Artifact]:
        """The input, its input, ... (first input at each step), nearest first."""
        out: list[Artifact] = []
        art = inputs[-1] if inputs else None
        while art is not None:
            out.append(art)
            parents = self.wiring[art.stage_id]
            art = by_id[parents[0]] if parents else None
        return out

    def _prechecks(self, cfg: StageConfig):
        """The prechecks of the later stages that will transform the model ``cfg`` trains (their input, through
        train stages only, is ``cfg``), as one callable for the train stage; None when there are none."""
        kinds = stage_kinds()
        kind_of = {s.id: s.kind for s in self.loaded.recipe.stages}
        later = []
        for s in self.loaded.recipe.stages:
            check = kinds[s.kind].precheck
            parent = (self.wiring[s.id] or [None])[0]
            while parent is not None and parent != cfg.id and kind_of[parent] == "train":
                parent = (self.wiring[parent] or [None])[0]
            if check is not None and parent == cfg.id:
                later.append((check, s))
        if not later:
            return None

        def check_all(model, example) -> None:
            for check, s in later:
                check(self.loaded, s, model, example)

        return check_all

    def _run_stage(self, cfg: StageConfig, done: list[Artifact], fingerprint: str, train_fingerprint: str, rerun: bool):
        kind = stage_kinds()[cfg.kind]
        by_id = {a.stage_id: a for a in done}
        inputs = [by_id[i] for i in self.wiring[cfg.id]]
        machine = speed_id() if measures_speed(cfg) else None
        hub = hub_models(cfg, kind, inputs, self.loaded)
        key = stage_key(cfg, kind, inputs, self.loaded, fingerprint, train_fingerprint, machine, hub)
        final = self.stages_dir / f"{cfg.id}-{key[:16]}"
        if not rerun:
            art = load_artifact(final)
            if art is not None:
                self.console.print(f"[green]✓[/] {cfg.id:<12} cached  [dim]{final}[/]")
                return art, StageRecord(
                    cfg.id, cfg.kind, key, self._in_run(final), True, art.manifest.get("wall_time_s", 0.0), art.metrics
                )
            if final.exists():
                self.console.print(f"[yellow]![/] {cfg.id:<12} cache entry incomplete or corrupt, running again")
        if kind.needs:
            require("torch", kind.needs)  # one clear line naming the extra, not an ImportError deep in a stage

        self.console.print(f"[cyan]▶[/] {cfg.id:<12} running {cfg.kind}")
        tmp = self.stages_dir / f".tmp-{cfg.id}-{key[:16]}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        t0 = time.perf_counter()
        ctx = StageContext(
            self.loaded,
            cfg,
            tmp,
            inputs,
            _default_threads(self.loaded.recipe.threads),
            self.console,
            self.dataset,
            self._lineage(inputs, by_id),
            self._prechecks(cfg),
        )
        self.running = cfg.id
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
        self.running = None
        record = manifest(cfg, kind, key, inputs, tmp, output, wall, fingerprint, hub)
        write_json(tmp / MANIFEST, record)  # written last: its presence marks the directory complete
        commit(tmp, final)
        self.console.print(f"[green]✓[/] {cfg.id:<12} done in {wall:.1f}s  [dim]{final}[/]")
        art = Artifact(cfg.id, cfg.kind, key, final, record)
        return art, StageRecord(cfg.id, cfg.kind, key, self._in_run(final), False, round(wall, 3), output.metrics)
