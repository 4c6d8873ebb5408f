"""The fallback ladder: configurations tried, in order, until one meets the accuracy tolerance.

    first:   the recipe's configuration (e.g. static minmax per-channel U8S8)
    then:    per-channel <-> per-tensor, reduce_range (7-bit weights), U8U8 (no u8*s8 saturation)
    finally: the best so far with the k most sensitive nodes in float, k = 1, 2, 4, ... up to a limit

Weight-only changes reuse the cached activation ranges, so the first rungs are cheap."""

from __future__ import annotations

from edgekit.quant.ort_static import Attempt


def first_rungs(start: Attempt) -> list[Attempt]:
    """The configuration-only rungs, starting with ``start`` itself; no duplicates."""
    rungs = [start, start.but(per_channel=not start.per_channel), start.but(reduce_range=True)]
    if start.weight_type != "uint8":
        rungs.append(start.but(activation_type="uint8", weight_type="uint8"))
    seen, out = set(), []
    for r in rungs:
        if r not in seen:
            seen.add(r)
            out.append(r)
    return out


def exclusion_rungs(best: Attempt, ranked: list[str], max_excluded: int) -> list[Attempt]:
    """``best`` with the 1, 2, 4, ... most sensitive nodes (``ranked``, worst first) also kept in float."""
    out, k = [], 1
    limit = min(max_excluded, len(ranked))
    while k <= limit:
        out.append(best.but(exclude=best.exclude + tuple(ranked[:k])))
        if k == limit:
            break
        k = min(k * 2, limit)
    return out
