"""What a recipe is: its typed, strict models and the loaded form (the recipe plus where each key stood in its
file). Parsing, which needs the stage kinds, is edgekit.recipe.read; this module imports no stage, so the pipeline's
context and the wiring can name LoadedRecipe without a cycle."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from edgekit.recipe.budgets import Budgets
from edgekit.errors import RecipeError
from edgekit.recipe.model_config import ModelConfig
from edgekit.search.config import SearchConfig
from edgekit.decide.ship import ShipRule
from edgekit.recipe.strict import ID_PATTERN, StageConfig, Strict
from edgekit.recipe.yamlerrors import Loc, format_error


class DataConfig(Strict):
    source: str = Field(description="fashion-mnist | imagefolder:DIR | python:module:function")
    path: str | None = Field(None, description="directory holding the dataset files (overrides $EDGEKIT_DATA)")
    val_fraction: float = Field(0.1, gt=0, lt=1, description="share of the training split held out for validation")
    limit_train: int | None = Field(None, gt=0, description="use at most this many training samples (quick runs)")
    limit_test: int | None = Field(None, gt=0, description="use at most this many test samples")
    image_size: int | None = Field(None, gt=0, le=4096, description="resize images to this square size (imagefolder)")

    @field_validator("source")
    @classmethod
    def _known_source(cls, v: str) -> str:
        from edgekit.data import check_source

        check_source(v)
        return v


class Recipe(Strict):
    edgekit: Literal[1] = Field(description="recipe format version")
    name: str = Field(pattern=ID_PATTERN, description="name of the recipe; the default run directory is runs/<name>")
    seed: int = Field(
        0, ge=0, le=2**32 - 1, description="seed for data splits, subsets, initialisation and training order"
    )
    threads: int | None = Field(None, ge=1, le=256, description="torch/onnxruntime threads (default: all cores)")
    data: DataConfig = Field(description="the dataset: source, split and subset sizes")
    model: ModelConfig | None = Field(
        None, description="the model a train stage starts from (omit for prompted-only recipes)"
    )
    stages: list[StageConfig] = Field(
        min_length=1, description="stages in order; each reads the artifact of the nearest earlier stage it can use"
    )
    budgets: Budgets | None = Field(
        None, description="limits `edgekit check` enforces (and `edgekit shrink` at the end of a run)"
    )
    ship: ShipRule | None = Field(
        None,
        description="which artifact the run ships (default: the smallest file within 0.5 pt of the fp32 reference)",
    )
    search: SearchConfig | None = Field(
        None, description="what `edgekit search` may change in the stages and what it optimises (ignored by shrink)"
    )


@dataclass
class LoadedRecipe:
    """A validated recipe plus where each key stood in its file, for later errors."""

    recipe: Recipe
    file: Path
    text: str
    lines: dict[Loc, int] = field(default_factory=dict)

    def error(self, loc: Loc, message: str) -> RecipeError:
        return RecipeError(format_error(self.file, self.lines, loc, message))

    def stage_loc(self, stage_id: str, *rest: str | int) -> Loc:
        idx = next(i for i, s in enumerate(self.recipe.stages) if s.id == stage_id)
        return ("stages", idx, *rest)

    def stage_error(self, stage_id: str, key: str | None, message: str) -> RecipeError:
        """A RecipeError at a stage's key (the stage itself when ``key`` is None): file, line, key, exit 2."""
        return self.error(self.stage_loc(stage_id, *([key] if key else [])), message)
