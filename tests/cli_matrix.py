"""The CLI matrix: every command × (no args, -h, unknown option, bad value, bad output path) with the exit code and
the one stderr line a user must get. Run in-process by tests/test_cli_matrix.py, and — as a script — in a process
where torch and click cannot be imported (the base install): ``python cli_matrix.py WORKDIR`` prints JSON results."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from pathlib import Path

COMMANDS = ["validate", "schema", "init", "shrink", "search", "bench", "bundle", "report", "compare", "check"]

RECIPE = """\
edgekit: 1
name: matrix
data: {source: fashion-mnist, limit_train: 100, limit_test: 50}
model: {source: "edgekit:resnet-small"}
stages:
  - {id: train, kind: train, epochs: 1}
  - {id: export, kind: export}
  - {id: evaluate, kind: evaluate}
"""


def cases(work: Path) -> list[tuple[list[str], int, str]]:
    """(argv, exit code, text the output must contain: stdout for 0, the one stderr line otherwise)."""
    recipe, adir, afile = str(work / "r.yaml"), str(work / "adir"), str(work / "afile")
    rows: list[tuple[list[str], int, str]] = []
    for cmd in COMMANDS:
        rows.append(([cmd, "-h"], 0, f"Usage: edgekit {cmd}"))
        rows.append(([cmd, "--bogus"], 2, f"edgekit {cmd}: No such option: --bogus"))
    rows += [
        ([], 2, "no command given; commands: validate, schema, init, shrink"),
        (["-h"], 0, "Usage: edgekit"),
        (["nosuch"], 2, "edgekit: No such command 'nosuch'"),
        # no arguments
        (["validate"], 2, "edgekit validate: Missing argument 'RECIPE'"),
        (["schema"], 0, '"title": "edgekit recipe v1"'),
        (["init"], 2, "init: give a data source"),
        (["shrink"], 2, "edgekit shrink: Missing argument 'RECIPE'"),
        (["search"], 2, "edgekit search: Missing argument 'RECIPE'"),
        (["bench"], 2, "edgekit bench: Missing argument 'MODEL_OR_RUN_DIR...'"),
        (["bundle"], 2, "edgekit bundle: Missing argument 'RECIPE'"),
        (["report"], 2, "edgekit report: Missing argument 'RUN_DIR'"),
        (["compare"], 2, "edgekit compare: Missing argument 'RUN_A'"),
        (["check"], 2, "edgekit check: Missing argument 'REPORT_OR_RUN_DIR'"),
        # bad values
        (["validate", str(work / "missing.yaml")], 2, "missing.yaml: no such recipe file"),
        (["validate", recipe, "--json=true"], 2, "Option '--json' does not take a value"),
        (["schema", "extra"], 2, "Got unexpected extra argument(s) (extra)"),
        (["init", "no-such-source"], 2, "unknown data source 'no-such-source'"),
        (["shrink", recipe, "--from", "trian"], 2, "--from: no stage 'trian'"),
        (["search", recipe, "--run-dir", str(work / "srun")], 2, "r.yaml: search: the recipe has no search: block"),
        (["search", recipe, "--trials", "0"], 2, "Invalid value for '--trials'"),
        (["bench", "x.onnx", "--repeat", "11"], 2, "Invalid value for '--repeat'"),
        (["bench", adir], 2, "neither a run directory (run.json) nor a stage folder"),
        (["bench", afile, "--threads", "4096"], 2, "--threads '4096': values must be at most 256"),
        (["bench", afile, "--threads", str(len(os.sched_getaffinity(0)) + 1)], 2, "this machine has"),
        (["bundle", recipe, "-o", str(work / "b.npz"), "--limit", "0"], 2, "Invalid value for '--limit'"),
        (["report", str(work / "norun")], 2, "norun: no such run directory"),
        (["compare", str(work / "a"), str(work / "b")], 2, "no such report or run directory"),
        (["check", adir], 2, "neither a run directory (run.json) nor a folder holding report.json"),
        # bad output paths: refused before any work
        (["init", "fashion-mnist", "-o", adir], 2, f"--output {adir}: is a folder"),
        (["shrink", recipe, "--run-dir", afile], 2, f"--run-dir {afile}: is a file"),
        (["bench", "x.onnx", "-o", adir], 2, f"--output {adir}: is a folder"),
        (["bench", "x.onnx", "-o", f"{afile}/out.json"], 2, f"{afile} is not a folder"),
        (["bundle", recipe, "-o", adir], 2, f"--output {adir}: is a folder"),
        (["report", adir, "--out", afile], 2, f"--out {afile}: is a file"),
        (["check", adir, "--junit", adir], 2, f"--junit {adir}: is a folder"),
        (["check", adir, "--summary", adir], 2, f"--summary {adir}: is a folder"),
    ]
    return rows


def prepare(work: Path) -> None:
    (work / "adir").mkdir(exist_ok=True)
    (work / "afile").write_text("not a model\n")
    (work / "r.yaml").write_text(RECIPE)


def run(argv: list[str]) -> tuple[int, str, str]:
    """main(argv) in this process: (exit code, stdout, stderr). An escaping exception is a traceback: a failure."""
    from edgekit.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def problems(results: list[tuple[list[str], int, str, int, str, str]]) -> list[str]:
    """What is wrong with each (argv, expected code, expected text, code, stdout, stderr); empty when all is right."""
    bad = []
    for argv, want_code, want_text, code, out, err in results:
        where = f"edgekit {' '.join(argv)}"
        lines = err.strip().splitlines()
        if code != want_code:
            bad.append(f"{where}: exit {code}, expected {want_code}; stderr: {err.strip()[-300:]}")
        elif want_code == 0 and (want_text not in out or err.strip()):
            bad.append(
                f"{where}: expected {want_text!r} on stdout and nothing on stderr; got {out[:200]!r} / {err[:200]!r}"
            )
        elif want_code != 0 and (len(lines) != 1 or not lines[0].startswith("error: ") or want_text not in lines[0]):
            bad.append(f"{where}: expected one line 'error: ...{want_text}...' on stderr, got {err!r}")
    return bad


if __name__ == "__main__":  # the torch-free install: run every case here and print the results as JSON
    work = Path(sys.argv[1])
    prepare(work)
    rows = [(a, c, t, *run(a)) for a, c, t in cases(work)]
    print(json.dumps(rows), file=sys.__stdout__)
