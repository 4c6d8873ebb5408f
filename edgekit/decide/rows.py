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

A task's metric (issue 32): ``accuracy`` always holds the task's PRIMARY metric, so every reader works unchanged;
``metric`` names it (absent: "accuracy"; a detector: "mAP@0.5:0.95") and display code shows the value under that
name (metric_name), never as "accuracy". A detection row also carries ``metrics`` (every metric of the task by name,
e.g. {"mAP@0.5:0.95": 0.41, "mAP@0.5": 0.66}), ``chance_accuracy: 0.0``, ``test_samples`` (test images),
``accuracy_ci95`` ([low, high]: 95 % bootstrap interval over test images of the primary metric; edgekit.decide.noise
ties on it; absent, the binomial interval from test_samples applies) and ``mean_detections`` (boxes per test image
after NMS; 0 means NMS kept nothing, edgekit.decide.sense). Budgets' ``max_accuracy_drop_pt`` is in points of the
primary metric.

    {"stage": "quantize", "role": "artifact", "metric": "mAP@0.5:0.95", "accuracy": 0.412,
     "metrics": {"mAP@0.5:0.95": 0.412, "mAP@0.5": 0.655}, "accuracy_ci95": [0.391, 0.433], "chance_accuracy": 0.0,
     "test_samples": 200, "mean_detections": 3.4, ...}
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

from edgekit.units import fmt_acc

PERCENTILES = ("p50", "p90", "p95", "p99")  # the latency percentiles edgekit measures, reports and gates
Percentile = Literal[PERCENTILES]  # type: ignore[valid-type]  (derived, so the vocabulary is written once)
Role = Literal["artifact", "baseline"]


class Row(TypedDict, total=False):
    stage: str  # the stage that produced the artifact (or the prompted stage's id)
    role: Role
    file: str | None  # the ONNX file, relative to the run directory
    accuracy: float | None  # the task's primary metric (named by ``metric``), a fraction in [0, 1]
    metric: str  # the primary metric's name; absent: "accuracy" (metric_name)
    metrics: dict[str, float]  # every metric of the task by name, the primary one included (detection)
    accuracy_ci95: list[float] | None  # [low, high] 95 % interval of ``accuracy`` (bootstrap over test images)
    mean_detections: float | None  # detection: boxes per test image after NMS (0: NMS kept nothing)
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
    latency_round_p10_ms: list[float]  # p10 of each round: what decide.noise.slower compares (the fast speed)
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


ACCURACY = "accuracy"  # the metric a row without ``metric`` is scored on (classification)


def metric_name(row: dict[str, Any]) -> str:
    """The name of the metric a row's ``accuracy`` holds: "accuracy" for classification, e.g. "mAP@0.5:0.95"."""
    name = row.get("metric")
    return name if isinstance(name, str) and name else ACCURACY


def metric_of(rows: list[dict[str, Any]]) -> str:
    """The primary metric a set of rows (one run's) is scored on: the first row that names one, else "accuracy"."""
    return next((metric_name(r) for r in rows if metric_name(r) != ACCURACY), ACCURACY)


def shown(row: dict[str, Any]) -> str:
    """A row's primary metric as sentences say it: "90.10 %" for accuracy, "mAP@0.5:0.95 41.20 %" otherwise."""
    name, value = metric_name(row), fmt_acc(row.get("accuracy"))
    return value if name == ACCURACY else f"{name} {value}"


def latency(row: dict[str, Any], percentile: str = "p50") -> float | None:
    """A row's batch-1 latency in ms at ``percentile``, or None when it was not measured."""
    return (row.get("latency_ms") or {}).get(percentile)
