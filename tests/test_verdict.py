"""The verdict over several lineages: the shipped artifact against the pick of each other lineage (by the same
shipping rule within it) and each baseline, with differences within noise called ties. Constructed rows."""

from __future__ import annotations

from edgekit.decide.verdict import lineage_picks, verdict


def art(ident, root, model, acc, size, p50, rounds, kind="quantize"):
    return {
        "id": ident,
        "kind": kind,
        "lineage_root": root,
        "lineage_model": model,
        "accuracy": acc,
        "size_bytes": size,
        "latency_ms": {"p50": p50},
        "latency_round_p50_ms": rounds,
        "measured_by": "evaluate",
        "test_samples": 10_000,
        "test_set": "t",
    }


BIG = [
    art("export", "train", "torchvision:resnet18", 0.905, 45_700_000, 3.6, [3.5, 3.6, 3.7], "export"),
    art("int8-pruned", "train", "torchvision:resnet18", 0.902, 2_900_000, 0.60, [0.60, 0.61, 0.60]),
]
SMALL = [
    art("export-small", "small", "edgekit:resnet-small", 0.880, 300_000, 0.25, [0.25, 0.26, 0.25], "export"),
    art("int8-small", "small", "edgekit:resnet-small", 0.860, 110_000, 0.30, [0.30, 0.31, 0.30]),
]


def test_each_other_lineage_is_represented_by_what_the_rule_would_ship_from_it():
    # int8-small is 2 pt below its own fp32 export: the rule would ship export-small from that lineage
    assert [a["id"] for a in lineage_picks(BIG + SMALL, BIG[1])] == ["export-small"]
    assert lineage_picks(BIG, BIG[1]) == []
    # accuracies are compared on the same test samples only
    assert lineage_picks(BIG + [{**a, "test_set": "other"} for a in SMALL], BIG[1]) == []


def test_verdict_names_the_winner_by_how_much_and_calls_noise_a_tie():
    v = verdict(BIG + SMALL, [], "int8-pruned")
    assert v.baseline is None and [r["contender"] for r in v.rows] == ["int8-pruned", "export-small"]
    assert v.sentence.startswith(
        "ship int8-pruned (2.90 MB, p50 0.600 ms, 90.20 %): 2.2 pt more accurate, 9.7x larger, 2.4x slower than the "
        "edgekit:resnet-small lineage (export-small): 0.30 MB, 0.250 ms, 88.00 % (on 10000 test samples"
    )
    assert v.sentence.endswith("A trade-off or tie with export-small.")
    assert v.contenders[0]["outcome"] == "trade-off" and v.rows[1]["kind"] == "lineage (edgekit:resnet-small)"
    # a small model within noise of the big one (0.3 pt on 10,000 samples), smaller and faster in every round: it wins
    close = [art("export-small", "small", "edgekit:resnet-small", 0.899, 300_000, 0.25, [0.25, 0.26, 0.25], "export")]
    v = verdict(BIG + close, [], "int8-pruned")
    c = v.contenders[0]
    assert c["accuracy_tie"] and c["outcome"] == "contender wins" and "as accurate within noise (±0.8 pt)" in v.sentence
    assert v.sentence.endswith("export-small beats it.")
    # it beats the shipped one within the noise, yet the rule's budget (against the reference export) left it out:
    # the verdict says why, instead of contradicting the ship
    why = "too inaccurate: 89.90 % is 0.60 pt below export (90.50 %), over the 0.5 pt budget"
    v = verdict(BIG + close, [], "int8-pruned", {"export-small": why, "export": "dominated"})
    assert v.sentence.endswith(f"export-small beats it (export-small was not shipped: {why}).")
    # latencies the rounds disagree on are a tie
    mixed = [art("export-small", "small", "edgekit:resnet-small", 0.880, 2_900_000, 0.61, [0.59, 0.62, 0.61], "export")]
    c = verdict(BIG + mixed, [], "int8-pruned").contenders[0]
    assert c["latency_tie"] and c["outcome"] == "shipped wins"
