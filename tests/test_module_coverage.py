"""Every module of edgekit is imported by the fast tier (modulecheck.py records what the session imports; this
file's first test runs last, and only when the session is the whole fast tier)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from modulecheck import CHECK_NAME, LOG_ENV, ROOT, SITE, imported, uncovered, whole_fast_tier


def test_every_edgekit_module_is_imported_by_the_fast_tier(request):
    assert request.node.name == CHECK_NAME  # the conftest moves the test of this name to the end
    if not whole_fast_tier(request.config):
        pytest.skip('checks only at the end of the whole fast tier: pytest -m "not slow"')
    missing = uncovered(ROOT / "edgekit", imported())
    assert not missing, (
        f"no fast-tier test imports {', '.join(missing)}: import it in a fast test "
        "(tests/test_smoke.py runs every stage kind), or move its code where one does"
    )


def test_the_check_names_every_module_nothing_imported(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    for f in ("__init__.py", "a.py", "b.py", "sub/__init__.py", "sub/c.py"):
        (pkg / f).write_text("")
    assert uncovered(pkg, {"pkg", "pkg.a", "pkg.sub", "pkg.sub.c"}) == ["pkg.b"]
    assert uncovered(pkg, {"pkg", "pkg.a", "pkg.b"}) == ["pkg.sub", "pkg.sub.c"]
    assert uncovered(pkg, {"pkg", "pkg.a", "pkg.b", "pkg.sub", "pkg.sub.c"}) == []


def test_a_subprocess_records_its_imports(tmp_path):
    """The CLI runs tests make in subprocesses count: the sitecustomize writes their edgekit modules at exit."""
    env = dict(os.environ, **{LOG_ENV: str(tmp_path)}, PYTHONPATH=os.pathsep.join([str(SITE), str(ROOT)]))
    subprocess.run([sys.executable, "-c", "import edgekit.units"], env=env, check=True, timeout=60)
    (record,) = tmp_path.glob("*.txt")
    assert {"edgekit", "edgekit.units"} <= set(record.read_text().split())
    assert "edgekit.units" in imported(str(tmp_path))
    # `python -m NAME` runs NAME as __main__ (no import names it), as the bench worker and the CLI are run
    record.unlink()
    subprocess.run([sys.executable, "-m", "edgekit.hashing"], env=env, check=True, timeout=60)
    (record,) = tmp_path.glob("*.txt")
    assert "edgekit.hashing" in record.read_text().split()
