"""Which earlier stage(s) each stage reads, decided from the recipe alone (so `edgekit validate` catches
miswiring before anything runs)."""

from __future__ import annotations

from edgekit.recipe.model import LoadedRecipe
from edgekit.run.registry import StageKind

NAMES = {"torch": "a torch model", "onnx": "an ONNX model", None: "no model"}


def wire(loaded: LoadedRecipe, kinds: dict[str, StageKind]) -> dict[str, list[str]]:
    """Stage id -> ids of the stages whose artifacts it consumes, in order."""
    produced: list[tuple[str, str | None]] = []  # (stage id, what it produces)
    wiring: dict[str, list[str]] = {}
    for cfg in loaded.recipe.stages:
        kind = kinds[cfg.kind]
        want = (kind.consumes or "").rstrip("?*")
        loc = loaded.stage_loc(cfg.id, "input" if cfg.input else "kind")
        own_model = kind.consumes == "torch?" and getattr(cfg, "model", None) is not None
        if own_model and cfg.input is not None:
            raise loaded.error(
                loc, "a stage with its own model: starts from it and reads no earlier stage; drop input: or model:"
            )
        if kind.consumes == "model":  # the recipe's own ONNX file, not an earlier stage
            if loaded.recipe.model is None or not loaded.recipe.model.source.startswith("onnx:"):
                raise loaded.error(
                    loc, f"'{cfg.kind}' reads the recipe's model: {{source: onnx:PATH}}, and the recipe has none"
                )
            wiring[cfg.id] = []
        elif not kind.consumes or own_model:
            wiring[cfg.id] = []  # reads nothing, or starts its own lineage from its own model:
        elif cfg.input is not None:
            made = dict(produced)[cfg.input]
            if made != want:
                raise loaded.error(loc, f"stage '{cfg.input}' produces {NAMES[made]}, '{cfg.kind}' needs {NAMES[want]}")
            wiring[cfg.id] = [cfg.input]
        else:
            matches = [sid for sid, made in produced if made == want]
            if kind.consumes.endswith("*"):
                wiring[cfg.id] = matches
            else:
                wiring[cfg.id] = matches[-1:]
            if not matches and kind.consumes.endswith("?"):
                if loaded.recipe.model is None:
                    raise loaded.error(
                        loc, f"'{cfg.kind}' starts from the recipe's model, but the recipe has no model: key"
                    )
                if loaded.recipe.model.source.startswith("onnx:"):
                    raise loaded.error(
                        loc,
                        f"'{cfg.kind}' needs a torch model; an onnx: model is already trained "
                        f"(start with {{kind: import}}, then quantize and evaluate)",
                    )
            elif not matches:
                raise loaded.error(loc, f"'{cfg.kind}' needs an earlier stage that produces {NAMES[want]}")
        # a qat stage also reads the quantize stage it backs: its last input, so its model lineage stays the torch one
        after = getattr(cfg, "after", None)
        if after is not None:
            kinds_by_id = {c.id: c.kind for c in loaded.recipe.stages}
            if after not in dict(produced) or not kinds_by_id[after].endswith("quantize"):
                raise loaded.error(
                    loaded.stage_loc(cfg.id, "after"), f"after: '{after}' is not an earlier quantize stage"
                )
            backed = next(c for c in loaded.recipe.stages if c.id == after)
            if getattr(backed, "on_miss", "keep-best") == "fail":
                # a miss there fails the run before this stage is reached: the rung could never run
                raise loaded.error(
                    loaded.stage_loc(cfg.id, "after"),
                    f"after: '{after}' fails the run when post-training INT8 misses (on_miss: fail), so this qat "
                    f"stage could never run (set on_miss: keep-best on '{after}')",
                )
            # QAT must fine-tune the model whose export the quantize stage measured, or its "miss" says nothing
            exported = (wiring[after] or [None])[0]
            source = (wiring.get(exported) or [None])[0] if exported and kinds_by_id[exported] == "export" else None
            if source is not None and wiring[cfg.id] and source != wiring[cfg.id][0]:
                raise loaded.error(
                    loaded.stage_loc(cfg.id, "after"),
                    f"after: '{after}' quantizes the export of '{source}', but this stage reads "
                    f"'{wiring[cfg.id][0]}' (set input: {source})",
                )
            wiring[cfg.id] = [*wiring[cfg.id], after]
        produced.append((cfg.id, kind.produces))
    return wiring
