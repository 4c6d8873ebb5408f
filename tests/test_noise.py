"""edgekit.decide.noise: the one rule for "different beyond noise" that the keep-float decision, the prune stage, the
sense checks and the shipping rule share."""

from edgekit.decide.noise import accuracy_tie, clearly_slower, inconclusive, latency_tie, mostly_slower, size_tie


def test_clearly_slower_needs_every_round_and_a_material_difference():
    assert clearly_slower(1.30, 1.22)
    assert not clearly_slower(1.0102, 1.0023)  # a CI run's twin files: slower in all 5 rounds, by 1 %
    assert not clearly_slower(1.30, 0.98)  # one round had it faster
    assert not clearly_slower(None, 1.2) and not clearly_slower(1.3, None)  # older metrics without rounds


def _row(p50, rounds):
    return {"latency_ms": {"p50": p50}, "latency_round_p50_ms": rounds, "measured_by": "evaluate"}


def test_latency_tie_over_rounds_is_symmetric_and_needs_a_material_difference():
    base = _row(1.00, [1.00, 1.00, 1.00])
    cases = [
        (_row(0.99, [0.99, 0.98, 0.99]), True),  # faster in every round, by 1 %: a tie
        (_row(0.80, [0.80, 0.82, 0.79]), False),  # faster in every round, by 20 %
        (_row(0.80, [0.80, 1.02, 0.79]), True),  # one round the other way
        (_row(1.25, [1.20, 1.30, 1.25]), False),
    ]
    for other, tie in cases:
        assert latency_tie(base, other) == latency_tie(other, base) == tie, other


def test_accuracy_and_size_ties():
    assert accuracy_tie(0.902, 0.900, 10_000, 10_000) and not accuracy_tie(0.95, 0.90, 10_000, 10_000)
    assert size_tie(1_000_000, 1_009_000) and not size_tie(1_000_000, 1_100_000)


def test_a_slower_median_with_one_round_at_parity_is_looked_at_again_and_judged_over_ten_rounds():
    assert inconclusive(1.10, 1.00) and not inconclusive(1.10, 1.04) and not inconclusive(1.03, 0.9)
    assert mostly_slower(1.10, [1.1, 1.12, 1.0, 1.09, 1.1, 1.08, 1.11, 1.1, 1.1, 1.07])  # 9 of 10
    assert not mostly_slower(1.10, [1.1, 1.12, 1.0, 0.99, 1.1, 1.08, 1.11, 1.1, 1.1, 1.07])  # 8 of 10
    assert not mostly_slower(1.03, [1.03] * 10)  # every round, but within the 5 % tie
    assert not mostly_slower(1.10, [1.1] * 5)  # five rounds are clearly_slower's to judge
