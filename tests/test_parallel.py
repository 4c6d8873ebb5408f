"""The slow tier's xdist scheduling (tests/parallel.py): test files that share an expensive fixture or the shared
report run are one unit of work, on one worker; other tests are scheduled one by one."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

import parallel

SUITE = """
import time

import pytest


@pytest.fixture(scope="module")
def cold_run():
    return 1


def test_one(cold_run):
    time.sleep(0.3)


def test_two(cold_run):
    time.sleep(0.3)


def test_three(cold_run):
    time.sleep(0.3)
"""
LOOSE = "import time\n\n\ndef test_a():\n    time.sleep(0.3)\n\n\ndef test_b():\n    time.sleep(0.3)\n"


def test_units_follow_the_shared_run_the_session_fixtures_and_a_files_own_fixtures(tmp_path):
    files = {
        "test_report_user.py": "import report_run\n",
        "test_device_user.py": "from device_run import device_run, stage_model\n",
        "test_smoke_user.py": "def test_x(smoke):\n    pass\n",
        "test_module_fixture.py": SUITE,
        "test_loose.py": LOOSE,
        "test_mentions_it.py": "# the zoo smoke exports it\n" + LOOSE,  # a word in a comment is no parameter
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert "smoke" in parallel._session_fixtures()  # conftest.py's, read from its text
    scope = {name: parallel.scope_of(f"{name}::test_x", tmp_path) for name in files}
    assert scope["test_report_user.py"] == scope["test_device_user.py"] == parallel.SHARED_RUN_GROUP
    assert scope["test_smoke_user.py"] == "session-smoke"
    assert scope["test_module_fixture.py"] == "test_module_fixture.py"
    assert scope["test_loose.py"] == "test_loose.py::test_x"  # a unit of its own
    assert scope["test_mentions_it.py"] == "test_mentions_it.py::test_x"
    # the real suite: the report run's users are one unit, the zoo's architectures are not
    here = Path(__file__).parents[1]
    assert parallel.scope_of("tests/test_aarch64.py::test_base", here) == parallel.scope_of(
        "tests/test_report.py::t", here
    )
    assert parallel.scope_of("tests/test_pipeline.py::test_end_to_end", here) == "test_pipeline.py"
    assert parallel.scope_of("tests/test_zoo.py::test_zoo[resnet18]", here) == "tests/test_zoo.py::test_zoo[resnet18]"


def _workers(lines: list[str]) -> dict[str, str]:
    """test name -> xdist worker, from ``-v`` lines such as ``[gw1] [ 40%] PASSED test_suite.py::test_one``."""
    found = (re.match(r"\[(gw\d+)\].* PASSED \S+::(\w+)", line) for line in lines)
    return {m.group(2): m.group(1) for m in found if m}


def test_xdist_keeps_a_files_shared_fixture_on_one_worker(pytester, monkeypatch):
    pytest.importorskip("xdist")
    here = str(Path(__file__).parent)  # parallel.py, as a plugin of the pytest subprocess
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")])))
    pytester.makepyfile(test_suite=SUITE, test_loose=LOOSE)
    result = pytester.runpytest_subprocess("-p", "parallel", "-n", "2", "--dist", "loadgroup", "-v")
    result.assert_outcomes(passed=5)
    workers = _workers(result.stdout.lines)
    assert len({workers[n] for n in ("test_one", "test_two", "test_three")}) == 1, workers  # one unit
    assert len(set(workers.values())) == 2, workers  # and the loose tests went to the other worker
