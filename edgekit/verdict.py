"""The verdict: does training still pay? The artifact you ship against the best prompted baseline.

Computed once, from the report's rows, when report.json is built (``report["verdict"]``); the shrink console,
report.md, report.html and `edgekit check` all read that one result, so they always name the same winner.
Torch-free.

    v = verdict(report["artifacts"], report["baselines"], report["final"])
    print(v.sentence)   # "quantize (87.0 %) is 17.0 pt more accurate, 61x smaller, ... than zero-shot (embedding, 70.0 %) ..."
    for r in v.rows: ...  # {"metric", "artifact", "baseline", "comparison"}
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from edgekit.units import fmt_ms, fmt_size


@dataclass(frozen=True)
class Verdict:
    artifact: str  # id of the final artifact (the one a run ships and the budgets gate by default)
    baseline: str  # id of the most accurate prompted baseline
    sentence: str
    rows: list[dict[str, str]] = field(default_factory=list)
    accuracy_diff_pt: float = 0.0
    size_ratio: float | None = None  # artifact / baseline; < 1 means smaller
    latency_ratio: float | None = None  # artifact / baseline p50; < 1 means faster
    pays: bool = False  # at least as accurate, no larger and no slower

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _best(rows: list[dict]) -> dict:
    # most accurate; on a tie the smaller file, then the faster one
    return max(rows, key=lambda r: (r["accuracy"], -(r.get("size_bytes") or float("inf")), -(_p50(r) or float("inf"))))


def _p50(row: dict) -> float | None:
    return (row.get("latency_ms") or {}).get("p50")


def _ratio(a, b) -> float | None:
    return a / b if a is not None and b else None


def _times(r: float | None) -> str:
    """0.05 -> '20x smaller' style factor of a ratio below 1; above 1 -> 'N x larger'."""
    if r is None:
        return "n/a"
    return f"{1 / r:,.0f}x" if r < 0.1 else (f"{1 / r:.1f}x" if r <= 1 else f"{r:.1f}x")


def _cost(v) -> str:
    return "n/a" if v is None else f"{v:.4g} per 1k"


def verdict(artifacts: list[dict], baselines: list[dict], final: str | None) -> Verdict | None:
    """The final artifact against the most accurate baseline (report rows); None unless both have an accuracy."""
    a = next((r for r in artifacts if r["id"] == final and r.get("accuracy") is not None), None)
    scored = [b for b in baselines if b.get("accuracy") is not None]
    if a is None or not scored:
        return None
    b = _best(scored)
    diff = (a["accuracy"] - b["accuracy"]) * 100
    size_r = _ratio(a.get("size_bytes"), b.get("size_bytes"))
    lat_r = _ratio(_p50(a), _p50(b))
    name_b = f"{b['id']} ({b.get('provider', 'prompted')}"

    parts = [f"{abs(diff):.1f} pt {'more' if diff >= 0 else 'less'} accurate"]
    if size_r is not None:
        parts.append(f"{_times(size_r)} {'smaller' if size_r <= 1 else 'larger'}")
    if lat_r is not None:
        parts.append(f"{_times(lat_r)} {'faster' if lat_r <= 1 else 'slower'} at batch 1 (p50 {fmt_ms(_p50(a))} vs {fmt_ms(_p50(b))})")
    cost_b = b.get("cost_per_1k")
    if cost_b:
        parts.append(f"and saves {cost_b:.4g} per 1000 queries")
    pays = diff >= 0 and (size_r is None or size_r <= 1) and (lat_r is None or lat_r <= 1)
    sentence = (f"{a['id']} ({a['accuracy'] * 100:.1f} %) is " + ", ".join(parts) + f" than {name_b}, {b['accuracy'] * 100:.1f} %) "
                f"on {a.get('test_samples') or '?'} vs {b.get('test_samples') or '?'} test samples: "
                + ("training pays off here." if pays else "the prompted model wins on at least one axis."))
    table = [
        {"metric": "accuracy", "artifact": f"{a['accuracy'] * 100:.2f} %", "baseline": f"{b['accuracy'] * 100:.2f} %", "comparison": f"{diff:+.1f} pt"},
        {"metric": "size", "artifact": fmt_size(a.get("size_bytes")), "baseline": fmt_size(b.get("size_bytes")),
         "comparison": "n/a" if size_r is None else f"{size_r:.4f}x"},
        {"metric": "p50 latency (batch 1)", "artifact": fmt_ms(_p50(a)), "baseline": fmt_ms(_p50(b)),
         "comparison": "n/a" if lat_r is None else f"{lat_r:.4f}x"},
        {"metric": "cost", "artifact": _cost(a.get("cost_per_1k")), "baseline": _cost(cost_b), "comparison": ""},
    ]
    return Verdict(a["id"], b["id"], sentence, table, round(diff, 2), size_r, lat_r, pays)


def of_report(report: dict[str, Any]) -> dict[str, Any] | None:
    """The verdict stored in a report; a report written before it was stored gets it computed the same way."""
    if "verdict" in report:
        return report["verdict"]
    v = verdict(report.get("artifacts") or [], report.get("baselines") or [], report.get("final"))
    return v.to_dict() if v else None
