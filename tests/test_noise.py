"""edgekit.decide.noise: the one rule for "different beyond noise" that the keep-float decision, the prune stage, the
sense checks and the shipping rule share."""

from edgekit.decide.noise import accuracy_tie, clearly_slower, latency_tie, size_tie, slower, slower_at_fast_speed


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


def test_slower_at_the_fast_speed_needs_a_material_median_round_and_four_rounds_in_five():
    assert slower_at_fast_speed([1.17, 1.15, 1.16, 1.18, 0.97])  # an INT8 file, one round wholly slow
    assert not slower_at_fast_speed([1.0, 0.99, 1.0, 0.99, 1.01, 1.0, 1.01, 1.0, 0.97, 0.99])  # twins
    assert not slower_at_fast_speed([1.17, 1.15, 0.99, 1.18, 0.97])  # 3 of 5
    assert slower_at_fast_speed([1.17, 1.15, 0.99, 1.18, 0.97, 1.16, 1.15, 1.14, 1.16, 1.15])  # 8 of 10
    assert not slower_at_fast_speed([1.04] * 5)  # every round, but within the 5 % tie
    assert not slower_at_fast_speed([1.3] * 4)  # too few rounds to tell


def test_rows_with_per_round_p10_are_compared_at_the_fast_speed():
    """Per-round p50 swings with the VM's speed (0.83-1.79x for one pair); p10 does not: the verdict reads p10."""
    a = {**_row(0.40, [0.33, 0.52, 0.34, 0.34, 0.32]), "latency_round_p10_ms": [0.31, 0.31, 0.31, 0.32, 0.30]}
    b = {**_row(0.30, [0.40, 0.28, 0.31, 0.29, 0.28]), "latency_round_p10_ms": [0.27, 0.27, 0.27, 0.28, 0.31]}
    assert slower(a, b) and not slower(b, a)
    assert not latency_tie(a, b)
