"""Where one arm's curve crosses another's, beyond the noise (numpy only, no torch).

Noise at a size has two parts, both in accuracy units:

    seed-to-seed   sample standard deviation over the seeds (which examples were drawn, training randomness),
                   as the standard error of the mean over k seeds: sd / sqrt(k). A size with one seed borrows
                   the sd of the largest smaller size with several (the spread shrinks as sizes grow, so
                   this overstates it rather than ignore it).
    test set       binomial: p (1 - p) / n_test for each arm's accuracy p on n_test samples; or, for a metric
                   that is no proportion (mAP), the variance its points' bootstrap intervals give (``test_var``:
                   size -> variance, from a 95 % interval [lo, hi] as ((hi - lo) / (2 * 1.96))^2).

Arm a beats arm b at a size when mean_a - mean_b - 1.96 * sqrt(sum of the four variances) > 0.
The crossover N* of a over b is the smallest size from which a beats b at that size *and every larger one*;
without one the answer is "not reached up to <largest size>".

    >>> a = {10: [0.50, 0.52, 0.48], 100: [0.80, 0.81, 0.79], 1000: [0.90]}
    >>> b = {10: [0.70], 100: [0.70], 1000: [0.70]}
    >>> crossover(a, b, n_test=2000)["n_star"]
    100
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

Z95 = 1.96


def seed_sd(curve: Mapping, size) -> float:
    """Seed-to-seed standard deviation at ``size``; borrowed from a smaller multi-seed size when it has one seed."""
    sizes = list(curve)
    accs = curve[size]
    if len(accs) >= 2:
        m = sum(accs) / len(accs)
        return math.sqrt(sum((a - m) ** 2 for a in accs) / (len(accs) - 1))
    earlier = [s for s in sizes[: sizes.index(size)] if len(curve[s]) >= 2]
    return seed_sd(curve, earlier[-1]) if earlier else 0.0


def variance_of_mean(curve: Mapping, size, n_test: int, test_var: Mapping | None = None) -> float:
    """Variance of the arm's mean accuracy at ``size``: seeds' share plus the test set's (binomial, or the
    points' own bootstrap variance when ``test_var`` gives one)."""
    accs = curve[size]
    m = sum(accs) / len(accs)
    test = test_var[size] if test_var is not None else m * (1 - m) / max(1, n_test)
    return seed_sd(curve, size) ** 2 / len(accs) + test


def bootstrap_var(interval: Sequence[float]) -> float:
    """The variance a 95 % interval [lo, hi] stands for (normal approximation)."""
    return ((interval[1] - interval[0]) / (2 * Z95)) ** 2


def summary(curve: Mapping, size, n_test: int, test_var: Mapping | None = None) -> dict:
    """Mean, 95 % half-width, seed sd and seed count of one arm at one size."""
    accs = curve[size]
    return {
        "mean": sum(accs) / len(accs),
        "ci95": Z95 * math.sqrt(variance_of_mean(curve, size, n_test, test_var)),
        "seed_sd": seed_sd(curve, size),
        "seeds": len(accs),
    }


def compare(
    a: Mapping, b: Mapping, size, n_test: int, var_a: Mapping | None = None, var_b: Mapping | None = None
) -> dict:
    """a vs b at one size: difference of means, its 95 % half-width, and 'a' / 'b' / 'tie'."""
    diff = sum(a[size]) / len(a[size]) - sum(b[size]) / len(b[size])
    half = Z95 * math.sqrt(variance_of_mean(a, size, n_test, var_a) + variance_of_mean(b, size, n_test, var_b))
    winner = "a" if diff - half > 0 else "b" if diff + half < 0 else "tie"
    return {"size": size, "diff": round(diff, 5), "ci95": round(half, 5), "winner": winner}


def crossover(
    a: Mapping,
    b: Mapping,
    n_test: int,
    sizes: Sequence | None = None,
    var_a: Mapping | None = None,
    var_b: Mapping | None = None,
) -> dict:
    """The crossover of arm ``a`` over arm ``b`` (curves: size -> accuracies, one per seed, sizes in increasing
    order; var_a / var_b: their test-set variances by size where not binomial). ``n_star``: the smallest size from
    which a beats b at every size, else None; ``b_wins_up_to``: the largest size (below n_star) where b is better
    beyond the noise, else None."""
    sizes = [s for s in (sizes or list(a)) if s in a and s in b]
    per_size = [compare(a, b, s, n_test, var_a, var_b) for s in sizes]
    n_star = None
    for c in reversed(per_size):
        if c["winner"] != "a":
            break
        n_star = c["size"]
    before = [
        c["size"]
        for c in per_size
        if c["winner"] == "b" and (n_star is None or sizes.index(c["size"]) < sizes.index(n_star))
    ]
    return {
        "n_star": n_star,
        "largest": sizes[-1] if sizes else None,
        "b_wins_up_to": before[-1] if before else None,
        "per_size": per_size,
    }


def flat(accuracy: float, sizes: Sequence) -> dict:
    """A prompted zero-shot arm as a curve: the same single accuracy at every size (it uses no labels)."""
    return {s: [accuracy] for s in sizes}
