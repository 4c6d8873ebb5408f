"""The fast tier's guard (slowguard.py), shown on deliberately slow tests in a pytester session: an unmarked test
that burns more CPU than the limit fails with the message, a slow-marked one passes, and waiting (wall time with
no CPU, as on a loaded machine) is not held against a test."""

from __future__ import annotations

import pytest

# the limit is lowered to 0.3 s so the deliberately slow tests cost under a second each
CONFTEST = (
    "from slowguard import pytest_configure, pytest_runtest_call, pytest_runtest_setup, pytest_terminal_summary\n"
)
INI = "[pytest]\nmarkers =\n    slow: heavy\n"
TESTS = """
import time
import pytest

def burn(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass

def test_burns_cpu():
    burn(0.6)

@pytest.mark.slow
def test_burns_cpu_but_is_marked():
    burn(0.6)

def test_waits():
    time.sleep(0.8)

def test_quick():
    assert True
"""


@pytest.fixture
def guarded(pytester, monkeypatch):
    monkeypatch.setenv("EDGEKIT_SLOW_GUARD_S", "0.3")
    monkeypatch.delenv("EDGEKIT_SLOW_GUARD", raising=False)
    monkeypatch.delenv("EDGEKIT_TEST_TIMES", raising=False)  # the inner sessions must not log into an outer survey
    pytester.makeconftest(CONFTEST)
    pytester.makeini(INI)
    pytester.makepyfile(test_deliberately_slow=TESTS)
    return pytester


def test_an_unmarked_test_over_the_limit_fails_with_the_advice(guarded):
    result = guarded.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*test_burns_cpu took *s of CPU (limit 0.3 s): mark it slow or make it faster*"])
    outcomes = {
        r.nodeid.split("::")[1]: r.outcome
        for r in result.reprec.getreports("pytest_runtest_logreport")
        if r.when == "call"
    }
    assert outcomes == {
        "test_burns_cpu": "failed",
        "test_burns_cpu_but_is_marked": "passed",
        "test_waits": "passed",
        "test_quick": "passed",
    }


def test_report_mode_lists_the_offender_and_fails_nothing(guarded, monkeypatch):
    monkeypatch.setenv("EDGEKIT_SLOW_GUARD", "report")
    result = guarded.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        ["*slow guard (report only)*", "*test_burns_cpu took *: mark it slow or make it faster"]
    )
    assert "test_waits took" not in result.stdout.str()


def test_the_times_file_has_one_line_per_phase(guarded, monkeypatch, tmp_path):
    times = tmp_path / "times.tsv"
    monkeypatch.setenv("EDGEKIT_TEST_TIMES", str(times))
    monkeypatch.setenv("EDGEKIT_SLOW_GUARD", "off")
    guarded.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=4)
    rows = [line.split("\t") for line in times.read_text().splitlines()]
    assert [(r[0], r[3], r[4].split("::")[1]) for r in rows if r[0] == "call"] == [
        ("call", "fast", "test_burns_cpu"),
        ("call", "slow", "test_burns_cpu_but_is_marked"),
        ("call", "fast", "test_waits"),
        ("call", "fast", "test_quick"),
    ]
    cpu = {r[4].split("::")[1]: float(r[1]) for r in rows if r[0] == "call"}
    wall = {r[4].split("::")[1]: float(r[2]) for r in rows if r[0] == "call"}
    assert cpu["test_burns_cpu"] >= 0.6 and cpu["test_waits"] < 0.3 <= wall["test_waits"]
