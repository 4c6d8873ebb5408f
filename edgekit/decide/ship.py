"""The shipping rule: which measured artifact a run ships, and why every other one lost. Torch-free.

A recipe's ``ship:`` block says what "best" means; without one the default applies: the smallest file whose test
accuracy is within 0.5 pt of the fp32 reference, files within noise of each other's size (1 %) broken by p50
latency, then accuracy. Never "the last ONNX stage in the file".

    ship: {objective: size, max_accuracy_drop_pt: 0.5}        # the default
    ship: {objective: latency, max_accuracy_drop_pt: 1.0, reference: export}
    ship: {stage: int8-pruned}                                # this one, whatever it measures

Computed once, from the report's rows, when report.json is built (``report["ship"]``, and ``report["final"]`` is
its artifact): console, report, budgets and `edgekit check` read that one decision. Its inputs are decided once,
in edgekit.decide: the reference (decide.reference), the budget limits (decide.limits) and "better within noise"
(decide.dominance). An artifact at chance level never ships.

    d = decide(report["artifacts"], ShipRule(), reference="export")
    d.artifact, d.reason, d.lost   # "int8-pruned", "smallest file within 0.5 pt of export", {"export": "larger: ..."}
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pydantic import AliasChoices, Field, ValidationError, model_validator

from edgekit.recipe.budgets import FINAL, Budgets
from edgekit.decide.dominance import sign
from edgekit.decide.reference import reference_of
from edgekit.errors import InputError
from edgekit.decide.rows import ACCURACY, latency, metric_of
from edgekit.decide.sense import slower_float_parent
from edgekit.decide.ship_why import at_chance, over_limits, pct, samples, summary, why_lost
from edgekit.units import fmt_ms, points
from edgekit.recipe.strict import ID_PATTERN, Strict


class ShipRule(Strict):
    stage: str | None = Field(
        None, pattern=ID_PATTERN, description="ship this stage's ONNX artifact; the rule below is then not used"
    )
    objective: Literal["size", "latency"] = Field(
        "size",
        description="among artifacts within the accuracy budget, ship the smallest file (size) "
        "or the lowest p50 (latency)",
    )
    max_accuracy_drop_pt: float = Field(
        0.5,
        ge=0,
        le=100,
        validation_alias=AliasChoices("max_accuracy_drop_pt", "max_metric_drop_pt"),  # points of the task's metric
        description="an artifact ships only within this many points of the reference's test accuracy (or mAP: the "
        "task's metric; also spelt max_metric_drop_pt)",
    )
    reference: str | None = Field(
        None,
        pattern=ID_PATTERN,
        description="stage id of the fp32 reference (default: budgets.reference, else the first export)",
    )

    @model_validator(mode="after")
    def _stage_alone(self):
        if self.stage is not None and self.model_fields_set - {"stage"}:
            raise ValueError(
                "stage: ships that stage whatever it measures; drop objective/max_accuracy_drop_pt/reference, or stage"
            )
        return self


# why a decision came out as it did (Decision.code) and why each other artifact lost (Decision.lost_codes): what
# readers act on, so none of them parses the sentences
CODES = ("ships", "named", "no-reference", "named-unmeasured", "nothing-qualifies")
LOST_CODES = (
    "not-measured",
    "at-chance",
    "not-comparable",
    "too-inaccurate",
    "int8-slower",
    "over-budget",
    "dominated",
    "larger",
    "slower",
    "tied",
    "not-chosen",
)


@dataclass(frozen=True)
class Decision:
    artifact: str | None  # the shipped artifact's id; None when nothing qualifies
    reason: str  # why it ships, or why nothing does
    rule: str  # the rule in words
    reference: str | None
    lost: dict[str, str] = field(default_factory=dict)  # every other artifact id -> why it lost
    closest: str | None = None  # when the budgets' limits let nothing ship: what the rule picks without them
    code: str = "ships"  # one of CODES
    lost_codes: dict[str, str] = field(default_factory=dict)  # every other artifact id -> one of LOST_CODES

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ship_lines(report: dict) -> list[str]:
    """Which artifact ships and why each other one lost, as a report's decision says (console lines)."""
    ship = report.get("ship")
    if not ship:
        return []
    head = f"ships: {ship['artifact']} ({ship['reason']})" if ship["artifact"] else ship["reason"]
    return [head, *(f"  {ident}: {why}" for ident, why in ship["lost"].items())]


def describe(rule: ShipRule, reference: str | None, metric: str = ACCURACY) -> str:
    """The rule in words; ``metric``: the task's primary metric the budget is in points of (rows.metric_of)."""
    if rule.stage:
        return f"the recipe names {rule.stage} (ship: {{stage: {rule.stage}}})"
    what = "smallest file" if rule.objective == "size" else "lowest p50 latency"
    return f"{what} within {rule.max_accuracy_drop_pt:g} pt of {reference or 'the reference'}'s {metric}"


def decide(
    artifacts: list[dict],
    rule: ShipRule,
    reference: str | None,
    limits: Budgets | None = None,
    baselines: list[dict] | None = None,
) -> Decision | None:
    """The artifact to ship among the report's rows; None when no row has an accuracy (nothing to decide on).
    ``limits`` are the budgets that apply to the shipped artifact: an artifact over one of them cannot ship
    (edgekit.decide.limits, the gate's own reading; ``baselines`` for must_beat). An artifact at chance never ships."""
    measured = [a for a in artifacts if a.get("accuracy") is not None]
    if not measured:
        return None
    if rule.stage:
        return _named(artifacts, rule.stage, describe(rule, reference))
    ref = next((a for a in measured if a["id"] == reference), None)
    text = describe(rule, reference, metric_of(measured))
    if ref is None:
        return Decision(
            None,
            f"nothing ships: the fp32 reference '{reference}' has no measured accuracy to hold the others to",
            text,
            reference,
            {},
            code="no-reference",
        )
    lost: dict[str, str] = {}
    codes: dict[str, str] = {}
    ok: list[dict] = []
    for a in artifacts:
        why = _disqualified(a, ref, rule, limits, baselines) or _int8_slower(a, artifacts)
        if why:
            codes[a["id"]], lost[a["id"]] = why
        else:
            ok.append(a)
    if not ok:
        closest = decide(artifacts, rule, reference, None, baselines) if limits is not None else None
        what = "within budget" if limits is not None else "fit to ship"
        return Decision(
            None,
            f"nothing ships: no artifact is {what} (" + "; ".join(f"{k}: {v}" for k, v in lost.items()) + ")",
            text,
            reference,
            lost,
            closest.artifact if closest else None,
            "nothing-qualifies",
            codes,
        )
    best = ok[0]
    for a in ok[1:]:
        if _better(a, best, rule.objective):
            best = a
    for a in ok:
        if a is not best:
            codes[a["id"]], lost[a["id"]] = why_lost(a, best, ok, rule.objective)
    order = [a["id"] for a in artifacts if a["id"] in lost]
    return Decision(
        best["id"],
        f"{text}: {summary(best)}",
        text,
        reference,
        {i: lost[i] for i in order},
        lost_codes={i: codes[i] for i in order},
    )


def decide_for_run(
    artifacts: list[dict], rule: dict | None, budgets: Budgets | None, baselines: list[dict] | None = None
) -> Decision | None:
    """The decision report.json stores: the run's own rule and budgets (as run.json recorded them; no rule = the
    default) against the one reference edgekit.decide.reference resolves, with the budgets' main limits when they
    target the shipped artifact ("final")."""
    parsed = parse_rule(rule)
    limits = budgets if budgets is not None and budgets.artifact == FINAL else None
    return decide(artifacts, parsed, reference_of(artifacts, parsed, budgets), limits, baselines)


def parse_rule(rule: dict | None) -> ShipRule:
    """The ship rule run.json recorded (None: the default rule)."""
    try:
        return ShipRule.model_validate(rule or {})
    except ValidationError as e:
        raise InputError(f"run.json: the recorded ship rule is invalid ({e.errors()[0]['msg']})") from None


def _named(artifacts: list[dict], stage: str, text: str) -> Decision:
    hit = next((a for a in artifacts if a["id"] == stage), None)
    others = [a["id"] for a in artifacts if a["id"] != stage]
    if hit is None or hit.get("accuracy") is None:
        return Decision(
            None,
            f"nothing ships: ship.stage '{stage}' was not measured (no evaluate stage after it?)",
            text,
            None,
            {a["id"]: f"not chosen: the recipe ships {stage}" for a in artifacts},
            code="named-unmeasured",
            lost_codes={a["id"]: "not-chosen" for a in artifacts},
        )
    lost = {i: f"not chosen: the recipe ships {stage}" for i in others}
    if chance := at_chance(hit):
        return Decision(
            None,
            f"nothing ships: {stage} is {chance}",
            text,
            None,
            lost,
            code="nothing-qualifies",
            lost_codes={**{i: "not-chosen" for i in others}, stage: "at-chance"},
        )
    return Decision(
        stage, f"{text}: {summary(hit)}", text, None, lost, code="named", lost_codes={i: "not-chosen" for i in others}
    )


def _disqualified(
    a: dict, ref: dict, rule: ShipRule, limits: Budgets | None, baselines: list[dict] | None
) -> tuple[str, str] | None:
    """(code, why) an artifact may not ship, or None."""
    if a.get("accuracy") is None:
        return "not-measured", "not measured: no test accuracy"
    if chance := at_chance(a):
        return "at-chance", chance
    if a.get("test_set") and ref.get("test_set") and a["test_set"] != ref["test_set"]:
        return "not-comparable", f"not comparable: measured on other test samples than {ref['id']}"
    drop = points(ref["accuracy"], a["accuracy"])
    if drop > rule.max_accuracy_drop_pt:
        return "too-inaccurate", (
            f"too inaccurate: {pct(a)} is {drop:.2f} pt{samples(drop, ref)} below {ref['id']} "
            f"({pct(ref)}), over the {rule.max_accuracy_drop_pt:g} pt budget"
        )
    over = over_limits(a, ref, limits, baselines)
    return ("over-budget", over) if over else None


def _int8_slower(a: dict, artifacts: list[dict]) -> tuple[str, str] | None:
    """INT8 is for speed and size together: one measured slower than its float parent never ships, whatever the
    objective (the parent, or a pruned file, is the honest choice; sense flags it too)."""
    parent = slower_float_parent(a, artifacts)
    if parent is None:
        return None
    return "int8-slower", (
        f"INT8 slower than its float parent {parent['id']}: p50 {fmt_ms(latency(a))} vs {fmt_ms(latency(parent))}"
    )


def _better(a: dict, b: dict, objective: str) -> bool:
    """Whether a beats b: the objective first, then the other axis, then accuracy; a tie within noise on one axis
    passes to the next, and a tie on all of them keeps b (the earlier stage)."""
    axes = ("size", "p50") if objective == "size" else ("p50", "size")
    for axis in (*axes, "accuracy"):
        won = sign(a, b, axis)
        if won:
            return won > 0
    return False
