"""`edgekit check REPORT_OR_RUN_DIR`: the CI gate. Exit 0 all budgets met, 1 a budget is broken, 2 bad input."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape

from edgekit.cli.app import app, err, out
from edgekit.cli.report import warn_if_running
from edgekit.errors import CheckFailed
from edgekit.fsutil import check_output_file

CHECK_SCHEMA = "edgekit.check/1"


def print_outcome(outcome, console) -> None:
    style = {"pass": "green", "fail": "red", "skip": "yellow"}
    for r in outcome.results:
        console.print(
            f"[{style[r.status]}]{r.status.upper():<4}[/] {escape(r.budget)}: {escape(r.message)}",
            highlight=False,
            soft_wrap=True,
        )
    for w in outcome.warnings:
        err.print(f"[yellow]warning:[/] {escape(w)}", highlight=False, soft_wrap=True)


def failure(outcome) -> CheckFailed:
    names = ", ".join(f"{r.budget} ({r.artifact})" for r in outcome.failed)
    return CheckFailed(f"{len(outcome.failed)} of {len(outcome.results)} budgets broken: {names}")


@app.command()
def check(
    target: Path = typer.Argument(
        ..., metavar="REPORT_OR_RUN_DIR", help="report.json, or a run directory (its report is rebuilt from run.json)."
    ),
    baseline: Path = typer.Option(None, "--baseline", help="A stored report.json to check regressions against."),
    budgets_file: Path = typer.Option(
        None,
        "--budgets",
        help="Budgets YAML (or a recipe); default: the run's own (its recipe's budgets, recorded in run.json).",
    ),
    junit: Path = typer.Option(None, "--junit", help="Write JUnit XML here (one testcase per budget)."),
    summary: str = typer.Option(
        None, "--summary", help='Append a Markdown summary here, e.g. "$GITHUB_STEP_SUMMARY" (empty: none).'
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON on stdout.", metavar=""),
    allow_skipped: bool = typer.Option(
        False, "--allow-skipped", help="Exit 0 even when every budget was skipped (nothing enforced).", metavar=""
    ),
):
    """Check a run against its budgets. Size and accuracy gates always apply; latency gates only between
    results from machines with the same fingerprint (skipped with a warning otherwise)."""
    from edgekit.recipe.budgets import load_budgets
    from edgekit.report.build import load_report
    from edgekit.report.collect import recorded_budgets
    from edgekit.report.check import check as run_check
    from edgekit.report.ci import append_summary, write_junit

    junit = check_output_file(junit, "--junit")  # before the check: a bad path must not lose its result
    summary_file = check_output_file(Path(summary) if summary else None, "--summary")
    warn_if_running(target)
    report = load_report(target)
    if budgets_file is not None:
        budgets = load_budgets(budgets_file)
    else:  # the budgets the run recorded (its recipe's)
        budgets = recorded_budgets(report.get("budgets"), target)
    base = load_report(baseline) if baseline is not None else None
    outcome = run_check(report, budgets, base, allow_skipped=allow_skipped)  # an unfinished run fails in there
    if junit is not None:
        write_junit(outcome, junit)
    if summary_file is not None:
        append_summary(outcome, summary_file)
    if as_json:
        typer.echo(json.dumps({"schema": CHECK_SCHEMA, **outcome.to_json()}, indent=2))
        for w in outcome.warnings:
            err.print(f"[yellow]warning:[/] {escape(w)}", highlight=False, soft_wrap=True)
    else:
        print_outcome(outcome, out)
        if outcome.verdict:
            out.print(f"verdict: {escape(outcome.verdict['sentence'])}", highlight=False, soft_wrap=True)
    if not outcome.passed:
        raise failure(outcome)
    if not as_json:
        skipped = sum(r.status == "skip" for r in outcome.results)
        out.print(
            f"[green]ok[/]: {len(outcome.results) - skipped} budgets checked, none broken"
            + (f" ({skipped} not checked, see above)" if skipped else ""),
            highlight=False,
        )
