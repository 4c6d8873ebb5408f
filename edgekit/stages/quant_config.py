"""Recipe settings every quantize stage shares: the accuracy guard, calibration, and how candidates are measured."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from edgekit.quant.measure import MeasureSettings
from edgekit.quant.tolerance import Tolerance
from edgekit.recipe.strict import StageConfig, Strict


class CalibrationConfig(Strict):
    samples: int = Field(512, ge=1, le=1_000_000, description="training samples, class-stratified and seeded")
    method: Literal["minmax", "entropy", "percentile"] = Field("minmax", description="activation range estimator")
    percentile: float = Field(
        99.999, gt=90, le=100, description="kept share of each activation histogram (percentile method)"
    )
    batch_size: int = Field(32, ge=1, le=4096, description="samples per calibration batch (bounds memory)")


class GuardedQuantConfig(StageConfig):
    """Base of the quantize stages (not a stage kind itself)."""

    max_accuracy_drop: float | str = Field(
        0.5, description="largest validation-accuracy loss: points (0.5) or percent of the float accuracy ('1%')"
    )
    on_miss: Literal["fail", "keep-best"] = Field(
        "fail", description="no candidate meets the tolerance: fail the run (exit 1) or keep the best candidate"
    )
    prefer_faster: bool = Field(True, description="keep the float model when INT8 measures slower on this machine")
    calibration: CalibrationConfig = Field(
        default_factory=CalibrationConfig, description="samples and method used to choose activation ranges"
    )
    val_samples: int | None = Field(
        None, ge=1, description="validation samples each candidate is scored on (default: all)"
    )
    threads: int = Field(1, ge=1, le=256, description="onnxruntime threads for the batch-1 latency measurement")
    latency_runs: int = Field(
        50, ge=1, le=100_000, description="at least this many timed batch-1 queries per candidate"
    )
    min_seconds: float = Field(1.0, ge=0, le=600, description="and at least this long")

    @field_validator("max_accuracy_drop")
    @classmethod
    def _tolerance(cls, v: float | str) -> float | str:
        Tolerance.parse(v)  # validates only; the value is kept as written
        return v

    @property
    def tolerance(self) -> Tolerance:
        return Tolerance.parse(self.max_accuracy_drop)

    def measure_settings(self, accuracy_threads: int) -> MeasureSettings:
        return MeasureSettings(self.threads, accuracy_threads, self.latency_runs, self.min_seconds)
