"""The recipe's ``search:`` block: which stage settings `edgekit search` may change, what it optimises, and for
how long. A leaf beside edgekit.recipe.strict (the recipe model reads it); the space is checked against the stages'
own models by edgekit.search.space, so errors name the file, line and key like every recipe error.

    search:
      space:
        prune.ratio: [0.3, 0.8]            # two numbers for a numeric key: a range (int or float, as the key is)
        prune.importance: [l1, l2, taylor] # any other list: the choices
        int8.per_channel: [true, false]
        recover.distill.weight: [0, 1]
        recover.lr: {low: 5.0e-4, high: 5.0e-3, log: true}
        recover.epochs: {choices: [1, 2]}  # a numeric key's choices, written as a mapping
      objectives: [accuracy, size, p50]   # maximise accuracy (a detector: mAP), minimise file size and batch-1 p50
      trials: 20                           # trial budget (the recipe's own settings are trial 0)
      timeout_min: 45                      # and/or a wall-clock budget
      screening: {evaluate.min_seconds: 1} # cheaper trials (not searched, not in the pasted settings)
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from edgekit.recipe.strict import Strict

OBJECTIVES = ("accuracy", "mAP", "size", "p50")  # what a trial's artifact row is scored on
DIRECTIONS = {"accuracy": "maximize", "mAP": "maximize", "size": "minimize", "p50": "minimize"}
# the row axis (edgekit.decide.dominance) each objective reads: a row's ``accuracy`` holds the task's primary metric
AXIS = {"accuracy": "accuracy", "mAP": "accuracy", "size": "size", "p50": "p50"}
QUALITY = {"classification": "accuracy", "detection": "mAP"}  # the quality objective's name, by task (task_of)


class Range(Strict):
    """A numeric range, or a list of choices for any key (``choices:``)."""

    low: float | None = Field(None, description="lowest value (numeric keys)")
    high: float | None = Field(None, description="highest value (numeric keys)")
    log: bool = Field(False, description="sample on a log scale (learning rates)")
    step: float | None = Field(None, gt=0, description="sample on this grid")
    choices: list[Any] | None = Field(None, min_length=1, description="the values to choose from")


class SearchConfig(Strict):
    space: dict[str, list[Any] | Range] = Field(
        min_length=1,
        description="'stage.key' (nested: 'recover.distill.weight') -> "
        "[low, high] | [choice, ...] | {low, high, log, step} | {choices: [...]}",
    )
    objectives: list[Literal[OBJECTIVES]] | None = Field(  # type: ignore[valid-type]
        None,
        min_length=1,
        description="the task's metric, accuracy or mAP (maximised), size and p50 (minimised), of each trial's "
        "artifact; default: all three (edgekit.search.space.objectives)",
    )
    trials: int = Field(20, ge=1, le=100_000, description="trial budget, the recipe's own settings being the first")
    timeout_min: float | None = Field(None, gt=0, description="stop starting trials after this many minutes")
    sampler: Literal["tpe", "nsga2"] = Field(
        "tpe", description="Optuna sampler: multi-objective TPE (few trials) or NSGA-II (many)"
    )
    screening: dict[str, Any] = Field(
        default_factory=dict,
        description="'stage.key': value settings every trial runs with to be cheap (e.g. evaluate.min_seconds: 1); "
        "a frontier trial's pasted settings then run in full with `edgekit shrink`",
    )
    population: int | None = Field(
        None, ge=2, le=1000, description="NSGA-II population size (default: a quarter of the trials, 4..50)"
    )
