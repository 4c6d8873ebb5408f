"""The learning-curve chart: test accuracy vs labelled examples per class (log x), one line per arm with a
band of ± 95 % CI (seeds and test-set noise), prompted zero-shot arms as flat dashed lines. PNG bytes.
Headless matplotlib (the `report` extra), like the Pareto chart."""

from __future__ import annotations

from edgekit.errors import require

STYLE = {"train": ("-", "o"), "fine-tune": ("-", "s"), "few-shot": ("-.", "^"), "zero-shot": ("--", None)}


def plot(doc: dict) -> bytes:
    import io

    matplotlib = require("matplotlib", "report")
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    import matplotlib.ticker  # noqa: F401  (matplotlib.ticker below)

    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    try:
        # x: the mean labelled examples (per class, or images) each size really used ('all' and capped sizes included)
        xs = {}
        for r in doc["table"]:
            if r["examples_per_class"] is not None:
                xs.setdefault(r["size"], r["examples_per_class"])
        colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for i, arm in enumerate(doc["arms"]):
            rows = [r for r in doc["table"] if r["arm"] == arm["name"] and r["size"] in xs]
            x = [xs[r["size"]] for r in rows]
            y = [r["accuracy"] * 100 for r in rows]
            lo = [(r["accuracy"] - r["ci95"]) * 100 for r in rows]
            hi = [(r["accuracy"] + r["ci95"]) * 100 for r in rows]
            line, marker = STYLE.get(arm["kind"], ("-", "o"))
            colour = colours[i % len(colours)]
            ax.plot(x, y, line, marker=marker, color=colour, label=f"{arm['name']} ({arm['kind']})")
            ax.fill_between(x, lo, hi, color=colour, alpha=0.15, linewidth=0)
        for c in doc["crossovers"]:
            if c["n_star"] is not None and c["n_star"] in xs and c["b_kind"] != "fine-tune":
                ax.axvline(xs[c["n_star"]], color="grey", linewidth=0.8, linestyle=":")
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(list(xs.values())))
        ax.xaxis.set_major_formatter(
            matplotlib.ticker.FixedFormatter([f"all\n({x:,.0f})" if s == "all" else f"{x:g}" for s, x in xs.items()])
        )
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel(f"{doc['size_unit']} (log; {doc['test_samples']} test samples for every point)")
        ax.set_ylabel(f"test {doc.get('metric', 'accuracy')} (%)")  # the points' metric (curve.report)
        kinds = {a["kind"] for a in doc["arms"]}
        versus = (
            "training vs prompting" if kinds & {"zero-shot", "few-shot"} else "training from scratch vs fine-tuning"
        )
        ax.set_title(f"Learning curve: {versus} (bands: 95 % CI over seeds and test set)", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
        buf = io.BytesIO()
        fig.tight_layout()
        fig.savefig(buf, format="png")
        return buf.getvalue()
    finally:
        plt.close(fig)
