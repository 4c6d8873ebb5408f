"""Fixtures every test file may use: a Python where torch cannot be imported (the base install on a device);
and the hooks of the fast tier's guard."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# hooks named here are registered as this conftest's own: the fast tier's guard (slowguard.py) and the record of
# which edgekit modules the tests import (modulecheck.py); how the slow tier is split across xdist workers
# (parallel.py)
import modulecheck
import slowguard
from slowguard import pytest_runtest_call, pytest_runtest_setup, pytest_terminal_summary  # noqa: F401
from modulecheck import pytest_collection_modifyitems, pytest_unconfigure  # noqa: F401
from parallel import pytest_xdist_make_scheduler  # noqa: F401


def pytest_configure(config):
    slowguard.pytest_configure(config)
    modulecheck.pytest_configure(config)


ROOT = Path(__file__).parents[1]
TORCH_PACKAGES = ("torch", "torchvision", "torch_pruning")

_BLOCKER = """
import sys
class _Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked in this test)", name=name)
        return None
sys.meta_path.insert(0, _Blocked())
"""


def python_without(tmp_path: Path, blocked: tuple[str, ...] = TORCH_PACKAGES):
    """A runner of ``python ARGS`` in which importing ``blocked`` packages fails, as on a base install.

    The block is a sitecustomize on PYTHONPATH, so it also holds in subprocesses the code starts."""
    site = tmp_path / "blocked-site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(_BLOCKER.format(blocked=set(blocked)))

    def run(
        *args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess:
        full_env = dict(os.environ, **(env or {}), PYTHONPATH=os.pathsep.join([str(site), str(ROOT)]))
        return subprocess.run(
            [sys.executable, *args], capture_output=True, text=True, cwd=cwd or tmp_path, env=full_env, timeout=timeout
        )

    return run


@pytest.fixture
def run_python_without_torch(tmp_path):
    """``run("-m", "edgekit", ...)`` or ``run("-c", code)`` with torch, torchvision and torch_pruning unimportable."""
    return python_without(tmp_path)


@pytest.fixture
def torch_one_thread():
    """Tiny models run fastest on one thread, and the test machines are shared."""
    import torch  # here, not at the top: the no-torch tests share this conftest

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def recipe(tmp_path):
    """``recipe(name, **tiny_recipe options)``: tiny.tiny_recipe written to ``tmp_path / file``, its path returned;
    ``extra`` lines go at the end (a budgets: or ship: block). One tiny recipe for every test that needs one, so a
    change to the shared subset or model is made once."""
    from tiny import tiny_recipe

    def write(name: str = "tiny", *, file: str = "recipe.yaml", extra: str = "", **options) -> Path:
        path = tmp_path / file
        path.write_text(tiny_recipe(name, **options) + extra)
        return path

    return write


@pytest.fixture(scope="session")
def smoke(tmp_path_factory):
    """The fast tier's shared smoke run (tests/smoke_run.py), for test_smoke.py and the tests that only read a real
    report.json (test_check.py). Paid once, in the setup of the first test that asks (the slow guard judges call
    phases only)."""
    pytest.importorskip("neural_compressor")
    from smoke_run import build

    return build(tmp_path_factory.mktemp("smoke"))
