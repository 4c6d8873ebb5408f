"""Budgets: the limits `edgekit check` enforces, given in a recipe's ``budgets:`` key or a separate YAML file.

    budgets:
      artifact: final            # which artifact the limits apply to: a stage id, or "final" (the shipped one, default)
      max_size_mb: 2.0           # file size on disk (MB = 10^6 bytes); or max_size_bytes
      max_latency_ms: 5.0        # batch-1 latency at latency_percentile (p50 default)
      latency_percentile: p95
      min_accuracy_pct: 85       # test accuracy, percent
      max_accuracy_drop_pt: 1.0  # vs the fp32 reference artifact (reference: STAGE, default the first export)
      must_beat: [zero-shot]     # baseline ids the artifact must beat on accuracy
      regression:                # vs a stored baseline report (edgekit check --baseline REPORT)
        size_pct: 2
        latency_pct: 10
        accuracy_pt: 0.5
      artifacts:                 # extra limits for other artifacts, by stage id
        export: {max_size_mb: 10}
      fail_on: [chance, int8-collapse]   # sense checks (edgekit.decide.sense) that fail the gate instead of warning

"final" is the artifact the run ships (edgekit.decide.ship: the recipe's ship: rule, by default the smallest file within
0.5 pt of the fp32 reference); a stage id picks another. Every unit
is in the key's name, so `1.0` is never ambiguous between a fraction and a percentage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field

from edgekit.decide.limits import violations
from edgekit.errors import InputError
from edgekit.decide.rows import Percentile
from edgekit.decide.sense import CHECKS
from edgekit.recipe.strict import Strict
from edgekit.recipe.yamlerrors import map_lines, validate
from edgekit.recipe.yamlsafe import compose_and_load, read_text

FINAL = "final"
# The regression limits `edgekit check --baseline` applies when the budgets give none (size +2 %, latency +10 %,
# accuracy −0.5 pt): what a reviewer would call "no real change".
DEFAULT_REGRESSION = {"size_pct": 2.0, "latency_pct": 10.0, "accuracy_pt": 0.5}
TARGET = r"^[a-z][a-z0-9_-]{0,39}$"


class Regression(Strict):
    size_pct: float | None = Field(None, ge=0, description="file size may grow at most this many percent")
    latency_pct: float | None = Field(
        None, ge=0, description="latency may grow at most this many percent (same machine only)"
    )
    accuracy_pt: float | None = Field(None, ge=0, description="accuracy may fall at most this many percentage points")


class Limits(Strict):
    max_size_mb: float | None = Field(None, gt=0, description="largest allowed file size in MB (10^6 bytes)")
    max_size_bytes: int | None = Field(None, gt=0, description="largest allowed file size in bytes")
    max_latency_ms: float | None = Field(
        None, gt=0, description="largest allowed batch-1 latency at latency_percentile"
    )
    latency_percentile: Percentile = Field("p50", description="which latency percentile max_latency_ms limits")
    min_accuracy_pct: float | None = Field(None, ge=0, le=100, description="lowest allowed test accuracy in percent")
    max_accuracy_drop_pt: float | None = Field(
        None,
        ge=0,
        le=100,
        # points of the task's primary metric (accuracy, a detector's mAP@0.5:0.95): max_metric_drop_pt says so
        validation_alias=AliasChoices("max_accuracy_drop_pt", "max_metric_drop_pt"),
        description="largest allowed drop of the task's metric (accuracy, mAP) vs the fp32 reference, in points "
        "(also spelt max_metric_drop_pt)",
    )
    must_beat: list[str] = Field(
        default_factory=list, description="baseline ids whose accuracy the artifact must exceed"
    )


class Budgets(Limits):
    artifact: str = Field(FINAL, pattern=TARGET, description="stage id of the artifact the limits apply to, or 'final'")
    reference: str | None = Field(
        None, pattern=TARGET, description="stage id of the fp32 reference (default: the first export)"
    )
    latency_machine: str | None = Field(
        None,
        min_length=8,
        description="machine fingerprint id (or prefix) the latency limit was set on; other machines skip it",
    )
    device: str | None = Field(
        None,
        min_length=1,
        description="check accuracy and latency on this device's numbers "
        "(a result of `edgekit bench --on NAME` in RUN_DIR/devices/)",
    )
    regression: Regression | None = Field(
        None, description="limits vs a stored baseline report (edgekit check --baseline)"
    )
    artifacts: dict[str, Limits] = Field(
        default_factory=dict, description="more limits for other artifacts, keyed by stage id"
    )
    fail_on: list[Literal[CHECKS]] = Field(  # type: ignore[valid-type]
        default_factory=list, description=f"sense checks that fail the gate instead of warning: {', '.join(CHECKS)}"
    )

    def sets_a_limit(self) -> bool:
        limits = ("max_size_mb", "max_size_bytes", "max_latency_ms", "min_accuracy_pct", "max_accuracy_drop_pt")
        return (
            any(getattr(lim, k) is not None for _, lim in self.targets() for k in limits)
            or any(lim.must_beat for _, lim in self.targets())
            or self.regression is not None
            or bool(self.fail_on)
        )

    def violations(
        self, row: dict, reference: dict | None = None, machine: str | None = None, baselines: list[dict] | None = None
    ) -> dict[str, float]:
        """The main limits that apply to ``row`` (measured on ``machine``), each as a signed margin in the
        limit's unit, > 0 when broken: the one reading the gate, the shipping rule and the search all use
        (edgekit.decide.limits)."""
        return violations(self, row, reference, machine, baselines)

    def targets(self) -> list[tuple[str, Limits]]:
        """(artifact selector, limits) pairs, the main target first."""
        return [(self.artifact, self), *self.artifacts.items()]


def load_budgets(path: str | Path) -> Budgets:
    """A budgets YAML file: the mapping itself, or a recipe (its ``budgets:`` key). Errors name file, line and key."""
    path = Path(path)
    node, data = compose_and_load(read_text(path, "budgets"), path)
    if not isinstance(data, dict):
        raise InputError(f"{path}: budgets are a YAML mapping (max_size_mb: ..., min_accuracy_pct: ...)")
    lines: dict = {}
    map_lines(node, (), lines, path)
    prefix: tuple = ()
    if "budgets" in data:  # a recipe, or a file that wraps its budgets in a key
        data, prefix = data["budgets"], ("budgets",)
    elif "edgekit" in data and "stages" in data:
        raise InputError(f"{path}: a recipe without a budgets: section; add one, or pass a budgets file")
    return validate(Budgets, data, path, lines, prefix)
