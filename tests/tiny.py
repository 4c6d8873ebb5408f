"""The tiny real recipe the end-to-end tests share: the small built-in ResNet, one epoch on a Fashion-MNIST
subset, exported and evaluated with a short latency budget (about a minute on 2 cores)."""

from __future__ import annotations


def tiny_recipe(
    name: str,
    *,
    limit_train: int = 1000,
    limit_test: int = 300,
    batch_size: int = 128,
    more_stages: str = "",
    width: float = 0.5,
    epochs: int = 1,
    lr: str | None = "3.0e-3",
    seed: int = 0,
    head: str = "",
    export: str = "",
    evaluate: str = "min_seconds: 0.2, latency_runs: 30",
) -> str:
    """``more_stages``: recipe lines (already indented) that run between export and evaluate; ``head``: top-level
    lines after ``seed`` (``threads: 1``); ``export``, ``evaluate``: those stages' options, e.g. ``"opset: 19"``;
    ``lr=None`` leaves the train stage's default learning rate."""
    train = f"epochs: {epochs}" + (f", lr: {lr}" if lr is not None else "") + f", batch_size: {batch_size}"
    return f"""\
edgekit: 1
name: {name}
seed: {seed}
{head}data: {{source: fashion-mnist, limit_train: {limit_train}, limit_test: {limit_test}}}
model: {{source: "edgekit:resnet-small", width: {width}}}
stages:
  - {{id: train, kind: train, {train}}}
  - {{id: export, kind: export{", " + export if export else ""}}}
{more_stages}  - {{id: evaluate, kind: evaluate{", " + evaluate if evaluate else ""}}}
"""


# Bench settings for tests that check the structure of a timed prune (which candidates, which one kept, consistent
# figures), never its speed: a few short alternating rounds instead of prune_speed.SPEED_SETTINGS' five 1-second ones
# (the latency grid's ~13 candidates took ~30 s of CPU at those).
QUICK_PRUNE_TIMING = dict(warmup_runs=2, warmup_seconds=0.02, min_runs=20, min_seconds=0.05, rounds=2, round_warmup=1)
