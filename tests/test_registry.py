"""Every registered stage kind, tested by parametrising over the registry: a new kind is covered for free."""

from __future__ import annotations

import pytest

from edgekit.errors import RecipeError
from pydantic import TypeAdapter

from edgekit.recipe.read import json_schema, parse
from edgekit.recipe.variants import members
from edgekit.run.registry import register_stage
from edgekit.stages import stage_kinds

KINDS = sorted(stage_kinds())
HEADER = """\
edgekit: 1
name: registry
data: {source: fashion-mnist}
model: {source: "edgekit:resnet-small"}
stages:
"""


def test_registry_holds_the_built_in_kinds():
    assert {"train", "export", "prune", "quantize", "inc-quantize", "evaluate", "prompted"} <= set(KINDS)


@pytest.mark.parametrize("name", KINDS)
def test_kind_is_in_the_schema_and_documented(name):
    kind = stage_kinds()[name]
    for model in members(kind.config)[0]:  # each member of a union (the prompted providers) is in the schema
        sub = json_schema()["$defs"][model.__name__]
        assert sub["properties"]["kind"]["const"] == name
        assert sub["properties"]["kind"].get("description")
    assert kind.run.__module__ and __import__(kind.run.__module__, fromlist=["_"]).__doc__, (
        f"{name}: module has no docstring"
    )


@pytest.mark.parametrize("name", KINDS)
def test_kind_rejects_an_unknown_key_naming_line_and_key(name, tmp_path):
    text = HEADER + f"  - {{id: s, kind: {name}, no_such_key: 1}}\n"
    with pytest.raises(RecipeError, match=r":6: stages\[0\]\.no_such_key: unknown key 'no_such_key'"):
        parse(text, tmp_path / "r.yaml")


def test_a_kind_registered_twice_is_an_error():
    kind = stage_kinds()["export"]
    with pytest.raises(ValueError, match="registered twice"):
        register_stage(kind.config, consumes=kind.consumes, produces=kind.produces)(kind.run)


@pytest.mark.parametrize("name", KINDS)
def test_kind_docstring_examples_are_valid_configs(name):
    """Each kind's module docstring shows at least one recipe line for it, and every such line validates: the
    examples users copy cannot drift from the schema."""
    import yaml

    kind = stage_kinds()[name]
    doc = __import__(kind.run.__module__, fromlist=["_"]).__doc__ or ""
    lines, pending = [], ""
    for ln in doc.splitlines():  # an example may continue on the next lines until its braces close
        text = ln.strip()
        if pending or text.startswith("- {"):
            pending += " " + text.split("  #")[0]
            if pending.count("{") == pending.count("}"):
                if f"kind: {name}," in pending.replace("}", ","):
                    lines.append(pending.strip()[2:])
                pending = ""
    assert lines, f"{kind.run.__module__}: no '- {{id: ..., kind: {name}, ...}}' example in the docstring"
    for line in lines:
        TypeAdapter(kind.config).validate_python(yaml.safe_load(line))
