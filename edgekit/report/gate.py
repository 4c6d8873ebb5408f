"""The gate's vocabulary: one Result per budget (pass, fail or skip, with the measured value and the limit in the
budget's unit), the Outcome that collects them, and the lookups every check shares (which artifact a selector
names, whether two rows were measured alike, a value the report must have). edgekit.report.check decides with
them; edgekit.report.ci writes them as JUnit and Markdown. Torch-free."""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from edgekit.recipe.budgets import FINAL
from edgekit.errors import InputError

Status = Literal["pass", "fail", "skip"]
# two numbers are compared only when measured alike: latency at the same threads and batch, accuracy on the same
# test samples (their count and, where recorded, a hash of which ones)


LATENCY_KEYS = ("threads", "batch")


SAMPLE_KEYS = ("test_samples", "test_set")


@dataclass(frozen=True)
class Result:
    budget: str  # the budget's key as written, e.g. "max_size_mb", "regression.size_pct", "must_beat.zero-shot"
    artifact: str
    status: Status
    measured: float | None
    limit: float | None
    unit: str  # "MB", "bytes", "ms", "%", "pt", "% growth"
    message: str

    def line(self) -> str:
        return f"{self.status.upper():<4} {self.budget}: {self.message}"


@dataclass
class Outcome:
    results: list[Result] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    verdict: dict[str, Any] | None = None  # the report's verdict, shown with the gate's results

    @property
    def failed(self) -> list[Result]:
        return [r for r in self.results if r.status == "fail"]

    @property
    def passed(self) -> bool:
        return not self.failed

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "results": [asdict(r) for r in self.results],
            "warnings": self.warnings,
            "verdict": self.verdict,
        }


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    return {
        "MB": f"{value:.3f} MB",
        "bytes": f"{int(value):,} bytes",
        "ms": f"{value:.3f} ms",
        "%": f"{value:.2f} %",
        "pt": f"{value:.2f} pt",
        "% growth": f"{value:+.2f} %",
    }.get(unit, f"{value:g} {unit}")


def gate(
    budget: str,
    art: str,
    measured: float,
    limit: float,
    unit: str,
    what: str,
    *,
    at_most: bool,
    broken: bool | None = None,
) -> Result:
    """``broken``: the verdict edgekit.decide.limits gave (else measured against limit here: regressions)."""
    ok = not broken if broken is not None else (measured <= limit if at_most else measured >= limit)
    op = ("≤" if ok else ">") if at_most else ("≥" if ok else "<")
    return Result(
        budget,
        art,
        "pass" if ok else "fail",
        measured,
        limit,
        unit,
        f"{art}: {what} {fmt(measured, unit)} {op} limit {fmt(limit, unit)}",
    )


def skip(budget: str, art: str, limit: float | None, unit: str, why: str) -> Result:
    return Result(budget, art, "skip", None, limit, unit, f"{art}: not checked: {why}")


def find(report: dict, selector: str, where: str = "report") -> dict:
    """The artifact a budget targets: "final" or a stage id."""
    arts = report["artifacts"]
    if not arts:
        raise InputError(f"the {where} has no measured artifact (did the recipe end with an evaluate stage?)")
    ident = report["final"] if selector == FINAL else selector
    hit = next((a for a in arts if a["id"] == ident), None)
    if hit is None:
        ids = [a["id"] for a in arts]
        hint = difflib.get_close_matches(ident, ids, n=1)
        raise InputError(
            f"the {where} has no artifact '{ident}'"
            + (f" (did you mean '{hint[0]}'?)" if hint else f"; it has: {', '.join(ids)}")
        )
    return hit


def mismatch(a: dict, b: dict, keys: tuple[str, ...], names: tuple[str, str]) -> str | None:
    """Why two rows were measured under different conditions (threads, batch, test samples), or None."""
    for k in keys:
        if a.get(k) is not None and b.get(k) is not None and a[k] != b[k]:
            return (
                f"measured under different conditions: {k.replace('_', ' ')} {b[k]} ({names[1]}) vs {a[k]} ({names[0]})"
            )
    return None


def timing_problem(art: dict, budget: str, out: Outcome) -> str | None:
    """Why this artifact's latency cannot be gated (a throttled, invalid run), or None; warns on noisy timings."""
    if art.get("unstable"):
        reasons = "; ".join(art.get("unstable_reasons") or []) or "high spread"
        out.warnings.append(f"{budget} ({art['id']}): the latency measurement was flagged unstable ({reasons})")
    if art.get("measurement_valid") is False:
        why = (
            "the measurement was marked invalid ("
            + ("; ".join(art.get("invalid_reasons") or []) or "no reason recorded")
            + ")"
        )
        out.warnings.append(f"{budget} ({art['id']}) skipped: {why}")
        return why
    return None


def need(row: dict, key: str) -> float:
    if row.get(key) is None:
        raise InputError(f"the report has no {key} for '{row['id']}'")
    return row[key]


def latency_at(row: dict, p: str, where: str = "report") -> float:
    lat = row.get("latency_ms") or {}
    if lat.get(p) is None:
        have = ", ".join(sorted(lat)) or "none"
        raise InputError(f"the {where} has no {p} latency for '{row['id']}' (measured: {have}); set latency_percentile")
    return lat[p]


def growth(new: float, old: float) -> float:
    return (new - old) / old * 100 if old else (0.0 if new == old else float("inf"))
