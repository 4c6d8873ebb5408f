"""One section of the report: a title, a table and a note. report.md and report.html are both drawn from a list of
these (edgekit.report.sections), so the two always say the same thing. Torch-free, a leaf."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Section:
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    note: str = ""
