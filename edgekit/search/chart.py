"""The search's Pareto chart: every completed trial's artifact (x = file size in MB, log scale; y = test
accuracy), the frontier over the study's objectives drawn and numbered, trials outside the budgets hollow, and
the hand recipe's point as a star. matplotlib (the `report` extra), headless.

The frontier is over up to three objectives (size, accuracy, p50) but drawn in two: joined by a line in size
order it would zigzag (a trial kept for its latency sits below a smaller one), as if it were a trade-off curve.
So frontier trials are points, numbered with their p50, and the one line drawn is a step that means something
in these two dimensions: the best accuracy any trial within the budgets reached at this size or smaller."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit.errors import require
from edgekit.decide.rows import metric_of
from edgekit.search.results import metrics


def mb_label(value: float, _pos=None) -> str:
    """A size tick as a plain number of MB ("1.6", "0.25", "12"), never "1.6×10⁰"."""
    return f"{value:.3g}"


def best_at_size(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """(size, accuracy) -> the running best accuracy in size order: the corners of a non-decreasing step."""
    step, best = [], float("-inf")
    for size, acc in sorted(points):
        if acc > best:
            best = acc
            step.append((size, acc))
    return step


def plot(result: dict[str, Any], path: Path) -> Path:
    matplotlib = require("matplotlib", "report")
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    done = [t for t in result["trials"] if t["state"] == "COMPLETE" and t.get("row")]
    front = set(result["frontier"])
    quality = metric_of([t["row"] for t in done])  # the task's metric: accuracy, mAP@0.5:0.95
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    try:
        for feasible, face in ((True, "#9aa5b1"), (False, "none")):
            pts = [metrics(t["row"]) for t in done if t["feasible"] == feasible and t["number"] not in front]
            ax.scatter(
                [p["size"] for p in pts],
                [p["accuracy"] for p in pts],
                s=30,
                facecolors=face,
                edgecolors="#6b7785",
                label="trial" if feasible else "trial outside the budgets",
                zorder=2,
            )
        step = best_at_size([(m["size"], m["accuracy"]) for m in (metrics(t["row"]) for t in done if t["feasible"])])
        if step:
            xs, ys = [s for s, _ in step], [a for _, a in step]
            right = max(metrics(t["row"])["size"] for t in done)
            ax.step(
                xs + [right],
                ys + ys[-1:],
                where="post",
                color="#1f77b4",
                alpha=0.35,
                lw=1.2,
                label=f"best {quality} at this size or smaller",
                zorder=1,
            )
        fr = sorted((t for t in done if t["number"] in front), key=lambda t: t["row"]["size_bytes"])
        if fr:
            ax.scatter(
                [metrics(t["row"])["size"] for t in fr],
                [metrics(t["row"])["accuracy"] for t in fr],
                s=46,
                color="#1f77b4",
                label=f"frontier over {', '.join(result['objectives'])}",
                zorder=3,
            )
            for t in fr:
                m = metrics(t["row"])
                p50 = "" if m["p50"] is None else f"  {m['p50']:.2f} ms"
                ax.annotate(
                    f"#{t['number']}{p50}",
                    (m["size"], m["accuracy"]),
                    textcoords="offset points",
                    xytext=(6, 4),
                    fontsize=8,
                )
        hand = next((t for t in done if t["number"] == result["hand"]), None)
        if hand is not None:
            m = metrics(hand["row"])
            ax.scatter([m["size"]], [m["accuracy"]], marker="*", s=260, c="#d62728", label="hand recipe", zorder=4)
        ax.set_xscale("log")
        # MB on every labelled tick; within one decade (the usual search) the minor ticks carry the labels
        ax.xaxis.set_major_formatter(FuncFormatter(mb_label))
        lo, hi = ax.get_xlim()
        ax.xaxis.set_minor_formatter(FuncFormatter(mb_label) if hi / lo < 20 else NullFormatter())
        ax.tick_params(axis="x", which="minor", labelsize=8)
        ax.set_xlabel("artifact size (MB, log scale)")
        ax.set_ylabel(f"test {quality} (%)")
        ax.set_title(f"search '{result['study']}': {len(done)} trials, frontier over {', '.join(result['objectives'])}")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.png")
        fig.savefig(tmp)
        tmp.replace(path)
    finally:
        plt.close(fig)
    return path
