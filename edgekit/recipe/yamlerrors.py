"""Where each key stands in a YAML file, and errors that name it: ``recipe.yaml:14: stages[2].epochs: ...``.

The recipe and the budgets file both validate YAML against strict models; this is the one copy of the line
map, the message wording (did-you-mean for unknown keys) and the ``file:line: key: message`` format.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from edgekit.errors import RecipeError

Loc = tuple[str | int, ...]


def loc_str(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def line_for(lines: dict[Loc, int], loc: Loc) -> int | None:
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def format_error(file: Path, lines: dict[Loc, int], loc: Loc, message: str) -> str:
    line = line_for(lines, loc)
    where = f"{file}:{line}" if line else str(file)
    return f"{where}: {loc_str(loc)}: {message}" if loc else f"{where}: {message}"


def map_lines(node: yaml.Node, loc: Loc, lines: dict[Loc, int], file: Path) -> None:
    """Record the 1-based line of every key path; reject duplicate keys, which YAML would silently merge."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                raise RecipeError(
                    format_error(file, {loc + (key,): key_node.start_mark.line + 1}, loc + (key,), "duplicate key")
                )
            seen.add(key)
            lines[loc + (key,)] = key_node.start_mark.line + 1
            map_lines(value_node, loc + (key,), lines, file)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[loc + (i,)] = item.start_mark.line + 1
            map_lines(item, loc + (i,), lines, file)


def _message(err: dict[str, Any], model: type[BaseModel]) -> str:
    kind, loc = err["type"], err["loc"]
    if kind == "extra_forbidden":
        allowed = _fields_at(model, loc[:-1])
        hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        return f"unknown key '{loc[-1]}'" + (
            f" (did you mean '{hint[0]}'?)" if hint else f"; allowed: {', '.join(allowed)}"
        )
    if kind == "missing":
        return "required key is missing"
    msg = err["msg"]
    msg = msg.removeprefix("Value error, ")
    msg = msg[0].lower() + msg[1:]
    msg = msg.replace("input should be", "must be")
    if kind.endswith("_type") or kind in (
        "greater_than",
        "less_than",
        "greater_than_equal",
        "less_than_equal",
        "literal_error",
        "string_pattern_mismatch",
        "too_short",
    ):
        got = repr(err["input"])
        msg += f", got {got if len(got) <= 80 else got[:77] + '...'}"  # a 500 kB value stays one readable line
        if kind in ("int_type", "float_type") and isinstance(err["input"], str) and _numeric(err["input"]):
            # PyYAML (YAML 1.1) reads 4e-3 as text; the JSON Schema an editor checks against rejects it too
            value = float(err["input"])
            msg += (
                " (YAML read this as text: "
                f"write {int(value) if kind == 'int_type' and value.is_integer() else value!r}, no quotes)"
            )
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


def validate(model: type[BaseModel], data: Any, file: Path, lines: dict[Loc, int], prefix: Loc = ()) -> BaseModel:
    """``model`` validated from ``data``, or a RecipeError naming file, line and key of the first problem."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        errors = e.errors()
        # an unknown key first (a typo such as modle: also makes a key "missing"; the did-you-mean is the fix),
        # then in file order; a missing key has no line of its own, so it comes last
        errors.sort(
            key=lambda er: (er["type"] != "extra_forbidden", line_for(lines, prefix + tuple(er["loc"])) or float("inf"))
        )
        first = errors[0]
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        raise RecipeError(
            format_error(file, lines, prefix + tuple(first["loc"]), _message(first, model) + more)
        ) from None
