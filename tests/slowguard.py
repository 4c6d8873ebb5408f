"""The fast tier's guard: an unmarked test whose call phase costs more than 10 s fails with "mark it slow or make
it faster", so the fast tier (``pytest -m "not slow"``) stays minutes long without anyone policing it.

Why CPU time and not wall time: the test machines are shared (five sessions on 2 cores), and a test's wall time
there grows with everyone else's load, so a wall-time limit would turn the guard into one more test whose verdict
depends on the machine. CPU time (this process plus the subprocesses it waited for, ``getrusage``) counts only the
work the test itself did; it still scales with the CPU's speed (this VM's host switches between two speeds 1.3-1.5x
apart), so a fast-tier test should stay well under the limit (aim for < 5 s) rather than graze it.
Threads count in full: a test that keeps 2 cores busy for 6 s costs 12 s, which is what it costs the machine.

Environment:
  EDGEKIT_SLOW_GUARD=report   print the offenders at the end instead of failing them (to survey a suite)
  EDGEKIT_SLOW_GUARD=off      no check at all
  EDGEKIT_SLOW_GUARD_S=N      the limit in CPU seconds (default 10)
  EDGEKIT_TEST_TIMES=FILE     append "phase<TAB>cpu_s<TAB>wall_s<TAB>slow|fast<TAB>nodeid" per setup and call phase
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass, field

import pytest

LIMIT_S = 10.0


@dataclass
class _Settings:
    """Read once per session, at configure time, and kept on the config: a test that changes the environment
    (the guard's own tests do, for a pytester session) changes nothing for the session it runs in."""

    mode: str
    limit_s: float
    times: str | None
    offenders: list[str] = field(default_factory=list)


_KEY = pytest.StashKey[_Settings]()


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and of every child it has waited for."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def pytest_configure(config):
    config.stash[_KEY] = _Settings(
        os.environ.get("EDGEKIT_SLOW_GUARD", "fail"),
        float(os.environ.get("EDGEKIT_SLOW_GUARD_S", LIMIT_S)),
        os.environ.get("EDGEKIT_TEST_TIMES"),
    )


def _log(item: pytest.Item, phase: str, cpu: float, wall: float) -> None:
    path = item.config.stash[_KEY].times
    if path:
        tier = "slow" if item.get_closest_marker("slow") else "fast"
        with open(path, "a") as f:
            f.write(f"{phase}\t{cpu:.2f}\t{wall:.2f}\t{tier}\t{item.nodeid}\n")


def _timed(item: pytest.Item, phase: str):
    """Generator body shared by the setup and call wrappers: yields to the phase, logs, returns the CPU spent."""
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    try:
        result = yield
    finally:
        cpu, wall = cpu_seconds() - cpu0, time.perf_counter() - wall0
        _log(item, phase, cpu, wall)
    return result, cpu


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    result, _ = yield from _timed(item, "setup")
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Only the call phase is judged: a shared session fixture (the smoke run) is paid once in some test's setup."""
    result, cpu = yield from _timed(item, "call")
    guard = item.config.stash[_KEY]
    if guard.mode != "off" and cpu > guard.limit_s and not item.get_closest_marker("slow"):
        message = f"{item.nodeid} took {cpu:.1f} s of CPU (limit {guard.limit_s:g} s): mark it slow or make it faster"
        if guard.mode == "report":
            guard.offenders.append(message)
        else:
            pytest.fail(message, pytrace=False)
    return result


def pytest_terminal_summary(terminalreporter, config):
    offenders = config.stash[_KEY].offenders
    if offenders:
        terminalreporter.section("slow guard (report only)")
        for line in offenders:
            terminalreporter.write_line(line)
