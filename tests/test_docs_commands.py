"""Every shell command in README.md and docs/*.md, run as written — with small data: recipes are swapped for a
tiny one, ONNX placeholders are its exported model, `bench` runs its quick preset. A renamed option, a missing
file or a command that no longer exists fails here. ```console blocks are transcripts for another machine (a
Pi, root, ssh) and are not run; a command that measures on a device (`--on`) is checked against `bench -h`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tiny import tiny_recipe

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

TINY = tiny_recipe("docs-tiny")
RUN = "runs/docs-tiny"
# placeholder in the docs -> what stands for it in the sandbox
PLACEHOLDERS = [
    (r"\[([^\]]*?)\s*\.\.\.\]", r"\1"),
    (r"\[([^\]]+)\]", r"\1"),  # optional parts: given
    (r"runs/(<name>|quick|wordnet-text|fashion-mnist)(?=/|\s|$)", RUN),
    (r"\bREPORT_OR_RUN_DIR\b|\bRUN_DIR\b|\bRUN_A\b|\bRUN_B\b", RUN),
    (r"\bREPORT\b|\bmain-report\.json\b", f"{RUN}/report.json"),
    (r"\$GITHUB_STEP_SUMMARY", "summary.md"),
    (r"--budgets FILE", "--budgets budgets.yaml"),
    (r"--junit FILE", "--junit junit.xml"),
    (r"--summary FILE", "--summary summary.md"),
    (r"--thorough", "--quick"),  # the same code path; 60 s per model is for real measurements
]
HEAVY_RECIPES = (
    r"recipes/(fashion-mnist|wordnet-text|wordnet-minilm|fashion-mnist-prune|fashion-mnist-quant|fashion-detect)\.yaml"
)


def doc_commands() -> list[tuple[str, str]]:
    """(where, command): lines of fenced shell blocks and indented code blocks, and inline `edgekit ...` spans
    that carry an argument."""
    found = []
    for doc in DOCS:
        block = None  # the language of the fenced block we are in, "" for none given
        for n, line in enumerate(doc.read_text().splitlines(), 1):
            where = f"{doc.relative_to(ROOT)}:{n}"
            if line.startswith("```"):
                block = line[3:].strip() if block is None else None
                continue
            shell = block in ("bash", "sh", "shell", "")
            text = (
                re.split(r"\s+#\s", line)[0].strip() if (shell or (block is None and line.startswith("    "))) else ""
            )
            if (
                text
                and not text.startswith("#")
                and (block is not None or re.match(r"(edgekit|make|pip|python) ", text))
            ):
                found.append((where, text))
            if block is None:
                found += [(where, span) for span in re.findall(r"`(edgekit [a-z]+ [^`]+|cp [^`]+)`", line)]
    return found


def concrete(command: str) -> str:
    command = command.replace(".venv/bin/python", "python")
    if re.fullmatch(r"python benchmarks/\w+\.py", command):
        return command + " --help"  # without arguments they measure the default recipe for minutes
    if not command.startswith(("edgekit ", "python ", "cp ")):
        return command
    for pattern, repl in PLACEHOLDERS:
        command = re.sub(pattern, repl, command)
    if re.match(r"edgekit shrink ", command):
        command = re.sub(HEAVY_RECIPES, "recipe.yaml", command)
    if command.startswith("edgekit bench") and "--quick" not in command:
        command += " --quick"
    if command.startswith("edgekit curve"):  # the full ladder embeds ~46 k glosses: many minutes on 2 cores
        command = re.sub(r"--sizes \S+", "--sizes 10", command) + " --seeds 1 --test-samples 40"
    return command


def check_static(command: str) -> str | None:
    """Install and whole-suite commands cannot run here; check what they name exists. None when fine."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    if command.startswith("make "):
        target = command.split()[1]
        makefile = (ROOT / "Makefile").read_text()
        return None if re.search(rf"^{re.escape(target)}:", makefile, re.M) else f"no make target {target!r}"
    if command.startswith("pip install"):
        for extras in re.findall(r"edgekit\[([^\]]+)\]", command):
            for extra in extras.split(","):
                if not re.search(rf"^{re.escape(extra)} = \[", pyproject, re.M):
                    return f"no extra {extra!r} in pyproject.toml"
        if "-c constraints.txt" in command and not (ROOT / "constraints.txt").is_file():
            return "no constraints.txt"
        return None
    if re.match(r"python -m pytest\b", command):
        return None  # this suite, which is running
    return "not a static command"


def sandbox(tmp: Path) -> dict[str, str]:
    (tmp / "recipe.yaml").write_text(TINY)
    shutil.copytree(ROOT / "recipes", tmp / "recipes")
    shutil.copytree(ROOT / "benchmarks", tmp / "benchmarks")
    (tmp / "ci").mkdir()
    (tmp / "budgets.yaml").write_text("min_accuracy_pct: 1\nmax_size_mb: 5\n")
    from PIL import Image

    for cls in ("cat", "dog"):  # `edgekit init photos/`: a folder with one subfolder of images per class
        (tmp / "photos" / cls).mkdir(parents=True)
        for i in range(4):
            Image.new("L", (28, 28), 60 * i).save(tmp / "photos" / cls / f"{i}.png")
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    for name, target in (("edgekit", f'"{sys.executable}" -m edgekit'), ("python", f'"{sys.executable}"')):
        (bin_dir / name).write_text(f'#!/bin/sh\nexec {target} "$@"\n')
        (bin_dir / name).chmod(0o755)
    return {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT),
        "COLUMNS": "100",
    }


def test_docs_have_commands():
    cmds = [c for _, c in doc_commands()]
    assert any(c.startswith("edgekit shrink") for c in cmds) and any(c.startswith("edgekit bench") for c in cmds)
    assert any(c.startswith("make test") for c in cmds) and any(c.startswith("pip install") for c in cmds)


def test_documented_error_example_is_what_validate_prints(tmp_path):
    import contextlib
    import io

    from edgekit.cli.main import main

    example = re.search(r"\(`(recipe\.yaml:14: [^`]+)`\)", "\n".join(d.read_text() for d in DOCS)).group(1)
    recipe = [
        "edgekit: 1",
        "name: example",
        "seed: 0",
        "data:",
        "  source: fashion-mnist",
        "model:",
        "  source: torchvision:resnet18",
        "stages:",
        "  - id: train",
        "    kind: train",
        "  - id: export",
        "    kind: export",
        "  # line 14: the third stage",
        "  - {id: more, kind: train, epochs: many}",
    ]
    (tmp_path / "recipe.yaml").write_text("\n".join(recipe) + "\n")
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["validate", str(tmp_path / "recipe.yaml")]) == 2
    assert err.getvalue().strip() == f"error: {tmp_path}/{example}"


def why_broken(command: str, tmp_path: Path, env: dict[str, str]) -> str | None:
    """Run one concrete command in the sandbox (or check it statically); None when it works."""
    if not re.match(r"(edgekit|python benchmarks/|cp )", command):
        return check_static(command)
    if re.search(r"\s--on\s", command):  # needs a device over SSH: its options must exist, at least
        usage = subprocess.run(
            ["bash", "-c", "edgekit bench -h"], cwd=tmp_path, env=env, capture_output=True, text=True
        ).stdout
        missing = [o for o in re.findall(r"\s(--[a-z][a-z-]*)", command) if o not in usage]
        return f"no such bench option(s) {missing}" if missing else None
    if command.startswith("edgekit bench") and not (tmp_path / "model.onnx").exists():
        export = next((tmp_path / RUN / "stages").glob("export-*")) / "model.onnx"
        for name in ("model", "fp32", "int8", "pruned", "other"):
            shutil.copy(export, tmp_path / f"{name}.onnx")
    proc = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    benchmark = command.startswith("python benchmarks/")  # needs the full recipe's run: it must answer, not crash
    if "Traceback" in proc.stderr or (proc.returncode != 0 and not benchmark):
        return f"ran: {command}\n  exit {proc.returncode}: {proc.stderr.strip()[-600:]}"
    return None


@pytest.mark.slow
def test_every_documented_command_runs(tmp_path):
    env = sandbox(tmp_path)
    commands = [(w, c, concrete(c)) for w, c in doc_commands()]
    # the run the other commands read comes first, made by the documented `edgekit shrink`
    commands.sort(key=lambda t: not t[2].startswith("edgekit shrink"))
    # a command documented in several places (`edgekit shrink recipe.yaml` 4 times, the curve 3) runs once and its
    # answer stands for each place: ~10 s of CPU per repeated run
    answers: dict[str, str | None] = {}
    broken = []
    for where, written, command in commands:
        if command not in answers:
            answers[command] = why_broken(command, tmp_path, env)
        if answers[command] is not None:
            broken.append(f"{where}: {written}\n  {answers[command]}")
    assert not broken, "\n".join(broken)
