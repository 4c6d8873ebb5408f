"""When two measured rows differ by more than noise: the task's metric from its recorded 95 % interval
(``accuracy_ci95``, a detector's bootstrap over test images) or else from the test-set size (binomial), latency
from the bench harness's alternating rounds, file size exactly. The shipping rule and the verdict call a difference
within noise a tie, never a win. Torch-free, a leaf (reads edgekit.decide.rows' fields only).

    accuracy_tie(0.902, 0.900, 10_000, 10_000)   # True: 0.2 pt is inside the 95 % interval (about ±0.8 pt)
    slower(a_row, b_row)                         # True when A was slower at the fast speed (p10 rounds), by over 5 %
    latency_tie(a_row, b_row)                    # True unless one is slower
    clearly_slower(1.30, 1.22)                   # True: slower in every alternating round, 30 % overall
    slower_at_fast_speed(p10_ratios)             # True: per-round p10 ratios 1.15x at the median, 4 of 5 over 1
"""

from __future__ import annotations

import math
import statistics

from edgekit.decide.rows import latency

Z95 = 1.96  # two-sided 95 %
# Two files within 1 % of each other's size are the same size for deployment (metadata, rounding of one tensor).
SIZE_TIE_REL = 0.01
# The smallest latency difference that counts. Rounds alone are not enough: twins come out slower in all five
# alternating rounds once in 32 comparisons (a CI run kept an "INT8 slower" twin at 1.01x). Without round medians
# or interval (older rows), 5 % is below this VM's ±20 % drift between runs but above the harness's p50 interval.
LATENCY_TIE_REL = 0.05


def accuracy_margin_pt(p1: float, n1: int | None, p2: float, n2: int | None) -> float | None:
    """Half-width, in points, of the 95 % interval of the difference of two test accuracies (two-proportion normal
    approximation; unpaired, so conservative for two models scored on the same samples). None without counts."""
    if not n1 or not n2:
        return None
    var = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
    # at 100 % or 0 % the variance vanishes; one sample's worth keeps a tiny test set from declaring a win
    return 100 * max(Z95 * math.sqrt(var), 1 / min(n1, n2))


def accuracy_tie(p1: float, p2: float, n1: int | None, n2: int | None) -> bool:
    margin = accuracy_margin_pt(p1, n1, p2, n2)
    return abs(p1 - p2) * 100 <= (margin if margin is not None else 0.0)


def metric_margin_pt(a: dict, b: dict) -> float | None:
    """Half-width, in points, of the 95 % interval of the difference of two rows' primary metric. Rows that carry
    ``accuracy_ci95`` (detection: a bootstrap over test images) combine their half-widths as independent
    (sqrt(ha² + hb²), conservative as the binomial one is); one row's interval alone counts twice over; rows without
    one fall back to the binomial accuracy_margin_pt from test_samples. None without either."""
    ha, hb = _half_width(a.get("accuracy_ci95")), _half_width(b.get("accuracy_ci95"))
    if ha is not None or hb is not None:
        ha, hb = (ha if ha is not None else hb), (hb if hb is not None else ha)
        return 100 * math.sqrt(ha * ha + hb * hb)
    if a.get("accuracy") is None or b.get("accuracy") is None:
        return None
    return accuracy_margin_pt(a["accuracy"], a.get("test_samples"), b["accuracy"], b.get("test_samples"))


def metric_tie(a: dict, b: dict) -> bool:
    """Whether two rows' primary metric (``accuracy``) is the same within noise (metric_margin_pt)."""
    margin = metric_margin_pt(a, b)
    return abs(a["accuracy"] - b["accuracy"]) * 100 <= (margin if margin is not None else 0.0)


def _half_width(ci) -> float | None:
    return (ci[1] - ci[0]) / 2 if _interval(ci) and ci[1] >= ci[0] else None


def size_tie(a: int | None, b: int | None) -> bool:
    if a is None or b is None:
        return False
    return abs(a - b) <= SIZE_TIE_REL * min(a, b)


def clearly_slower(ratio, round_min) -> bool:
    """Whether a file timed against another in alternating rounds is slower beyond noise: slower in every round
    (``round_min``, the smallest per-round ratio, above 1) and by more than LATENCY_TIE_REL overall (``ratio``)."""
    numbers = all(isinstance(v, (int, float)) for v in (ratio, round_min))
    return numbers and round_min > 1 and ratio > 1 + LATENCY_TIE_REL


def slower_at_fast_speed(ratios: list[float]) -> bool:
    """Whether a file is slower than another from their per-round p10 ratios (5 or more alternating rounds): by more
    than LATENCY_TIE_REL at the median round and in four rounds of every five.

    Why p10 and not p50: this VM switches between two speeds 1.3-1.5x apart, for a few to hundreds of queries at a
    time (bench.stats.speed_states), so a round's p50 is whichever speed held most of that file's queries. Per-round
    p50 ratios of one INT8 file against its float parent ranged 0.83-1.79x, and of two byte-identical files
    0.71-1.41x; their p10 ratios (both files at the fast speed) 0.97-1.19x and 0.84-1.01x, nine rounds of ten within
    1 % of 1.15x and 1.00x. A round spared is one that a file spent wholly at the slow speed."""
    if len(ratios) < 5:
        return False
    n = len(ratios)
    return statistics.median(ratios) > 1 + LATENCY_TIE_REL and sum(r > 1 for r in ratios) >= n - n // 5


def slower(a: dict, b: dict) -> bool:
    """Whether row ``a``'s batch-1 p50 is slower than row ``b``'s beyond noise. Rows measured in the same evaluate
    stage carry per-round p10s from alternating rounds: slower_at_fast_speed over them; older rows only per-round
    medians: clearly_slower over those. Otherwise a's 95 % interval of p50 lies above b's; failing both, a's p50 is
    more than LATENCY_TIE_REL above b's."""
    pa, pb = latency(a), latency(b)
    if pa is None or pb is None:
        return False
    same_stage = a.get("measured_by") == b.get("measured_by")
    fa, fb = a.get("latency_round_p10_ms") or [], b.get("latency_round_p10_ms") or []
    if same_stage and len(fa) >= 5 and len(fa) == len(fb) and min(fa + fb) > 0:
        return slower_at_fast_speed([x / y for x, y in zip(fa, fb)])
    ra, rb = a.get("latency_round_p50_ms") or [], b.get("latency_round_p50_ms") or []
    same_rounds = len(ra) >= 2 and len(ra) == len(rb) and same_stage
    if same_rounds and min(ra + rb + [pa, pb]) > 0:
        return clearly_slower(pa / pb, min(x / y for x, y in zip(ra, rb)))
    ca, cb = a.get("latency_p50_ci95_ms"), b.get("latency_p50_ci95_ms")
    if _interval(ca) and _interval(cb):
        return ca[0] > cb[1]
    return pa > pb * (1 + LATENCY_TIE_REL)


def latency_tie(a: dict, b: dict) -> bool:
    """Whether two rows' batch-1 p50 latencies are the same within noise: neither is slower (both unmeasured too)."""
    if latency(a) is None or latency(b) is None:
        return latency(a) is None and latency(b) is None
    return not slower(a, b) and not slower(b, a)


def _interval(v) -> bool:
    return isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(x, (int, float)) for x in v)
