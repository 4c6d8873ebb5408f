"""The accuracy/latency Pareto frontier and its chart.

A point is on the frontier when no other point is at least as accurate and at least as fast within noise, and
better beyond noise in one of the two (nor, between two files, dominates it on size too: edgekit.decide.dominance). The
chart (matplotlib, the `report` extra, headless Agg backend) shows every artifact and baseline: x = batch-1 p50 latency,
y = accuracy, marker area proportional to file size; each model lineage
(the big model shrunk, a small one trained directly, a pretrained one fine-tuned) in its own colour, prompted
baselines as red squares, the shipped artifact ringed in gold.
"""

from __future__ import annotations

from typing import Any

from edgekit.decide.dominance import frontier as pareto_rows
from edgekit.decide.rows import latency, metric_of
from edgekit.units import fmt_size


def frontier(rows: list[dict[str, Any]]) -> list[str]:
    """Ids of the rows no other row dominates within noise (edgekit.decide.dominance: the shipping rule's own
    judgement, so a point the ship section calls dominated is never drawn on the frontier), fastest first. Rows
    missing accuracy or p50 take no part.

    >>> row = lambda i, a, ms: {"id": i, "accuracy": a, "latency_ms": {"p50": ms}, "test_samples": 10_000}
    >>> frontier([row("a", 0.9, 5.0), row("b", 0.8, 1.0), row("c", 0.7, 2.0), row("d", 0.9, 6.0)])
    ['b', 'a']
    """
    pts = [r for r in rows if r.get("accuracy") is not None and latency(r) is not None]
    return [r["id"] for r in sorted(pareto_rows(pts), key=lambda r: (latency(r), -r["accuracy"], r["id"]))]


def plot(report: dict[str, Any]) -> bytes:
    """The Pareto chart of a report as PNG bytes. Raises MissingExtra without matplotlib."""
    import io

    from edgekit.errors import require

    matplotlib = require("matplotlib", "report")
    matplotlib.use("Agg", force=True)  # headless: CI and servers have no display
    import matplotlib.pyplot as plt

    rows = [
        r
        for r in report["artifacts"] + report["baselines"]
        if r.get("accuracy") is not None and r["latency_ms"].get("p50") is not None
    ]
    on_front = set(report["pareto"]["frontier"])
    sizes = [r.get("size_bytes") or 0 for r in rows]
    biggest = max(sizes, default=0) or 1

    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    try:
        for group, colour, marker, label in _kinds(rows, sizes):
            ax.scatter(
                [r["latency_ms"]["p50"] for r, _ in group],
                [r["accuracy"] * 100 for r, _ in group],
                s=[_area(s, biggest) for _, s in group],
                c=colour,
                marker=marker,
                alpha=0.55,
                edgecolors=["black" if r["id"] in on_front else colour for r, _ in group],
                linewidths=[2.0 if r["id"] in on_front else 0.8 for r, _ in group],
                label=label,
                zorder=3,
            )
        shipped = next((r for r in rows if r["id"] == report.get("final")), None)
        if shipped is not None:
            # a gold ring around the marker, so the lineage colour underneath stays visible
            ring = _area(shipped.get("size_bytes") or 0, biggest) ** 0.5 + 14
            ax.scatter(
                [shipped["latency_ms"]["p50"]],
                [shipped["accuracy"] * 100],
                s=ring**2,
                marker="o",
                facecolors="none",
                edgecolors="goldenrod",
                linewidths=2.5,
                label=f"shipped: {shipped['id']}",
                zorder=5,
            )
        front = [r for i in report["pareto"]["frontier"] for r in rows if r["id"] == i]
        if front:
            xs = [r["latency_ms"]["p50"] for r in front]
            ys = [r["accuracy"] * 100 for r in front]
            ax.step(
                xs, ys, where="post", color="black", linestyle="--", linewidth=1.2, label="Pareto frontier", zorder=2
            )
            if len(front) > 1:
                ax.annotate(
                    "Pareto frontier",
                    (xs[-1], ys[-1]),
                    textcoords="offset points",
                    xytext=(-10, -18),
                    fontsize=9,
                    style="italic",
                    ha="right",
                )
        lats = [r["latency_ms"]["p50"] for r in rows]
        if lats and min(lats) > 0 and max(lats) / min(lats) > 20:
            ax.set_xscale("log")  # a prompted model can be 100x slower than the shrunk one
        _labels(ax, rows, sizes, biggest)
        ax.set_xlabel("batch-1 latency p50 (ms, lower is better)")
        metric = metric_of(rows)  # the task's primary metric: accuracy, or a detector's mAP@0.5:0.95
        ax.set_ylabel(f"test {metric} (%, higher is better)")
        name = report.get("recipe", {}).get("name", "")
        ax.set_title(f"{name}: {metric} vs latency (marker area ∝ file size)", fontsize=11)
        ax.grid(True, alpha=0.3)
        ax.margins(x=0.25, y=0.2)
        if rows:
            legend = ax.legend(loc="best", fontsize=8, markerscale=1.0)
            for h in legend.legend_handles:
                if hasattr(h, "set_sizes"):
                    h.set_sizes([60])
        else:
            ax.text(0.5, 0.5, "no artifact has both accuracy and latency", ha="center", transform=ax.transAxes)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
    finally:
        plt.close(fig)
    return buf.getvalue()


# lineage colours (matplotlib's tab10 without its red, which marks prompted baselines)
LINEAGE_COLOURS = ("#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")
BASELINE_COLOUR = "#d62728"


def _kinds(rows: list[dict], sizes: list[int]) -> list[tuple[list[tuple[dict, int]], str, str, str]]:
    """(points, colour, marker, legend label): one group per lineage in recipe order, then the baselines."""
    lineages: dict[str, list[tuple[dict, int]]] = {}
    for r, s in zip(rows, sizes):
        if r["role"] == "artifact":
            lineages.setdefault(r.get("lineage_root") or "", []).append((r, s))
    out = []
    for i, (root, group) in enumerate(lineages.items()):
        model = group[0][0].get("lineage_model")
        label = f"lineage {root}" + (f" ({model})" if model else "") if root else "edgekit artifact"
        out.append((group, LINEAGE_COLOURS[i % len(LINEAGE_COLOURS)], "o", label))
    bases = [(r, s) for r, s in zip(rows, sizes) if r["role"] == "baseline"]
    if bases:
        out.append((bases, BASELINE_COLOUR, "s", "prompted baseline"))
    return out


def _labels(ax, rows: list[dict], sizes: list[int], biggest: int) -> None:
    """Name and size beside each marker, moved down where it would cover an earlier label."""
    ax.autoscale_view()
    placed: list[tuple[float, float]] = []  # label anchors in display pixels
    order = sorted(range(len(rows)), key=lambda i: -rows[i]["accuracy"])
    for i in order:
        r, size = rows[i], sizes[i]
        xy = (r["latency_ms"]["p50"], r["accuracy"] * 100)
        # just right of the marker: its diameter is sqrt(area) points, converted to pixels
        dx = _area(size, biggest) ** 0.5 / 2 * ax.figure.dpi / 72 + 4
        px, py = ax.transData.transform(xy)
        dy = 0.0
        while any(abs(px + dx - qx) < 70 and abs(py + dy - qy) < 26 for qx, qy in placed):
            dy -= 26
        placed.append((px + dx, py + dy))
        ax.annotate(
            f"{r['id']}\n{fmt_size(size)}",
            xy,
            textcoords="offset pixels",
            xytext=(dx, dy),
            va="center",
            fontsize=8,
            zorder=4,
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.75},
            arrowprops={"arrowstyle": "-", "color": "0.6", "lw": 0.6} if dy else None,
        )


def _area(size: int, biggest: int) -> float:
    # area (points^2) proportional to size; a floor keeps a 100x smaller model visible
    return max(60.0, 2000.0 * size / biggest)
