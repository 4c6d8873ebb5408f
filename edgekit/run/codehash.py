"""What code a stage runs: the sha256 of the edgekit source files it can reach, and the versions of the
third-party packages those files import. Part of every stage key, so an edit under ``edgekit/quant/`` or a
torch upgrade re-runs the stages that use them, and nothing else.

Reachability is read from the source (``ast``), not from ``sys.modules``: function-local imports count, and
nothing is imported to find out. The walk stops at the framework modules every stage imports (recipe,
registry, pipeline, ...): they decide *which* stage runs and with what config — both already in the key —
not what the stage computes, and following them would make every stage depend on every other one.

    >>> code_fingerprint(["edgekit.stages.quantize"])["packages"]     # doctest: +SKIP
    {'numpy': '2.4.6', 'onnx': '1.23.2', 'onnxruntime': '1.32.0', ...}
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import re
import sys
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, packages_distributions, version
from pathlib import Path

from edgekit.modelpath import find_module

_MODULE_NAME = re.compile(r"(edgekit|PIL|torch|torchvision|onnx|onnxruntime|neural_compressor|transformers)(\.\w+)*")
ROOT = Path(__file__).resolve().parent.parent  # the edgekit package folder
FRAMEWORK = frozenset(
    {
        "edgekit.recipe.read",
        "edgekit.run.registry",
        "edgekit.run.pipeline",
        "edgekit.recipe.graph",
        "edgekit.run.stage",
        "edgekit.stages",
        "edgekit.cli",
        "edgekit.report",
        "edgekit.run.codehash",
        # the recipe's schema and error formatting: validated configs are in the key already
        "edgekit.recipe.strict",
        "edgekit.recipe.yamlerrors",
        "edgekit.recipe.yamlsafe",
        "edgekit.recipe.model",
        "edgekit.recipe.model_config",
        "edgekit.recipe.budgets",
        "edgekit.recipe.preflight",
    }
)


def _file_of(module: str, root: Path = ROOT) -> Path | None:
    """edgekit.a.b -> edgekit/a/b.py or edgekit/a/b/__init__.py; None if it is not an edgekit module."""
    parts = module.split(".")
    if parts[0] != "edgekit":
        return None
    base = root.joinpath(*parts[1:])
    for p in (base.with_suffix(".py"), base / "__init__.py"):
        if p.is_file():
            return p
    return None


def _installed(top: str) -> bool:
    try:
        return importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):  # a blocked or broken package counts as not installed
        return False


def _framework(module: str) -> bool:
    return any(module == f or module.startswith(f + ".") for f in FRAMEWORK)


def _imports(path: Path, root: Path) -> tuple[frozenset[str], frozenset[str]]:
    """(edgekit modules, third-party top-level names) one file imports, anywhere in it."""
    tree = ast.parse(path.read_bytes(), str(path))
    own: set[str] = set()
    other: set[str] = set()
    # the package a relative import starts from: edgekit/a/b.py and edgekit/a/__init__.py both sit in edgekit.a
    package = ".".join(("edgekit", *path.relative_to(root).with_suffix("").parts)).rsplit(".", 1)[0]
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            # `from pkg import sub` may name a submodule: count it when one exists
            names = [base] + [f"{base}.{a.name}" for a in node.names if _file_of(f"{base}.{a.name}", root)]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _MODULE_NAME.fullmatch(node.value):
            # a module started by name: `python -m edgekit.bench.worker`, require("PIL.Image")
            top = node.value.split(".")[0]
            if _file_of(node.value, root) or (top != "edgekit" and _installed(top)):
                names = [node.value]
        for name in names:
            if name.split(".")[0] == "edgekit":
                own.add(name)
            elif name and name.split(".")[0] not in sys.stdlib_module_names:
                other.add(name.split(".")[0])
    return frozenset(own), frozenset(other)


def _reachable(modules: tuple[str, ...], root: Path = ROOT) -> tuple[list[Path], set[str]]:
    files: dict[Path, None] = {}
    third: set[str] = set()
    todo = list(modules)
    while todo:
        mod = todo.pop()
        parts = mod.split(".")
        # importing a.b.c runs a/__init__ and a/b/__init__ too
        chain = [".".join(parts[: i + 1]) for i in range(1, len(parts))] or [mod]
        for m in chain:
            if _framework(m) and m not in modules:
                continue
            path = _file_of(m, root)
            if path is None or path in files:
                continue
            files[path] = None
            own, other = _imports(path, root)
            third |= other
            todo.extend(own)
    return sorted(files), third


@lru_cache(maxsize=None)
def _distributions() -> dict[str, list[str]]:
    return packages_distributions()


def package_versions(import_names: set[str]) -> dict[str, str]:
    """Installed distribution versions for top-level import names (torch, onnxruntime, PIL, ...)."""
    out: dict[str, str] = {}
    dists = _distributions()
    for name in sorted(import_names):
        for dist in dists.get(name, []):
            try:
                out[dist.lower()] = version(dist)
            except PackageNotFoundError:
                pass
    return out


def code_fingerprint(modules: tuple[str, ...], root: Path = ROOT) -> dict:
    """{"source": sha256 over the reachable edgekit files (path + bytes), "packages": {dist: version}}."""
    files, third = _reachable(modules, root)
    h = hashlib.sha256()
    for p in files:
        h.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return {"source": h.hexdigest(), "packages": package_versions(third)}


def user_code_hash(module: str, base_dir: Path | None = None) -> str | None:
    """sha256 of a user module's source (python:module:function), found without importing it, next to the recipe
    (``base_dir``) first; a package hashes its whole folder. None when it cannot be found (the stage that imports
    it reports that)."""
    spec = find_module(module, base_dir)
    if spec is None or not spec.origin or not Path(spec.origin).is_file():
        return None
    origin = Path(spec.origin)
    return folder_hash(origin.parent) if origin.name == "__init__.py" else file_hash(origin)


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def folder_hash(folder: Path) -> str:
    """sha256 of every file under a folder (relative path + content), ignoring caches and hidden files."""
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if not p.is_file() or "__pycache__" in rel.parts or any(part.startswith(".") for part in rel.parts):
            continue
        h.update(rel.as_posix().encode() + b"\0")
        with open(p, "rb") as f:
            while block := f.read(1 << 20):
                h.update(block)
        h.update(b"\0")
    return h.hexdigest()


def tree_fingerprint(root: Path = ROOT) -> dict:
    """The whole edgekit package (every .py file) and the versions of everything it can import: what a CI cache
    of stage results must be keyed on, so a cache built by other code is never restored."""
    return code_fingerprint(
        tuple(
            sorted(
                {
                    "edgekit." + ".".join(p.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
                    for p in root.rglob("*.py")
                    if "__pycache__" not in p.parts
                }
            )
        ),
        root,
    )


if __name__ == "__main__":  # python -m edgekit.run.codehash  ->  one line for a CI cache key
    import json as _json

    fp = tree_fingerprint()
    print(hashlib.sha256(_json.dumps(fp, sort_keys=True).encode()).hexdigest())
