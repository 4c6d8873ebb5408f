"""`edgekit validate` and `edgekit schema`."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from edgekit import recipe as recipe_mod
from edgekit.cli.app import app, err, out


@app.command()
def validate(recipe: Path = typer.Argument(..., help="Recipe YAML file.")):
    """Check a recipe without running it (exit 2 with file:line: key: problem on the first error)."""
    from edgekit.preflight import preflight

    loaded = recipe_mod.load(recipe)
    for note in preflight(loaded):  # folders, models and modules the recipe names exist
        err.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)
    r = loaded.recipe
    out.print(f"{recipe}: ok — recipe '{r.name}', {len(r.stages)} stages: " + " → ".join(f"{s.id} ({s.kind})" for s in r.stages))


@app.command()
def schema():
    """Print the recipe JSON Schema (point your editor's YAML support at it for completion)."""
    typer.echo(json.dumps(recipe_mod.json_schema(), indent=2))
