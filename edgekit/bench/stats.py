"""Latency statistics that hold without assuming a distribution: percentiles with order-statistic
confidence intervals, mean/std/CV, and the stability verdict.

Latency distributions are skewed with rare spikes, so intervals come from order statistics (exact binomial
coverage), not from a normal approximation of the mean."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from edgekit.decide.rows import PERCENTILES as ROW_PERCENTILES

# the percentiles of edgekit.decide.rows as numbers (50, 90, 95, 99)
PERCENTILES = tuple(int(p.removeprefix("p")) for p in ROW_PERCENTILES)


@dataclass(frozen=True)
class Thresholds:
    """When a measurement counts as unstable. Defaults suit a quiet machine: a shared one often trips them."""

    max_ci_rel: float = 0.03  # 95 % CI half-width of p50, as a share of p50
    max_round_spread: float = 0.10  # (max - min) of per-round medians, as a share of p50
    max_p90_ratio: float = 1.5  # p90 / p50: beyond it, more than a tenth of the queries were disturbed
    # compared with a reference measured in alternating rounds: (max - min) of the per-round p50 ratios, as a share
    # of the ratio. Slow drift moves both sides of a round alike, so this is the comparison's own noise.
    max_ratio_spread: float = 0.06


def quantile_ci(sorted_x: np.ndarray, q: float, confidence: float = 0.95) -> tuple[float | None, float | None]:
    """Distribution-free CI of the q-quantile: order statistics x_(l) <= Q_q <= x_(u) with binomial coverage
    >= ``confidence``. A bound that would need more samples than there are is None (unbounded)."""
    n = len(sorted_x)
    if n == 0:
        return None, None
    alpha = (1 - confidence) / 2
    k = np.arange(n + 1)
    # Binomial(n, q) pmf in log space via the ratio recurrence (exact for any n, no scipy)
    steps = np.log((n - k[:-1]) / (k[:-1] + 1)) + math.log(q / (1 - q))
    logpmf = n * math.log(1 - q) + np.concatenate([[0.0], np.cumsum(steps)])
    cdf = np.minimum(np.cumsum(np.exp(logpmf)), 1.0)
    # lower rank l (1-based): largest l with P(B <= l-1) <= alpha; upper rank u: smallest u with P(B >= u) <= alpha
    lows = np.flatnonzero(cdf <= alpha)
    lo_rank = int(lows[-1]) + 1 if len(lows) else 0
    highs = np.flatnonzero(1 - cdf <= alpha)  # 1 - cdf[k] = P(B > k) = P(B >= k+1)
    hi_rank = int(highs[0]) + 1 if len(highs) else n + 1
    lo = float(sorted_x[lo_rank - 1]) if lo_rank >= 1 else None
    hi = float(sorted_x[hi_rank - 1]) if hi_rank <= n else None
    return lo, hi


@dataclass(frozen=True)
class LatencyStats:
    n: int
    mean: float
    std: float
    cv: float
    min: float
    max: float
    percentiles: dict[int, float]
    ci: dict[int, tuple[float | None, float | None]]  # 95 % order-statistic interval per percentile
    round_medians: list[float]
    # p10 of each round: the machine at its fast speed (decide.noise compares files on these, see there)
    round_p10: list[float] = field(default_factory=list)
    speeds: dict | None = None  # two speed states, when the query times form them (speed_states)

    @property
    def p50(self) -> float:
        return self.percentiles[50]

    @property
    def ci_rel(self) -> float | None:
        """Half-width of the p50 interval as a share of p50 (None if the interval is unbounded)."""
        lo, hi = self.ci[50]
        return None if lo is None or hi is None else (hi - lo) / 2 / self.p50

    @property
    def round_spread(self) -> float:
        if len(self.round_medians) < 2:
            return 0.0
        return (max(self.round_medians) - min(self.round_medians)) / self.p50


def summarize(rounds: list[list[float]]) -> LatencyStats:
    """Per-round query times (ms) -> statistics over all queries, keeping the round medians for drift."""
    x = np.sort(np.concatenate([np.asarray(r, float) for r in rounds]))
    if len(x) == 0:
        raise ValueError("no measurements")
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if len(x) > 1 else 0.0
    pct = {p: float(np.percentile(x, p)) for p in PERCENTILES}
    return LatencyStats(
        n=len(x),
        mean=mean,
        std=std,
        cv=std / mean if mean else 0.0,
        min=float(x[0]),
        max=float(x[-1]),
        percentiles=pct,
        ci={p: quantile_ci(x, p / 100) for p in PERCENTILES},
        round_medians=[float(np.median(r)) for r in rounds if len(r)],
        round_p10=[float(np.percentile(r, 10)) for r in rounds if len(r)],
        speeds=speed_states(x),
    )


def speed_states(
    x: np.ndarray, min_ratio: float = 1.2, min_share: float = 0.05, max_valley: float = 0.5
) -> dict | None:
    """The two speeds of a machine that switches between them, or None when the query times form one cluster.

    On this 2-vCPU cloud VM a cache-resident model's times split into two clusters 1.5x apart (e.g. 0.26 and
    0.40 ms), each lasting a few to hundreds of queries, in a mix that changes from run to run (21-37 % fast in
    one model's six runs); steal stays under 1 %, so the host slows the core without taking it away. p50 then
    sits in whichever cluster holds the majority and moves with the mix, which no choice of rounds cancels.
    Two-means on log times splits them; they are two speeds when the histogram between the cluster medians dips
    to at most ``max_valley`` of the lower peak (one wide hump has no dip), the medians are >= ``min_ratio``
    apart and each cluster holds >= ``min_share`` of the queries (rare spikes are p99 material)."""
    logs = np.log(np.asarray(x, float))
    if len(logs) < 200:  # a histogram of fewer queries is too ragged to show a dip
        return None
    cut = (np.percentile(logs, 10) + np.percentile(logs, 90)) / 2
    for _ in range(100):
        fast, slow = logs[logs <= cut], logs[logs > cut]
        if len(fast) == 0 or len(slow) == 0:
            return None
        new_cut = (fast.mean() + slow.mean()) / 2
        if abs(new_cut - cut) < 1e-9:
            break
        cut = new_cut
    share, lo, hi = len(fast) / len(logs), float(np.median(fast)), float(np.median(slow))
    if math.exp(hi - lo) < min_ratio or min(share, 1 - share) < min_share:
        return None
    counts, edges = np.histogram(logs, bins=40, range=(np.percentile(logs, 1), np.percentile(logs, 99)))
    density = np.convolve(counts, np.ones(3) / 3, mode="same")  # 3-bin smoothing
    centres = (edges[:-1] + edges[1:]) / 2
    a, b = (min(int(np.searchsorted(centres, v)), len(centres) - 1) for v in (lo, hi))  # a cluster may sit at an edge
    if b - a < 2:
        return None
    valley = density[a:b].min() / min(density[: a + 1].max(), density[b:].max())
    if valley > max_valley:
        return None
    return {"fast_ms": math.exp(lo), "slow_ms": math.exp(hi), "fast_share": share, "valley": float(valley)}


def instability(s: LatencyStats, th: Thresholds) -> list[str]:
    """Why a measurement cannot be trusted; empty if it can: an uncertain median, medians that move between
    rounds, or a p90 far above p50 (a tenth of the queries disturbed, e.g. by another busy process). Rare
    spikes alone are not instability: every OS has some, and they are reported as p99."""
    reasons = []
    if s.ci_rel is None:
        reasons.append(f"too few queries ({s.n}) for a p50 confidence interval")
    elif s.ci_rel >= th.max_ci_rel:
        # at the limit counts: a limit of 0 asks for more certainty than any clock gives, and a half-width that
        # rounds to exactly 0 on a fast machine (equal timer ticks around the median) is unresolved, not certain
        reasons.append(f"p50 95% CI half-width {s.ci_rel:.1%} >= {th.max_ci_rel:.0%}")
    if s.round_spread > th.max_round_spread:
        reasons.append(f"round medians spread {s.round_spread:.1%} > {th.max_round_spread:.0%}")
    if s.percentiles[90] > th.max_p90_ratio * s.p50:
        reasons.append(
            f"p90 is {s.percentiles[90] / s.p50:.2f}x p50 (> {th.max_p90_ratio}x): queries are being disturbed"
        )
    return reasons


def ratio_instability(s: LatencyStats, ratio: dict[str, float], th: Thresholds) -> list[str]:
    """Why a comparison with the reference cannot be trusted; empty if it can. What a user decides on is the ratio
    (is the pruned file faster, by how much), so drift that moves every round's pair alike does not count: the
    per-round ratios must agree, the median must be certain, and few queries may be disturbed."""
    reasons = [r for r in instability(s, th) if not r.startswith("round medians spread")]
    spread = (ratio["max"] - ratio["min"]) / ratio["p50_ratio"] if ratio["p50_ratio"] else 0.0
    if spread > th.max_ratio_spread:
        reasons.append(
            f"p50 ratio to the reference spread {spread:.1%} across rounds "
            f"({ratio['min']:.3f}-{ratio['max']:.3f}) > {th.max_ratio_spread:.0%}"
        )
    return reasons


def ratio_with_spread(rounds: list[list[float]], ref_rounds: list[list[float]]) -> dict[str, float]:
    """p50 ratio to a reference measured in alternating rounds, with the min/max of the per-round ratios
    (each round's pair saw the same machine state, so their spread is the comparison's own noise)."""
    per_round = [float(np.median(a) / np.median(b)) for a, b in zip(rounds, ref_rounds) if len(a) and len(b)]
    overall = float(np.median(np.concatenate(rounds)) / np.median(np.concatenate(ref_rounds)))
    return {"p50_ratio": overall, "min": min(per_round), "max": max(per_round)}
