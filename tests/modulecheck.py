"""The check that the fast tier imports every module of edgekit: a module no fast test imports is code whose
breakage only the slow tier (or a user) would find.

What counts as imported: the modules in this pytest process's sys.modules at the end of the session, plus those
of every Python the tests started, recorded by the sitecustomize in tests/importlog/ (an audit hook, on PYTHONPATH
for the session; a test that replaces PYTHONPATH, as the no-torch runs do, goes unrecorded: it can only
under-count).
The verdict is the last test of the session, tests/test_module_coverage.py; it runs only when the session is the
whole fast tier (``pytest -m "not slow"`` over tests/), since a part of the tier proves nothing either way.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(__file__).resolve().parent / "importlog"
LOG_ENV = "EDGEKIT_IMPORT_LOG"
CHECK_NAME = "test_every_edgekit_module_is_imported_by_the_fast_tier"
_OWNED = pytest.StashKey[str]()
_WHOLE = pytest.StashKey[bool]()


def modules(package: Path) -> list[str]:
    """Dotted names of every module of the package at ``package`` (``__init__`` counts as the package)."""
    out = []
    for p in sorted(package.rglob("*.py")):
        parts = p.relative_to(package.parent).with_suffix("").parts
        out.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return out


def uncovered(package: Path, imported: set[str]) -> list[str]:
    return [m for m in modules(package) if m not in imported]


def imported(log_dir: str | None = None) -> set[str]:
    """edgekit modules this process imported, and those the recorded subprocesses did."""
    names = {m for m in sys.modules if m == "edgekit" or m.startswith("edgekit.")}
    folder = Path(log_dir or os.environ.get(LOG_ENV, ""))
    if folder.is_dir() and str(folder) != ".":
        for f in folder.glob("*.txt"):
            names.update(f.read_text().split())
    return names


def pytest_configure(config):
    # the outermost session owns the log; pytester sessions and subprocesses inherit it from the environment
    if LOG_ENV not in os.environ:
        config.stash[_OWNED] = os.environ[LOG_ENV] = tempfile.mkdtemp(prefix="edgekit-imports-")
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SITE), os.environ.get("PYTHONPATH")]))


def pytest_unconfigure(config):
    owned = config.stash.get(_OWNED, None)
    if owned:
        shutil.rmtree(owned, ignore_errors=True)
        del os.environ[LOG_ENV]
    elif os.environ.get(LOG_ENV) and Path(os.environ[LOG_ENV]).is_dir():
        # a log given from outside (a survey that runs the tier file by file): add this process's own imports
        (Path(os.environ[LOG_ENV]) / f"{os.getpid()}-pytest.txt").write_text("\n".join(sorted(imported())) + "\n")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Move the check to the end of the session, and note whether this session is the whole fast tier."""
    args = [Path(a).resolve() for a in config.args]
    config.stash[_WHOLE] = (
        config.getoption("markexpr") == "not slow"
        and not config.getoption("keyword")
        and not config.getoption("deselect")
        and args in ([ROOT], [ROOT / "tests"])
    )
    checks = [i for i in items if i.name == CHECK_NAME]
    items[:] = [i for i in items if i.name != CHECK_NAME] + checks


def whole_fast_tier(config) -> bool:
    return config.stash.get(_WHOLE, False)
