"""`edgekit search RECIPE`: an Optuna study over the recipe's `search:` space; every trial is a cached pipeline run."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from edgekit.recipe import read as recipe_mod
from edgekit.cli.app import app, err, out
from edgekit.errors import EdgekitError, Interrupted
from edgekit.fsutil import check_output_dir, write_json
from edgekit.search import space
from edgekit.search.results import describe, metrics, record, shipped, summary
from edgekit.decide.rows import metric_name, metric_of
from edgekit.decide.ship import ShipRule


@app.command()
def search(
    recipe: Path = typer.Argument(..., metavar="RECIPE", help="Recipe YAML file with a search: block."),
    run_dir: Path = typer.Option(
        None, "--run-dir", help="Run directory (default: runs/<recipe name>); the search lives in RUN_DIR/search/."
    ),
    storage: str = typer.Option(
        None,
        "--storage",
        help="SQLAlchemy URL of a shared study, e.g. postgresql+psycopg://user@host/db "
        "(default: a journal file RUN_DIR/search/study.journal).",
    ),
    worker: bool = typer.Option(
        False,
        "--worker",
        help="One of several processes on one study: dead workers' trials are found by heartbeat and retried.",
        metavar="",
    ),
    study_name: str = typer.Option(None, "--study", help="Study name in the storage (default: the recipe's name)."),
    trials: int = typer.Option(None, "--trials", min=1, help="Trial budget (overrides search.trials)."),
    timeout_min: float = typer.Option(
        None, "--timeout-min", min=0.01, help="Start no trial after this many minutes (overrides search.timeout_min)."
    ),
    heartbeat: int = typer.Option(
        10, "--heartbeat", min=1, help="Seconds between a worker's heartbeats; a trial is stale after 3 missed."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the search result as JSON on stdout.", metavar=""),
):
    """Search the recipe's stage settings for the smallest, fastest, most accurate artifacts within its budgets."""
    from edgekit.errors import require

    loaded = recipe_mod.load(recipe)
    params = space.resolve(loaded)  # a bad space is a recipe error (exit 2) before anything runs
    optuna = require("optuna", "search")  # one line naming the extra, not an ImportError
    from edgekit.run import runlock
    from edgekit.search import chart, study as study_mod

    cfg = loaded.recipe.search
    run_dir = check_output_dir(run_dir or Path("runs") / loaded.recipe.name, "--run-dir")
    search_dir = run_dir / "search"
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # edgekit prints one line per trial instead
    store = study_mod.open_storage(storage, search_dir, heartbeat)
    name = study_name or loaded.recipe.name
    seed = loaded.recipe.seed if not worker else None  # workers sampling with one seed would propose the same trials
    budget = study_mod.Budget(
        trials or cfg.trials,
        time.time() + 60 * (timeout_min or cfg.timeout_min) if (timeout_min or cfg.timeout_min) else None,
    )
    progress = Progress(budget, err)

    # one search process owns its search dir; workers share it (trial dirs are numbered by the study)
    lock = runlock.hold(search_dir) if not worker else contextlib.nullcontext()
    with lock:
        st = study_mod.open_study(loaded, store, name, seed)
        if not worker:
            for n in study_mod.retry_interrupted(st):
                err.print(f"trial #{n} was interrupted: queued again with the same settings", highlight=False)
        study_mod.enqueue_hand_trial(st, loaded, params)
        objective = study_mod.make_objective(loaded, params, search_dir, err)
        try:
            study_mod.optimize(st, objective, budget, worker, heartbeat, progress)
        except KeyboardInterrupt:
            raise Interrupted(
                "search interrupted; finished trials are kept in the study: run the same command to resume"
            ) from None
        result = summary(
            [record(t) for t in st.get_trials(deepcopy=False)],
            space.objectives(loaded),
            name,
            storage.split("@")[-1] if storage else str(search_dir / study_mod.JOURNAL),
        )
        result["snippets"] = {
            str(t["number"]): space.settings_snippet(loaded, t["settings"], params)
            for t in result["trials"]
            if t["state"] == "COMPLETE"
        }
        result["ship"] = shipped(result, loaded.recipe.ship or ShipRule())
        result["chart"] = str(chart.plot(result, search_dir / "pareto.png")) if result["frontier"] else None
        write_json(search_dir / "result.json", result)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
    else:
        print_result(result)
    if not any(t["state"] == "COMPLETE" for t in result["trials"]):
        raise EdgekitError(
            f"no trial completed; reasons: {'; '.join(sorted({t['error'] or '?' for t in result['trials']}))}"
        )


class Progress:
    """One plain line per finished trial (readable in a CI log): n/N, its result, the best so far and an ETA."""

    def __init__(self, budget, console):
        self.budget, self.console, self.t0, self.done = budget, console, time.time(), 0

    def __call__(self, st, trial) -> None:
        self.done += 1
        t = record(trial)
        trials = [record(x) for x in st.get_trials(deepcopy=False) if x.state.name == "COMPLETE"]
        what = describe(t["row"], t["reference"]) if t["state"] == "COMPLETE" else f"{t['state'].lower()}: {t['error']}"
        best = ""
        if trials:
            acc = max(trials, key=lambda x: x["row"]["accuracy"])
            small = min((x for x in trials if x["feasible"]), key=lambda x: x["row"]["size_bytes"], default=None)
            best = f"; best {metric_name(acc['row'])} #{acc['number']} {metrics(acc['row'])['accuracy']:.2f} %"
            if small is not None:
                best += f", smallest within budget #{small['number']} {metrics(small['row'])['size']:.2f} MB"
        n = len([x for x in st.get_trials(deepcopy=False) if x.state.name != "WAITING"])
        per = (time.time() - self.t0) / self.done
        left = max(0, self.budget.trials - n) * per
        if self.budget.deadline is not None:
            left = min(left, max(0.0, self.budget.deadline - time.time()))
        self.console.print(
            f"trial {min(n, self.budget.trials)}/{self.budget.trials} #{trial.number} {escape(what)}{best}; "
            f"ETA {left / 60:.0f} min",
            highlight=False,
        )


def print_result(result: dict) -> None:
    trials = {t["number"]: t for t in result["trials"]}
    failed = [t for t in result["trials"] if t["state"] == "FAIL"]
    table = Table(title=f"search '{result['study']}': frontier over {', '.join(result['objectives'])}")
    quality = metric_of([t["row"] for t in result["trials"] if t.get("row")])  # the task's metric: accuracy, mAP
    for col in ("trial", "artifact", quality, "size", "p50"):
        table.add_column(col, justify="left" if col in ("trial", "artifact") else "right")
    for n in result["frontier"]:
        t = trials[n]
        m = metrics(t["row"])
        label = (
            f"#{n}" + (" (hand)" if t["hand"] else "") + (" dominates hand" if n in result["dominating_hand"] else "")
        )
        table.add_row(label, t["row"]["stage"], f"{m['accuracy']:.2f} %", f"{m['size']:.2f} MB", f"{m['p50']:.3f} ms")
    out.print(table)
    for n in result["frontier"]:  # plain lines, not table cells: copied out of a log they still paste as YAML
        out.print(
            f"#{n} settings (paste over the recipe's stages):\n{escape(result['snippets'][str(n)].rstrip())}",
            highlight=False,
        )
    if result.get("ship") is not None:
        n = result["ship"]["trial"]
        out.print(
            f"ships: {'nothing' if n is None else f'trial #{n}'} ({escape(result['ship']['reason'])})", highlight=False
        )
    if result["hand"] is not None:
        hand = trials[result["hand"]]
        out.print(f"hand recipe (trial #{result['hand']}): {describe(hand['row'], hand['reference'])}", highlight=False)
    for t in failed:
        retry = f"; retried as #{t['retried_as']}" if t.get("retried_as") is not None else ""
        out.print(f"trial #{t['number']} failed: {escape(t['error'] or '?')}{retry}", highlight=False)
    out.print(
        f"{len(result['trials'])} trials ({len(failed)} failed), {len(result['frontier'])} on the frontier; "
        f"study: {result['storage']}; chart: {result['chart'] or 'none'}",
        highlight=False,
    )
