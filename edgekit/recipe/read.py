"""Recipe v1: plain YAML validated by strict, typed models.

Errors name the file, the line and the key path, e.g.
``recipe.yaml:14: stages[2].ratio: must be less than 1, got 1.5``.
Stage configs are validated one by one against the model their ``kind`` registered (for a union such as the
prompted stage's, the member its tag names: edgekit.recipe.variants), so a path never contains a union tag and an
unknown kind gets a did-you-mean.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from edgekit.recipe.budgets import FINAL
from edgekit.errors import RecipeError
from edgekit.recipe.graph import wire
from edgekit.recipe.model_config import ModelConfig  # noqa: F401  (re-exported: the recipe's models are read from here)
from edgekit.recipe.model import DataConfig, LoadedRecipe, Recipe  # noqa: F401
from edgekit.stages import stage_kinds
from edgekit.recipe.strict import StageConfig
from edgekit.recipe.variants import VariantError, members, pick
from edgekit.recipe.yamlerrors import Loc, format_error, map_lines, validate
from edgekit.recipe.yamlsafe import compose_and_load, read_text


def parse(text: str, file: Path) -> LoadedRecipe:
    """Validate recipe text; raise RecipeError naming file, line and key on the first problem."""
    STAGES = stage_kinds()

    node, data = compose_and_load(text, file)
    if node is None or data is None:
        raise RecipeError(f"{file}: the recipe is empty")
    if not isinstance(data, dict):
        raise RecipeError(f"{file}:1: a recipe is a YAML mapping (key: value), got {type(data).__name__}")
    lines: dict[Loc, int] = {}
    map_lines(node, (), lines, file)

    raw_stages = data.get("stages")
    header = dict(data)
    if isinstance(raw_stages, list):
        header["stages"] = [{"id": "x", "kind": "x"}] if raw_stages else []
    recipe = validate(Recipe, header, file, lines)

    stages: list[StageConfig] = []
    for i, raw in enumerate(raw_stages):
        loc: Loc = ("stages", i)
        if not isinstance(raw, dict):
            raise RecipeError(format_error(file, lines, loc, f"a stage is a mapping with 'id' and 'kind', got {raw!r}"))
        kind = raw.get("kind")
        if kind not in STAGES:
            hint = difflib.get_close_matches(str(kind), list(STAGES), n=1)
            hint_s = f" (did you mean '{hint[0]}'?)" if hint else f"; known kinds: {', '.join(sorted(STAGES))}"
            raise RecipeError(format_error(file, lines, loc + ("kind",), f"unknown stage kind {kind!r}{hint_s}"))
        try:
            model = pick(STAGES[kind].config, raw)
        except VariantError as e:
            raise RecipeError(format_error(file, lines, loc + (e.key,), e.message)) from None
        stages.append(validate(model, raw, file, lines, loc))

    recipe = recipe.model_copy(update={"stages": stages})
    loaded = LoadedRecipe(recipe=recipe, file=file, text=text, lines=lines)
    _check_graph(loaded)
    return loaded


def _check_graph(loaded: LoadedRecipe) -> None:
    """Ids unique, inputs point backwards, every stage finds the artifact it consumes."""
    seen: set[str] = set()
    for i, st in enumerate(loaded.recipe.stages):
        if st.id in seen:
            raise loaded.error(("stages", i, "id"), f"duplicate stage id '{st.id}'")
        if st.input is not None and st.input not in seen:
            hint = difflib.get_close_matches(st.input, list(seen), n=1)
            raise loaded.error(
                ("stages", i, "input"),
                f"no earlier stage '{st.input}'" + (f" (did you mean '{hint[0]}'?)" if hint else ""),
            )
        seen.add(st.id)
        problem = st.check_recipe(loaded.recipe)
        if problem is not None:
            raise loaded.error(("stages", i, problem[0]), problem[1])
    wire(loaded, stage_kinds())
    _check_budget_targets(loaded, seen)
    _check_ship_targets(loaded, seen)


def _check_budget_targets(loaded: LoadedRecipe, ids: set[str]) -> None:
    """Budgets that name an artifact must name a stage of this recipe."""
    b = loaded.recipe.budgets
    if b is None:
        return
    if not b.sets_a_limit():
        raise loaded.error(
            ("budgets",), "sets no limit (e.g. max_size_mb, min_accuracy_pct, regression); remove it or add one"
        )
    named = [(("budgets", "artifact"), b.artifact), (("budgets", "reference"), b.reference)]
    named += [(("budgets", "artifacts", k), k) for k in b.artifacts]
    for loc, target in named:
        if target is not None and target != FINAL and target not in ids:
            hint = difflib.get_close_matches(target, list(ids), n=1)
            raise loaded.error(
                loc, f"no stage '{target}' in this recipe" + (f" (did you mean '{hint[0]}'?)" if hint else "")
            )


def _check_ship_targets(loaded: LoadedRecipe, ids: set[str]) -> None:
    """ship.stage names a stage that produces an ONNX file; ship.reference a stage of this recipe."""
    s = loaded.recipe.ship
    if s is None:
        return
    for key, target in (("stage", s.stage), ("reference", s.reference)):
        if target is None:
            continue
        if target not in ids:
            hint = difflib.get_close_matches(target, list(ids), n=1)
            raise loaded.error(
                ("ship", key), f"no stage '{target}' in this recipe" + (f" (did you mean '{hint[0]}'?)" if hint else "")
            )
        cfg = next(c for c in loaded.recipe.stages if c.id == target)
        if stage_kinds()[cfg.kind].produces != "onnx":
            onnx = [c.id for c in loaded.recipe.stages if stage_kinds()[c.kind].produces == "onnx"]
            raise loaded.error(
                ("ship", key),
                f"stage '{target}' ({cfg.kind}) makes no ONNX file to ship or compare; "
                f"ONNX stages: {', '.join(onnx) or 'none'}",
            )


def load(path: str | Path) -> LoadedRecipe:
    path = Path(path)
    return parse(read_text(path, "recipe"), path)


def json_schema() -> dict[str, Any]:
    """The recipe's JSON Schema, with `stages` items as a union over every registered stage kind."""
    STAGES = stage_kinds()

    schema = Recipe.model_json_schema()
    defs = schema.setdefault("$defs", {})
    refs = []
    for name, kind in sorted(STAGES.items()):
        for model in members(kind.config)[0]:  # a union's members are alternatives like the kinds themselves
            sub = model.model_json_schema(ref_template="#/$defs/{model}")
            defs.update(sub.pop("$defs", {}))
            kind_doc = (model.__doc__ or "").strip().splitlines()
            sub["properties"]["kind"].setdefault(
                "description", f"stage kind '{name}'" + (f": {kind_doc[0]}" if kind_doc else "")
            )
            defs[model.__name__] = sub
            refs.append({"$ref": f"#/$defs/{model.__name__}"})
    schema["properties"]["stages"]["items"] = {"oneOf": refs}
    defs.pop("StageConfig", None)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "edgekit recipe v1"
    return schema
