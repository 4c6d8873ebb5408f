"""How the slow tier splits across pytest-xdist workers (`make test-slow`: ``-n 2 --dist loadgroup``, then the
tests marked ``timing`` by themselves).

A worker is its own Python, so an expensive shared fixture is built once per worker that runs one of its tests.
The scheduler below (xdist's ``loadgroup``, registered through xdist's ``pytest_xdist_make_scheduler`` hook) hands
each test to whichever worker is free, except that these go to one worker together, so each is still built once:
- the test files that use the shared report run (``import report_run`` / ``from device_run import``): one unit;
- a file that uses a session-scoped fixture of conftest.py (the smoke run): one unit per such fixture;
- a file that defines a module- or session-scoped fixture (a cold pipeline run, an sshd, an export): one unit;
- any other test: a unit of its own (the zoo's architectures, the documented commands).
The scheduler runs in the controlling process, which sees node ids, not fixtures, so the grouping reads the test
files' text; a file that matches two rules takes the first. (xdist's own ``xdist_group`` marks rename node ids by
an attribute this pytest no longer reads, so marks alone would group nothing here.)"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
SHARED_RUN = re.compile(r"^\s*(?:from|import)\s+(?:report_run|device_run)\b", re.M)
OWN_WIDE_FIXTURE = re.compile(r"fixture\(scope=[\"'](?:module|session|package)[\"']")
SHARED_RUN_GROUP = "report-run"


@cache
def _session_fixtures() -> tuple[str, ...]:
    text = (TESTS / "conftest.py").read_text()
    return tuple(re.findall(r"@pytest\.fixture\(scope=\"session\"\)\s*\ndef (\w+)\(", text))


@cache
def file_group(path: Path) -> str | None:
    """The unit a test file's tests share, or None when each of its tests can go anywhere."""
    text = path.read_text() if path.is_file() else ""
    if SHARED_RUN.search(text):
        return SHARED_RUN_GROUP
    used = [name for name in _session_fixtures() if re.search(rf"def \w+\([^)]*\b{name}\b", text)]  # a parameter
    if used:
        return f"session-{used[0]}"
    return path.name if OWN_WIDE_FIXTURE.search(text) else None


def scope_of(nodeid: str, rootdir: Path) -> str:
    """The scheduling unit of a test: its file's group, or the test itself."""
    group = file_group(rootdir / nodeid.split("::", 1)[0])
    return group if group is not None else nodeid


@pytest.hookimpl(optionalhook=True)  # a hook of xdist's: without xdist installed, never called
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class SharedFixtureScheduling(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if "@" in nodeid:  # an explicit xdist_group, where xdist could still apply one
                return super()._split_scope(nodeid)
            return scope_of(nodeid, config.rootpath)

    return SharedFixtureScheduling(config, log)
