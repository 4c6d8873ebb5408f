"""The shipping rule: which measured artifact a run ships, and why every other one lost. Torch-free.

A recipe's ``ship:`` block says what "best" means; without one the default applies: the smallest file whose test
accuracy is within 0.5 pt of the fp32 reference, files within noise of each other's size (1 %) broken by p50
latency, then accuracy. Never "the last ONNX stage in the file".

    ship: {objective: size, max_accuracy_drop_pt: 0.5}        # the default
    ship: {objective: latency, max_accuracy_drop_pt: 1.0, reference: export}
    ship: {stage: int8-pruned}                                # this one, whatever it measures

Computed once, from the report's rows, when report.json is built (``report["ship"]``, and ``report["final"]`` is
its artifact): console, report, budgets and `edgekit check` read that one decision.

    d = decide(report["artifacts"], ShipRule(), reference="export")
    d.artifact, d.reason, d.lost   # "int8-pruned", "smallest file within 0.5 pt of export", {"export": "larger: ..."}
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from edgekit.budgets import FINAL, Budgets, Limits
from edgekit.errors import InputError
from edgekit.noise import accuracy_tie, latency_tie, size_tie
from edgekit.rows import latency
from edgekit.units import fmt_acc, fmt_ms, fmt_size, percent, points
from edgekit.strict import ID_PATTERN, Strict


class ShipRule(Strict):
    stage: str | None = Field(None, pattern=ID_PATTERN, description="ship this stage's ONNX artifact; the rule below is then not used")
    objective: Literal["size", "latency"] = Field(
        "size", description="among artifacts within the accuracy budget, ship the smallest file (size) or the lowest p50 (latency)")
    max_accuracy_drop_pt: float = Field(0.5, ge=0, le=100, description="an artifact ships only within this many points of the reference's test accuracy")
    reference: str | None = Field(None, pattern=ID_PATTERN, description="stage id of the fp32 reference (default: budgets.reference, else the first export)")

    @model_validator(mode="after")
    def _stage_alone(self):
        if self.stage is not None and self.model_fields_set - {"stage"}:
            raise ValueError("stage: ships that stage whatever it measures; drop objective/max_accuracy_drop_pt/reference, or stage")
        return self


@dataclass(frozen=True)
class Decision:
    artifact: str | None  # the shipped artifact's id; None when nothing qualifies
    reason: str  # why it ships, or why nothing does
    rule: str  # the rule in words
    reference: str | None
    lost: dict[str, str] = field(default_factory=dict)  # every other artifact id -> why it lost
    closest: str | None = None  # when the budgets' limits let nothing ship: what the rule picks without them

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ship_lines(report: dict) -> list[str]:
    """Which artifact ships and why each other one lost, as a report's decision says (console lines)."""
    ship = report.get("ship")
    if not ship:
        return []
    head = f"ships: {ship['artifact']} ({ship['reason']})" if ship["artifact"] else ship["reason"]
    return [head, *(f"  {ident}: {why}" for ident, why in ship["lost"].items())]


def describe(rule: ShipRule, reference: str | None) -> str:
    if rule.stage:
        return f"the recipe names {rule.stage} (ship: {{stage: {rule.stage}}})"
    what = "smallest file" if rule.objective == "size" else "lowest p50 latency"
    return f"{what} within {rule.max_accuracy_drop_pt:g} pt of {reference or 'the reference'}'s accuracy"


def decide(artifacts: list[dict], rule: ShipRule, reference: str | None, limits: Limits | None = None) -> Decision | None:
    """The artifact to ship among the report's rows; None when no row has an accuracy (nothing to decide on).
    ``limits`` are the budgets that apply to the shipped artifact: an artifact over one of them cannot ship."""
    measured = [a for a in artifacts if a.get("accuracy") is not None]
    if not measured:
        return None
    if rule.stage:
        return _named(artifacts, rule.stage, describe(rule, reference))
    ref = next((a for a in measured if a["id"] == reference), None)
    text = describe(rule, reference)
    if ref is None:
        return Decision(None, f"nothing ships: the fp32 reference '{reference}' has no measured accuracy to hold the others to",
                        text, reference, {})
    lost: dict[str, str] = {}
    ok: list[dict] = []
    for a in artifacts:
        why = _disqualified(a, ref, rule, limits)
        if why:
            lost[a["id"]] = why
        else:
            ok.append(a)
    if not ok:
        closest = decide(artifacts, rule, reference) if limits is not None else None
        return Decision(None, "nothing ships: no artifact is within budget (" + "; ".join(f"{k}: {v}" for k, v in lost.items()) + ")",
                        text, reference, lost, closest.artifact if closest else None)
    best = ok[0]
    for a in ok[1:]:
        if _better(a, best, rule.objective):
            best = a
    for a in ok:
        if a is not best:
            lost[a["id"]] = _why_lost(a, best, ok, rule.objective)
    reason = f"{text}: {_summary(best)}"
    return Decision(best["id"], reason, text, reference, {a["id"]: lost[a["id"]] for a in artifacts if a["id"] in lost})


def decide_for_report(artifacts: list[dict], rule: dict | None, budgets: dict | None, reference: str | None) -> Decision | None:
    """The decision report.json stores: the run's rule (as run.json recorded it; None = the default), the reference
    it names or the budgets' reference or ``reference``, and the budgets' main limits when they target the shipped
    artifact ("final")."""
    try:
        parsed = ShipRule.model_validate(rule or {})
    except ValidationError as e:
        raise InputError(f"run.json: the recorded ship rule is invalid ({e.errors()[0]['msg']})") from None
    limits = None
    try:
        b = Budgets.model_validate(budgets) if budgets else None
    except ValidationError:
        b = None  # `edgekit check` reports bad budgets; the decision then ignores them
    if b is not None:
        reference = b.reference or reference
        limits = b if b.artifact == FINAL else None
    return decide(artifacts, parsed, parsed.reference or reference, limits)


def _named(artifacts: list[dict], stage: str, text: str) -> Decision:
    hit = next((a for a in artifacts if a["id"] == stage), None)
    if hit is None or hit.get("accuracy") is None:
        return Decision(None, f"nothing ships: ship.stage '{stage}' was not measured (no evaluate stage after it?)", text, None,
                        {a["id"]: f"not chosen: the recipe ships {stage}" for a in artifacts})
    return Decision(stage, f"{text}: {_summary(hit)}", text, None,
                    {a["id"]: f"not chosen: the recipe ships {stage}" for a in artifacts if a["id"] != stage})


def _disqualified(a: dict, ref: dict | None, rule: ShipRule, limits: Limits | None) -> str | None:
    if a.get("accuracy") is None:
        return "not measured: no test accuracy"
    if ref is not None:
        if a.get("test_set") and ref.get("test_set") and a["test_set"] != ref["test_set"]:
            return f"not comparable: measured on other test samples than {ref['id']}"
        drop = points(ref["accuracy"], a["accuracy"])
        if drop > rule.max_accuracy_drop_pt:
            return (f"too inaccurate: {_pct(a)} is {drop:.2f} pt{_samples(drop, ref)} below {ref['id']} ({_pct(ref)}), "
                    f"over the {rule.max_accuracy_drop_pt:g} pt budget")
    return _over_limits(a, limits)


def _samples(drop_pt: float, ref: dict) -> str:
    """How many test samples a drop is: on a small test set a budget-breaking drop can be two or three images."""
    n = ref.get("test_samples")
    return f" ({round(drop_pt * n / 100):,} of {n:,} test samples)" if isinstance(n, int) and n > 0 else ""


def _over_limits(a: dict, limits: Limits | None) -> str | None:
    if limits is None:
        return None
    size, max_size = a.get("size_bytes"), limits.max_size_bytes or (limits.max_size_mb and limits.max_size_mb * 1e6)
    if max_size and size is not None and size > max_size:
        return f"over budget: {fmt_size(size)} > max size {fmt_size(max_size)}"
    if limits.min_accuracy_pct is not None and percent(a["accuracy"]) < limits.min_accuracy_pct:
        return f"over budget: {_pct(a)} < min_accuracy_pct {limits.min_accuracy_pct:g} %"
    ms = latency(a, limits.latency_percentile)
    if getattr(limits, "latency_machine", None) or getattr(limits, "device", None):
        ms = None  # a latency limit for another machine is not this run's to apply
    if limits.max_latency_ms is not None and ms is not None and ms > limits.max_latency_ms:
        return f"over budget: {limits.latency_percentile} {ms:.3f} ms > max_latency_ms {limits.max_latency_ms:g}"
    return None


def _p50(a: dict) -> float:
    v = latency(a)
    return v if v is not None else float("inf")


def _size(a: dict) -> float:
    return a["size_bytes"] if a.get("size_bytes") is not None else float("inf")


def _better(a: dict, b: dict, objective: str) -> bool:
    """Whether a beats b: the objective first, then the other axis, then accuracy; a tie within noise on one axis
    passes to the next, and a tie on all of them keeps b (the earlier stage)."""
    def by_size():
        return None if size_tie(a.get("size_bytes"), b.get("size_bytes")) else _size(a) < _size(b)

    def by_latency():
        return None if latency_tie(a, b) else _p50(a) < _p50(b)

    def by_accuracy():
        tie = accuracy_tie(a["accuracy"], b["accuracy"], a.get("test_samples"), b.get("test_samples"))
        return None if tie else a["accuracy"] > b["accuracy"]

    for axis in ((by_size, by_latency) if objective == "size" else (by_latency, by_size)) + (by_accuracy,):
        won = axis()
        if won is not None:
            return won
    return False


def _axes(d: dict, a: dict) -> list[tuple[str, bool, bool, str]]:
    """(axis, tie within noise, d better, "d's value vs a's") for size, p50 and accuracy."""
    acc_tie = accuracy_tie(d["accuracy"], a["accuracy"], d.get("test_samples"), a.get("test_samples"))
    return [("size", size_tie(d.get("size_bytes"), a.get("size_bytes")), _size(d) < _size(a),
             f"{fmt_size(d.get('size_bytes'))} vs {fmt_size(a.get('size_bytes'))}"),
            ("p50", latency_tie(d, a), _p50(d) < _p50(a), f"{fmt_ms(latency(d))} vs {fmt_ms(latency(a))}"),
            ("accuracy", acc_tie, d["accuracy"] > a["accuracy"], f"{_pct(d)} vs {_pct(a)}")]


def _dominates(d: dict, a: dict) -> bool:
    """d is no worse than a on accuracy, size and p50 (within noise) and better beyond noise on at least one."""
    checks = [(tie, better) for _, tie, better, _ in _axes(d, a)]
    return all(tie or better for tie, better in checks) and any(not tie and better for tie, better in checks)


def _why_lost(a: dict, best: dict, ok: list[dict], objective: str) -> str:
    dom = next((d for d in [best, *ok] if d is not a and _dominates(d, a)), None)
    if dom is not None:  # each axis said as it was judged: a p50 that reads higher may be a tie
        better = {"size": "smaller", "p50": "faster", "accuracy": "more accurate"}
        return f"dominated by {dom['id']}: " + ", ".join(
            f"{better[axis] if not tie else axis + ' the same within noise'} ({values})" for axis, tie, _, values in _axes(dom, a))
    if objective == "size" and not size_tie(a.get("size_bytes"), best.get("size_bytes")):
        return f"larger: {fmt_size(a.get('size_bytes'))} vs {fmt_size(best.get('size_bytes'))}"
    if objective == "latency" and not latency_tie(a, best):
        return f"slower: p50 {fmt_ms(latency(a))} vs {fmt_ms(latency(best))}"
    if objective == "size" and not latency_tie(a, best):
        return f"slower: same size within 1 %, p50 {fmt_ms(latency(a))} vs {fmt_ms(latency(best))}"
    if objective == "latency" and not size_tie(a.get("size_bytes"), best.get("size_bytes")):
        return f"larger: p50 the same within noise, {fmt_size(a.get('size_bytes'))} vs {fmt_size(best.get('size_bytes'))}"
    return f"tied with {best['id']} within noise; {best['id']} is {'more accurate' if best['accuracy'] > a['accuracy'] else 'earlier in the recipe'}"


def _summary(a: dict) -> str:
    return f"{fmt_size(a.get('size_bytes'))}, p50 {fmt_ms(latency(a))}, {_pct(a)}"


def _pct(a: dict) -> str:
    return fmt_acc(a["accuracy"])


