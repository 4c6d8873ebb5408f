"""The one metrics row: what the evaluate stage (one row per ONNX artifact) and the prompted stage (one baseline
row) leave in run.json, and what report.json holds, with the same field names and the same shapes. Readers
(report, compare, check, the verdict) read these names and nothing else. Torch-free, a leaf.

    {"stage": "quantize", "role": "artifact", "file": "stages/quantize-…/model.onnx", "accuracy": 0.8874,
     "test_samples": 10000, "test_set": "…", "size_bytes": 11_500_000, "params": 11_170_000, "macs": 1_820_000_000,
     "threads": 1, "batch": 1, "latency_runs": 500, "latency_ms": {"p50": 7.3, "p90": 7.9, "p95": 8.2, "p99": 9.0},
     "peak_memory_bytes": 98_000_000, "unstable": false, "unstable_reasons": []}

A baseline row has ``role: "baseline"``, ``provider``, ``model`` and ``cost_per_1k`` (None when free or unknown),
and ``prompt``/``unparsed``/``usage`` where a chat model answered; ``not_compared`` says why one was not run;
a measurement it cannot make is None (an API model has no size). Units are in the names: ms, bytes, per 1k
queries; accuracy is a fraction in [0, 1].
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

PERCENTILES = ("p50", "p90", "p95", "p99")  # the latency percentiles edgekit measures, reports and gates
Percentile = Literal[PERCENTILES]  # type: ignore[valid-type]  (derived, so the vocabulary is written once)
Role = Literal["artifact", "baseline"]


class Row(TypedDict, total=False):
    stage: str  # the stage that produced the artifact (or the prompted stage's id)
    role: Role
    file: str | None  # the ONNX file, relative to the run directory
    accuracy: float | None
    chance_accuracy: float | None  # what always answering the most frequent class scores (edgekit.decide.sense)
    test_samples: int | None
    test_set: str | None  # digest of which test samples: accuracies are compared only on the same ones
    size_bytes: int | None
    params: int | None
    macs: int | None
    counts_unknown: str | None  # why params/MACs could not be counted, when they could not
    threads: int | None
    batch: int | None
    latency_runs: int | None
    latency_ms: dict[str, float]  # percentile name ("p50", ...) -> batch-1 latency in ms; only those measured
    latency_p50_ci95_ms: list[float] | None  # [low, high] 95 % order-statistic interval of p50 (edgekit.bench.stats)
    latency_round_p50_ms: list[
        float
    ]  # p50 of each alternating round, in order: rows of one evaluate stage compare round by round
    peak_memory_bytes: int | None
    gmacs_per_s: float | None  # MACs per second at p50 (batch x MACs / p50), in units of 1e9
    peak_fraction: float | None  # gmacs_per_s / the machine's attainable GMAC/s (edgekit.bench.peak), 0..1
    steal_percent: float | None  # CPU steal (% of all cores' time) while the artifact was measured
    unstable: bool | None
    unstable_reasons: list[str]
    # artifacts: accuracy on the seeded test subsets prompted baselines were scored on (test_set digest ->
    # {"accuracy", "test_samples"}), so the verdict compares them on the same samples
    accuracy_on: dict[str, dict[str, float]]
    provider: str  # baselines only
    model: str | None
    cost_per_1k: float | None  # money per 1000 queries: tokens (reported or estimated) x the recipe's price
    cost_estimated: bool  # the tokens behind cost_per_1k were estimated (the endpoint reported no usage)
    unparsed: int  # answers no class could be read from (scored wrong)
    prompt: dict[str, Any]  # what the model was asked and how answers were read (instruction/templates, parse_rule)
    usage: dict[
        str, Any
    ]  # remote providers: requests, cached, retries, prompt/completion tokens, "tokens": reported|estimated
    not_compared: str  # a baseline that was not run, and why (e.g. no endpoint configured): accuracy is None
    machine: dict | str | None  # a machine fingerprint, when the row was measured apart from its stage's metrics
    # report.json only (edgekit.report.build), artifacts: which model lineage the artifact belongs to
    lineage: list[str]  # the stages upstream of its producer, nearest first (export <- recover <- prune <- train)
    lineage_root: str  # the first stage of that chain (e.g. "train", or a stage with its own model: "small")
    lineage_model: (
        str | None
    )  # the model source that lineage starts from ("torchvision:resnet18", "edgekit:resnet-small")


def latency(row: dict[str, Any], percentile: str = "p50") -> float | None:
    """A row's batch-1 latency in ms at ``percentile``, or None when it was not measured."""
    return (row.get("latency_ms") or {}).get(percentile)
