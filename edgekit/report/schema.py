"""The fields of report.json that `edgekit check` and `edgekit compare` rely on (schema edgekit.report/1).

Extra fields are allowed so a newer minor addition never breaks an older reader; a change to these is a new
schema version."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class RowModel(_Open):
    id: str
    role: str = Field(pattern="^(artifact|baseline)$")
    stage: str
    kind: str
    accuracy: float | None = Field(ge=0, le=1)
    size_bytes: int | None = Field(ge=0)
    latency_ms: dict[str, float]
    params: int | None = None
    macs: int | None = None
    machine: str | None = None


class ParetoModel(_Open):
    frontier: list[str]


class ReportModel(_Open):
    schema_: str = Field(alias="schema")
    recipe: dict
    reference: str | None
    final: str | None
    artifacts: list[RowModel]
    baselines: list[RowModel]
    machines: dict
    pareto: ParetoModel
    budgets: dict | None = None
