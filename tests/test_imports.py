"""The shape of edgekit's import graph: no cycles, and no torch reachable from the torch-free part.

The graph is read from the source (tests/importgraph.py), function-local imports included, so a cycle cannot
hide inside a function; the subprocess test then proves the same at run time with torch unimportable.
"""

from pathlib import Path

import pytest

from importgraph import build, cycles, reachable

ROOT = Path(__file__).parents[1]
PACKAGE = ROOT / "edgekit"
TORCH = {"torch", "torchvision", "torch_pruning", "neural_compressor", "transformers"}
# What a Raspberry Pi with `pip install edgekit` runs: benchmark, report, check, the ONNX runtime helpers.
TORCH_FREE = ["edgekit.bench", "edgekit.report", "edgekit.runtime", "edgekit.cli.check", "edgekit.cli.report"]


def test_edgekit_has_no_import_cycle():
    inner, _ = build(PACKAGE)
    found = cycles(inner)
    assert not found, "import cycles:\n" + "\n".join(
        f"  {' , '.join(c)}\n" + "\n".join(f"    {m} -> {sorted(inner[m] & set(c))}" for m in c) for c in found
    )


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_cycle_check_sees_function_local_and_package_init_edges(tmp_path):
    root = _package(
        tmp_path,
        {
            "__init__.py": "from pkg import a\n",
            "a.py": "def f():\n    from pkg.b import g\n",  # function-local
            "b.py": "from pkg import c\n",
            "c.py": "import pkg\n",  # back to the package __init__, which imports a
            "d.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.e import x\n",
            "e.py": "from pkg.d import y\n",  # d -> e only for the type checker: no cycle
        },
    )
    inner, _ = build(root)
    assert cycles(inner) == [["pkg", "pkg.a", "pkg.b", "pkg.c"]]
    assert inner["pkg.d"] == set() and inner["pkg.e"] == {"pkg.d"}
    assert inner["pkg.b"] == {"pkg.c"}  # `from pkg import c` is the module pkg.c, not pkg's __init__


@pytest.mark.parametrize("root", TORCH_FREE)
def test_torch_is_not_reachable_from_the_torch_free_part(root):
    inner, outer = build(PACKAGE)
    roots = [m for m in inner if m == root or m.startswith(root + ".")]
    seen = reachable(inner, roots)
    assert not [m for m in seen if m.startswith("edgekit.torchkit")], sorted(seen)
    bad = {m: sorted(outer[m] & TORCH) for m in seen if outer[m] & TORCH}
    assert not bad, f"{root} reaches torch through {bad}"


def test_torch_free_part_imports_where_torch_cannot_be_imported(run_python_without_torch):
    mods = [
        "edgekit.bench",
        "edgekit.bench.worker",
        "edgekit.runtime.ort",
        "edgekit.runtime.preprocess",
        "edgekit.runtime.tokenize",
        "edgekit.report.build",
        "edgekit.report.check",
        "edgekit.report.render",
        "edgekit.cli.bench",
        "edgekit.cli.bench_args",
        "edgekit.cli.bundle",
        "edgekit.cli.check",
        "edgekit.cli.report",
        "edgekit.cli.main",
        "edgekit.stages.evaluate",
    ]
    code = (
        "import importlib, sys\n"
        f"for m in {mods!r}: importlib.import_module(m)\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision')], 'torch imported'\n"
        "print('ok')\n"
    )
    proc = run_python_without_torch("-c", code)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


# importing one module must never pull in its siblings, so a package's __init__ holds a docstring and nothing else
# (a re-export there is how the old 16-module cycle started; issue 28). The exceptions hold one thing each on purpose:
# the provider vocabulary (baselines), the harness's public API (bench), the data sources that register themselves
# (data), the complete stage table (stages)
WITH_CODE = {"baselines", "bench", "data", "stages"}
DOCSTRING_ONLY = ("cli", "curve", "decide", "detect", "quant", "recipe", "report", "run", "runtime", "search")
ROOT_MODULES_AT_MOST = 10


def test_the_root_shows_the_house_and_new_package_inits_are_docstring_only():
    import ast

    root = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(root) <= ROOT_MODULES_AT_MOST, f"{len(root)} modules at the root of edgekit/: {root}"
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert packages == WITH_CODE | set(DOCSTRING_ONLY), "a new package: docstring-only __init__, add it to the list"
    for name in DOCSTRING_ONLY:
        body = ast.parse((PACKAGE / name / "__init__.py").read_text()).body
        assert len(body) == 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant), name
