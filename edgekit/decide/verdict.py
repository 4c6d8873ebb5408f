"""The verdict: the artifact the run ships against every other lineage and every prompted baseline.

Computed once, from the report's rows, when report.json is built (``report["verdict"]``); the shrink console,
report.md, report.html and `edgekit check` all read that one result, so they always name the same winner.
Each other lineage (a stage with its own ``model:``, e.g. a small CNN trained directly) is represented by the
artifact the same shipping rule would pick within it; each baseline by itself. Differences within noise
(edgekit.decide.noise: the task's metric from its interval or the test-set size, latency from the harness's
rounds) are ties, not wins.
Torch-free.

    v = verdict(report["artifacts"], report["baselines"], report["final"])
    print(v.sentence)   # "ship int8-pruned (2.90 MB, p50 0.600 ms, 90.10 %): 1.1 pt more accurate than ..."
    for r in v.rows: ...  # {"contender", "kind", "accuracy", "size", "p50", "comparison", "outcome"}
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from edgekit.decide.dominance import judge, sign
from edgekit.decide.limits import on_samples_of
from edgekit.decide.reference import reference_of
from edgekit.decide.noise import metric_margin_pt
from edgekit.decide.rows import ACCURACY, latency, metric_name, shown
from edgekit.units import fmt_acc, fmt_ms, fmt_size
from edgekit.decide.ship import ShipRule, decide


@dataclass(frozen=True)
class Verdict:
    artifact: str  # id of the shipped artifact
    baseline: str | None  # id of the most accurate prompted baseline, if any
    sentence: str
    rows: list[dict[str, str]] = field(default_factory=list)  # the shipped artifact, then each contender
    contenders: list[dict[str, Any]] = field(
        default_factory=list
    )  # numbers behind each row (ratios: shipped / contender)
    accuracy_diff_pt: float | None = None  # vs the best baseline (None without one)
    size_ratio: float | None = None  # shipped / best baseline; < 1 means smaller
    latency_ratio: float | None = None  # shipped / best baseline p50; < 1 means faster
    pays: bool = False  # vs the best baseline: at least as accurate (within noise), no larger and no slower

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _best_baseline(rows: list[dict]) -> dict:
    # most accurate; on a tie the smaller file, then the faster one
    return max(
        rows, key=lambda r: (r["accuracy"], -(r.get("size_bytes") or float("inf")), -(latency(r) or float("inf")))
    )


def _ratio(a, b) -> float | None:
    return a / b if a is not None and b else None


def _times(r: float) -> str:
    """0.05 -> '20x', 0.5 -> '2.0x', 3 -> '3.0x': the factor of a ratio either side of 1."""
    f = 1 / r if r < 1 else r
    return f"{f:,.0f}x" if f >= 10 else f"{f:.1f}x"


def _cost(v) -> str:
    return "–" if v is None else f"${v:.4g} per 1k"


def _pct(a: dict) -> str:
    """The primary metric in a sentence: "90.10 %", or "mAP@0.5:0.95 41.20 %" (rows.shown)."""
    return shown(a)


def lineage_picks(artifacts: list[dict], shipped: dict, rule: ShipRule | None = None) -> list[dict]:
    """For each lineage other than the shipped artifact's, the artifact the run's own shipping rule (its objective
    and accuracy budget; ``rule`` None = the default) would ship within it, against that lineage's own reference
    (edgekit.decide.reference), else its most accurate one."""
    rule = (
        ShipRule()
        if rule is None or rule.stage
        else ShipRule(objective=rule.objective, max_accuracy_drop_pt=rule.max_accuracy_drop_pt)
    )
    groups: dict[str, list[dict]] = {}
    for a in artifacts:  # a row without lineage_root (an older report) counts as the shipped one's lineage
        other_samples = a.get("test_set") and shipped.get("test_set") and a["test_set"] != shipped["test_set"]
        if (
            a.get("accuracy") is not None
            and a.get("lineage_root") not in (None, shipped.get("lineage_root"))
            and not other_samples
        ):
            groups.setdefault(a["lineage_root"], []).append(a)
    picks = []
    for arts in groups.values():
        d = decide(arts, rule, reference_of(arts))
        picks.append(
            next((a for a in arts if d and a["id"] == d.artifact), None) or max(arts, key=lambda a: a["accuracy"])
        )
    return picks


def compare(s: dict, c: dict) -> dict[str, Any]:
    """The shipped row s against contender c: differences, ratios, ties (edgekit.decide.dominance), and who wins."""
    size_r = _ratio(s.get("size_bytes"), c.get("size_bytes"))
    lat_r = _ratio(latency(s), latency(c))
    acc_tie = judge(s, c, "accuracy")[0]
    size_same = size_r is not None and judge(s, c, "size")[0]
    lat_tie = lat_r is not None and judge(s, c, "p50")[0]
    axes = [sign(s, c, "accuracy")]
    if size_r is not None:
        axes.append(sign(s, c, "size"))
    if lat_r is not None:
        axes.append(sign(s, c, "p50"))
    outcome = (
        "tie"
        if not any(axes)
        else "shipped wins"
        if min(axes) >= 0
        else "contender wins"
        if max(axes) <= 0
        else "trade-off"
    )
    return {
        "id": c["id"],
        "accuracy_diff_pt": round((s["accuracy"] - c["accuracy"]) * 100, 2),
        "accuracy_tie": acc_tie,
        # the task's metric's own interval where rows carry one (detection), else binomial (edgekit.decide.noise)
        "accuracy_noise_pt": metric_margin_pt(s, c),
        "size_ratio": size_r,
        "size_tie": size_same,
        "latency_ratio": lat_r,
        "latency_tie": lat_tie,
        "outcome": outcome,
        **({} if metric_name(s) == ACCURACY else {"metric": metric_name(s)}),
    }


def _clause(cmp: dict) -> str:
    d, noise, name = cmp["accuracy_diff_pt"], cmp["accuracy_noise_pt"], cmp.get("metric", ACCURACY)
    if cmp["accuracy_tie"]:
        same = "as accurate" if name == ACCURACY else f"the same {name}"
        parts = [f"{same} within noise" + (f" (±{noise:.1f} pt)" if noise else "")]
    elif name == ACCURACY:
        parts = [f"{abs(d):.1f} pt {'more' if d > 0 else 'less'} accurate"]
    else:
        parts = [f"{abs(d):.1f} pt {'higher' if d > 0 else 'lower'} {name}"]
    if cmp["size_ratio"] is not None:
        r = cmp["size_ratio"]
        parts.append("the same size" if cmp.get("size_tie") else f"{_times(r)} {'smaller' if r < 1 else 'larger'}")
    if cmp["latency_ratio"] is not None:
        r = cmp["latency_ratio"]
        parts.append("as fast within noise" if cmp["latency_tie"] else f"{_times(r)} {'faster' if r < 1 else 'slower'}")
    return ", ".join(parts)


def verdict(
    artifacts: list[dict],
    baselines: list[dict],
    final: str | None,
    passed_over: dict[str, str] | None = None,
    rule: ShipRule | None = None,
) -> Verdict | None:
    """The shipped artifact against the other lineages and the baselines; None without an accuracy for it or
    without anything to compare it with. ``passed_over``: why the shipping rule did not ship each other artifact
    (edgekit.decide.ship), said where a contender beats the shipped one, so the two never read as a contradiction."""
    s = next((r for r in artifacts if r["id"] == final and r.get("accuracy") is not None), None)
    scored = [b for b in baselines if b.get("accuracy") is not None]
    if s is None:
        return None
    contenders = [
        (c, f"the {c.get('lineage_model') or c.get('lineage_root')} lineage ({c['id']})", "other lineage")
        for c in lineage_picks(artifacts, s, rule)
    ]
    best = _best_baseline(scored) if scored else None
    contenders += [
        (b, f"{b['id']} (prompted{' ' + b['provider'] if b.get('provider') else ''})", "prompted baseline")
        for b in scored
    ]
    if not contenders:
        return None
    cmps, clauses = [], []
    rows = [
        {
            "contender": s["id"],
            "kind": "shipped" + (f" ({s['lineage_model']})" if s.get("lineage_model") else ""),
            "accuracy": fmt_acc(s["accuracy"]),
            "size": fmt_size(s.get("size_bytes")),
            "p50": fmt_ms(latency(s)),
            "comparison": "",
            "outcome": "",
            "cost": _cost(s.get("cost_per_1k")),
        }
    ]
    for c, label, kind in contenders:
        # a baseline scored on a seeded subset is compared with the shipped artifact's accuracy on that subset
        sc, same = on_samples_of(s, c) if kind == "prompted baseline" else (s, False)
        cmp = compare(sc, c)
        cmps.append({**cmp, "kind": kind, "label": label})
        on = f" on the same {c['test_samples']} test samples ({_pct(sc)} there)" if same and sc is not s else ""
        est = " (from estimated tokens)" if c.get("cost_estimated") else ""
        saves = (
            (
                f"; shipped, the {fmt_size(s.get('size_bytes'))} model replaces "
                f"${c['cost_per_1k']:.4g} per 1000 queries"
                f" to it{est}"
            )
            if c.get("cost_per_1k")
            else ""
        )
        clauses.append(
            f"{_clause(cmp)} than {label}{on}: {fmt_size(c.get('size_bytes'))}, {fmt_ms(latency(c))}, {_pct(c)}{saves}"
        )
        rows.append(
            {
                "contender": c["id"],
                "kind": kind if kind != "other lineage" else f"lineage ({c.get('lineage_model') or '?'})",
                "accuracy": fmt_acc(c["accuracy"]),
                "size": fmt_size(c.get("size_bytes")),
                "p50": fmt_ms(latency(c)),
                "comparison": f"shipped is {_clause(cmp)}",
                "outcome": cmp["outcome"],
                "cost": _cost(c.get("cost_per_1k")),
            }
        )
    samples = s.get("test_samples")
    sentence = (
        f"ship {s['id']} ({fmt_size(s.get('size_bytes'))}, p50 {fmt_ms(latency(s))}, {_pct(s)}): "
        + "; ".join(clauses)
        + f" (on {samples or '?'} test samples; differences within noise are ties). "
    )
    wins = [c["id"] for c in cmps if c["outcome"] == "shipped wins"]
    loses = [c["id"] for c in cmps if c["outcome"] == "contender wins"]
    trade = [c["id"] for c in cmps if c["outcome"] in ("trade-off", "tie")]
    # a lineage's pick can beat the shipped artifact within the noise yet miss the rule's budget (it is judged
    # against the reference's accuracy, not against the shipped one): say so, or the sentence contradicts the ship
    excluded = [f"{i} was not shipped: {(passed_over or {})[i]}" for i in loses if i in (passed_over or {})]
    sentence += " ".join(
        filter(
            None,
            [
                f"It beats {', '.join(wins)}." if wins else "",
                f"{', '.join(loses)} beat{'s' if len(loses) == 1 else ''} it"
                + (f" ({'; '.join(excluded)})." if excluded else ".")
                if loses
                else "",
                f"A trade-off or tie with {', '.join(trade)}." if trade else "",
            ],
        )
    )
    diff = size_r = lat_r = None
    pays = False
    if best is not None:
        cb = next(c for c in cmps if c["id"] == best["id"] and c["kind"] == "prompted baseline")
        diff, size_r, lat_r = cb["accuracy_diff_pt"], cb["size_ratio"], cb["latency_ratio"]
        pays = (diff >= 0 or cb["accuracy_tie"]) and (size_r is None or size_r <= 1) and (lat_r is None or lat_r <= 1)
        sentence += (
            " Training pays off against prompting here." if pays else " The prompted model wins on at least one axis."
        )
    return Verdict(s["id"], best["id"] if best else None, sentence.strip(), rows, cmps, diff, size_r, lat_r, pays)


def of_report(report: dict[str, Any]) -> dict[str, Any] | None:
    """The verdict stored in a report; a report written before it was stored gets it computed the same way."""
    if "verdict" in report:
        return report["verdict"]
    v = verdict(
        report.get("artifacts") or [],
        report.get("baselines") or [],
        report.get("final"),
        (report.get("ship") or {}).get("lost"),
    )
    return v.to_dict() if v else None
