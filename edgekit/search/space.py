"""The search space as typed parameters, checked against the stages' own config models, and a recipe with a
trial's values written into it.

``prune.ratio: [0.3, 0.8]`` names stage ``prune`` and its key ``ratio``; the key's type in PruneConfig decides
what the list means (two numbers for a float key: a float range). Every bound and choice is validated by
building the stage's config with it, so a value the stage would reject is a recipe error here, before any
trial runs, naming the file, line and ``search.space`` key.
"""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ValidationError

from edgekit.errors import RecipeError
from edgekit.recipe.read import parse
from edgekit.recipe.model import LoadedRecipe
from edgekit.search.config import QUALITY, Range
from edgekit.stages import stage_kinds
from edgekit.recipe.variants import VariantError, pick
from edgekit.recipe.yamlerrors import format_error, loc_str


@dataclass(frozen=True)
class Param:
    name: str  # "prune.ratio": stage id, then the key path inside the stage
    stage: str
    path: tuple[str, ...]
    kind: Literal["float", "int", "choice"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()


def _leaf_type(model: type[BaseModel], path: tuple[str, ...]) -> Any:
    """The annotation of ``path`` inside ``model`` (None stripped), or raise KeyError naming the first unknown part."""
    ann: Any = model
    for i, part in enumerate(path):
        models = [a for a in _options(ann) if isinstance(a, type) and issubclass(a, BaseModel)]
        if not models or part not in models[0].model_fields:
            allowed = sorted(models[0].model_fields) if models else []
            raise KeyError((i, allowed))
        ann = models[0].model_fields[part].annotation
    return ann


def _options(ann: Any) -> list[Any]:
    if typing.get_origin(ann) in (typing.Union, types.UnionType):
        return [a for a in typing.get_args(ann) if a is not type(None)]
    return [ann]


def _numeric(ann: Any) -> str | None:
    opts = _options(ann)
    if float in opts:
        return "float"
    if opts == [int]:
        return "int"
    return None


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def resolve(loaded: LoadedRecipe) -> list[Param]:
    """The recipe's ``search.space`` as parameters; RecipeError (file:line: key: message) on the first bad entry."""
    search = loaded.recipe.search
    if search is None:
        raise loaded.error(("search",), "the recipe has no search: block (see `edgekit schema`, key search)")
    objectives(loaded)  # the quality objective is named as the task's metric
    params = [_param(loaded, name, spec) for name, spec in search.space.items()]
    for name, value in search.screening.items():
        p = _locate(loaded, ("search", "screening", name), name)
        _check_value(loaded, ("search", "screening", name), p, value)
    return params


def objectives(loaded: LoadedRecipe) -> list[str]:
    """The search's objectives: the recipe's, or the task's metric, size and p50. The quality objective is named
    as the task's metric (``mAP`` for a detector, ``accuracy`` for a classifier); the other name is a recipe error."""
    from edgekit.detect.task import task_of

    task = task_of(loaded.recipe)
    wanted = loaded.recipe.search.objectives
    if wanted is None:
        return [QUALITY[task], "size", "p50"]
    for i, o in enumerate(wanted):
        if o in QUALITY.values() and o != QUALITY[task]:
            raise loaded.error(
                ("search", "objectives", i),
                f"a {task} recipe is scored by {QUALITY[task]}, not {o}: write {QUALITY[task]}",
            )
    return list(wanted)


def _refuse_for_task(loaded: LoadedRecipe, loc: tuple, stage, path: tuple[str, ...]) -> None:
    """A key the stage refuses on this task is no search dimension (the trial would fail at run time, every one)."""
    from edgekit.detect.task import CLASSIFIER_ONLY, task_of

    if stage.kind == "train" and path[0] in CLASSIFIER_ONLY and task_of(loaded.recipe) == "detection":
        raise loaded.error(
            loc, f"'{path[0]}' is for classifiers: a detection recipe trains without it, so it cannot be searched"
        )


def _locate(loaded: LoadedRecipe, loc: tuple, name: str) -> Param:
    stages = {s.id: s for s in loaded.recipe.stages}
    stage_id, _, rest = name.partition(".")
    if stage_id not in stages:
        hint = difflib.get_close_matches(stage_id, list(stages), n=1)
        raise loaded.error(
            loc,
            f"no stage '{stage_id}' in this recipe"
            + (f" (did you mean '{hint[0]}'?)" if hint else f"; stages: {', '.join(stages)}"),
        )
    path = tuple(rest.split(".")) if rest else ()
    if not path or "" in path:
        raise loaded.error(loc, f"name a key of stage '{stage_id}' as '{stage_id}.KEY'")
    if path[0] in ("id", "kind", "input"):
        raise loaded.error(loc, f"'{path[0]}' wires the recipe and cannot be searched; search a stage setting")
    _refuse_for_task(loaded, loc, stages[stage_id], path)
    config = type(stages[stage_id])  # a union's member: the model this stage validated against
    try:
        ann = _leaf_type(config, path)
    except KeyError as e:
        i, allowed = e.args[0]
        hint = difflib.get_close_matches(path[i], allowed, n=1)
        where = f"stage '{stage_id}' ({config.__name__})" if i == 0 else f"'{stage_id}.{'.'.join(path[:i])}'"
        raise loaded.error(
            loc,
            f"unknown key '{path[i]}' in {where}"
            + (f" (did you mean '{hint[0]}'?)" if hint else f"; allowed: {', '.join(allowed)}"),
        ) from None
    return Param(name, stage_id, path, _numeric(ann) or "choice")


def _param(loaded: LoadedRecipe, name: str, spec: list[Any] | Range) -> Param:
    loc = ("search", "space", name)
    base = _locate(loaded, loc, name)
    if isinstance(spec, Range):
        if spec.choices is not None:
            if spec.low is not None or spec.high is not None:
                raise loaded.error(loc, "give either choices or low/high, not both")
            p = Param(name, base.stage, base.path, "choice", choices=tuple(spec.choices))
        else:
            if base.kind == "choice":
                raise loaded.error(
                    loc, f"'{name}' is not numeric: a range needs a numeric key; list the choices instead"
                )
            if spec.low is None or spec.high is None:
                raise loaded.error(loc, "a range needs both low and high")
            p = Param(
                name, base.stage, base.path, base.kind, low=spec.low, high=spec.high, log=spec.log, step=spec.step
            )
    elif base.kind != "choice" and len(spec) == 2 and all(_is_number(v) for v in spec):
        p = Param(name, base.stage, base.path, base.kind, low=spec[0], high=spec[1])
    elif base.kind != "choice":
        raise loaded.error(
            loc, f"'{name}' is numeric: give a range [low, high] of two numbers or {{choices: [...]}}, got {spec!r}"
        )
    else:
        if len(spec) < 1:
            raise loaded.error(loc, "empty list of choices")
        p = Param(name, base.stage, base.path, "choice", choices=tuple(spec))
    if p.kind != "choice":
        if p.kind == "int" and not (float(p.low).is_integer() and float(p.high).is_integer()):
            raise loaded.error(
                loc, f"'{name}' is an integer key: the range needs integer bounds, got [{p.low}, {p.high}]"
            )
        if not p.low < p.high:
            raise loaded.error(loc, f"empty range [{p.low}, {p.high}]: low must be less than high")
        if p.log and p.low <= 0:
            raise loaded.error(loc, f"a log range needs low > 0, got {p.low}")
        values = [int(p.low), int(p.high)] if p.kind == "int" else [p.low, p.high]
    else:
        if len(set(map(repr, p.choices))) != len(p.choices):
            raise loaded.error(loc, f"repeated choices in {list(p.choices)!r}")
        values = list(p.choices)
    for v in values:
        _check_value(loaded, loc, p, v)
    return p


def _check_value(loaded: LoadedRecipe, loc: tuple, p: Param, value: Any) -> None:
    """Build the stage's config with ``value`` in place: what the stage would reject is rejected now."""
    raw = stage_raw(loaded, p.stage)
    _set(raw, p.path, value)
    try:
        pick(stage_kinds()[raw["kind"]].config, raw).model_validate(raw)
    except (ValidationError, VariantError) as e:
        if isinstance(e, VariantError):  # e.g. a provider whose model lacks one of the stage's keys
            where, msg = e.key, e.message
        else:
            first = e.errors()[0]
            where = loc_str(tuple(first["loc"]))
            msg = first["msg"][0].lower() + first["msg"][1:]
        raise RecipeError(
            format_error(loaded.file, loaded.lines, loc, f"{value!r} does not fit stage '{p.stage}': {where}: {msg}")
        ) from None


def _raw(loaded: LoadedRecipe) -> dict:
    return yaml.safe_load(loaded.text)


def stage_raw(loaded: LoadedRecipe, stage_id: str, raw: dict | None = None) -> dict:
    raw = raw if raw is not None else _raw(loaded)
    return next(s for s in raw["stages"] if s.get("id") == stage_id)


def _set(d: dict, path: tuple[str, ...], value: Any) -> None:
    for part in path[:-1]:
        if not isinstance(d.get(part), dict):
            d[part] = {}
        d = d[part]
    d[path[-1]] = value


def contains(p: Param, value: Any) -> bool:
    """Whether ``value`` lies in the space of ``p`` (a recipe's hand value may not: the space can exclude it)."""
    if p.kind == "choice":
        return value in p.choices
    return isinstance(value, (int, float)) and not isinstance(value, bool) and p.low <= value <= p.high


def recipe_value(loaded: LoadedRecipe, p: Param) -> Any:
    """The recipe's own (validated, defaults filled) value of ``p``, or None when a parent block is absent."""
    value: Any = next(s for s in loaded.recipe.stages if s.id == p.stage)
    for part in p.path:
        if value is None:
            return None
        value = getattr(value, part)
    return value


def with_values(
    loaded: LoadedRecipe, values: dict[str, Any], params: list[Param], screening: dict[str, Any]
) -> LoadedRecipe:
    """The recipe with ``values`` (by parameter name) and then ``screening`` written into its stages, no search block.
    Parsed with the original file name, so relative paths and python: models resolve as they do for the recipe."""
    raw = _raw(loaded)
    raw.pop("search", None)
    by_name = {p.name: p for p in params}
    for name, value in values.items():
        p = by_name[name]
        _set(stage_raw(loaded, p.stage, raw), p.path, value)
    for name, value in screening.items():
        stage_id, _, rest = name.partition(".")
        _set(stage_raw(loaded, stage_id, raw), tuple(rest.split(".")), value)
    return parse(snippet_text(raw), loaded.file)


def snippet_text(raw: Any) -> str:
    return yaml.safe_dump(raw, sort_keys=False, default_flow_style=None, width=120)


def settings_snippet(loaded: LoadedRecipe, values: dict[str, Any], params: list[Param]) -> str:
    """The trial's settings as stage entries a user can paste over the recipe's, in recipe order:
    ``- {id: prune, ratio: 0.61}``."""
    by_stage: dict[str, dict] = {s.id: {"id": s.id} for s in loaded.recipe.stages}
    by_name = {p.name: p for p in params}
    for name, value in values.items():
        p = by_name[name]
        _set(by_stage[p.stage], p.path, value)
    return "".join(
        "  - " + yaml.safe_dump(d, sort_keys=False, default_flow_style=True, width=200).strip() + "\n"
        for d in by_stage.values()
        if len(d) > 1
    )
