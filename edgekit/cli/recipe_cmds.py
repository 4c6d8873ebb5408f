"""`edgekit validate` and `edgekit schema`."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape

from edgekit.recipe import read as recipe_mod
from edgekit.cli.app import app, err, out
from edgekit.errors import InputError
from edgekit.recipe.preflight import preflight
from edgekit.search import space

VALIDATE_SCHEMA = "edgekit.validate/1"


@app.command()
def validate(
    recipe: Path = typer.Argument(..., metavar="RECIPE", help="Recipe YAML file."),
    as_json: bool = typer.Option(
        False, "--json", help="Print the result as JSON on stdout (also when invalid).", metavar=""
    ),
):
    """Check a recipe without running it (exit 2 with file:line: key: problem on the first error)."""
    try:
        loaded = recipe_mod.load(recipe)
        notes = preflight(loaded)  # folders, models and modules the recipe names exist
        if loaded.recipe.search is not None:
            space.resolve(loaded)  # the search space names real stage keys with values those stages accept
    except InputError as e:
        if as_json:
            typer.echo(
                json.dumps({"schema": VALIDATE_SCHEMA, "file": str(recipe), "ok": False, "error": e.message}, indent=2)
            )
        raise
    for note in notes:
        err.print(f"[yellow]note:[/] {escape(note)}", highlight=False, soft_wrap=True)
    r = loaded.recipe
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "schema": VALIDATE_SCHEMA,
                    "file": str(recipe),
                    "ok": True,
                    "name": r.name,
                    "stages": [{"id": s.id, "kind": s.kind} for s in r.stages],
                },
                indent=2,
            )
        )
        return
    out.print(
        f"{recipe}: ok — recipe '{r.name}', {len(r.stages)} stages: "
        + " → ".join(f"{s.id} ({s.kind})" for s in r.stages),
        highlight=False,
        soft_wrap=True,
    )


@app.command()
def schema():
    """Print the recipe JSON Schema (point your editor's YAML support at it for completion)."""
    typer.echo(json.dumps(recipe_mod.json_schema(), indent=2))
