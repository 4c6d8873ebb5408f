"""Torch-free benchmarking: latency with confidence intervals, memory, size, params/MACs and accuracy of ONNX
models on the machine it runs on. Nothing here imports torch (tests/test_bench.py proves it)."""

from edgekit.bench.harness import PRESETS, BenchRun, Case, CaseResult, Settings, bench, settings_for
from edgekit.bench.schema import SCHEMA, document

__all__ = ["PRESETS", "SCHEMA", "BenchRun", "Case", "CaseResult", "Settings", "bench", "document", "settings_for"]
