"""The fp32 reference of a run: the one row accuracy drops, size ratios and the shipping rule are measured against.

One resolver, read by the report, the search, the verdict (per lineage) and the gate:

    1. the stage the ship rule names (``ship: {reference: STAGE}``), else the one the budgets name;
    2. else the first row produced by a float source stage (``export``, or ``import`` of a user's ONNX file);
    3. else the first row in recipe order.

A named reference is returned even when no row carries it: the shipping rule then says that it has no measured
accuracy, instead of silently comparing against another row.

    reference_of(rows)                                  # "export"
    reference_of(rows, rule=ShipRule(reference="big"))  # "big"
"""

from __future__ import annotations

from typing import Any

FLOAT_SOURCES = ("export", "import")  # stage kinds whose ONNX file is the float model the others are shrunk from


def row_id(row: dict[str, Any]) -> str | None:
    """A row's artifact id: report rows carry ``id``, run.json's evaluate rows only ``stage``."""
    return row.get("id") or row.get("stage")


def named(rule: Any = None, budgets: Any = None) -> str | None:
    """The reference a recipe names: the ship rule's, else the budgets'; None when neither names one."""
    return getattr(rule, "reference", None) or getattr(budgets, "reference", None)


def reference_of(
    rows: list[dict[str, Any]], rule: Any = None, budgets: Any = None, kinds: dict[str, str] | None = None
) -> str | None:
    """The reference's artifact id among ``rows`` (in recipe order). ``kinds``: stage id -> kind, for rows that do
    not carry their ``kind`` (run.json's rows)."""
    chosen = named(rule, budgets)
    if chosen:
        return chosen
    kinds = kinds or {}
    arts = [r for r in rows if r.get("role", "artifact") == "artifact"]
    source = next((r for r in arts if (r.get("kind") or kinds.get(row_id(r) or "")) in FLOAT_SOURCES), None)
    first = source or (arts[0] if arts else None)
    return row_id(first) if first else None
