"""What a stage sees while it runs (StageContext), what it leaves behind (Artifact), and what it returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from edgekit.recipe.model import LoadedRecipe
from edgekit.recipe.strict import StageConfig

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class Artifact:
    """A finished stage directory: its files plus manifest.json (inputs, config, versions, hashes, metrics)."""

    stage_id: str
    kind: str
    key: str
    dir: Path
    manifest: dict[str, Any]

    @property
    def produces(self) -> str | None:
        return self.manifest.get("produces")

    @property
    def file(self) -> Path | None:
        """The main file (model.onnx, model.safetensors, ...), if the stage produced one."""
        name = self.manifest.get("artifact")
        return self.dir / name if name else None

    @property
    def file_in_run(self) -> str | None:
        """The main file relative to the run directory (``stages/<id>-<key>/model.onnx``): what run records store,
        so a run directory stays valid when it is moved or copied."""
        name = self.manifest.get("artifact")
        return f"{self.dir.parent.name}/{self.dir.name}/{name}" if name else None

    @property
    def metrics(self) -> dict[str, Any]:
        return self.manifest.get("metrics", {})


@dataclass
class StageOutput:
    artifact: str | None = None  # main file name inside the stage directory
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass
class StageContext:
    loaded: LoadedRecipe
    cfg: StageConfig
    out: Path  # a fresh temporary directory: everything written here becomes the artifact
    inputs: list[Artifact]
    threads: int
    console: Console
    _dataset: Callable[[], Any]
    # artifacts on this stage's input lineage, nearest first (input, its input, ...): given by the pipeline,
    # so a stage never reads the cache directory itself
    ancestors: list[Artifact] = field(default_factory=list)
    # called by a train stage with its model and an input batch before training: the prechecks of later stages
    # that will prune (or otherwise transform) this model, given by the pipeline
    before_training: Callable[[Any, Any], None] | None = None

    @property
    def recipe(self):
        return self.loaded.recipe

    @property
    def input(self) -> Artifact | None:
        return self.inputs[-1] if self.inputs else None

    def ancestor(self, stage_id: str) -> Artifact | None:
        """The artifact of ``stage_id`` if it is on this stage's input lineage, else None."""
        return next((a for a in self.ancestors if a.stage_id == stage_id), None)

    def dataset(self):
        return self._dataset()

    def error(self, key: str | None, message: str):
        """A RecipeError that points at this stage's key in the recipe file (exit 2)."""
        return self.loaded.stage_error(self.cfg.id, key, message)
