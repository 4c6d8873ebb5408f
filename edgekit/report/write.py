"""Write a run's report files: report.json, report.md, report.html and pareto.png, each atomically.

Without matplotlib the chart is left out with a warning and the other three are still written."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit.errors import MissingExtra
from edgekit.fsutil import write_atomic
from edgekit.report import render
from edgekit.report.build import REPORT_FILE, build_report
from edgekit.report.pareto import plot

PNG_FILE = "pareto.png"


@dataclass
class Written:
    report: dict[str, Any]
    files: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def write_report(run_dir: str | Path, out_dir: str | Path | None = None) -> Written:
    """Build the report of ``run_dir`` and write its files into ``out_dir`` (default: the run directory).

    >>> written = write_report("runs/quick")   # doctest: +SKIP
    >>> [p.name for p in written.files]        # doctest: +SKIP
    ['pareto.png', 'report.json', 'report.md', 'report.html']
    """
    run_dir = Path(run_dir)
    out = Path(out_dir) if out_dir else run_dir
    report = build_report(run_dir)  # the run's own ship rule and budgets, from run.json
    done = Written(report)
    png = None
    try:
        png = plot(report)
    except MissingExtra as e:
        done.warnings.append(f"no Pareto chart: {e.message}")
    if png is not None:
        write_atomic(out / PNG_FILE, png)
        done.files.append(out / PNG_FILE)
    files = {
        REPORT_FILE: json.dumps(report, indent=2, sort_keys=True) + "\n",
        "report.md": render.markdown(report, PNG_FILE if png else None),
        "report.html": render.html_page(report, png),
    }
    for name, text in files.items():
        write_atomic(out / name, text)
        done.files.append(out / name)
    if png is None:
        (out / PNG_FILE).unlink(missing_ok=True)  # never leave a chart that belongs to an older report
    return done
