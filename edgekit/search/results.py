"""What a search found, read back from the study's storage: every trial with its artifact row, the frontier
over the study's objectives among the trials within budget, and each frontier trial's settings as recipe lines.
Torch-free; Optuna only in ``record``, which turns a FrozenTrial into the plain dict everything else reads."""

from __future__ import annotations

from typing import Any

from edgekit.decide.dominance import dominates
from edgekit.decide.rows import ACCURACY, latency, metric_name
from edgekit.decide.ship import ShipRule, decide
from edgekit.search.config import AXIS

SCHEMA = "edgekit.search/1"


def metrics(row: dict[str, Any]) -> dict[str, float | None]:
    """A row's objectives in display units, by row axis: accuracy (the task's primary metric: accuracy, mAP) %,
    size MB, p50 ms."""
    return {"accuracy": row["accuracy"] * 100, "size": row["size_bytes"] / 1e6, "p50": latency(row)}


def beats_within_noise(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Row ``a`` dominates ``b`` on accuracy, size and p50 within noise, as the shipping rule judges
    (edgekit.decide.dominance). Trials' latencies come from different evaluate runs, so a latency difference counts
    only beyond both runs' confidence intervals."""
    return dominates(a, b)


def frontier(trials: list[dict[str, Any]], objectives: list[str]) -> list[int]:
    """Numbers of the completed trials within budget that no other such trial dominates, smallest first."""
    ok = [t for t in trials if t["state"] == "COMPLETE" and t["feasible"] and t.get("row")]
    axes = [AXIS[o] for o in objectives]
    # within noise, as the shipping rule and the chart judge: a trial better only inside noise does not push another off
    front = [t for t in ok if not any(dominates(o["row"], t["row"], axes) for o in ok if o is not t)]
    return [
        t["number"] for t in sorted(front, key=lambda t: (t["row"]["size_bytes"], -t["row"]["accuracy"], t["number"]))
    ]


def record(trial) -> dict[str, Any]:
    """One Optuna FrozenTrial as a plain dict (what JSON output, the table and the chart read)."""
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    ua = trial.user_attrs
    cons = ua.get("constraints") or {}
    state = trial.state.name
    error = ua.get("error")
    if state == "FAIL" and not error:
        error = "the worker running it stopped sending heartbeats (died)"
    return {
        "number": trial.number,
        "state": state,
        "hand": bool(ua.get("hand")),
        "retry_of": RetryHeartbeatStaleTrialCallback.retried_trial_number(trial),
        "settings": ua.get("settings") or dict(trial.params),
        "run_dir": ua.get("run_dir"),
        "row": ua.get("row"),
        "reference": ua.get("reference"),
        "constraints": cons,
        "feasible": all(c <= 0 for c in cons.values()),
        "error": error if state != "COMPLETE" else None,
        "seconds": trial.duration.total_seconds() if trial.duration is not None else None,
    }


def summary(
    trials: list[dict[str, Any]],
    objectives: list[str],
    study: str,
    storage: str,
    confirmed: dict[str, Any] | None = None,
) -> dict[str, Any]:
    front = frontier(trials, objectives)
    hand = next((t for t in trials if t["hand"] and t["state"] == "COMPLETE"), None)
    retried = {t["retry_of"] for t in trials if t["retry_of"] is not None}
    for t in trials:
        t["retried_as"] = (
            next((o["number"] for o in trials if o["retry_of"] == t["number"]), None)
            if t["number"] in retried
            else None
        )
    return {
        "schema": SCHEMA,
        "study": study,
        "storage": storage,
        "objectives": objectives,
        "trials": trials,
        "frontier": front,
        "hand": hand["number"] if hand else None,
        "dominating_hand": [
            n
            for n in front
            if hand is not None and n != hand["number"] and beats_within_noise(_by(trials, n)["row"], hand["row"])
        ],
        "confirmed": confirmed or {},
    }


def shipped(result: dict[str, Any], rule) -> dict[str, Any] | None:
    """The shipping rule applied to the whole frontier (every frontier trial's artifact, against the hand trial's
    fp32 reference): which trial's artifact the search ships, and why."""
    rule = ShipRule() if rule.stage else rule  # a rule naming a stage already chose each trial's artifact
    hand = next((t for t in result["trials"] if t["number"] == result["hand"]), None)
    ref = hand["reference"] if hand else None
    if ref is None or not result["frontier"]:
        return None
    # the reference last: the rule keeps the first of exact ties, and a trial whose artifact is the reference file
    # itself (a recipe with nothing after its export) must ship as that trial, not as "no trial"
    arts = [{**_by(result["trials"], n)["row"], "id": f"trial-{n}"} for n in result["frontier"]] + [
        {**ref, "id": "reference"}
    ]
    d = decide(arts, rule, "reference")
    if d is None or d.artifact is None or d.artifact == "reference":
        return {"trial": None, "reason": d.reason if d else "nothing measured"}
    return {"trial": int(d.artifact.removeprefix("trial-")), "reason": d.reason}


def _by(trials: list[dict[str, Any]], number: int) -> dict[str, Any]:
    return next(t for t in trials if t["number"] == number)


def describe(row: dict[str, Any], reference: dict[str, Any] | None = None) -> str:
    m, name = metrics(row), metric_name(row)  # the "accuracy" objective is the task's primary metric (mAP, ...)
    shown = f"{m['accuracy']:.2f} %" if name == ACCURACY else f"{name} {m['accuracy']:.2f} %"
    text = f"{row['stage']}: {shown}, {m['size']:.2f} MB, p50 {m['p50']:.3f} ms"
    if reference:
        r = metrics(reference)
        text += (
            f" ({r['size'] / m['size']:.1f}x smaller than {reference['stage']}, "
            f"{r['accuracy'] - m['accuracy']:.2f} pt drop)"
        )
    return text
