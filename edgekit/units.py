"""How edgekit writes a number for people: one format per unit, used by the console, report.md/html, the gate
and the verdict, so the same size or latency never reads two ways. A missing value is "–". Torch-free, a leaf."""

from __future__ import annotations


def percent(a: float) -> float:
    """An accuracy (a fraction) in percent, rounded off float noise, for comparing with a limit: 0.899 is 89.9,
    not 89.89999999999999, which a min_accuracy_pct of 89.9 would fail."""
    return round(a * 100, 9)


def points(a: float, b: float) -> float:
    """Accuracy a - b (fractions) in percentage points, rounded off float noise: 0.904 - 0.899 is 0.5 pt, not
    0.50000000000000044, which failed a 0.5 pt budget and printed "0.50 pt below, over the 0.5 pt budget"."""
    return round((a - b) * 100, 9)


def fmt_size(b: int | None) -> str:
    if b is None:
        return "–"
    return f"{b / 1e6:.2f} MB" if b >= 1e5 else f"{b / 1e3:.1f} kB"


def fmt_count(n: int | None) -> str:
    if n is None:
        return "–"
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= div:
            return f"{n / div:.2f} {unit}"
    return str(n)


def fmt_ms(v: float | None) -> str:
    return "–" if v is None else (f"{v:.3f} ms" if v < 10 else f"{v:.1f} ms")


def fmt_acc(v: float | None) -> str:
    """An accuracy (a fraction) as a percentage."""
    return "–" if v is None else f"{v * 100:.2f} %"


def fmt_rate(gmacs: float | None, fraction: float | None) -> str:
    """Achieved GMAC/s and its share of the machine's measured peak (edgekit.bench.peak): "9.3 (25 %)"."""
    if gmacs is None:
        return "–"
    return f"{gmacs:.1f}" + ("" if fraction is None else f" ({fraction * 100:.0f} %)")
