"""The verdict: does training still pay? The best shrunk artifact against the best prompted baseline.

Torch-free; reads only metric rows (the evaluate stage's ONNX rows and the prompted stages' rows with
``role: baseline``), so ``report`` and ``check`` can use it on a device without torch.

    v = verdict(run_rows)
    print(v.sentence)   # "export is 17.4 pt more accurate than zero-shot (embedding), 18x smaller, ..."
    for r in v.rows: ...  # {"metric", "artifact", "baseline", "comparison"}
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Verdict:
    artifact: dict[str, Any]
    baseline: dict[str, Any]
    sentence: str
    rows: list[dict[str, str]] = field(default_factory=list)
    accuracy_diff_pt: float = 0.0
    size_ratio: float | None = None  # artifact / baseline; < 1 means smaller
    latency_ratio: float | None = None  # artifact / baseline p50; < 1 means faster


def split_rows(rows: Iterable[dict[str, Any]]) -> tuple[list[dict], list[dict]]:
    """(artifact rows, baseline rows) from every metrics row of a run."""
    rows = list(rows)
    return [r for r in rows if r.get("role") != "baseline"], [r for r in rows if r.get("role") == "baseline"]


def run_rows(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Every metrics row of a run record (run.json)."""
    return [row for st in record.get("stages", []) for row in st.get("metrics", {}).get("artifacts", [])]


def _best(rows: list[dict]) -> dict:
    # most accurate; on a tie the smaller file, then the faster one
    return max(rows, key=lambda r: (r["accuracy"], -(r.get("size_bytes") or float("inf")), -(r.get("latency_p50_ms") or float("inf"))))


def _ratio(a, b) -> float | None:
    return a / b if a is not None and b else None


def _times(r: float | None) -> str:
    """0.05 -> '20x smaller' style factor of a ratio below 1; above 1 -> 'N x larger'."""
    if r is None:
        return "n/a"
    return f"{1 / r:,.0f}x" if r < 0.1 else (f"{1 / r:.1f}x" if r <= 1 else f"{r:.1f}x")


def _mb(b) -> str:
    return "n/a" if b is None else f"{b / 1e6:.2f} MB"


def _ms(v) -> str:
    return "n/a" if v is None else f"{v:.3f} ms"


def _cost(v) -> str:
    return "n/a" if v is None else f"{v:.4g} per 1k"


def verdict(rows: Iterable[dict[str, Any]]) -> Verdict | None:
    """Compare the most accurate artifact with the most accurate baseline; None unless both exist."""
    arts, bases = split_rows(rows)
    if not arts or not bases:
        return None
    a, b = _best(arts), _best(bases)
    diff = (a["accuracy"] - b["accuracy"]) * 100
    size_r = _ratio(a.get("size_bytes"), b.get("size_bytes"))
    lat_r = _ratio(a.get("latency_p50_ms"), b.get("latency_p50_ms"))
    name_b = f"{b['stage']} ({b.get('provider', 'prompted')})"

    parts = [f"{abs(diff):.1f} pt {'more' if diff >= 0 else 'less'} accurate"]
    if size_r is not None:
        parts.append(f"{_times(size_r)} {'smaller' if size_r <= 1 else 'larger'}")
    if lat_r is not None:
        parts.append(f"{_times(lat_r)} {'faster' if lat_r <= 1 else 'slower'} at batch 1 (p50 {_ms(a.get('latency_p50_ms'))} vs {_ms(b.get('latency_p50_ms'))})")
    cost_b = b.get("cost_per_1k")
    if cost_b:
        parts.append(f"and saves {cost_b:.4g} per 1000 queries")
    pays = diff >= 0 and (size_r is None or size_r <= 1) and (lat_r is None or lat_r <= 1)
    sentence = (f"{a['stage']} ({a['accuracy'] * 100:.1f} %) is " + ", ".join(parts) + f" than {name_b[:-1]}, {b['accuracy'] * 100:.1f} %) "
                f"on {a.get('test_samples', '?')} vs {b.get('test_samples', '?')} test samples: "
                + ("training pays off here." if pays else "the prompted model wins on at least one axis."))
    table = [
        {"metric": "accuracy", "artifact": f"{a['accuracy'] * 100:.2f} %", "baseline": f"{b['accuracy'] * 100:.2f} %", "comparison": f"{diff:+.1f} pt"},
        {"metric": "size", "artifact": _mb(a.get("size_bytes")), "baseline": _mb(b.get("size_bytes")),
         "comparison": "n/a" if size_r is None else f"{size_r:.4f}x"},
        {"metric": "p50 latency (batch 1)", "artifact": _ms(a.get("latency_p50_ms")), "baseline": _ms(b.get("latency_p50_ms")),
         "comparison": "n/a" if lat_r is None else f"{lat_r:.4f}x"},
        {"metric": "cost", "artifact": _cost(a.get("cost_per_1k")), "baseline": _cost(cost_b), "comparison": ""},
    ]
    return Verdict(a, b, sentence, table, round(diff, 2), size_r, lat_r)
