"""Built-in stage kinds, imported explicitly so the registry is complete and its order is fixed."""

from edgekit.run.registry import STAGES, StageKind
from edgekit.stages import distill, evaluate, export, import_onnx, inc_quantize, prompted, prune, qat, quantize, train  # noqa: F401


def stage_kinds() -> dict[str, StageKind]:
    """Every registered stage kind. Stage modules keep heavy imports inside run(), so this stays light."""
    return STAGES
