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
from edgekit.units import fmt_acc

# every check by name; budgets' ``fail_on`` turns the named ones from warnings into gate failures
CHECKS = ("chance", "pruned-slower", "int8-slower", "int8-collapse", "unchanged", "counts-unknown", "latency-missed")
QUANT_KINDS = ("quantize", "inc-quantize")
COLLAPSE_PT = 5.0  # INT8 accuracy more than this many points below its float parent: collapsed


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
    if acc is None or chance is None or not near_chance(acc, chance):
        return []
    return [
        Finding(
            "chance",
            row["id"],
            f"accuracy {fmt_acc(acc)} is at chance level ({fmt_acc(chance)}: always answering "
            f"the most common class); the model has not learned the task",
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
            f"(p50 {mine:.3f} vs {theirs:.3f} ms{macs}); where latency matters, ship {parent['id']} "
            f"(ship: {{objective: latency}}){hint}",
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
    acc, ref, chance = row.get("accuracy"), parent.get("accuracy"), row.get("chance_accuracy")
    if acc is None or ref is None:
        return []
    at_chance = chance is not None and near_chance(acc, chance) and not near_chance(ref, chance)
    if (ref - acc) * 100 <= COLLAPSE_PT and not at_chance:
        return []
    return [
        Finding(
            "int8-collapse",
            row["id"],
            f"INT8 accuracy collapsed: {fmt_acc(acc)} vs {fmt_acc(ref)} for its float "
            f"parent {parent['id']} ({(ref - acc) * 100:.1f} pt lost)",
        )
    ]


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
