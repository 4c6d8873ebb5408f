"""The search's Pareto chart: every completed trial's artifact (x = file size in MB, log scale; y = test
accuracy), the frontier over the study's objectives drawn and numbered, trials outside the budgets hollow, and
the hand recipe's point as a star. matplotlib (the `report` extra), headless."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit.errors import require
from edgekit.search.results import metrics


def plot(result: dict[str, Any], path: Path) -> Path:
    matplotlib = require("matplotlib", "report")
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    done = [t for t in result["trials"] if t["state"] == "COMPLETE" and t.get("row")]
    front = set(result["frontier"])
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    try:
        for feasible, face in ((True, "#9aa5b1"), (False, "none")):
            pts = [metrics(t["row"]) for t in done if t["feasible"] == feasible and t["number"] not in front]
            ax.scatter([p["size"] for p in pts], [p["accuracy"] for p in pts], s=30, facecolors=face, edgecolors="#6b7785",
                       label="trial" if feasible else "trial outside the budgets", zorder=2)
        fr = sorted((t for t in done if t["number"] in front), key=lambda t: t["row"]["size_bytes"])
        if fr:
            ax.plot([metrics(t["row"])["size"] for t in fr], [metrics(t["row"])["accuracy"] for t in fr], "-o",
                    color="#1f77b4", label="frontier", zorder=3)
            for t in fr:
                m = metrics(t["row"])
                ax.annotate(f"#{t['number']}  {m['p50']:.2f} ms", (m["size"], m["accuracy"]), textcoords="offset points",
                            xytext=(6, 4), fontsize=8)
        hand = next((t for t in done if t["number"] == result["hand"]), None)
        if hand is not None:
            m = metrics(hand["row"])
            ax.scatter([m["size"]], [m["accuracy"]], marker="*", s=260, c="#d62728", label="hand recipe", zorder=4)
        ax.set_xscale("log")
        ax.set_xlabel("artifact size (MB, log scale)")
        ax.set_ylabel("test accuracy (%)")
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
