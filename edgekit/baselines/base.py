"""What every prompted baseline shares: labels with descriptions, prompt filling, size on disk."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


def default_label_text(name: str) -> str:
    """'ankle_boot' -> 'ankle boot': what a class name reads like in a prompt."""
    return name.replace("_", " ").replace("-", " ").strip()


@dataclass(frozen=True)
class LabelSet:
    """Class names (what the model must answer) and descriptions (what the prompts say about them)."""

    names: tuple[str, ...]
    descriptions: tuple[str, ...]

    @classmethod
    def of(cls, classes: Sequence[str], descriptions: dict[str, str] | None = None) -> LabelSet:
        descriptions = descriptions or {}
        unknown = sorted(set(descriptions) - set(classes))
        if unknown:
            raise ValueError(f"descriptions for classes the data does not have: {unknown}; classes: {list(classes)}")
        return cls(tuple(classes), tuple(descriptions.get(c, default_label_text(c)) for c in classes))

    def __len__(self) -> int:
        return len(self.names)


def fill(template: str, label: str) -> str:
    if "{label}" not in template:
        raise ValueError(f"prompt template {template!r} has no {{label}} placeholder")
    return template.replace("{label}", label)


def chat_messages(instruction: str, names: Sequence[str], examples: Sequence[tuple[str, int]], text: str) -> list[dict]:
    """The classification prompt as chat turns: optional few-shot (text, label index) pairs, then the query."""
    listed = ", ".join(names)

    def turn(t: str) -> dict:
        return {"role": "user", "content": instruction.replace("{labels}", listed).replace("{input}", t)}

    messages = []
    for ex_text, ex_label in examples:
        messages += [turn(ex_text), {"role": "assistant", "content": names[ex_label]}]
    return messages + [turn(text)]


def example_indices(y: np.ndarray, k: int, seed: int) -> list[int]:
    """``k`` seeded indices into labels ``y``, cycling through the classes so each appears about equally."""
    rng = np.random.default_rng(seed)
    by_class = [rng.permutation(np.flatnonzero(y == c)).tolist() for c in np.unique(y)]
    out: list[int] = []
    while len(out) < k and any(by_class):
        for idx in by_class:
            if idx and len(out) < k:
                out.append(idx.pop())
    return out


def disk_size(path: Path) -> int:
    """Bytes of a model file, or of every file in a model folder."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


class Baseline:
    """A zero-shot classifier. Subclasses set ``provider``, ``size_bytes``, ``params`` and implement ``classify``."""

    provider = ""
    size_bytes: int | None = None
    params: int | None = None

    def classify(self, samples: Sequence[Any]) -> np.ndarray:
        """Class indices (N,) int64 for raw samples (texts, or uint8 (N, C, H, W) images)."""
        raise NotImplementedError

    def usage(self) -> dict[str, Any]:
        """Token counts and cost so far (remote providers); empty for local models."""
        return {}

    def cost_per_1k(self, queries: int) -> float | None:
        """Money per 1000 queries, from what the queries so far cost; None when no price is configured."""
        return None
