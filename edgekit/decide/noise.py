"""When two measured rows differ by more than noise: the task's metric from its recorded 95 % interval
(``accuracy_ci95``, a detector's bootstrap over test images) or else from the test-set size (binomial), latency
from the bench harness's alternating rounds, file size exactly. The shipping rule and the verdict call a difference
within noise a tie, never a win. Torch-free, a leaf (reads edgekit.decide.rows' fields only).

    accuracy_tie(0.902, 0.900, 10_000, 10_000)   # True: 0.2 pt is inside the 95 % interval (about ±0.8 pt)
    slower(a_row, b_row)                         # True when A was slower in every round, and by over 5 %
    latency_tie(a_row, b_row)                    # True unless one is slower
    clearly_slower(1.30, 1.22)                   # True: slower in every alternating round, 30 % overall
    mostly_slower(1.10, ten_round_ratios)        # True: slower in 9 of 10 rounds, 10 % overall
"""

from __future__ import annotations

import math

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


def inconclusive(ratio, round_min) -> bool:
    """Slower by more than LATENCY_TIE_REL overall, but not in every round: worth a second look (quant/speed.py)."""
    numbers = all(isinstance(v, (int, float)) for v in (ratio, round_min))
    return numbers and ratio > 1 + LATENCY_TIE_REL and not round_min > 1


def mostly_slower(ratio: float, per_round: list[float]) -> bool:
    """Over 10 or more alternating rounds: slower in all but one (a sign test: twins do that about once in 90
    comparisons) and by more than LATENCY_TIE_REL overall. The round spared is where a VM that switches between two
    speeds changed speed inside a round: an INT8 file 1.10x slower in four rounds of five was kept as 'not clearly
    slower' by one such round at 1.00x."""
    return len(per_round) >= 10 and sum(r > 1 for r in per_round) >= len(per_round) - 1 and ratio > 1 + LATENCY_TIE_REL


def slower(a: dict, b: dict) -> bool:
    """Whether row ``a``'s batch-1 p50 is slower than row ``b``'s beyond noise. Rows measured in the same evaluate
    stage carry per-round medians from alternating rounds: clearly_slower over them. Otherwise a's 95 % interval of
    p50 lies above b's; failing both, a's p50 is more than LATENCY_TIE_REL above b's."""
    pa, pb = latency(a), latency(b)
    if pa is None or pb is None:
        return False
    ra, rb = a.get("latency_round_p50_ms") or [], b.get("latency_round_p50_ms") or []
    same_rounds = len(ra) >= 2 and len(ra) == len(rb) and a.get("measured_by") == b.get("measured_by")
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
