"""The strict base every configuration model shares, and the fields every stage has.

A leaf module (pydantic only): the recipe, the budgets and each stage module build on it without importing
one another.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

ID_PATTERN = r"^[a-z][a-z0-9_-]{0,39}$"


class Strict(BaseModel):
    """Frozen, no unknown keys: a typo is an error, never silently ignored."""

    # strict: a YAML string such as 4e-3 (PyYAML reads it as text) is an error, as in the JSON Schema editors use
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class StageConfig(Strict):
    """Fields every stage has. A stage kind subclasses this with its own settings."""

    id: str = Field(pattern=ID_PATTERN, description="unique name of this stage in the recipe")
    kind: str
    input: str | None = Field(
        None, description="id of the stage whose artifact this one consumes (default: nearest earlier)"
    )

    def check_recipe(self, recipe) -> tuple[str, str] | None:
        """(key, problem) when this stage cannot run on the recipe's data (e.g. a prompted provider for another
        task), checked at `edgekit validate`; None when it can."""
        return None
