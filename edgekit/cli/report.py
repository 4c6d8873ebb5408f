"""`edgekit report RUN_DIR` (report.json/md/html + pareto.png) and `edgekit compare RUN_A RUN_B`."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape

from edgekit.cli.app import app, err, out
from edgekit.fsutil import check_output_dir
from edgekit.run.runlock import in_progress


def warn_if_running(target: Path) -> None:
    """A `shrink` still running in this run directory: what is read now may change in a minute."""
    if target.is_dir() and in_progress(target):
        err.print(
            f"[yellow]warning:[/] {escape(str(target))}: an `edgekit shrink` is still running here; "
            "this reflects the stages finished so far",
            highlight=False,
            soft_wrap=True,
        )


COMPARE_SCHEMA = "edgekit.compare/1"


@app.command()
def report(
    run_dir: Path = typer.Argument(..., metavar="RUN_DIR", help="A run directory (holds run.json)."),
    out_dir: Path = typer.Option(None, "--out", help="Write the files here instead of into the run directory."),
    as_json: bool = typer.Option(False, "--json", help="Print report.json on stdout.", metavar=""),
):
    """Write report.json, report.md, a self-contained report.html and pareto.png for a run."""
    from edgekit.report.write import write_report

    out_dir = check_output_dir(out_dir, "--out")
    warn_if_running(run_dir)
    written = write_report(run_dir, out_dir=out_dir)
    for w in written.warnings:
        err.print(f"[yellow]warning:[/] {escape(w)}", highlight=False, soft_wrap=True)
    if as_json:
        typer.echo(json.dumps(written.report, indent=2, sort_keys=True))
    else:
        front = " → ".join(written.report["pareto"]["frontier"]) or "none"
        out.print(f"Pareto frontier: {escape(front)}", highlight=False)
        from edgekit.decide.ship import ship_lines

        for line in ship_lines(written.report)[:1]:  # which artifact ships and why (report.md lists the others)
            out.print(escape(line), highlight=False, soft_wrap=True)
        for p in written.files:
            out.print(f"wrote {escape(str(p))}", highlight=False)


@app.command()
def compare(
    run_a: Path = typer.Argument(..., metavar="RUN_A", help="Run directory or report.json (the old one)."),
    run_b: Path = typer.Argument(..., metavar="RUN_B", help="Run directory or report.json (the new one)."),
    as_json: bool = typer.Option(False, "--json", help="Print the differences as JSON on stdout.", metavar=""),
):
    """Show what changed between two runs: per artifact, size, accuracy and latency (latency only when both were
    measured on the same machine)."""
    from edgekit.report.build import load_report
    from edgekit.report.compare import compare_reports, table

    diff = compare_reports(load_report(run_a), load_report(run_b))
    if as_json:
        typer.echo(json.dumps({"schema": COMPARE_SCHEMA, **diff}, indent=2))
        return
    out.print(table(diff, str(run_a), str(run_b)))
    for note in diff["notes"]:
        err.print(f"[yellow]note:[/] {escape(note)}", highlight=False, soft_wrap=True)
