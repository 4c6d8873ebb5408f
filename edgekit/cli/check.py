"""`edgekit check REPORT_OR_RUN_DIR`: the CI gate. Exit 0 all budgets met, 1 a budget is broken, 2 bad input."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape

from edgekit.cli.app import app, err, out
from edgekit.errors import CheckFailed, InputError


def print_outcome(outcome, console) -> None:
    style = {"pass": "green", "fail": "red", "skip": "yellow"}
    for r in outcome.results:
        console.print(f"[{style[r.status]}]{r.status.upper():<4}[/] {escape(r.budget)}: {escape(r.message)}", highlight=False, soft_wrap=True)
    for w in outcome.warnings:
        err.print(f"[yellow]warning:[/] {escape(w)}", highlight=False, soft_wrap=True)


def failure(outcome) -> CheckFailed:
    names = ", ".join(f"{r.budget} ({r.artifact})" for r in outcome.failed)
    return CheckFailed(f"{len(outcome.failed)} of {len(outcome.results)} budgets broken: {names}")


@app.command()
def check(
    target: Path = typer.Argument(..., metavar="REPORT_OR_RUN_DIR", help="report.json, or a run directory (its report is rebuilt from run.json)."),
    baseline: Path = typer.Option(None, "--baseline", help="A stored report.json to check regressions against."),
    budgets_file: Path = typer.Option(None, "--budgets", help="Budgets YAML (or a recipe); default: the budgets stored in the report."),
    junit: Path = typer.Option(None, "--junit", help="Write JUnit XML here (one testcase per budget)."),
    summary: Path = typer.Option(None, "--summary", help="Append a Markdown summary here, e.g. $GITHUB_STEP_SUMMARY."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON on stdout."),
    allow_skipped: bool = typer.Option(False, "--allow-skipped", help="Exit 0 even when every budget was skipped (nothing enforced)."),
):
    """Check a run against its budgets. Size and accuracy gates always apply; latency gates only between
    results from machines with the same fingerprint (skipped with a warning otherwise)."""
    from edgekit.report.budgets import Budgets, load_budgets
    from edgekit.report.build import load_report
    from edgekit.report.check import check as run_check
    from edgekit.report.ci import append_summary, write_junit

    report = load_report(target)
    if budgets_file is not None:
        budgets = load_budgets(budgets_file)
    elif report.get("budgets"):
        from pydantic import ValidationError

        try:
            budgets = Budgets.model_validate(report["budgets"])
        except ValidationError as e:
            raise InputError(f"{target}: the budgets stored in the report are invalid ({e.errors()[0]['msg']})") from None
    else:
        budgets = None
    base = load_report(baseline) if baseline is not None else None
    outcome = run_check(report, budgets, base, allow_skipped=allow_skipped)
    if junit is not None:
        write_junit(outcome, junit)
    if summary is not None:
        append_summary(outcome, summary)
    if as_json:
        typer.echo(json.dumps(outcome.to_json(), indent=2))
        for w in outcome.warnings:
            err.print(f"[yellow]warning:[/] {escape(w)}", highlight=False, soft_wrap=True)
    else:
        print_outcome(outcome, out)
    if not outcome.passed:
        raise failure(outcome)
    if not as_json:
        skipped = sum(r.status == "skip" for r in outcome.results)
        out.print(f"[green]ok[/]: {len(outcome.results) - skipped} budgets checked, none broken"
                  + (f", {skipped} skipped" if skipped else ""), highlight=False)
