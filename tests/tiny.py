"""The tiny real recipe the end-to-end tests share: the small built-in ResNet, one epoch on a Fashion-MNIST
subset, exported and evaluated with a short latency budget (about a minute on 2 cores)."""

from __future__ import annotations


def tiny_recipe(
    name: str, *, limit_train: int = 1000, limit_test: int = 300, batch_size: int = 128, more_stages: str = ""
) -> str:
    """``more_stages``: recipe lines (already indented) that run between export and evaluate."""
    return f"""\
edgekit: 1
name: {name}
seed: 0
data: {{source: fashion-mnist, limit_train: {limit_train}, limit_test: {limit_test}}}
model: {{source: "edgekit:resnet-small", width: 0.5}}
stages:
  - {{id: train, kind: train, epochs: 1, lr: 3.0e-3, batch_size: {batch_size}}}
  - {{id: export, kind: export}}
{more_stages}  - {{id: evaluate, kind: evaluate, min_seconds: 0.2, latency_runs: 30}}
"""


# Bench settings for tests that check the structure of a timed prune (which candidates, which one kept, consistent
# figures), never its speed: a few short alternating rounds instead of prune_speed.SPEED_SETTINGS' five 1-second ones
# (the latency grid's ~13 candidates took ~30 s of CPU at those).
QUICK_PRUNE_TIMING = dict(warmup_runs=2, warmup_seconds=0.02, min_runs=20, min_seconds=0.05, rounds=2, round_warmup=1)
