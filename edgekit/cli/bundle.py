"""`edgekit bundle RECIPE`: a recipe's test split as an evaluation bundle (.npz) for `edgekit bench --bundle` on a
device with no dataset loader. Torch-free."""

from __future__ import annotations

from pathlib import Path

import typer

from edgekit.cli.app import app, out
from edgekit.cli.bench_args import recipe_dataset
from edgekit.errors import InputError
from edgekit.fsutil import check_output_file


@app.command()
def bundle(
    recipe: Path = typer.Argument(..., metavar="RECIPE", help="Recipe whose data: section names the dataset."),
    output: Path = typer.Option(..., "--output", "-o", help="Bundle file to write (.npz)."),
    limit: int = typer.Option(None, "--limit", min=1, help="At most this many test samples (a seeded random subset)."),
):
    """Export a recipe's test split as an evaluation bundle, so `edgekit bench --bundle` can measure accuracy on a
    device with no dataset loader (numpy + onnxruntime only)."""
    from edgekit.bench.bundle import bundle_from_dataset, save_bundle

    output = check_output_file(output, "--output")
    if output is None:
        raise InputError("--output: give a file name for the bundle (.npz)")
    ds = recipe_dataset(recipe)
    x, y, pre = bundle_from_dataset(ds, limit)
    save_bundle(output, x, y, pre)
    out.print(
        f"{output}: {len(y)} test samples of '{ds.name}' ({len(ds.classes)} classes), "
        f"{output.stat().st_size / 1e6:.1f} MB",
        soft_wrap=True,
        highlight=False,
    )
