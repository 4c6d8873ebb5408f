"""Read a run directory into measured rows: run.json, the stage manifests and the rows the measuring stages left in
their metrics, in edgekit.decide.rows' contract, read by name (no alias guessing); a missing optional measurement is
``None``, never an error. edgekit.report.build turns what this collects into report.json. Torch-free.

    run = collect(Path("runs/quick"))       # doctest: +SKIP
    [a["id"] for a in run.artifacts], run.budgets
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit.recipe.budgets import Budgets
from edgekit.errors import InputError
from edgekit.fsutil import read_json
from edgekit.decide.sense import stage_unchanged
from edgekit.report.fingerprint import fingerprint_id
from edgekit.report.normalize import normalize_row, whole


def recorded_budgets(raw: Any, where: Path | str) -> Budgets | None:
    """Budgets as a run or a report recorded them (the recipe's ``budgets:``), validated by this one policy:
    invalid ones are a one-line InputError naming ``where``. None when there were none."""
    from pydantic import ValidationError

    if not raw:
        return None
    try:
        return Budgets.model_validate(raw)
    except ValidationError as e:
        raise InputError(f"{where}: the recorded budgets are invalid ({e.errors()[0]['msg']})") from None


def read_run(run_dir: Path) -> dict:
    """A run directory's run.json, checked: a one-line InputError names what is missing or malformed."""
    path = run_dir / "run.json"
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: no such run directory")
    try:
        run = read_json(path)
    except FileNotFoundError:
        raise InputError(f"{run_dir}: not a run directory (no run.json; run `edgekit shrink` first)") from None
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: unreadable run record ({e})") from None
    if (
        not isinstance(run, dict)
        or not isinstance(run.get("stages"), list)
        or not all(isinstance(s, dict) and "id" in s and "kind" in s for s in run["stages"])
    ):
        raise InputError(f"{path}: not an edgekit run record (expected a 'stages' list of {{id, kind, metrics}})")
    return run


def in_run(run_dir: Path, recorded: str | None) -> Path | None:
    """A path a run record stores, relative to its run directory (so the directory can move); records written
    before that stored paths relative to the working directory, which is tried when nothing is found in the run."""
    if not recorded:
        return None
    p = Path(recorded)
    if p.is_absolute():
        return p
    inside = Path(run_dir) / p
    return inside if inside.exists() or not p.exists() else p


def _manifest(run_dir: Path, stage: dict) -> dict:
    try:
        return read_json(in_run(run_dir, stage["dir"]) / "manifest.json")
    except (OSError, ValueError, KeyError, TypeError):
        return {}  # a run dir copied without its stages still reports what run.json recorded


def versions(manifests: dict[str, dict]) -> dict[str, str]:
    out: dict[str, str] = {}
    for m in manifests.values():  # later stages ran most recently: their versions win
        out.update(m.get("versions") or {})
    return out


def _pruning(metrics: dict) -> dict:
    """A prune stage's ask and outcome, for the report's Pruning section (older runs lack target and ratio)."""
    return {
        k: metrics.get(k)
        for k in (
            "target",
            "ratio",
            "macs_ratio",
            "params_ratio",
            "round_to",
            "test_accuracy_before",
            "test_accuracy_after_pruning",
        )
    }


def _recipe_order(rows: dict[str, dict], kinds: dict[str, str]) -> list[str]:
    order = list(kinds)
    return sorted(rows, key=lambda i: order.index(i) if i in order else len(order))


def _kept(row: dict, metrics: dict) -> None:
    """A quantize stage may keep the float model (INT8 measured slower): its row says so, and why (the stage
    records the reason itself, kept_reason, and its code, kept_code; no sentence is parsed back here)."""
    kept = metrics.get("kept") if metrics.get("kept") in ("int8", "float") else None
    row["kept"] = kept
    row["kept_reason"] = (
        (metrics.get("kept_reason") or "INT8 was not kept (no reason recorded)") if kept == "float" else None
    )
    row["kept_code"] = (metrics.get("kept_code") or "int8-slower") if kept == "float" else None


def _inherit_counts(row: dict, stages: list[dict], manifests: dict[str, dict]) -> None:
    """Params/MACs the measuring stage did not count: take them from the nearest upstream stage that did
    (export and quantize keep the parameter count of the model they were given; prune and train record theirs)."""
    metrics = {s["id"]: s.get("metrics") or {} for s in stages}
    stage, seen = row["stage"], set()
    while stage and stage not in seen and (row["params"] is None or row["macs"] is None):
        seen.add(stage)
        for key in ("params", "macs"):
            if row[key] is None and whole(metrics.get(stage, {}).get(key)) is not None:
                row[key] = whole(metrics[stage][key])
                row[f"{key}_from"] = stage
        inputs = manifests.get(stage, {}).get("inputs") or []
        stage = inputs[-1].get("stage") if inputs and isinstance(inputs[-1], dict) else None


def _parent(stage: str, manifests: dict[str, dict]) -> str | None:
    inputs = manifests.get(stage, {}).get("inputs") or []
    return inputs[-1].get("stage") if inputs and isinstance(inputs[-1], dict) else None


def _lineage(stage: str, manifests: dict[str, dict]) -> list[str]:
    """The stages upstream of an artifact's producer, nearest first (export <- recover <- prune <- train)."""
    out: list[str] = []
    parent = _parent(stage, manifests)
    while parent and parent not in out and parent != stage:
        out.append(parent)
        parent = _parent(parent, manifests)
    return out


def _model_of(manifest: dict, recipe_model: str | None) -> str | None:
    """The model source a lineage starts from: its first stage's own model: (a second lineage), else the recipe's."""
    own = (manifest.get("config") or {}).get("model")
    return own.get("source") if isinstance(own, dict) and isinstance(own.get("source"), str) else recipe_model


def _same_as_input(stage: str, manifests: dict[str, dict]) -> bool:
    """Whether a stage's main file has the same bytes as its input's (a stage that changed nothing)."""

    def main_hash(m: dict) -> str | None:
        info = (m.get("files") or {}).get(m.get("artifact") or "")
        return info.get("sha256") if isinstance(info, dict) else None

    parent = _parent(stage, manifests)
    mine = main_hash(manifests.get(stage, {}))
    return parent is not None and mine is not None and mine == main_hash(manifests.get(parent, {}))


def decided_on(stages: list[dict], stage_id: str, machines: dict) -> dict | None:
    """Which device's measurements chose this quantize stage's file (``target:``), or None (this machine's)."""
    metrics = next((s.get("metrics") or {} for s in stages if s["id"] == stage_id), {})
    dec = metrics.get("decided_on") if isinstance(metrics.get("decided_on"), dict) else None
    if dec is None:
        return None
    mid = fingerprint_id(dec.get("machine"))
    if mid:
        machines.setdefault(mid, dec["machine"])
    return {"device": dec.get("device"), "machine": mid, "kept": metrics.get("kept")}


@dataclass
class Collected:
    run: dict[str, Any]  # run.json as recorded
    budgets: Budgets | None  # the recipe's budgets, as run.json recorded them
    manifests: dict[str, dict]  # stage id -> its manifest.json ({} when the stage dir is gone)
    artifacts: list[dict] = field(default_factory=list)  # artifact rows in recipe order, with lineage and counts
    baselines: list[dict] = field(default_factory=list)
    machines: dict[str, Any] = field(default_factory=dict)  # fingerprint id -> fingerprint


def collect(run_dir: Path) -> Collected:
    """Every measured row of a run directory, in the report's shape (a later measurement of the same artifact, by
    a second evaluate stage, replaces the earlier one)."""
    run = read_run(run_dir)
    got = Collected(
        run,
        recorded_budgets((run.get("recipe") or {}).get("budgets"), run_dir / "run.json"),
        {s["id"]: _manifest(run_dir, s) for s in run["stages"]},
    )
    kinds = {s["id"]: s["kind"] for s in run["stages"]}
    artifacts: dict[str, dict] = {}
    baselines: dict[str, dict] = {}
    for st in run["stages"]:
        metrics = st.get("metrics") or {}
        for raw in metrics.get("artifacts") or []:
            if not isinstance(raw, dict):
                continue
            if "latency_ms" not in raw and any(str(k).startswith("latency_p") for k in raw):
                raise InputError(
                    f"{run_dir / 'run.json'}: stage '{st['id']}' was measured by an older edgekit (flat latency "
                    f"keys); run `edgekit shrink` again to measure it"
                )
            row = normalize_row(raw, st, kinds, metrics, got.machines)
            (baselines if row["role"] == "baseline" else artifacts)[row["id"]] = row
    got.artifacts = [artifacts[i] for i in _recipe_order(artifacts, kinds)]
    got.baselines = list(baselines.values())
    stage_metrics = {s["id"]: s.get("metrics") or {} for s in run["stages"]}
    for a in got.artifacts:
        _inherit_counts(a, run["stages"], got.manifests)
        _kept(a, stage_metrics.get(a["stage"], {}))
        a["lineage"] = _lineage(a["stage"], got.manifests)
        a["lineage_root"] = a["lineage"][-1] if a["lineage"] else a["stage"]
        a["lineage_model"] = _model_of(got.manifests.get(a["lineage_root"], {}), run.get("recipe", {}).get("model"))
        a["decided_on"] = decided_on(run["stages"], a["stage"], got.machines)
    return got


def stage_rows(run: dict, manifests: dict[str, dict]) -> list[dict]:
    """The report's ``stages`` section: each stage's id, kind, caching, time, key and what sense checks read."""
    return [
        {
            "id": s["id"],
            "kind": s["kind"],
            "cached": s.get("cached"),
            "wall_time_s": s.get("wall_time_s"),
            "key": s.get("key"),
            "dir": s.get("dir"),
            # a qat rung that passed its quantize stage's file on (PTQ met the tolerance) is unchanged by design
            "unchanged": None
            if (s.get("metrics") or {}).get("skipped")
            else stage_unchanged(s["kind"], s.get("metrics") or {}, _same_as_input(s["id"], manifests)),
            # a prune stage's own measured speed-up (edgekit.torchkit.prune_speed), read by edgekit.decide.sense
            **({"speed": sp} if isinstance(sp := (s.get("metrics") or {}).get("speed"), dict) else {}),
            **({"pruning": _pruning(s["metrics"])} if s["kind"] == "prune" and s.get("metrics") else {}),
        }
        for s in run["stages"]
    ]
