"""From curve points to the answer: per-arm curves, the size × arm table, crossovers N* and one sentence.

Torch-free. ``build(points, arms, sizes, n_test, classes)`` returns the ``edgekit.curve/1`` document that
``curve.json`` holds and ``--json`` prints; ``markdown(doc)`` renders its table and sentence.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from edgekit.curve.crossover import bootstrap_var, crossover, flat, summary
from edgekit.decide.rows import ACCURACY, metric_of
from edgekit.curve.sizes import ALL, PER_CLASS, UNITS, Size, Unit, label

SCHEMA = "edgekit.curve/1"


def _mean(xs):
    xs = [x for x in xs if x is not None]
    return statistics.fmean(xs) if xs else None


def test_variances(mine: list[dict], sizes: Sequence[Size], flat_arm: bool) -> dict | None:
    """size -> the test-set variance of one arm's points from their bootstrap intervals (a detector's mAP: no
    proportion, so no binomial), averaged over seeds; None where points carry no interval (accuracy: binomial)."""
    if not mine or not all(p.get("accuracy_ci95") for p in mine):
        return None
    return {
        s: statistics.fmean(bootstrap_var(p["accuracy_ci95"]) for p in (mine if flat_arm else _at(mine, s)))
        for s in sizes
    }


def _at(mine: list[dict], size: Size) -> list[dict]:
    return [p for p in mine if p["size"] == size]


def build(
    points: list[dict],
    arms: Sequence,
    sizes: Sequence[Size],
    n_test: int,
    classes: int,
    timing: dict,
    unit: Unit = PER_CLASS,
) -> dict:
    curves: dict[str, dict] = {}
    noise: dict[str, dict | None] = {}
    table = []
    per = classes if unit is PER_CLASS else 1  # the examples a size used, counted in its unit
    for arm in arms:
        mine = [p for p in points if p["arm"] == arm.name]
        if arm.flat:
            curves[arm.name] = flat(mine[0]["accuracy"], sizes)
        else:
            curves[arm.name] = {s: [p["accuracy"] for p in _at(mine, s)] for s in sizes}
        noise[arm.name] = test_variances(mine, sizes, arm.flat)
        for s in sizes:
            at = mine if arm.flat else _at(mine, s)
            stats = summary(curves[arm.name], s, n_test, noise[arm.name])
            table.append(
                {
                    "size": s,
                    "arm": arm.name,
                    "kind": arm.kind,
                    "accuracy": round(stats["mean"], 5),
                    "ci95": round(stats["ci95"], 5),
                    "seed_sd": round(stats["seed_sd"], 5),
                    "seeds": stats["seeds"],
                    "accuracies": curves[arm.name][s],
                    # labelled examples actually used, in the size's unit (a class with fewer than the size gives
                    # all it has; 'all' images is the training split's count)
                    "examples_per_class": None if arm.flat else round(_mean([p["examples"] for p in at]) / per, 1),
                    "train_s": None if arm.flat else _round(_mean([p.get("train_s") for p in at]), 3),
                    "size_bytes": _mean([p.get("size_bytes") for p in at]),
                    "params": _mean([p.get("params") for p in at]),
                    "p50_ms": next((p["p50_ms"] for p in at if p.get("p50_ms") is not None), None),
                }
            )
    pairs = []
    trained = [a for a in arms if a.trained]
    for a in trained:
        others = [b for b in arms if b.name != a.name and (b.kind != "train" if a.kind == "train" else not b.trained)]
        for b in others:
            pairs.append(
                {
                    "a": a.name,
                    "b": b.name,
                    "b_kind": b.kind,
                    **crossover(curves[a.name], curves[b.name], n_test, sizes, noise[a.name], noise[b.name]),
                }
            )
    doc = {
        "schema": SCHEMA,
        "sizes": list(sizes),
        "size_unit": unit.name,
        "test_samples": n_test,
        "classes": classes,
        "arms": [{"name": a.name, "kind": a.kind} for a in arms],
        "table": table,
        "crossovers": pairs,
        "timing": timing,
        "points": points,
    }
    if (metric := metric_of(points)) != ACCURACY:  # points scored on another metric (mAP) say so; accuracy: as before
        doc["metric"] = metric
    if any(v is not None for v in noise.values()):
        doc["test_noise"] = "bootstrap over test images (the points' accuracy_ci95), not binomial"
    doc["sentences"] = [sentence(p, table, unit) for p in pairs]
    doc["sentence"] = headline(doc)
    return doc


def _round(x, nd):
    return None if x is None else round(x, nd)


def _row(table, arm, size) -> dict | None:
    return next((r for r in table if r["arm"] == arm and r["size"] == size), None)


def _mb(table, arm, size) -> str:
    row = _row(table, arm, size)
    return "" if not row or row["size_bytes"] is None else f" ({row['size_bytes'] / 1e6:.1f} MB)"


def _up_to(table, arm, size, unit: Unit) -> str:
    if size != ALL:
        return f"{size} {unit.per}"
    row = _row(table, arm, size)
    return "the whole training split" + (
        f" (~{row['examples_per_class']:.0f} {unit.per})" if row and row["examples_per_class"] else ""
    )


def sentence(pair: dict, table: list[dict], unit: Unit = PER_CLASS) -> str:
    """One line per pair, e.g. 'with ≥ 300 labelled examples per class, student (2.1 MB) beats minilm-prompt
    (zero-shot); up to 30 per class minilm-prompt wins.'"""
    a, b, n_star, largest = pair["a"], pair["b"], pair["n_star"], pair["largest"]
    b_text = f"{b} ({pair['b_kind']})"
    if n_star is None and pair["b_wins_up_to"] == largest:
        return f"{b_text} beats {a} beyond the noise up to {_up_to(table, a, largest, unit)} (crossover not reached)."
    if n_star is None:
        up_to = _up_to(table, a, largest, unit)
        out = f"{a} does not beat {b_text} beyond the noise up to {up_to} (crossover not reached)"
    elif n_star == pair["per_size"][0]["size"]:
        out = (
            f"{a}{_mb(table, a, n_star)} beats {b_text} beyond the noise at every size tried, "
            f"from {_up_to(table, a, n_star, unit)} on"
        )
    elif n_star == ALL:
        out = f"only with {_up_to(table, a, n_star, unit)} does {a}{_mb(table, a, n_star)} beat {b_text}"
    else:
        out = f"with ≥ {n_star} {unit.name}, {a}{_mb(table, a, n_star)} beats {b_text}"
    if pair["b_wins_up_to"] is not None:
        out += f"; up to {_up_to(table, a, pair['b_wins_up_to'], unit)} {b} wins"
    return out + "."


def headline(doc: dict) -> str:
    """One sentence: the first from-scratch arm against the prompted arm most accurate at the largest size."""
    largest = doc["sizes"][-1]
    prompted = [r for r in doc["table"] if r["size"] == largest and r["kind"] in ("zero-shot", "few-shot")]
    train = next((a["name"] for a in doc["arms"] if a["kind"] == "train"), None) or next(
        (a["name"] for a in doc["arms"] if a["kind"] == "fine-tune"), None
    )
    if not prompted or train is None:
        return doc["sentences"][0] if doc["sentences"] else "one arm only: nothing to compare it with"
    best = max(prompted, key=lambda r: r["accuracy"])["arm"]
    return next((s for p, s in zip(doc["crossovers"], doc["sentences"]) if p["a"] == train and p["b"] == best), "")


def markdown(doc: dict) -> str:
    unit = UNITS[doc["size_unit"]]
    lines = [
        f"# Learning curve ({doc['size_unit']}; {doc['test_samples']} test samples, the same for every point)",
        "",
        doc["sentence"],
        "",
        f"| size | arm | kind | {doc.get('metric', ACCURACY)} ± 95 % CI "
        "| seeds | train s | model size | p50 ms (batch 1) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in doc["table"]:
        size = "n/a" if r["size_bytes"] is None else f"{r['size_bytes'] / 1e6:.1f} MB"
        train_s = "" if r["train_s"] is None else f"{r['train_s']:.2f}"
        p50 = "" if r["p50_ms"] is None else f"{r['p50_ms']:.2f}"
        lines.append(
            f"| {label(r['size'], unit)} | {r['arm']} | {r['kind']} "
            f"| {r['accuracy'] * 100:.1f} ± {r['ci95'] * 100:.1f} % "
            f"| {r['seeds']} | {train_s} | {size} | {p50} |"
        )
    lines += [
        "",
        "train s: each point's own work (fitting, or reading its cached embeddings); the fine-tune and "
        "few-shot arms share one embedding pass, timed below. p50: batch 1, in-process, at the largest size.",
    ]
    lines += ["", "## Crossovers (N*: smallest size from which the first arm wins beyond seed and test-set noise)", ""]
    lines += [f"- {s}" for s in doc["sentences"]]
    t = doc["timing"]
    lines += [
        "",
        f"Time: {t.get('total_s', 0):.0f} s in all ({t.get('embedding_s', 0):.0f} s embedding, "
        f"{t.get('points_s', 0):.0f} s points; cached points cost nothing).",
    ]
    return "\n".join(lines) + "\n"
