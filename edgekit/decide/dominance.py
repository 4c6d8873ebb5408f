"""When one measured row beats another: per axis within noise (edgekit.decide.noise), and dominance over several axes.

The one implementation the shipping rule (its ordering and its "dominated by" reasons), the verdict, the search
frontier and the Pareto chart all use, so the chart never draws on its frontier a point the ship section calls
dominated. Axes: ``size`` (file bytes, smaller is better), ``p50`` (batch-1 latency, lower is better) and
``accuracy`` (the task's primary metric, edgekit.decide.rows; higher is better). A difference inside noise is a
tie, never a win.

    judge(a, b, "p50")              # (tie, a_better): (True, False) when the p50s are the same within noise
    dominates(a, b)                 # a no worse on size, p50 and accuracy within noise, better beyond it on one
    frontier(rows, ("accuracy", "p50"))   # ids of the rows nothing dominates
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from edgekit.decide.noise import latency_tie, metric_tie, size_tie
from edgekit.decide.rows import latency

AXES = ("size", "p50", "accuracy")
INF = float("inf")


def size_of(row: dict[str, Any]) -> float:
    return row["size_bytes"] if row.get("size_bytes") is not None else INF


def p50_of(row: dict[str, Any]) -> float:
    v = latency(row)
    return v if v is not None else INF


def judge(a: dict[str, Any], b: dict[str, Any], axis: str) -> tuple[bool, bool]:
    """(a and b tie within noise on ``axis``, a is better on it); an unmeasured value is the worst."""
    if axis == "size":
        return size_tie(a.get("size_bytes"), b.get("size_bytes")), size_of(a) < size_of(b)
    if axis == "p50":
        return latency_tie(a, b), p50_of(a) < p50_of(b)
    if axis == "accuracy":
        aa, ab = a.get("accuracy"), b.get("accuracy")
        if aa is None or ab is None:
            return aa is None and ab is None, ab is None and aa is not None
        return metric_tie(a, b), aa > ab  # the task's metric, tied within its own interval
    raise ValueError(f"unknown axis {axis!r}; one of {', '.join(AXES)}")


def dominates(a: dict[str, Any], b: dict[str, Any], axes: Sequence[str] = AXES) -> bool:
    """``a`` is no worse than ``b`` on every axis (within noise) and better beyond noise on at least one."""
    checks = [judge(a, b, axis) for axis in axes]
    return all(tie or better for tie, better in checks) and any(not tie and better for tie, better in checks)


def sign(a: dict[str, Any], b: dict[str, Any], axis: str) -> int:
    """+1 a better beyond noise, -1 b better, 0 a tie."""
    tie, better = judge(a, b, axis)
    return 0 if tie else (1 if better else -1)


def frontier(rows: list[dict[str, Any]], axes: Sequence[str] = ("accuracy", "p50")) -> list[dict[str, Any]]:
    """The rows no other row dominates, on ``axes`` nor on all three axes (a point the shipping rule would call
    dominated never stays on a chart that only shows two of them). Input order is kept."""

    def sized(r):
        return r.get("size_bytes") is not None

    def beaten(r):  # all three axes only between two files: an API baseline has no size to be beaten on
        return any(
            o is not r and (dominates(o, r, axes) or (sized(o) and sized(r) and dominates(o, r, AXES))) for o in rows
        )

    return [r for r in rows if not beaten(r)]
