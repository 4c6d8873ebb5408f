"""Differences between two reports, artifact by artifact (matched by id), baselines included.

Latency differences are given only for rows measured on the same machine fingerprint; otherwise they would
compare two computers, not two models."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from edgekit.decide.rows import ACCURACY, metric_of
from edgekit.units import fmt_acc, fmt_ms, fmt_size


def compare_reports(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    rows_a = {(r["role"], r["id"]): r for r in a["artifacts"] + a["baselines"]}
    rows_b = {(r["role"], r["id"]): r for r in b["artifacts"] + b["baselines"]}
    keys = list(rows_a) + [k for k in rows_b if k not in rows_a]
    rows, notes = [], []
    for key in keys:
        ra, rb = rows_a.get(key), rows_b.get(key)
        row: dict[str, Any] = {"role": key[0], "id": key[1], "in": "both" if ra and rb else ("a" if ra else "b")}
        for side, r in (("a", ra), ("b", rb)):
            row[f"size_bytes_{side}"] = r["size_bytes"] if r else None
            row[f"accuracy_{side}"] = r["accuracy"] if r else None
            row[f"latency_p50_ms_{side}"] = r["latency_ms"].get("p50") if r else None
            row[f"machine_{side}"] = r.get("machine") if r else None
        row["size_pct"] = _pct(row["size_bytes_b"], row["size_bytes_a"])
        row["accuracy_pt"] = (
            None
            if row["accuracy_a"] is None or row["accuracy_b"] is None
            else round((row["accuracy_b"] - row["accuracy_a"]) * 100, 3)
        )
        same = row["machine_a"] is not None and row["machine_a"] == row["machine_b"]
        row["same_machine"] = same
        row["latency_pct"] = _pct(row["latency_p50_ms_b"], row["latency_p50_ms_a"]) if same else None
        if row["in"] == "both" and not same and row["latency_p50_ms_a"] is not None:
            notes.append(
                f"{key[1]}: latency not compared, "
                + (
                    "no machine fingerprint recorded"
                    if row["machine_a"] is None or row["machine_b"] is None
                    else f"measured on different machines ({row['machine_a']} vs {row['machine_b']})"
                )
            )
        rows.append(row)
    if a.get("recipe", {}).get("sha256") != b.get("recipe", {}).get("sha256"):
        notes.append("the two runs used different recipes (recipe sha256 differs)")
    out = {"rows": rows, "notes": notes, "frontier_a": a["pareto"]["frontier"], "frontier_b": b["pareto"]["frontier"]}
    metric = metric_of([*rows_a.values(), *rows_b.values()])
    return out if metric == ACCURACY else {**out, "metric": metric}  # accuracy_* keys hold it (edgekit.decide.rows)


def _pct(new: float | None, old: float | None) -> float | None:
    if new is None or old is None or old == 0:
        return None
    return round((new - old) / old * 100, 3)


def _delta(v: float | None, unit: str, lower_is_better: bool) -> str:
    if v is None:
        return "–"
    good = (v < 0) if lower_is_better else (v > 0)
    colour = "green" if good else ("red" if v != 0 else "dim")
    return f"[{colour}]{v:+.2f} {unit}[/]"


def table(diff: dict[str, Any], name_a: str, name_b: str) -> Table:
    t = Table(title=f"{name_a} → {name_b}")
    metric = diff.get("metric", ACCURACY)
    for col in ("artifact", "size", "Δ size", metric, "Δ acc" if metric == ACCURACY else "Δ", "p50", "Δ p50"):
        t.add_column(col, justify="left" if col == "artifact" else "right")
    for r in diff["rows"]:
        label = (
            r["id"]
            + (" (baseline)" if r["role"] == "baseline" else "")
            + {"a": " (removed)", "b": " (new)", "both": ""}[r["in"]]
        )
        t.add_row(
            label,
            f"{fmt_size(r['size_bytes_a'])} → {fmt_size(r['size_bytes_b'])}",
            _delta(r["size_pct"], "%", True),
            f"{fmt_acc(r['accuracy_a'])} → {fmt_acc(r['accuracy_b'])}",
            _delta(r["accuracy_pt"], "pt", False),
            f"{fmt_ms(r['latency_p50_ms_a'])} → {fmt_ms(r['latency_p50_ms_b'])}",
            _delta(r["latency_pct"], "%", True),
        )
    return t
