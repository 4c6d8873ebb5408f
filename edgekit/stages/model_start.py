"""A stage's fresh model from a ``model:`` config (train, distill): built, with weights loaded where given."""

from __future__ import annotations

from edgekit.recipe.model_config import ModelConfig
from edgekit.run.stage import StageContext


def start_model(ctx: StageContext, model_cfg: ModelConfig, ds, normalize: bool = False):
    """A fresh model (pretrained weights where the source has them) -> (model, spec, extra for model.json).
    Errors point at the stage's own ``model:`` when it has one, else at the recipe's."""
    from edgekit.errors import InputError
    from edgekit.fsutil import resolve_path
    from edgekit.torchkit.models import build_model, load_state, load_weights

    own = getattr(ctx.cfg, "model", None) is not None
    where = ctx.loaded.stage_loc(ctx.cfg.id, "model") if own else ("model",)
    if ds.kind == "text":
        from edgekit.torchkit.text import new_text_model

        try:
            model, spec, pre = new_text_model(model_cfg, ds, ctx.loaded.file.parent, normalize=normalize)
        except InputError as e:
            raise ctx.loaded.error((*where, "source"), e.message.removeprefix("model.source: ")) from None
        return model, spec, {"preprocess": pre}
    spec = {**model_cfg.model_dump(), "num_classes": len(ds.classes), "in_channels": ds.input_shape[0]}
    if spec["source"].startswith("python:"):  # later stages rebuild the model from its module, next to the recipe
        spec["code_dir"] = str(ctx.loaded.file.parent.resolve())
    model = build_model(spec, spec["num_classes"], spec["in_channels"])
    weights = spec.get("weights")
    if weights and weights != "imagenet":
        path = resolve_path(weights, ctx.loaded.file.parent)
        if not path.is_file():
            raise ctx.loaded.error((*where, "weights"), f"{path}: no such weights file")
        try:
            load_state(model, load_weights(path))
        except (RuntimeError, OSError, ValueError) as e:
            raise ctx.loaded.error(
                (*where, "weights"), f"{path}: does not fit the model ({str(e).splitlines()[0]})"
            ) from None
    return model, spec, {}
