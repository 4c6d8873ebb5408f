"""The ladder of training-set sizes (labelled examples per class) and which seeds run at each size."""

from __future__ import annotations

from dataclasses import dataclass

from edgekit.errors import InputError

ALL = "all"  # the whole training split, not a stratified subset
DEFAULT_SIZES = "10,30,100,300,1000,all"

Size = int | str  # a count per class, or ALL


def parse_sizes(text: str, option: str = "--sizes") -> list[Size]:
    """'10,30,all' -> [10, 30, 'all']: whole numbers ≥ 1, strictly increasing, 'all' only last.

    >>> parse_sizes("10, 30,100,all")
    [10, 30, 100, 'all']
    """
    parts = [p.strip() for p in str(text).split(",")]
    if not text or not any(parts):
        raise InputError(f"{option}: empty size list; give labelled examples per class, e.g. {DEFAULT_SIZES}")
    out: list[Size] = []
    for i, p in enumerate(parts):
        if p.lower() == ALL:
            if i != len(parts) - 1:
                raise InputError(f"{option}: '{text}': 'all' (the whole training split) must come last")
            out.append(ALL)
            continue
        if not p.isdigit() or int(p) < 1:
            raise InputError(f"{option}: '{text}': {p!r} is not a whole number ≥ 1 (examples per class) or 'all'")
        if out and int(p) <= out[-1]:
            raise InputError(f"{option}: '{text}': sizes must be strictly increasing ({p} after {out[-1]})")
        out.append(int(p))
    return out


@dataclass(frozen=True)
class SeedPlan:
    """``seeds`` seeds at every size up to ``up_to`` per class (where seed-to-seed spread is large), one above."""

    seeds: int = 3
    up_to: int = 300

    def seeds_at(self, size: Size) -> list[int]:
        several = size != ALL and int(size) <= self.up_to
        return list(range(self.seeds if several else 1))


@dataclass(frozen=True)
class Unit:
    """What a size counts: labelled examples per class (classification), or labelled training images (detection:
    an image holds objects of several classes, so there is no per-class subset to draw; curve.detect_point)."""

    name: str  # the curve's size_unit and the chart's x axis
    per: str  # after a count in sentences: "30 per class", "30 images"
    short: str  # after a count in tables and logs: "30/class", "30 img"


PER_CLASS = Unit("labelled examples per class", "per class", "/class")
IMAGES = Unit("labelled training images", "images", " img")
UNITS = {u.name: u for u in (PER_CLASS, IMAGES)}


def label(size: Size, unit: Unit = PER_CLASS) -> str:
    return ALL if size == ALL else f"{size}{unit.short}"
