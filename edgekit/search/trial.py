"""One trial: the recipe with the trial's settings, run by the ordinary pipeline, scored on its artifact row.

Every trial runs in ``SEARCH_DIR/trials/NNNN/`` whose ``stages`` is a link to the search's one stage cache, so
stages whose settings and inputs a trial shares with an earlier one (the trained teacher, a pruned model that
several quantization trials read) are reused, never recomputed: the cache is content-addressed.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from edgekit.decide.reference import reference_of
from edgekit.errors import StageFailed
from edgekit.run.pipeline import Pipeline
from edgekit.recipe.model import LoadedRecipe
from edgekit.report.collect import fingerprint_id
from edgekit.decide.rows import latency
from edgekit.search import space
from edgekit.search.space import Param
from edgekit.decide.ship import ShipRule, decide

RECIPE_FILE = "recipe.yaml"  # each trial's full recipe, beside its run.json


@dataclass
class Outcome:
    row: dict[str, Any]  # the trial's artifact row (edgekit.decide.rows), as the evaluate stage measured it
    reference: dict[str, Any] | None  # the fp32 reference row of the same run (accuracy drop, size ratio)
    run_dir: Path
    shipped_because: str = ""  # the shipping rule's reason
    baselines: list[dict[str, Any]] = field(default_factory=list)  # the run's prompted baseline rows (must_beat)


def rounded(value: Any) -> Any:
    """Floats to 4 significant digits: a setting a person can read and paste; ints, bools, strings unchanged."""
    if isinstance(value, float) and value != 0 and math.isfinite(value):
        return float(f"{value:.4g}")
    return value


def artifact_row(loaded: LoadedRecipe, rows: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, str]:
    """The artifact a trial is scored on, and why: the one the recipe's shipping rule ships (edgekit.decide.ship; the
    default rule without a ship: block), so the search optimises what `edgekit shrink` would hand over.

    The budgets' limits are left to the study's constraints rather than applied here as report.json applies them:
    limits only remove candidates, so on a feasible trial both pick the same artifact, and on an infeasible one the
    sampler learns how far outside the budgets the rule's pick lies instead of seeing a failed trial."""
    arts = [{**r, "id": r["stage"]} for r in rows if r.get("role", "artifact") == "artifact"]
    rule = loaded.recipe.ship or ShipRule()
    decision = decide(arts, rule, reference_of(arts, rule, loaded.recipe.budgets, _kinds(loaded)))
    if decision is None or decision.artifact is None:
        return None, decision.reason if decision else "no evaluated artifact has a test accuracy"
    return next(r for r in rows if r["stage"] == decision.artifact), decision.reason


def reference_row(loaded: LoadedRecipe, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The fp32 reference row, resolved as report.json resolves it (edgekit.decide.reference)."""
    arts = [r for r in rows if r.get("role", "artifact") == "artifact"]
    ref = reference_of(arts, loaded.recipe.ship, loaded.recipe.budgets, _kinds(loaded))
    return next((r for r in arts if r.get("stage") == ref), None)


def _kinds(loaded: LoadedRecipe) -> dict[str, str]:
    return {s.id: s.kind for s in loaded.recipe.stages}


def evaluated_rows(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Every measured row of a run, each with the id of the machine that measured it (as report.json names it)."""
    return [
        {**row, "machine": fingerprint_id(row.get("machine") or st["metrics"].get("machine"))}
        for st in record["stages"]
        for row in st["metrics"].get("artifacts", [])
    ]


def trial_dir(search_dir: Path, number: int, suffix: str = "") -> Path:
    d = search_dir / "trials" / f"{number:04d}{suffix}"
    d.mkdir(parents=True, exist_ok=True)
    link = d / "stages"
    if not link.is_symlink():
        (search_dir / "stages").mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.join("..", "..", "stages"), link)  # relative: the search dir can be moved
    return d


def run_trial(
    loaded: LoadedRecipe,
    params: list[Param],
    values: dict[str, Any],
    screening: dict[str, Any],
    run_dir: Path,
    console: Console,
) -> Outcome:
    """Run the recipe with ``values`` (and the screening settings) in ``run_dir``; raises EdgekitError on failure."""
    trial_recipe = space.with_values(loaded, values, params, screening)
    (run_dir / RECIPE_FILE).write_text(trial_recipe.text)
    record = Pipeline(trial_recipe, run_dir, console=console).run()
    rows = evaluated_rows(record)
    if not rows:
        raise StageFailed("the trial's run evaluated no ONNX artifact (does the recipe end with an evaluate stage?)")
    row, why = artifact_row(trial_recipe, rows)
    if row is None:
        raise StageFailed(f"the shipping rule ships nothing: {why}")
    if latency(row) is None:
        raise StageFailed(f"artifact '{row['stage']}' has no p50 latency; the evaluate stage must measure it")
    bases = [r for r in rows if r.get("role") == "baseline"]
    return Outcome(row, reference_row(trial_recipe, rows), run_dir, why, bases)
