"""Sense checks: results that were measured correctly but make no sense, said out loud.

A run can finish, pass parity and every tolerance, and still ship nonsense: a model at chance level, a pruned
model slower than the one it came from, an INT8 model slower than its float parent or with its accuracy gone,
a stage that changed nothing, a MAC count that silently stayed empty. Users of every compression tool report
exactly these (Torch-Pruning#149, onnxruntime#17389, pytorch/ao#4292). This module is the one place that
decides them; the train stage, the console, report.md/html and the gate (``edgekit check``) all read it.

    >>> [f.line() for f in findings(report)]                      # doctest: +SKIP
    ['chance (int8): accuracy 10.23 % is at chance level (10.00 %: always answering the most common class)']

Torch-free: it reads a report dict (edgekit.report/1) and nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from edgekit.decide.noise import clearly_slower, slower
from edgekit.decide.rows import ACCURACY, metric_name
from edgekit.units import fmt_acc

# every check by name; budgets' ``fail_on`` turns the named ones from warnings into gate failures
CHECKS = (
    "chance",
    "pruned-slower",
    "int8-slower",
    "int8-collapse",
    "unchanged",
    "counts-unknown",
    "latency-missed",
    "no-detections",
)
QUANT_KINDS = ("quantize", "inc-quantize")
COLLAPSE_PT = 5.0  # INT8 accuracy more than this many points below its float parent: collapsed
# Another metric (mAP) at chance 0 sits near 0 by nature: at chance is "0 within its 95 % interval", or, for a row
# without one, within half a point of chance (mAP 0.3 pt is boxes found by accident, not a detector).
METRIC_CHANCE_PT = 0.5
# Another metric (mAP) keeping under half its float parent's value collapsed too: mAP 12 -> 5 loses "only" 7 pt.
COLLAPSE_KEPT = 0.5


@dataclass(frozen=True)
class Finding:
    check: str  # one of CHECKS
    artifact: str  # artifact, baseline or stage id
    message: str

    def line(self) -> str:
        return f"{self.check} ({self.artifact}): {self.message}"

    def to_json(self) -> dict[str, str]:
        return asdict(self)


def chance_level(labels: Sequence[int]) -> float | None:
    """Accuracy of always answering the most common class: 1 / classes on balanced data."""
    counts: dict[int, int] = {}
    for y in labels:
        counts[int(y)] = counts.get(int(y), 0) + 1
    return max(counts.values()) / len(labels) if counts else None


def near_chance(accuracy: float, chance: float) -> bool:
    """At or near chance: within a twentieth of the way from chance to perfect (10 classes: up to 14.5 %),
    and never less than 2 points. A model that learned anything real is far above that."""
    return accuracy <= chance + max(0.02, 0.05 * (1 - chance))


def row_near_chance(row: dict[str, Any]) -> bool:
    """Whether a measured row's primary metric is at chance: near_chance for accuracy; for another metric (mAP,
    chance 0) its 95 % interval (``accuracy_ci95``) reaches chance, or it is within METRIC_CHANCE_PT of it."""
    acc, chance = row.get("accuracy"), row.get("chance_accuracy")
    if acc is None or chance is None:
        return False
    if metric_name(row) == ACCURACY:
        return near_chance(acc, chance)
    ci = row.get("accuracy_ci95")
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and isinstance(ci[0], (int, float)):
        return ci[0] <= chance
    return acc <= chance + METRIC_CHANCE_PT / 100


def stage_unchanged(kind: str, metrics: dict[str, Any], same_file: bool) -> str | None:
    """Why a stage's output equals its input, or None. ``same_file``: its artifact has its input's bytes."""
    if (
        kind == "prune"
        and metrics.get("params_before") is not None
        and (metrics.get("params_before"), metrics.get("macs_before"))
        == (metrics.get("params_after"), metrics.get("macs_after"))
    ):
        return "pruning removed nothing: params and MACs are the same as before (every layer ignored or frozen?)"
    if same_file:
        return "its artifact is byte for byte its input's" + (
            " (the float model was kept)" if kind in QUANT_KINDS else ""
        )
    return None


def findings(report: dict[str, Any]) -> list[Finding]:
    """Every sense check on a report, in report order."""
    arts = report.get("artifacts") or []
    kinds = {s["id"]: s["kind"] for s in report.get("stages") or []}
    out: list[Finding] = []
    for row in arts + (report.get("baselines") or []):
        out += _chance(row)
    for row in arts:
        out += _counts(row)
        out += _no_detections(row)
        if row.get("kind") in QUANT_KINDS:
            parent = _float_parent(row, arts)
            if parent is not None:
                out += _slower("int8-slower", row, parent, "INT8 model", "float parent")
                out += _collapse(row, parent)
        else:
            parent = _unpruned_parent(row, arts, kinds)
            if parent is not None:
                out += _slower("pruned-slower", row, parent, "pruned model", "unpruned parent")
    for st in report.get("stages") or []:
        out += _prune_speed(st)
        if st.get("unchanged"):
            out.append(
                Finding("unchanged", st["id"], f"stage '{st['id']}' ({st['kind']}) changed nothing: {st['unchanged']}")
            )
    return out


def _chance(row: dict) -> list[Finding]:
    acc, chance = row.get("accuracy"), row.get("chance_accuracy")
    if not row_near_chance(row):
        return []
    if (name := metric_name(row)) != ACCURACY:
        ci = row.get("accuracy_ci95")
        within = f", 95 % interval {fmt_acc(ci[0])}–{fmt_acc(ci[1])}" if ci else ""
        return [
            Finding(
                "chance",
                row["id"],
                f"{name} {fmt_acc(acc)} is at chance level ({fmt_acc(chance)}{within}: no better than predicting "
                f"nothing); the model has not learned the task",
            )
        ]
    return [
        Finding(
            "chance",
            row["id"],
            f"accuracy {fmt_acc(acc)} is at chance level ({fmt_acc(chance)}: always answering "
            f"the most common class); the model has not learned the task",
        )
    ]


def _no_detections(row: dict) -> list[Finding]:
    """A detector whose NMS keeps no box on the test images (``mean_detections`` 0): a score threshold too high, an
    INT8 head whose scores collapsed, or boxes decoded out of the image."""
    n = row.get("mean_detections")
    if not isinstance(n, (int, float)) or n > 0:
        return []
    return [
        Finding(
            "no-detections",
            row["id"],
            f"NMS produced nothing: 0 boxes per test image, so {metric_name(row)} is 0 whatever the model learned "
            "(score threshold too high, or the head's scores collapsed: quantize it with the head kept float)",
        )
    ]


def _counts(row: dict) -> list[Finding]:
    missing = [k for k in ("params", "macs") if row.get(k) is None]
    if not missing:
        return []
    why = row.get("counts_unknown") or "no count was recorded for this artifact"
    return [
        Finding(
            "counts-unknown",
            row["id"],
            f"{' and '.join(m if m == 'params' else 'MACs' for m in missing)} unknown: {why}",
        )
    ]


def _p50(row: dict) -> float | None:
    return (row.get("latency_ms") or {}).get("p50")


def _slower(check: str, row: dict, parent: dict, what: str, of: str) -> list[Finding]:
    mine, theirs = _p50(row), _p50(parent)
    if not mine or not theirs or not slower(row, parent):  # the shipping rule's own "slower": one verdict
        return []
    macs = ""
    if row.get("macs") and parent.get("macs"):
        macs = f" with {row['macs'] / parent['macs']:.2f}× its MACs"
    hint = (
        " or prune with round_to: 8 (odd channel counts can miss the runtime's fast kernels)"
        if check == "pruned-slower"
        else ""
    )
    return [
        Finding(
            check,
            row["id"],
            f"the {what} is {mine / theirs:.2f}× slower than its {of} {parent['id']} "
            f"(p50 {mine:.3f} vs {theirs:.3f} ms{macs}); "
            + (
                "the shipping rule does not ship it"
                if check == "int8-slower"
                else f"where latency matters, ship {parent['id']} (ship: {{objective: latency}}){hint}"
            ),
        )
    ]


def _prune_speed(stage: dict) -> list[Finding]:
    """The prune stage's own measurement (pruned vs parent, alternating rounds), read even when no evaluate stage
    measured the pair: clearly slower (every round, over 5 %), or a ``target: latency`` that no candidate reached."""
    speed = stage.get("speed") or {}
    if stage.get("kind") != "prune":
        return []
    out = []
    ratio, low = speed.get("ratio"), speed.get("min")
    if clearly_slower(ratio, low):
        out.append(
            Finding(
                "pruned-slower",
                stage["id"],
                f"the pruned model measured {ratio:.2f}× its parent's p50 when the "
                f"prune stage timed them (per-round ratios {low:.2f}–{speed.get('max', ratio):.2f}, "
                f"round_to {speed.get('chosen', 'as set')}); prune less, or ship the parent",
            )
        )
    if speed.get("target_met") is False:
        out.append(
            Finding(
                "latency-missed",
                stage["id"],
                f"target: latency asked for x{speed['latency_target']:.2f} the parent's "
                f"p50; the fastest candidate measured x{speed['ratio']:.2f} ("
                f"{1 - speed['macs_ratio']:.0%} of the MACs removed, round_to "
                f"{speed['chosen']}); ask for less",
            )
        )
    return out


def _collapse(row: dict, parent: dict) -> list[Finding]:
    acc, ref = row.get("accuracy"), parent.get("accuracy")
    if acc is None or ref is None:
        return []
    chance = row.get("chance_accuracy") if parent.get("chance_accuracy") is None else parent["chance_accuracy"]
    parent_at_chance = row_near_chance({**parent, "chance_accuracy": chance})  # the INT8 row's chance if unrecorded
    at_chance = row_near_chance(row) and not parent_at_chance
    name = metric_name(row)
    halved = name != ACCURACY and not parent_at_chance and acc < COLLAPSE_KEPT * ref
    if (ref - acc) * 100 <= COLLAPSE_PT and not at_chance and not halved:
        return []
    return [
        Finding(
            "int8-collapse",
            row["id"],
            f"INT8 {name} collapsed: {fmt_acc(acc)} vs {fmt_acc(ref)} for its float "
            f"parent {parent['id']} ({(ref - acc) * 100:.1f} pt lost)",
        )
    ]


def slower_float_parent(row: dict, arts: list[dict]) -> dict | None:
    """An INT8 artifact's float parent when the INT8 measured slower than it (noise.slower): the sense check
    ``int8-slower`` and the shipping rule's refusal read this one verdict. None otherwise, or for a float row."""
    if row.get("kind") not in QUANT_KINDS:
        return None
    parent = _float_parent(row, arts)
    return parent if parent is not None and _p50(row) and _p50(parent) and slower(row, parent) else None


def _float_parent(row: dict, arts: list[dict]) -> dict | None:
    """The float ONNX artifact an INT8 one was made from: an ancestor (quantize), or the export of the same torch
    model (inc-quantize quantizes the torch model itself)."""
    lineage = row.get("lineage") or []
    floats = [a for a in arts if a["id"] != row["id"] and a.get("kind") not in QUANT_KINDS]
    for a in floats:
        if a["id"] in lineage:
            return a
    return next((a for a in floats if lineage and (a.get("lineage") or [None])[0] == lineage[0]), None)


def _unpruned_parent(row: dict, arts: list[dict], kinds: dict[str, str]) -> dict | None:
    """For a float artifact with a prune stage upstream: the float artifact of the model that prune started from
    (or of one further up the same lineage)."""
    lineage = row.get("lineage") or []
    prunes = [i for i, s in enumerate(lineage) if kinds.get(s) == "prune"]
    if not prunes:
        return None
    before = lineage[prunes[0] + 1 :]  # torch models upstream of the nearest prune, nearest first
    for stage in before:
        hit = next(
            (
                a
                for a in arts
                if a["id"] != row["id"]
                and a.get("kind") not in QUANT_KINDS
                and (a.get("lineage") or [None])[0] == stage
            ),
            None,
        )
        if hit is not None:
            return hit
    return None
