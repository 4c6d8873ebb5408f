"""A stage config that is one strict model, or a pydantic union of models discriminated by a tag key.

    PromptedConfig = Annotated[EmbeddingConfig | LLMConfig | OpenAIConfig, Field(discriminator="provider")]

The recipe reader picks the member by its tag before validating (as it picks a stage's model by ``kind``), so an
error path never contains the tag and a key that belongs to another member says so:
``stages[0].timeout_s: 'timeout_s' does not apply to the embedding provider (openai only)``.
A leaf (pydantic and typing only).
"""

from __future__ import annotations

import difflib
from typing import Any, get_args

from pydantic import BaseModel


class VariantError(ValueError):
    """A raw config that fits no member: ``key`` is where the problem is, ``message`` what it is."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key, self.message = key, message


def members(config: Any) -> tuple[tuple[type[BaseModel], ...], str | None]:
    """The models of a config type and its tag key: a model class is one member with no tag."""
    if isinstance(config, type):
        return (config,), None
    union, *meta = get_args(config)  # Annotated[A | B, FieldInfo(discriminator=...)]
    tag = next((m.discriminator for m in meta if getattr(m, "discriminator", None)), None)
    if tag is None or not isinstance(tag, str):
        raise TypeError(f"{config!r}: a config is a model class or Annotated[A | B, Field(discriminator='key')]")
    return get_args(union), tag


def tags(model: type[BaseModel], tag: str) -> tuple[str, ...]:
    """The tag values a member answers to (its Literal's arguments)."""
    return get_args(model.model_fields[tag].annotation)


def pick(config: Any, raw: dict[str, Any]) -> type[BaseModel]:
    """The member that validates ``raw``; VariantError for a missing or unknown tag or a key of another member."""
    models, tag = members(config)
    if tag is None:
        return models[0]
    known = [t for m in models for t in tags(m, tag)]
    value = raw.get(tag)
    if tag not in raw:
        fields = sorted({f for m in models for f in m.model_fields})
        for key in (k for k in raw if k not in fields):  # a typo first, as edgekit.recipe.yamlerrors orders them
            hint = difflib.get_close_matches(str(key), fields, n=1)
            raise VariantError(key, f"unknown key '{key}'" + (f" (did you mean '{hint[0]}'?)" if hint else ""))
        raise VariantError(tag, f"required key is missing; one of: {', '.join(known)}")
    model = next((m for m in models if value in tags(m, tag)), None)
    if model is None:
        hint = difflib.get_close_matches(str(value), known, n=1)
        raise VariantError(
            tag,
            f"unknown {tag} {value!r}" + (f" (did you mean '{hint[0]}'?)" if hint else f"; one of: {', '.join(known)}"),
        )
    for key in raw:
        users = [t for m in models if key in m.model_fields for t in tags(m, tag)]
        if key not in model.model_fields and users:
            raise VariantError(key, f"'{key}' does not apply to the {value} {tag} ({'/'.join(users)} only)")
    return model
