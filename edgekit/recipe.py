"""Recipe v1: plain YAML validated by strict, typed models.

Errors name the file, the line and the key path, e.g.
``recipe.yaml:14: stages[2].ratio: must be less than 1, got 1.5``.
Stage configs are validated one by one against the model their ``kind`` registered,
so a path never contains a union tag and an unknown kind gets a did-you-mean.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from edgekit.errors import RecipeError
from edgekit.report.budgets import FINAL, Budgets
from edgekit.yamlsafe import compose_and_load, read_text

Loc = tuple[str | int, ...]
ID_PATTERN = r"^[a-z][a-z0-9_-]{0,39}$"


class Strict(BaseModel):
    """Frozen, no unknown keys: a typo is an error, never silently ignored."""

    # strict: a YAML string such as 4e-3 (PyYAML reads it as text) is an error, as in the JSON Schema editors use
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class DataConfig(Strict):
    source: str = Field(description="fashion-mnist | imagefolder:DIR | python:module:function")
    path: str | None = Field(None, description="directory holding the dataset files (overrides $EDGEKIT_DATA)")
    val_fraction: float = Field(0.1, gt=0, lt=1, description="share of the training split held out for validation")
    limit_train: int | None = Field(None, gt=0, description="use at most this many training samples (quick runs)")
    limit_test: int | None = Field(None, gt=0, description="use at most this many test samples")
    image_size: int | None = Field(None, gt=0, le=4096, description="resize images to this square size (imagefolder)")

    @field_validator("source")
    @classmethod
    def _known_source(cls, v: str) -> str:
        from edgekit.data import check_source

        check_source(v)
        return v


class ModelConfig(Strict):
    source: str = Field(description="torchvision:NAME | edgekit:NAME | python:module:function | hf:DIR | onnx:PATH (a trained ONNX file, read by kind: import)")
    weights: str | None = Field(
        None, description="'imagenet' (torchvision's pretrained weights, downloaded) or a .safetensors/.pt state dict, loaded weights_only"
    )
    stem_stride: Literal[1, 2, 4] | None = Field(
        None, description="replace the first conv by a 3x3 conv of this stride and drop the stem max-pool (small images)"
    )
    width: float = Field(1.0, gt=0, le=4, description="channel multiplier (edgekit models)")

    @field_validator("source")
    @classmethod
    def _known_source(cls, v: str) -> str:
        prefix = v.split(":", 1)[0]
        if prefix not in ("torchvision", "edgekit", "python", "hf", "onnx") or ":" not in v:
            raise ValueError(f"must be torchvision:NAME, edgekit:NAME, hf:DIR, python:module:function or onnx:PATH, got {v!r}")
        return v


class StageConfig(Strict):
    """Fields every stage has. A stage kind subclasses this with its own settings."""

    id: str = Field(pattern=ID_PATTERN, description="unique name of this stage in the recipe")
    kind: str
    input: str | None = Field(None, description="id of the stage whose artifact this one consumes (default: nearest earlier)")


class Recipe(Strict):
    edgekit: Literal[1] = Field(description="recipe format version")
    name: str = Field(pattern=ID_PATTERN, description="name of the recipe; the default run directory is runs/<name>")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="seed for data splits, subsets, initialisation and training order")
    threads: int | None = Field(None, ge=1, le=256, description="torch/onnxruntime threads (default: all cores)")
    data: DataConfig = Field(description="the dataset: source, split and subset sizes")
    model: ModelConfig | None = Field(None, description="the model a train stage starts from (omit for prompted-only recipes)")
    stages: list[StageConfig] = Field(min_length=1, description="stages in order; each reads the artifact of the nearest earlier stage it can use")
    budgets: Budgets | None = Field(None, description="limits `edgekit check` enforces (and `edgekit shrink` at the end of a run)")


@dataclass
class LoadedRecipe:
    """A validated recipe plus where each key stood in its file, for later errors."""

    recipe: Recipe
    file: Path
    text: str
    lines: dict[Loc, int] = field(default_factory=dict)

    def error(self, loc: Loc, message: str) -> RecipeError:
        return RecipeError(_format(self.file, self.lines, loc, message))

    def stage_loc(self, stage_id: str, *rest: str | int) -> Loc:
        idx = next(i for i, s in enumerate(self.recipe.stages) if s.id == stage_id)
        return ("stages", idx, *rest)


def loc_str(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line_for(lines: dict[Loc, int], loc: Loc) -> int | None:
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def _format(file: Path, lines: dict[Loc, int], loc: Loc, message: str) -> str:
    line = _line_for(lines, loc)
    where = f"{file}:{line}" if line else str(file)
    return f"{where}: {loc_str(loc)}: {message}" if loc else f"{where}: {message}"


def _map_lines(node: yaml.Node, loc: Loc, lines: dict[Loc, int], file: Path) -> None:
    """Record the 1-based line of every key path; reject duplicate keys, which YAML would silently merge."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                raise RecipeError(_format(file, {loc + (key,): key_node.start_mark.line + 1}, loc + (key,), "duplicate key"))
            seen.add(key)
            lines[loc + (key,)] = key_node.start_mark.line + 1
            _map_lines(value_node, loc + (key,), lines, file)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[loc + (i,)] = item.start_mark.line + 1
            _map_lines(item, loc + (i,), lines, file)


def _message(err: dict[str, Any], model: type[BaseModel]) -> str:
    kind, loc = err["type"], err["loc"]
    if kind == "extra_forbidden":
        allowed = _fields_at(model, loc[:-1])
        hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        return f"unknown key '{loc[-1]}'" + (f" (did you mean '{hint[0]}'?)" if hint else f"; allowed: {', '.join(allowed)}")
    if kind == "missing":
        return "required key is missing"
    msg = err["msg"]
    msg = msg.removeprefix("Value error, ")
    msg = msg[0].lower() + msg[1:]
    msg = msg.replace("input should be", "must be")
    if kind.endswith("_type") or kind in ("greater_than", "less_than", "greater_than_equal", "less_than_equal", "literal_error", "string_pattern_mismatch", "too_short"):
        got = repr(err["input"])
        msg += f", got {got if len(got) <= 80 else got[:77] + '...'}"  # a 500 kB value stays one readable line
        if kind in ("int_type", "float_type") and isinstance(err["input"], str) and _numeric(err["input"]):
            # PyYAML (YAML 1.1) reads 4e-3 as text; the JSON Schema an editor checks against rejects it too
            value = float(err["input"])
            msg += f" (YAML read this as text: write {int(value) if kind == 'int_type' and value.is_integer() else value!r}, no quotes)"
    return msg


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _fields_at(model: type[BaseModel], loc: Loc) -> list[str]:
    """Names of the keys allowed at a path, following nested models."""
    for part in loc:
        if isinstance(part, int):
            continue
        info = model.model_fields.get(str(part))
        ann = getattr(info, "annotation", None)
        nested = [a for a in getattr(ann, "__args__", (ann,)) if isinstance(a, type) and issubclass(a, BaseModel)]
        if not nested:
            return []
        model = nested[0]
    return sorted(model.model_fields)


def _validate(model: type[BaseModel], data: Any, file: Path, lines: dict[Loc, int], prefix: Loc = ()) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        errors = e.errors()
        # an unknown key first (a typo such as modle: also makes a key "missing"; the did-you-mean is the fix),
        # then in file order; a missing key has no line of its own, so it comes last
        errors.sort(key=lambda er: (er["type"] != "extra_forbidden",
                                    _line_for(lines, prefix + tuple(er["loc"])) or float("inf")))
        first = errors[0]
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        raise RecipeError(_format(file, lines, prefix + tuple(first["loc"]), _message(first, model) + more)) from None


def parse(text: str, file: Path) -> LoadedRecipe:
    """Validate recipe text; raise RecipeError naming file, line and key on the first problem."""
    from edgekit.registry import stage_kinds

    STAGES = stage_kinds()

    node, data = compose_and_load(text, file)
    if node is None or data is None:
        raise RecipeError(f"{file}: the recipe is empty")
    if not isinstance(data, dict):
        raise RecipeError(f"{file}:1: a recipe is a YAML mapping (key: value), got {type(data).__name__}")
    lines: dict[Loc, int] = {}
    _map_lines(node, (), lines, file)

    raw_stages = data.get("stages")
    header = dict(data)
    if isinstance(raw_stages, list):
        header["stages"] = [{"id": "x", "kind": "x"}] if raw_stages else []
    recipe = _validate(Recipe, header, file, lines)

    stages: list[StageConfig] = []
    for i, raw in enumerate(raw_stages):
        loc: Loc = ("stages", i)
        if not isinstance(raw, dict):
            raise RecipeError(_format(file, lines, loc, f"a stage is a mapping with 'id' and 'kind', got {raw!r}"))
        kind = raw.get("kind")
        if kind not in STAGES:
            hint = difflib.get_close_matches(str(kind), list(STAGES), n=1)
            hint_s = f" (did you mean '{hint[0]}'?)" if hint else f"; known kinds: {', '.join(sorted(STAGES))}"
            raise RecipeError(_format(file, lines, loc + ("kind",), f"unknown stage kind {kind!r}{hint_s}"))
        stages.append(_validate(STAGES[kind].config, raw, file, lines, loc))

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
    from edgekit.graph import wire

    wire(loaded)
    _check_budget_targets(loaded, seen)


def _check_budget_targets(loaded: LoadedRecipe, ids: set[str]) -> None:
    """Budgets that name an artifact must name a stage of this recipe."""
    b = loaded.recipe.budgets
    if b is None:
        return
    if not b.sets_a_limit():
        raise loaded.error(("budgets",), "sets no limit (e.g. max_size_mb, min_accuracy_pct, regression); remove it or add one")
    named = [(("budgets", "artifact"), b.artifact), (("budgets", "reference"), b.reference)]
    named += [(("budgets", "artifacts", k), k) for k in b.artifacts]
    for loc, target in named:
        if target is not None and target != FINAL and target not in ids:
            hint = difflib.get_close_matches(target, list(ids), n=1)
            raise loaded.error(loc, f"no stage '{target}' in this recipe" + (f" (did you mean '{hint[0]}'?)" if hint else ""))


def load(path: str | Path) -> LoadedRecipe:
    path = Path(path)
    return parse(read_text(path, "recipe"), path)


def json_schema() -> dict[str, Any]:
    """The recipe's JSON Schema, with `stages` items as a union over every registered stage kind."""
    from edgekit.registry import stage_kinds

    STAGES = stage_kinds()

    schema = Recipe.model_json_schema()
    defs = schema.setdefault("$defs", {})
    refs = []
    for name, kind in sorted(STAGES.items()):
        sub = kind.config.model_json_schema(ref_template="#/$defs/{model}")
        defs.update(sub.pop("$defs", {}))
        kind_doc = (kind.config.__doc__ or "").strip().splitlines()
        sub["properties"]["kind"].setdefault("description", f"stage kind '{name}'" + (f": {kind_doc[0]}" if kind_doc else ""))
        defs[kind.config.__name__] = sub
        refs.append({"$ref": f"#/$defs/{kind.config.__name__}"})
    schema["properties"]["stages"]["items"] = {"oneOf": refs}
    defs.pop("StageConfig", None)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "edgekit recipe v1"
    return schema
