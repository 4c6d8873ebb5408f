"""The gate's regression budgets: the artifact now against the same artifact in a stored baseline report (size
growth, accuracy drop on the same test samples, latency growth only on the same machine at the same threads and
batch; a comparison that cannot be made is a skip with its reason, never a pass). Torch-free.

    check_regression(report, baseline, budgets, {"size_pct": 5, "accuracy_pt": 0.5}, outcome)   # doctest: +SKIP
"""

from __future__ import annotations

from edgekit.decide.rows import metric_name
from edgekit.recipe.budgets import Budgets
from edgekit.report.gate import (
    LATENCY_KEYS,
    SAMPLE_KEYS,
    Outcome,
    find,
    gate,
    growth,
    latency_at,
    mismatch,
    need,
    skip,
    timing_problem,
)
from edgekit.units import fmt_acc, points


def check_regression(report: dict, baseline: dict | None, budgets: Budgets, limits: dict, out: Outcome) -> None:
    art = find(report, budgets.artifact)
    aid = art["id"]
    if baseline is None:
        for key, limit in limits.items():
            if limit is not None:
                out.results.append(
                    skip(
                        f"regression.{key}",
                        aid,
                        limit,
                        "% growth" if key != "accuracy_pt" else "pt",
                        "no baseline report (edgekit check --baseline REPORT)",
                    )
                )
        return
    old = find(baseline, budgets.artifact, "baseline report")
    if limits.get("size_pct") is not None:
        a, b = need(art, "size_bytes"), need(old, "size_bytes")
        out.results.append(
            gate(
                "regression.size_pct",
                aid,
                growth(a, b),
                limits["size_pct"],
                "% growth",
                f"size vs baseline ({b:,} → {a:,} bytes)",
                at_most=True,
            )
        )
    if limits.get("accuracy_pt") is not None and (why := mismatch(art, old, SAMPLE_KEYS, ("now", "baseline"))):
        out.warnings.append(f"regression.accuracy_pt ({aid}) skipped: {why}")
        out.results.append(skip("regression.accuracy_pt", aid, limits["accuracy_pt"], "pt", why))
    elif limits.get("accuracy_pt") is not None:
        drop = points(need(old, "accuracy"), need(art, "accuracy"))
        out.results.append(
            gate(
                "regression.accuracy_pt",
                aid,
                drop,
                limits["accuracy_pt"],
                "pt",
                f"{metric_name(art)} drop vs baseline ({fmt_acc(old['accuracy'])} → {fmt_acc(art['accuracy'])})",
                at_most=True,
            )
        )
    if limits.get("latency_pct") is not None:
        p = budgets.latency_percentile
        mine, theirs = art.get("machine"), old.get("machine")
        invalid = timing_problem(art, "regression.latency_pct", out) or timing_problem(
            old, "regression.latency_pct (baseline report)", out
        )
        conditions = mismatch(art, old, LATENCY_KEYS, ("now", "baseline"))
        if invalid:
            out.results.append(skip("regression.latency_pct", aid, limits["latency_pct"], "% growth", invalid))
        elif conditions:
            out.warnings.append(f"regression.latency_pct ({aid}) skipped: {conditions}")
            out.results.append(skip("regression.latency_pct", aid, limits["latency_pct"], "% growth", conditions))
        elif mine is None or theirs is None or mine != theirs:
            why = (
                "no machine fingerprint recorded"
                if mine is None or theirs is None
                else f"measured on different machines ({theirs} in the baseline, {mine} now)"
            )
            out.warnings.append(
                f"regression.latency_pct ({aid}) skipped: {why}; latency is only compared on the same machine"
            )
            out.results.append(skip("regression.latency_pct", aid, limits["latency_pct"], "% growth", why))
        else:
            a, b = latency_at(art, p), latency_at(old, p, "baseline report")
            out.results.append(
                gate(
                    "regression.latency_pct",
                    aid,
                    growth(a, b),
                    limits["latency_pct"],
                    "% growth",
                    f"{p} latency vs baseline ({b:.3f} → {a:.3f} ms)",
                    at_most=True,
                )
            )
