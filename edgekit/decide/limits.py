"""The one reading of budget limits: which limits apply to a row, and by how much the row is inside or over each.

The gate (`edgekit check`), the shipping rule and the search's Optuna constraints all call ``assess``, so one
budgets file gives one answer everywhere. A margin is signed, in the limit's own unit: > 0 means over the limit
(broken), <= 0 within it, the same sign convention as Optuna's constraints. A limit that does not apply to this row
maps to the reason why (a string), never to a pass:

- latency limits apply only to numbers measured where the budgets say: with ``device:`` only to that device's rows
  (edgekit.report.devices.on_device marks them ``measured_on``), with ``latency_machine:`` only to rows measured on
  a machine whose fingerprint id starts with it, and never to a measurement marked invalid (throttled);
- ``max_accuracy_drop_pt`` needs a reference row scored on the same test samples;
- ``must_beat`` needs the baseline, run and scored on the same samples (a seeded subset: ``accuracy_on``).

    assess(budgets, row, reference=ref, machine=row["machine"])   # {"max_size_mb": -0.4, "max_latency_ms": "..."}
    violations(budgets, row, ref, row["machine"])                 # {"max_size_mb": -0.4}: applied limits only
"""

from __future__ import annotations

from typing import Any

from edgekit.units import percent, points

# at must_beat a tie does not beat: a margin of exactly 0 (equal accuracy) must still read as broken
TIE_DOES_NOT_BEAT = 1e-9


def latency_skip(budgets: Any, row: dict[str, Any], machine: str | None) -> str | None:
    """Why a latency limit does not apply to ``row`` measured on ``machine``, or None when it applies."""
    device = getattr(budgets, "device", None)
    if device is not None and row.get("measured_on") != device:
        return f"the limit is for device '{device}', this row was measured on the host"
    wanted = getattr(budgets, "latency_machine", None)
    if wanted is not None and not (machine or "").startswith(wanted):
        return f"the limit was set on machine {wanted}, this row was measured on {machine or 'an unrecorded machine'}"
    if row.get("measurement_valid") is False:
        return (
            "the measurement was marked invalid ("
            + ("; ".join(row.get("invalid_reasons") or []) or "no reason recorded")
            + ")"
        )
    return None


def samples_differ(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    """Why two rows' accuracies are not comparable (other test samples), or None."""
    for k in ("test_samples", "test_set"):
        if a.get(k) is not None and b.get(k) is not None and a[k] != b[k]:
            return f"measured under different conditions: {k.replace('_', ' ')} {b[k]} vs {a[k]}"
    return None


def on_samples_of(a: dict, b: dict) -> tuple[dict, bool]:
    """The artifact row as scored on the baseline's test samples (a seeded subset for a slow or paid baseline:
    the evaluate stage's ``accuracy_on``), and whether the two are on the same samples."""
    if not b.get("test_set") or a.get("test_set") == b["test_set"]:
        return a, bool(b.get("test_set"))
    sub = (a.get("accuracy_on") or {}).get(b["test_set"])
    if not sub:
        return a, False
    whole = {k: v for k, v in a.items() if k not in ("accuracy_ci95", "metrics")}  # the full set's, not the subset's
    return {**whole, **sub, "test_set": b["test_set"]}, True


def assess(
    limits: Any,
    row: dict[str, Any],
    reference: dict[str, Any] | None = None,
    machine: str | None = None,
    baselines: list[dict[str, Any]] | None = None,
    budgets: Any = None,
) -> dict[str, float | str]:
    """Every limit ``limits`` sets, as a signed margin (> 0: broken) or the reason it does not apply. ``budgets``:
    the budgets block holding ``limits`` (its machine and device rules), default ``limits`` itself."""
    budgets = budgets if budgets is not None else limits
    out: dict[str, float | str] = {}
    size = row.get("size_bytes")
    if limits.max_size_mb is not None:
        out["max_size_mb"] = round(size / 1e6 - limits.max_size_mb, 9) if size is not None else "no file size measured"
    if limits.max_size_bytes is not None:
        out["max_size_bytes"] = float(size - limits.max_size_bytes) if size is not None else "no file size measured"
    if limits.max_latency_ms is not None:
        ms = (row.get("latency_ms") or {}).get(limits.latency_percentile)
        skip = latency_skip(budgets, row, machine)
        out["max_latency_ms"] = skip or (
            round(ms - limits.max_latency_ms, 9)
            if ms is not None
            else f"no {limits.latency_percentile} latency measured"
        )
    acc = row.get("accuracy")
    if limits.min_accuracy_pct is not None:
        out["min_accuracy_pct"] = (
            round(limits.min_accuracy_pct - percent(acc), 9) if acc is not None else "no accuracy measured"
        )
    if limits.max_accuracy_drop_pt is not None:
        out["max_accuracy_drop_pt"] = _drop(row, reference, limits.max_accuracy_drop_pt)
    for name in limits.must_beat:
        out[f"must_beat.{name}"] = _beat(row, next((b for b in baselines or [] if row_id(b) == name), None), name)
    return out


def violations(
    limits: Any,
    row: dict[str, Any],
    reference: dict[str, Any] | None = None,
    machine: str | None = None,
    baselines: list[dict[str, Any]] | None = None,
    budgets: Any = None,
) -> dict[str, float]:
    """The limits that apply to ``row``, each with its signed margin (> 0: broken)."""
    return {
        k: v for k, v in assess(limits, row, reference, machine, baselines, budgets).items() if not isinstance(v, str)
    }


def broken(margins: dict[str, float | str]) -> list[str]:
    return [k for k, v in margins.items() if not isinstance(v, str) and v > 0]


def row_id(row: dict[str, Any]) -> str | None:
    return row.get("id") or row.get("stage")


def _drop(row: dict, ref: dict | None, limit: float) -> float | str:
    if ref is None or ref.get("accuracy") is None:
        return "no fp32 reference with a measured accuracy"
    if row_id(ref) == row_id(row):
        return "the artifact is the reference itself"
    if why := samples_differ(row, ref):
        return why
    if row.get("accuracy") is None:
        return "no accuracy measured"
    return round(points(ref["accuracy"], row["accuracy"]) - limit, 9)


def _beat(row: dict, base: dict | None, name: str) -> float | str:
    if base is None:
        return f"no baseline '{name}'"
    if base.get("not_compared"):
        return base["not_compared"]
    art = on_samples_of(row, base)[0]
    if why := samples_differ(art, base):
        return why
    if art.get("accuracy") is None or base.get("accuracy") is None:
        return "no accuracy measured"
    margin = points(base["accuracy"], art["accuracy"])
    return margin if margin != 0 else TIE_DOES_NOT_BEAT
