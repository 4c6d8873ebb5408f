"""Fixtures every test file may use: a Python where torch cannot be imported (the base install on a device);
and the hooks of the fast tier's guard."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# the fast tier's guard (see slowguard.py): hooks named here are registered as this conftest's own
from slowguard import pytest_configure, pytest_runtest_call, pytest_runtest_setup, pytest_terminal_summary  # noqa: F401

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

    def run(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
        full_env = dict(os.environ, **(env or {}), PYTHONPATH=os.pathsep.join([str(site), str(ROOT)]))
        return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd or tmp_path,
                              env=full_env, timeout=timeout)

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
