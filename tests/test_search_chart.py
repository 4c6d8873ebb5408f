"""The search chart reads in MB and draws no line that zigzags through a frontier of three objectives (issue 33)."""

from __future__ import annotations

import pytest

from edgekit.search.chart import best_at_size, mb_label, plot

pytest.importorskip("matplotlib")


def _result():
    # a three-objective frontier within one decade of sizes, as a real search gives: #2 is kept for its latency
    data = [
        (1.6, 0.86, 0.5, True),
        (1.7, 0.88, 0.3, True),
        (1.75, 0.855, 0.2, True),
        (1.9, 0.885, 0.6, True),
        (2.0, 0.87, 0.25, True),
        (1.65, 0.80, 0.4, False),
        (1.8, 0.875, 0.45, True),
    ]
    trials = [
        {
            "number": i,
            "state": "COMPLETE",
            "feasible": f,
            "row": {"size_bytes": mb * 1e6, "accuracy": acc, "latency_ms": {"p50": p50}},
        }
        for i, (mb, acc, p50, f) in enumerate(data)
    ]
    return {
        "trials": trials,
        "frontier": [0, 1, 2, 3, 4],
        "hand": 0,
        "study": "t",
        "objectives": ["size", "accuracy", "p50"],
    }


def test_best_at_size_is_a_non_decreasing_step():
    assert best_at_size([(2.0, 87), (1.6, 86), (1.75, 85.5), (1.7, 88), (1.9, 88.5)]) == [
        (1.6, 86),
        (1.7, 88),
        (1.9, 88.5),
    ]
    assert mb_label(1.6) == "1.6" and mb_label(0.25) == "0.25" and mb_label(12.0) == "12"


def test_chart_ticks_in_mb_and_no_zigzag(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    figs = []
    close = plt.close
    monkeypatch.setattr(plt, "close", lambda fig=None: figs.append(fig))
    path = plot(_result(), tmp_path / "search" / "pareto.png")
    assert path.stat().st_size > 0 and not list(tmp_path.glob("search/*.tmp.png"))
    (fig,) = figs
    try:
        ax = fig.axes[0]
        fig.canvas.draw()
        labels = [t.get_text() for t in ax.get_xticklabels(minor=True) + ax.get_xticklabels() if t.get_text()]
        assert labels and not [text for text in labels if "times" in text or "$" in text or "^" in text], labels
        assert {"1.6", "1.8", "2"} <= set(labels), labels
        # the only line is the step; its y never goes down as size grows (a zigzag would)
        (line,) = [ln for ln in ax.get_lines() if len(ln.get_xdata()) > 1]
        ys = list(line.get_ydata())
        assert ys == sorted(ys)
    finally:
        close(fig)
