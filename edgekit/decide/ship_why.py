"""Why the ship rule decided as it did, in words: an artifact at chance, over a budget limit, dominated, larger,
slower or tied within noise, and the one-line summary of the shipped artifact. edgekit.decide.ship decides; this
module only says it, each axis as edgekit.decide.dominance judged it. Torch-free.

    why_lost(int8_row, best_row, candidates, "size")   # ("larger", "larger: 2.1 MB vs 1.3 MB")
"""

from __future__ import annotations

from edgekit.decide.dominance import dominates, judge
from edgekit.decide.limits import assess
from edgekit.decide.rows import ACCURACY, latency, metric_name, shown
from edgekit.decide.sense import row_near_chance
from edgekit.recipe.budgets import Budgets
from edgekit.units import fmt_acc, fmt_ms, fmt_size


def at_chance(a: dict) -> str | None:
    """Why an artifact is at chance level (edgekit.decide.sense.row_near_chance: it learned nothing), or None."""
    if not row_near_chance(a):
        return None
    what = "always answering the most common class" if metric_name(a) == ACCURACY else "predicting nothing"
    return f"at chance: {pct(a)} is no better than {what} ({fmt_acc(a['chance_accuracy'])})"


def samples(drop_pt: float, ref: dict) -> str:
    """How many test samples a drop is: on a small test set a budget-breaking drop can be two or three images
    (accuracy only: a point of mAP is no count of images)."""
    n = ref.get("test_samples")
    if metric_name(ref) != ACCURACY:
        return ""
    return f" ({round(drop_pt * n / 100):,} of {n:,} test samples)" if isinstance(n, int) and n > 0 else ""


def over_limits(a: dict, ref: dict, limits: Budgets | None, baselines: list[dict] | None) -> str | None:
    """The first budget limit ``a`` breaks (edgekit.decide.limits: as the gate and the search read them), or None."""
    if limits is None:
        return None
    for key, margin in assess(limits, a, ref, a.get("machine"), baselines).items():
        if isinstance(margin, str) or margin <= 0:
            continue  # within the limit, or a limit that does not apply to this row (another machine, ...)
        if key in ("max_size_mb", "max_size_bytes"):
            cap = limits.max_size_bytes or limits.max_size_mb * 1e6
            return f"over budget: {fmt_size(a.get('size_bytes'))} > max size {fmt_size(cap)}"
        if key == "max_latency_ms":
            ms = latency(a, limits.latency_percentile)
            return f"over budget: {limits.latency_percentile} {ms:.3f} ms > max_latency_ms {limits.max_latency_ms:g}"
        if key == "min_accuracy_pct":
            return f"over budget: {pct(a)} < min_accuracy_pct {limits.min_accuracy_pct:g} %"
        if key == "max_accuracy_drop_pt":
            return (
                f"over budget: {pct(a)} is {margin + limits.max_accuracy_drop_pt:.2f} pt below {ref['id']}, "
                f"over max_accuracy_drop_pt {limits.max_accuracy_drop_pt:g}"
            )
        return f"over budget: {key}: not more accurate than {key.split('.', 1)[1]} ({margin:.2f} pt behind)"
    return None


def axes(d: dict, a: dict) -> list[tuple[str, bool, str]]:
    """(axis, tie within noise, "d's value vs a's") for size, p50 and accuracy."""
    values = {
        "size": f"{fmt_size(d.get('size_bytes'))} vs {fmt_size(a.get('size_bytes'))}",
        "p50": f"{fmt_ms(latency(d))} vs {fmt_ms(latency(a))}",
        "accuracy": f"{fmt_acc(d['accuracy'])} vs {fmt_acc(a['accuracy'])}",  # the axis label names the metric
    }
    return [(axis, judge(d, a, axis)[0], values[axis]) for axis in ("size", "p50", "accuracy")]


def why_lost(a: dict, best: dict, ok: list[dict], objective: str) -> tuple[str, str]:
    """(code, why) ``a`` lost to ``best`` among the candidates that may ship."""
    dom = next((d for d in [best, *ok] if d is not a and dominates(d, a)), None)
    if dom is not None:  # each axis said as it was judged: a p50 that reads higher may be a tie
        name = metric_name(a)
        better = {
            "size": "smaller",
            "p50": "faster",
            "accuracy": "more accurate" if name == ACCURACY else "higher " + name,
        }
        label = {"accuracy": name}  # the axis as the reader knows it: accuracy, or the task's metric
        return "dominated", f"dominated by {dom['id']}: " + ", ".join(
            f"{better[axis] if not tie else label.get(axis, axis) + ' the same within noise'} ({values})"
            for axis, tie, values in axes(dom, a)
        )
    size_tied, p50_tied = judge(a, best, "size")[0], judge(a, best, "p50")[0]
    if objective == "size" and not size_tied:
        return "larger", f"larger: {fmt_size(a.get('size_bytes'))} vs {fmt_size(best.get('size_bytes'))}"
    if objective == "latency" and not p50_tied:
        return "slower", f"slower: p50 {fmt_ms(latency(a))} vs {fmt_ms(latency(best))}"
    if objective == "size" and not p50_tied:
        return "slower", f"slower: same size within 1 %, p50 {fmt_ms(latency(a))} vs {fmt_ms(latency(best))}"
    if objective == "latency" and not size_tied:
        return (
            "larger",
            f"larger: p50 the same within noise, {fmt_size(a.get('size_bytes'))} vs {fmt_size(best.get('size_bytes'))}",
        )
    return "tied", (
        f"tied with {best['id']} within noise; {best['id']} is "
        f"{_higher(a) if best['accuracy'] > a['accuracy'] else 'earlier in the recipe'}"
    )


def summary(a: dict) -> str:
    return f"{fmt_size(a.get('size_bytes'))}, p50 {fmt_ms(latency(a))}, {pct(a)}"


def pct(a: dict) -> str:
    """The row's primary metric: "90.10 %" for accuracy, "mAP@0.5:0.95 41.20 %" for another (rows.shown)."""
    return shown(a)


def _higher(a: dict) -> str:
    return "more accurate" if metric_name(a) == ACCURACY else f"higher {metric_name(a)}"
