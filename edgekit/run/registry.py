"""The one registry of stage kinds. A stage kind is a strict config model plus a run function.

    @register_stage(TrainConfig, consumes="torch?", produces="torch")
    def run(ctx: StageContext, cfg: TrainConfig) -> dict: ...

A leaf: a stage module registers itself here; ``edgekit.stages`` imports every built-in stage module and
hands out the complete table (``stage_kinds()``), so nothing here imports a stage back.

``consumes`` says which earlier artifact the stage reads: "torch" or "onnx" (nearest earlier stage
producing it, or the stage named by ``input:``), "torch?" (optional: train from the recipe's model if
none), "onnx*" (every ONNX artifact so far, e.g. evaluate) or "model" (the recipe's own ``onnx:`` file,
import). ``produces`` is "torch", "onnx" or None.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edgekit.recipe.strict import StageConfig
from edgekit.recipe.variants import members

CONSUMES = ("torch", "torch?", "onnx", "onnx*", "model", None)
PRODUCES = ("torch", "onnx", None)


@dataclass(frozen=True)
class StageKind:
    name: str
    config: Any  # a StageConfig class, or a union of them discriminated by a tag key (edgekit.recipe.variants)
    run: Callable[..., dict[str, Any]]
    consumes: str | None
    produces: str | None
    needs: str  # the optional-dependency extra the run needs ("" for the torch-free base)
    # precheck(loaded, cfg, model, example): raises RecipeError when this stage could never run on ``model``; called
    # by a train stage upstream before it trains, so such a recipe fails in seconds instead of after the training
    precheck: Callable[..., None] | None = None


STAGES: dict[str, StageKind] = {}


def register_stage(
    config: Any,
    *,
    consumes: str | None,
    produces: str | None,
    needs: str = "shrink",
    precheck: Callable[..., None] | None = None,
):
    names = {m.model_fields["kind"].default for m in members(config)[0]}
    name = names.pop() if len(names) == 1 else None
    if not isinstance(name, str) or not all(issubclass(m, StageConfig) for m in members(config)[0]):
        raise TypeError(f"{config!r}: every model needs the same Literal default for kind, naming the stage kind")
    if consumes not in CONSUMES or produces not in PRODUCES:
        raise ValueError(f"stage '{name}': consumes must be one of {CONSUMES}, produces one of {PRODUCES}")

    def wrap(fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        if name in STAGES:
            raise ValueError(f"stage kind '{name}' is registered twice")
        STAGES[name] = StageKind(name, config, fn, consumes, produces, needs, precheck)
        return fn

    return wrap
