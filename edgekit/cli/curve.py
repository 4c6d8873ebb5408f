"""`edgekit curve RECIPE`: accuracy vs labelled examples for the recipe's trained and prompted arms, and where
training starts to beat prompting (N*)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from edgekit.recipe import read as recipe_mod
from edgekit.cli.app import app, err
from edgekit.curve.sizes import DEFAULT_SIZES
from edgekit.errors import InputError
from edgekit.fsutil import check_output_dir


@app.command()
def curve(
    recipe: Path = typer.Argument(
        ..., metavar="RECIPE", help="Recipe YAML file: its train and prompted stages are the arms."
    ),
    sizes: str = typer.Option(
        DEFAULT_SIZES,
        "--sizes",
        help="Labelled training examples PER CLASS (a detection recipe: training IMAGES), increasing; "
        "'all' = the whole training split.",
    ),
    seeds: int = typer.Option(
        3, "--seeds", min=1, max=20, help="Seeds (subset draw + training) at sizes up to --seeds-up-to."
    ),
    seeds_up_to: int = typer.Option(
        300, "--seeds-up-to", min=0, help="Largest size per class that runs every seed; larger sizes run one."
    ),
    arms: str = typer.Option(
        None,
        "--arms",
        help="Comma-separated arms (stage ids, '<prompted id>:few-shot'); default: all but the slow ones.",
    ),
    test_samples: int = typer.Option(
        None, "--test-samples", min=1, help="Score every point on a seeded subset of this many test samples."
    ),
    min_steps: int = typer.Option(
        150,
        "--min-steps",
        min=1,
        help="Optimizer steps every trained point takes at least, and at least as many as the arm's largest size takes "
        "(more epochs on small sets).",
    ),
    in_context: int = typer.Option(
        4, "--in-context", min=1, max=64, help="llm/openai few-shot: examples per class shown in the prompt, at most."
    ),
    run_dir: Path = typer.Option(
        None, "--run-dir", help="Run folder (default: runs/<recipe name>); writes RUN_DIR/curve/."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print the curve (edgekit.curve/1) as JSON on stdout.", metavar=""
    ),
):
    """Learning curves: train, fine-tune and prompt (zero- and few-shot) at a ladder of training-set sizes."""
    from edgekit.curve.run import CurveRun, CurveSettings
    from edgekit.curve.sizes import SeedPlan, parse_sizes

    ladder = parse_sizes(sizes)
    loaded = recipe_mod.load(recipe)
    run_dir = check_output_dir(run_dir or Path("runs") / loaded.recipe.name, "--run-dir")
    settings = CurveSettings(ladder, SeedPlan(seeds, seeds_up_to), arms, test_samples, min_steps, in_context)
    t0 = time.perf_counter()
    runner = CurveRun(loaded, run_dir, settings, err)
    points = runner.run()
    from edgekit.curve.report import build, markdown
    from edgekit.fsutil import write_atomic, write_json

    timing = {**runner.timing, "total_s": round(time.perf_counter() - t0, 1)}
    doc = build(points, runner.arms, ladder, len(runner.data.test), len(runner.data.ds.classes), timing, runner.unit)
    write_json(runner.dir / "curve.json", doc)
    write_atomic(runner.dir / "curve.md", markdown(doc))
    try:
        from edgekit.curve.plot import plot

        write_atomic(runner.dir / "curve.png", plot(doc))
    except InputError as e:  # no matplotlib: the numbers still stand
        err.print(f"[yellow]warning:[/] no chart: {e.message}", highlight=False)
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
    else:
        typer.echo(markdown(doc), nl=False)  # plain text: a table row is never wrapped
        err.print(
            f"curve: {runner.dir / 'curve.png'}, {runner.dir / 'curve.md'}, {runner.dir / 'curve.json'}",
            highlight=False,
        )
