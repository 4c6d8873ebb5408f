"""`edgekit shrink RECIPE`: run a recipe's stages, reusing cached results, and print what each artifact measures."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from edgekit.recipe import read as recipe_mod
from edgekit.cli import sigint
from edgekit.cli.app import app, err, out
from edgekit.errors import Interrupted, StageFailed
from edgekit.fsutil import check_output_dir
from edgekit.decide.rows import latency, metric_of
from edgekit.decide.ship import ship_lines


def results_table(record: dict) -> Table:
    """One row per artifact and baseline; a baseline's provider goes on a line of its own, so the table stays
    readable in an 80-column CI log."""
    table = Table(title=f"{record['recipe']['name']}: ONNX artifacts and prompted baselines")
    table.add_column("artifact", overflow="fold")
    rows = [row for st in record["stages"] for row in st["metrics"].get("artifacts", [])]
    for col in (metric_of(rows), "size", "p50 (batch 1)", "threads"):
        table.add_column(col, justify="right", no_wrap=True)
    for st in record["stages"]:
        for row in st["metrics"].get("artifacts", []):
            name = escape(row["stage"])
            if row.get("role") == "baseline":
                name += f"\n[dim]{escape(str(row['provider']))} baseline[/]"
            size = "n/a" if row.get("size_bytes") is None else f"{row['size_bytes'] / 1e6:.2f} MB"
            p50 = latency(row)
            latency_s = "n/a" if p50 is None else f"{p50:.3f} ms"
            acc = "not compared" if row.get("accuracy") is None else f"{row['accuracy'] * 100:.2f} %"
            table.add_row(name, acc, size, latency_s, str(row.get("threads", "")))
    return table


def verdict_table(report: dict) -> tuple[str, Table, list[str]] | None:
    """The report's verdict (the shipped artifact against every other lineage and prompted baseline), when the
    run has something to compare it with: (sentence, table, one line per row saying what it is and how the shipped
    artifact compares). The sentences stay out of the table: wrapped into a cell they fill a column a word per line
    at 80 columns."""
    from edgekit.decide.verdict import of_report

    v = of_report(report)
    if v is None:
        return None
    table = Table(title=f"verdict: {v['artifact']} (shipped) against every lineage and baseline")
    table.add_column("", overflow="fold")
    for col in (metric_of(report.get("artifacts") or []), "size", "p50 (batch 1)", "outcome"):
        table.add_column(col, justify="left" if col == "outcome" else "right", no_wrap=True)
    for r in v["rows"]:
        table.add_row(r["contender"], r["accuracy"], r["size"], r["p50"], r["outcome"] or "shipped")
    lines = [
        f"  {r['contender']}: {r['kind']}" + (f"; {r['comparison']}" if r["comparison"] else "") for r in v["rows"]
    ]
    return v["sentence"], table, lines


RUN_SCHEMA = "edgekit.run/1"  # the run record (run.json) as `shrink --json` prints it


@app.command()
def shrink(
    recipe: Path = typer.Argument(..., metavar="RECIPE", help="Recipe YAML file."),
    run_dir: Path = typer.Option(None, "--run-dir", help="Where stage outputs go (default: runs/<recipe name>)."),
    force: bool = typer.Option(False, "--force", help="Run every stage again, ignoring cached results.", metavar=""),
    from_stage: str = typer.Option(None, "--from", help="Run this stage and all after it again."),
    as_json: bool = typer.Option(False, "--json", help="Print the run record as JSON on stdout.", metavar=""),
    nproc_per_node: int = typer.Option(
        1, "--nproc-per-node", help="Train stages: DDP processes on this machine (torchrun; gloo on CPU, NCCL on GPU)."
    ),
    nnodes: int = typer.Option(1, "--nnodes", help="Train stages: machines taking part (run this command on each)."),
    node_rank: int = typer.Option(0, "--node-rank", help="With --nnodes: this machine's rank, 0 to nnodes-1."),
    rdzv_endpoint: str = typer.Option(
        None, "--rdzv-endpoint", help="With --nnodes: HOST:PORT on the node-rank-0 machine."
    ),
):
    """Run a recipe: train → prune → quantize → export → evaluate, each stage cached by the hash of its inputs."""
    from edgekit.run.pipeline import Pipeline
    from edgekit.torchkit.distributed import configure

    configure(nproc_per_node, nnodes, node_rank, rdzv_endpoint)

    loaded = recipe_mod.load(recipe)
    run_dir = check_output_dir(run_dir or Path("runs") / loaded.recipe.name, "--run-dir")
    pipeline = Pipeline(loaded, run_dir, console=err)
    try:
        record = pipeline.run(force=force, from_stage=from_stage)
    except KeyboardInterrupt:
        where = f"stage '{pipeline.running}'" if pipeline.running else "the run"
        raise Interrupted(
            f"interrupted during {where} of {recipe}; finished stages are kept and "
            f"{run_dir / 'run.json'} marks the run failed: run the same command to resume"
        ) from None
    # after the stages: a Ctrl-C still exits 130 with a line saying what had been done (the report and the ship
    # folder are each written to a temporary name and renamed, so neither is ever half-written)
    phase = {"now": "writing the report", "shipped": None}
    try:
        report, outcome = _report_and_check(loaded, run_dir, phase)
        phase["now"] = "printing the results"
        if as_json:
            typer.echo(json.dumps({"schema": RUN_SCHEMA, **record}, indent=2))
        else:
            cached = sum(s["cached"] for s in record["stages"])
            out.print(results_table(record))
            if (found := verdict_table(report)) is not None:
                sentence, table, lines = found
                out.print(table)
                for line in lines:
                    out.print(escape(line), highlight=False, soft_wrap=True)
                out.print(sentence)
            for line in ship_lines(report):
                out.print(escape(line), highlight=False, soft_wrap=True)
            out.print(f"{len(record['stages'])} stages, {cached} cached; run record: {run_dir / 'run.json'}")
        if outcome is not None:
            from edgekit.cli.check import failure, print_outcome

            print_outcome(outcome, err if as_json else out)
            if not outcome.passed:
                raise failure(outcome)
        ship = report.get("ship")
        if ship and ship["artifact"] is None:  # measured, yet nothing may ship: the run did not deliver
            raise StageFailed(ship["reason"])
        sigint.finished()  # everything is printed and in place: a Ctrl-C from here on changes nothing
    except KeyboardInterrupt:
        done = (
            f"the run finished and shipped {phase['shipped']}"
            if phase["shipped"]
            else "every stage finished and is kept; run the same command to write the report (the stages are cached)"
        )
        raise Interrupted(f"interrupted while {phase['now']} of {recipe}: {done}") from None


def _report_and_check(loaded, run_dir: Path, phase: dict):
    """Write the run's report; with budgets in the recipe, check them (the same gate as `edgekit check`)."""
    from edgekit.report.check import check
    from edgekit.report.publish import publish
    from edgekit.report.write import write_report

    budgets = loaded.recipe.budgets
    written = write_report(run_dir)  # with the budgets and ship rule the pipeline recorded in run.json
    for w in written.warnings:
        err.print(f"[yellow]warning:[/] {escape(w)}", highlight=False, soft_wrap=True)
    if not budgets:  # with budgets, the gate below prints the same findings as its warnings
        for f in written.report["sense"]:
            err.print(
                f"[yellow]warning:[/] sense: {escape(f['check'])} ({escape(f['artifact'])}): {escape(f['message'])}",
                highlight=False,
                soft_wrap=True,
            )
    err.print(f"report: {escape(str(run_dir / 'report.html'))}", highlight=False)
    phase["now"] = f"copying the shipped artifact to {run_dir / 'ship'}"
    shipped = publish(run_dir, written.report)
    phase["now"], phase["shipped"] = "checking the budgets", shipped
    if shipped is not None:
        err.print(f"shipped: {escape(str(shipped))}", highlight=False)
    return written.report, (check(written.report, budgets) if budgets else None)
